package schema

// Limits are a node's request body limits in bytes, as GET /v1/params
// publishes them: a larger body is refused with 413 too_large.
type Limits struct {
	// InferBytes caps a POST /v1/models/{id}/infer body.
	InferBytes int64 `json:"infer_bytes"`
	// JobBytes caps a POST /v1/jobs body.
	JobBytes int64 `json:"job_bytes"`
	// ModelBytes caps a POST /v1/models body.
	ModelBytes int64 `json:"model_bytes"`
	// KeyBytes caps a POST /v1/keys body, per preset: the largest key set
	// the preset and the node's key limits allow, or the node's cap on
	// key uploads where that is smaller.
	KeyBytes map[string]int64 `json:"key_bytes"`
	// JSONBytes caps the JSON bodies of POST /v1/budgets, POST
	// /v1/budgets/{name}/grants and POST /v1/mpc/sessions.
	JSONBytes int64 `json:"json_bytes"`
	// MPCInputBytes caps a POST /v1/mpc/sessions/{id}/input body.
	MPCInputBytes int64 `json:"mpc_input_bytes"`
	// MPCMessageBytes caps a POST /v1/mpc/messages body (header, body and
	// signature); each message kind has a smaller limit of its own.
	MPCMessageBytes int64 `json:"mpc_message_bytes"`
}
