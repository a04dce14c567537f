package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/jobs"
	"github.com/aios-edge/aios/internal/store"
)

// Jobs: every evaluation, synchronous (/models/{id}/infer) or not (/jobs),
// is a job of the job service (internal/jobs), which owns the queue, the
// rows and blobs of asynchronous jobs, resumption and retention. What a job
// computes is this file's: an inferenceJob, built from a request by
// prepareJob or from a stored job by resumeWork, and run by evaluateJob.

// inferenceJob is one evaluation of a model on an encrypted input, the
// jobs.Work of an inference job. A synchronous job holds its decoded
// input (its request reserved the memory); an asynchronous one, built
// from its stored input when it starts, knows only the input's shape and
// how to open it, and Run decodes it from the blob store once it reserved
// the memory.
type inferenceJob struct {
	s       *Server
	owner   string
	model   *loadedModel
	keyID   string
	packing inference.Packing
	input   *inference.Input
	shape   inference.InputShape // an asynchronous job's
	open    jobs.InputOpener     // an asynchronous job's
}

var _ jobs.Work = (*inferenceJob)(nil)

// Run implements jobs.Work: it evaluates the input on the owner's keys and
// returns the encoded output batch.
func (j *inferenceJob) Run(ctx context.Context, progress func(n int)) ([]byte, error) {
	if j.input == nil {
		need, err := j.model.server.WorkingBytes(j.packing, j.shape.Batches)
		if err != nil {
			return nil, err
		}
		release, err := j.s.mem.wait(ctx, need)
		if err != nil {
			return nil, err
		}
		defer release()
		f, err := j.open()
		if err != nil {
			return nil, err
		}
		in, err := j.model.server.ReadInput(j.packing, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		j.input = in
	}
	// The keys are looked up when the job starts: a job whose key set was
	// deleted while it waited fails here with not_found; once it has them
	// it finishes whatever happens to the key set.
	keys, _, err := j.s.evaluationKeys(ctx, j.owner, j.keyID)
	if err != nil {
		return nil, err
	}
	ev, err := j.s.evaluators.get(j.model, keys, j.input.Packing())
	if err != nil {
		return nil, err
	}
	out, err := ev.EvaluateInput(ctx, j.input, progress)
	if err != nil {
		return nil, err
	}
	j.s.metrics.predictions.Add(int64(j.input.Samples()))
	var buf bytes.Buffer
	buf.Grow(outputFileBytes(out)) // one allocation for the answer
	if err := he.WriteCiphertextFile(&buf, j.model.server.Params(), out); err != nil {
		return nil, err
	}
	// The evaluation has returned and its outputs are written: nothing
	// reads the input's ciphertexts any more, and the next request reuses
	// their memory.
	j.input.Release()
	return buf.Bytes(), nil
}

// outputFileBytes is the size of the version-1 ciphertext file of out:
// the header (magic, version, parameters ID, count) and per ciphertext its
// values, length and lattigo encoding.
func outputFileBytes(out []he.EncryptedVector) int {
	n := 8 + 2 + 32 + 4
	for _, v := range out {
		n += 4 + 8 + v.Ciphertext.BinarySize()
	}
	return n
}

// spec is the job as the row of an asynchronous job shows it.
func (j *inferenceJob) spec() jobs.Spec {
	return jobs.Spec{Owner: j.owner, Model: j.model.info.ID, Key: j.keyID, Packing: j.packing.String(),
		Total: j.shape.Batches, Samples: j.shape.Samples}
}

// prepareJob checks an inference request before its body is read: the
// model, the packing and the caller's key set (its preset and keys
// checked against what the packing needs).
func (s *Server) prepareJob(r *http.Request, modelID string) (*inferenceJob, error) {
	owner := principalOf(r.Context()).TokenID
	if modelID == "" {
		return nil, fmt.Errorf("%w: the query parameter model (a model ID) is required", ErrBadRequest)
	}
	m, err := s.model(r.Context(), modelID)
	if err != nil {
		return nil, err
	}
	packing, err := inference.ParsePacking(r.URL.Query().Get("packing"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	keyID := r.URL.Query().Get("key")
	if keyID == "" {
		return nil, fmt.Errorf("%w: the query parameter key (an evaluation key set ID) is required", ErrBadRequest)
	}
	keyInfo, err := s.keyInfo(r.Context(), owner, keyID)
	if err != nil {
		return nil, err
	}
	have := he.KeySpec{Relinearization: keyInfo.Relinearization, GaloisElements: keyInfo.GaloisElements}
	if err := m.server.CheckKeys(packing, keyInfo.Preset, have); err != nil {
		return nil, fmt.Errorf("key set %.16s…: %w", keyID, err)
	}
	return &inferenceJob{s: s, owner: owner, model: m, keyID: keyID, packing: packing}, nil
}

// streamInput decodes the request body into j's input as it arrives (see
// bodyStream), checked against the packing's plan.
//
// The request's admission reserved inferFactor bytes per body byte
// (admittedBytes), which is what a version-1 body decodes to; a compact body (seeded c1, limbs at
// their moduli's width) decodes to about three times its size. Once the
// file's header says how many ciphertexts it holds, whatever the
// evaluation's working set needs beyond the admission is reserved too,
// until release is called (503 where it does not fit now, 413 where it
// never could).
func (s *Server) streamInput(w http.ResponseWriter, r *http.Request, j *inferenceJob, limit int64) (release func(), err error) {
	body, err := s.streamBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	defer body.close()
	br := bufio.NewReaderSize(body, 64<<10)
	release = func() {}
	head, _ := br.Peek(he.CiphertextHeaderBytes) // a short or bad header: the decoder says why
	if count, err := he.CiphertextFileCount(head); err == nil {
		need, err := j.model.server.InputWorkingBytes(j.packing, count)
		if err != nil {
			return nil, err
		}
		if admitted := admittedBytes(r.Context()); need > admitted {
			if release, err = s.mem.reserve(need - admitted); err != nil {
				return nil, err
			}
		}
	}
	in, err := j.model.server.ReadInput(j.packing, br)
	if err != nil {
		release()
		return nil, body.fail(err)
	}
	j.input = in
	return release, nil
}

// stageInput writes the request body, an asynchronous job's input, to the
// blob store as it arrives and checks it on the way (one ciphertext in
// memory at a time: inference.Server.ScanInput), so that an upload of any
// allowed size costs a ciphertext's memory, not its own. It sets j's
// shape; the caller commits the staged blob (jobs.SubmitStaged).
func (s *Server) stageInput(w http.ResponseWriter, r *http.Request, j *inferenceJob, limit int64) (*store.StagedBlob, error) {
	body, err := s.streamBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	staged, err := s.blobs.Stage()
	if err != nil {
		body.close()
		return nil, err
	}
	disk := &firstError{w: staged}
	j.shape, err = j.model.server.ScanInput(j.packing, io.TeeReader(body, disk))
	body.close()
	if err == nil {
		err = disk.err
	}
	if err != nil {
		staged.Abort()
		if disk.err != nil {
			return nil, disk.err // the node's own failure, not the body's
		}
		return nil, body.fail(err)
	}
	// A job runs with its whole input decoded (Run): one that could never
	// fit the memory budget is refused now, not decoded past it later.
	need, err := j.model.server.WorkingBytes(j.packing, j.shape.Batches)
	if err == nil && need > s.mem.limit {
		err = fmt.Errorf("%w: a job of %d batches needs %d bytes of memory to run, the node's budget is %d", ErrTooLarge, j.shape.Batches, need, s.mem.limit)
	}
	if err != nil {
		staged.Abort()
		return nil, err
	}
	return staged, nil
}

// firstError is a writer that remembers its first failure.
type firstError struct {
	w   io.Writer
	err error
}

func (f *firstError) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

// handleInfer: POST /v1/models/{id}/infer?key=ID&packing=batch|single, body
// and response are ciphertext batches. The request waits for the result.
func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	j, err := s.prepareJob(r, chi.URLParam(r, "id"))
	release := func() {}
	if err == nil {
		release, err = s.streamInput(w, r, j, s.cfg.MaxInferBytes)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	out, err := s.jobs.Run(r.Context(), j)
	if r.Context().Err() != nil {
		return // the client is gone; its job was cancelled
	}
	if err != nil {
		s.writeJobError(w, r, err, "1")
		return
	}
	w.Header().Set("Content-Type", schema.CiphertextMediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Header().Set("X-Aios-Samples", fmt.Sprint(j.input.Samples()))
	w.Write(out)
}

// handlePostJob: POST /v1/jobs?model=ID&key=ID&packing=…, body a ciphertext
// batch; 202 with the job.
func (s *Server) handlePostJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.prepareJob(r, r.URL.Query().Get("model"))
	var staged *store.StagedBlob
	if err == nil {
		staged, err = s.stageInput(w, r, j, s.cfg.MaxJobBytes)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The job waits as its stored input alone and is decoded when it
	// starts (resumeWork), so that a queue of large jobs holds no
	// ciphertexts in memory.
	info, err := s.jobs.SubmitStaged(r.Context(), j.spec(), staged, nil)
	if err != nil {
		s.writeJobError(w, r, err, "5")
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+info.ID)
	writeJSON(w, http.StatusAccepted, info)
}

// writeJobError writes why a job was not taken or failed; a client turned
// away by a full queue is told when to retry.
func (s *Server) writeJobError(w http.ResponseWriter, r *http.Request, err error, retryAfter string) {
	if errors.Is(err, jobs.ErrQueueFull) {
		w.Header().Set("Retry-After", retryAfter)
	}
	s.writeError(w, r, err)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	info, err := s.jobs.Info(r.Context(), ownerFilter(principalOf(r.Context())), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// handleJobResult: GET /v1/jobs/{id}/result, the output ciphertext batch of
// a finished job (409 while it is not done).
func (s *Server) handleJobResult(w http.ResponseWriter, r *http.Request) {
	owner, id := ownerFilter(principalOf(r.Context())), chi.URLParam(r, "id")
	info, err := s.jobs.Info(r.Context(), owner, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.jobs.Result(r.Context(), owner, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", schema.CiphertextMediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Aios-Samples", fmt.Sprint(info.Samples))
	w.Write(b)
}

// resumeWork turns an asynchronous job back into its work when it starts,
// or a job that a previous run left queued or running when the node
// starts: the model, packing and shape of its row and its stored input,
// which Run decodes (and so checks again, as a request's) once it
// reserved the memory.
func (s *Server) resumeWork(r jobs.Record, input jobs.InputOpener) (jobs.Work, error) {
	m, err := s.model(context.Background(), r.Model)
	if err != nil {
		return nil, err
	}
	packing, err := inference.ParsePacking(r.Packing)
	if err != nil {
		return nil, err
	}
	return &inferenceJob{s: s, owner: r.Owner, model: m, keyID: r.Key, packing: packing,
		shape: inference.InputShape{Batches: r.Total, Samples: r.Samples}, open: input}, nil
}

// evaluatorCache keeps the last few evaluators (model, key set, packing):
// building one (a worker pool, encoded diagonals) costs more than a batch.
type evaluatorCache struct {
	mu    sync.Mutex
	limit int
	order []string
	byKey map[string]inference.EncryptedEvaluator
}

func (c *evaluatorCache) get(m *loadedModel, keys *he.EvaluationKeySet, packing inference.Packing) (inference.EncryptedEvaluator, error) {
	k := m.info.ID + "/" + keys.ID() + "/" + packing.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]inference.EncryptedEvaluator{}
	}
	if ev, ok := c.byKey[k]; ok {
		return ev, nil
	}
	ev, err := m.server.NewEvaluator(packing, keys)
	if err != nil {
		return nil, err
	}
	c.byKey[k] = ev
	c.order = append(c.order, k)
	if len(c.order) > c.limit {
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
	return ev, nil
}

// remove forgets the evaluators built on key set keyID; an evaluation
// that holds one already keeps it.
func (c *evaluatorCache) remove(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = slices.DeleteFunc(c.order, func(k string) bool {
		if strings.Contains(k, "/"+keyID+"/") {
			delete(c.byKey, k)
			return true
		}
		return false
	})
}
