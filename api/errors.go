package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/fl"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/jobs"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/mpc"
)

// Errors of the API itself.
var (
	ErrUnauthenticated = errors.New("authentication failed")
	ErrForbidden       = errors.New("forbidden")
	ErrNotFound        = errors.New("not found")
	ErrBadRequest      = errors.New("bad request")
	ErrTooLarge        = errors.New("request body too large")
	ErrRateLimited     = errors.New("rate limit exceeded")
	ErrShuttingDown    = errors.New("node is shutting down")
	// ErrOverloaded reports a request turned away because the node's
	// memory budget (Config.MaxMemory) has no room for it now.
	ErrOverloaded = errors.New("node is at its memory budget; retry later")
)

// errorStatus is the one table from errors to HTTP status and error code.
// The first entry that errors.Is matches wins; anything unmatched is a 500
// "internal" whose details go to the log, never to the client.
var errorStatus = []struct {
	err    error
	status int
	code   string
}{
	{ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{ErrForbidden, http.StatusForbidden, "forbidden"},
	{ErrNotFound, http.StatusNotFound, "not_found"},
	{jobs.ErrNotFound, http.StatusNotFound, "not_found"},
	{store.ErrBlobNotFound, http.StatusNotFound, "not_found"},
	{dp.ErrUnknownBudget, http.StatusNotFound, "not_found"},
	{dp.ErrUnknownGrant, http.StatusNotFound, "not_found"},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{he.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{ErrBodyTimeout, http.StatusRequestTimeout, "body_timeout"},
	{ErrLengthRequired, http.StatusLengthRequired, "length_required"},
	{ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{jobs.ErrQueueFull, http.StatusTooManyRequests, "queue_full"},
	{fl.ErrTooMany, http.StatusTooManyRequests, "too_many_federations"},
	{ErrShuttingDown, http.StatusServiceUnavailable, "shutting_down"},
	{ErrOverloaded, http.StatusServiceUnavailable, "overloaded"},
	{jobs.ErrShuttingDown, http.StatusServiceUnavailable, "shutting_down"},
	{jobs.ErrConflict, http.StatusConflict, "conflict"},
	{dp.ErrBudgetExhausted, http.StatusConflict, "budget_exhausted"},
	{dp.ErrBudgetExists, http.StatusConflict, "budget_exists"},
	{dp.ErrIdempotencyConflict, http.StatusConflict, "idempotency_conflict"},
	{he.ErrParamsMismatch, http.StatusUnprocessableEntity, "params_mismatch"},
	{he.ErrMalformed, http.StatusBadRequest, "malformed"},
	{he.ErrFileFormat, http.StatusBadRequest, "malformed"},
	{he.ErrUnknownPreset, http.StatusBadRequest, "unknown_preset"},
	{he.ErrKeySpec, http.StatusBadRequest, "bad_request"},
	{he.ErrVectorLength, http.StatusBadRequest, "bad_request"},
	{dp.ErrInvalidSpec, http.StatusBadRequest, "bad_request"},
	{dp.ErrMissingBounds, http.StatusBadRequest, "bad_request"},
	{inference.ErrKeyMismatch, http.StatusUnprocessableEntity, "params_mismatch"},
	{inference.ErrMissingKeys, http.StatusUnprocessableEntity, "missing_keys"},
	{inference.ErrCiphertext, http.StatusUnprocessableEntity, "bad_ciphertext"},
	{inference.ErrFeatureCount, http.StatusBadRequest, "bad_request"},
	{inference.ErrTooManySamples, http.StatusBadRequest, "bad_request"},
	{inference.ErrPacking, http.StatusBadRequest, "bad_request"},
	{inference.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{inference.ErrMalformed, http.StatusBadRequest, "malformed"},
	{inference.ErrChecksum, http.StatusBadRequest, "malformed"},
	{inference.ErrVersion, http.StatusBadRequest, "malformed"},
	{inference.ErrShape, http.StatusBadRequest, "malformed"},
	{inference.ErrNoPreset, http.StatusUnprocessableEntity, "no_preset"},
	{ErrMPCDisabled, http.StatusNotImplemented, "mpc_disabled"},
	{mpc.ErrAuth, http.StatusUnauthorized, "unauthenticated"},
	{mpc.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{mpc.ErrMalformed, http.StatusBadRequest, "malformed"},
	{mpc.ErrUnknownSession, http.StatusNotFound, "unknown_session"},
	{mpc.ErrReplay, http.StatusConflict, "replay"},
	{mpc.ErrMisrouted, http.StatusMisdirectedRequest, "misrouted"},
	{mpc.ErrUnexpected, http.StatusConflict, "unexpected_message"},
	{mpc.ErrDeclined, http.StatusForbidden, "declined"},
	{mpc.ErrInvalidSession, http.StatusBadRequest, "invalid_session"},
	{mpc.ErrInput, http.StatusBadRequest, "invalid_input"},
	{mpc.ErrInputsFull, http.StatusServiceUnavailable, "inputs_full"},
	{mpc.ErrTransport, http.StatusBadGateway, "peer_unreachable"},
	{ErrBadRequest, http.StatusBadRequest, "bad_request"},
}

// retryAfter is the Retry-After (seconds) sent with errors that pass:
// the client is told when to try again.
var retryAfter = []struct {
	err     error
	seconds string
}{
	{ErrRateLimited, "1"},
	{ErrOverloaded, "1"},
	{mpc.ErrInputsFull, "10"},
	{fl.ErrTooMany, "60"},
}

// statusOf maps err through the table.
func statusOf(err error) (int, string) {
	for _, e := range errorStatus {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// isPublic reports whether err's text may be shown to a client: the table
// knows it. The text of any other error stays in the log.
func isPublic(err error) bool {
	status, _ := statusOf(err)
	return status != http.StatusInternalServerError
}

// writeError sends {"error": {"code", "message"}}. Messages of known errors
// are the error text (which never holds secrets or ciphertext bytes);
// authentication failures all read the same; unknown errors are logged and
// reported as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	var body schema.ErrorBody
	body.Error.Code = code
	for _, ra := range retryAfter {
		if errors.Is(err, ra.err) && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", ra.seconds)
		}
	}
	switch status {
	case http.StatusInternalServerError:
		s.log.ErrorContext(r.Context(), "request failed", "err", err, "path", r.URL.Path)
		body.Error.Message = "internal error"
	case http.StatusUnauthorized:
		body.Error.Message = ErrUnauthenticated.Error()
		w.Header().Set("WWW-Authenticate", `Bearer realm="aios"`)
	default:
		body.Error.Message = err.Error()
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}
