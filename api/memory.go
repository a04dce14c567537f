package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aios-edge/aios/he"
)

// Admission against the node's memory budget (Config.MaxMemory). A request
// that reads a body reserves, before it reads it, what its route's cost
// says for its announced length: mostly the length times an expansion
// factor (the body bytes, what decoding them makes — a ciphertext decodes
// to about as many bytes as its encoding — and what answering makes); an
// asynchronous job's upload, which goes to disk as it is checked, a fixed
// scan buffer. It releases the reservation when it is answered.
// A request that does not fit now is answered 503 with Retry-After; one
// that could never fit, 413; a body of unknown length (chunked) reserves
// its route's limit, and where that alone exceeds the budget it is
// refused with 411 (send a Content-Length). An asynchronous job reserves
// again when it starts, for its decoded input and outputs
// (inference.Server.WorkingBytes), and waits for room rather than failing.
//
// The budget counts what scales with request sizes and concurrency. What
// does not is outside it: the key cache (Config.KeyCacheBytes), the
// loaded models and the working set of the evaluations that run at once
// (Config.JobWorkers of them).

// Expansion factors: reserved bytes per announced body byte.
const (
	// inferFactor: the body, its decoded ciphertexts, the outputs and their
	// encoding (smaller than the input for every model with fewer classes
	// than features; counted as one more input), for a version-1 body;
	// what a compact body decodes to beyond it is reserved once its header
	// is read (streamInput).
	inferFactor = 3
	// uploadFactor: the body and what it decodes to (a key set, a model).
	uploadFactor = 2
	// mpcInputFactor: a JSON vector decodes to 8 bytes per number, and a
	// number takes at least 2 bytes ("1,"): 4, plus the body.
	mpcInputFactor = 5
	// mpcMessageFactor: the message and the copy its session keeps.
	mpcMessageFactor = 2
)

// ErrLengthRequired reports a body of unknown length on a route whose
// limit exceeds the memory budget.
var ErrLengthRequired = errors.New("this request needs a Content-Length")

// memBudget counts the bytes reserved against the budget.
type memBudget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	peak  int64
	freed chan struct{} // closed and replaced whenever bytes are released
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{limit: limit, freed: make(chan struct{})}
}

// reserve takes n bytes now or fails: ErrTooLarge when n exceeds the
// whole budget, ErrOverloaded when it does not fit beside what is
// reserved. The returned function releases them.
func (b *memBudget) reserve(n int64) (func(), error) {
	if n > b.limit {
		return nil, fmt.Errorf("%w: it needs %d bytes of memory, the node's budget is %d", ErrTooLarge, n, b.limit)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return nil, fmt.Errorf("%w: %d of %d bytes reserved, this request needs %d", ErrOverloaded, b.used, b.limit, n)
	}
	return b.take(n), nil
}

// wait takes n bytes (at most the whole budget) once they fit, or fails
// when ctx ends.
func (b *memBudget) wait(ctx context.Context, n int64) (func(), error) {
	n = min(n, b.limit)
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			defer b.mu.Unlock()
			return b.take(n), nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take reserves n bytes; b.mu is held.
func (b *memBudget) take(n int64) func() {
	b.used += n
	b.peak = max(b.peak, b.used)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			close(b.freed)
			b.freed = make(chan struct{})
			b.mu.Unlock()
		})
	}
}

// reserved and peakReserved are what is reserved now and the most ever.
func (b *memBudget) reserved() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *memBudget) peakReserved() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// admittedKey is the context key under which admit leaves what it
// reserved for the request.
type admittedKey struct{}

// admittedBytes is what admit reserved for the request of ctx (0 where it
// reserved nothing).
func admittedBytes(ctx context.Context) int64 {
	n, _ := ctx.Value(admittedKey{}).(int64)
	return n
}

// perByte is the cost of a route whose requests hold factor bytes per
// body byte.
func perByte(factor int64) func(n int64) int64 {
	return func(n int64) int64 { return n * factor }
}

// scanBytes is what checking a job's upload on its way to disk holds: one
// ciphertext of the largest preset decoded and its read buffer.
func scanBytes() int64 {
	var most int
	for _, p := range he.Presets() {
		if params, err := he.PresetByName(p.Name); err == nil {
			most = max(most, he.MaxCiphertextBytes(params, he.Limits{MaxCiphertextDegree: 1}))
		}
	}
	return 2 * int64(most)
}

// admit reserves cost(announced length) for a request's body, announced
// up to limit, for as long as the request runs, and says how much in the
// request's context (admittedBytes). A body announced above
// limit passes unreserved: the handler refuses it (413) without reading
// it.
func (s *Server) admit(cost func(n int64) int64, limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := r.ContentLength
			if n > limit {
				next.ServeHTTP(w, r)
				return
			}
			if n < 0 {
				if n = limit; cost(n) > s.mem.limit {
					s.writeError(w, r, fmt.Errorf("%w: a body of unknown length here may take %d bytes, more than the node's memory budget", ErrLengthRequired, limit))
					return
				}
			}
			release, err := s.mem.reserve(cost(n))
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			defer release()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), admittedKey{}, cost(n))))
		})
	}
}
