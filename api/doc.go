// Package api is the aios node's HTTP API: chi routes, bearer-token roles,
// the one error-to-status table, limits, logs and metrics, over the he,
// inference and dp packages and the node's store. api/client is the Go SDK.
//
// Most callers want [New] and [Server.Handler]; `aios serve` wraps them in
// an http.Server with graceful shutdown. The routes, bodies and binary
// framings are documented in the embedded OpenAPI 3.1 document
// ([OpenAPISpec], served at /v1/openapi.yaml); a test fails when a route is
// missing from it.
//
// Handlers parse, call and write: they read the route's parameters and
// body, call the package that owns the work, and write its answer or its
// error through the one table (errors.go). What the node does lives below:
//
//   - encrypted inference is inference's: each model is served by an
//     inference.Server (built with the kernel backend of Config.Accel),
//     which checks a client's key set and encrypted input against the
//     model and builds the evaluator of the packing; api names a packing
//     only to parse it from the query;
//   - every evaluation is a job of internal/jobs, which owns the queue, the
//     rows and blobs of asynchronous jobs, resumption after a restart and
//     retention; api turns a request or a stored job into a jobs.Work
//     (jobs.go);
//   - budgets, their grants (who may spend them: grants.go routes them),
//     releases and the audit chain are dp's, MPC sessions mpc's; who may
//     use a session on this node (its owner, input_from, release_to) is
//     api's own, in memory (mpcacl.go);
//   - the request and response bodies are api/schema's, which the SDK
//     (api/client) shares without linking this package;
//   - the auditor's console at /ui/ is api/ui's: static files that call
//     the /v1 routes with the auditor's token and verify the audit export
//     in the browser.
//
// A request to POST /v1/models/{id}/infer goes: auth and rate limit
// (auth.go) → prepareJob: the model's inference.Server, the packing parsed
// from the query, the caller's key metadata checked by Server.CheckKeys,
// the body decoded by Server.ReadInput as it arrives, within its limit
// (stream.go; POST /v1/jobs reads it whole, to store it) → the job
// service's Run (queued, bounded) → the job's Work: the key set from the
// cache or the blob store, the cached evaluator (Server.NewEvaluator), its
// EvaluateInput → the encrypted outputs written in he's ciphertext framing.
//
// Logs (log/slog) carry the request ID, method, route pattern, status,
// duration and size — never a body, a header, a token, a key or a
// ciphertext.
package api
