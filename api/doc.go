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
// Every evaluation is a job of internal/jobs, which owns the queue, the rows
// and blobs of asynchronous jobs, resumption after a restart and retention;
// api owns what a job computes (jobs.go: a request or a stored job turned
// into a jobs.Work) and maps the service's errors to status codes.
//
// Logs (log/slog) carry the request ID, method, route pattern, status,
// duration and size — never a body, a header, a token, a key or a
// ciphertext.
package api
