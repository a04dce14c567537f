// Package schema holds the bodies of the aios node API as Go types: the
// JSON requests and responses of the routes in the OpenAPI document
// (api/openapi.yaml), and the media type of the ciphertext framing. The
// server (package api) writes them and the SDK (package api/client) reads
// them, so that both sides agree by construction.
//
// It is a leaf: it depends on the standard library, he and inference only,
// so a client that imports it (or the SDK) never links the server, its
// store, router, MPC or DP code.
package schema

// CiphertextMediaType is the Content-Type of a ciphertext batch (the he
// package's ciphertext file framing), in both directions of /infer and of
// a job's input and result.
const CiphertextMediaType = "application/x-aios-ciphertexts"

// ErrorBody is every non-2xx answer: {"error": {"code", "message"}}.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// NewErrorBody returns the body of an error answer.
func NewErrorBody(code, message string) ErrorBody {
	var b ErrorBody
	b.Error.Code, b.Error.Message = code, message
	return b
}
