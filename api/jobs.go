package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/jobs"
)

// Jobs: every evaluation, synchronous (/models/{id}/infer) or not (/jobs),
// is a job of the job service (internal/jobs), which owns the queue, the
// rows and blobs of asynchronous jobs, resumption and retention. What a job
// computes is this file's: an inferenceJob, built from a request by
// prepareJob or from a stored job by resumeWork, and run by evaluateJob.

// inferenceJob is one evaluation of a model on a ciphertext batch, the
// jobs.Work of an inference job.
type inferenceJob struct {
	s       *Server
	owner   string
	model   *loadedModel
	keyID   string
	packing inference.Packing
	input   []he.EncryptedVector
	total   int
	samples int
}

var _ jobs.Work = (*inferenceJob)(nil)

// Run implements jobs.Work.
func (j *inferenceJob) Run(ctx context.Context, progress func(n int)) ([]byte, error) {
	return j.s.evaluateJob(ctx, j, progress)
}

// spec is the job as the row of an asynchronous job shows it.
func (j *inferenceJob) spec() jobs.Spec {
	return jobs.Spec{Owner: j.owner, Model: j.model.info.ID, Key: j.keyID, Packing: j.packing.String(), Total: j.total, Samples: j.samples}
}

// evaluateJob runs the model on the job's ciphertexts and returns the
// encoded output batch.
func (s *Server) evaluateJob(ctx context.Context, j *inferenceJob, progress func(n int)) ([]byte, error) {
	keys, _, err := s.evaluationKeys(ctx, j.owner, j.keyID)
	if err != nil {
		return nil, err
	}
	params, err := he.PresetByName(j.model.info.Preset)
	if err != nil {
		return nil, err
	}
	ev, err := s.evaluators.get(j.model, keys, j.packing)
	if err != nil {
		return nil, err
	}
	var out []he.EncryptedVector
	switch e := ev.(type) {
	case *inference.BatchEvaluator:
		f := j.model.info.Features
		for b := 0; b < len(j.input); b += f {
			in := make([]*rlwe.Ciphertext, f)
			samples := j.input[b].Values
			for i := range in {
				in[i] = j.input[b+i].Ciphertext
			}
			res, err := e.Evaluate(ctx, in)
			if err != nil {
				return nil, err
			}
			for _, ct := range res {
				out = append(out, he.EncryptedVector{Values: samples, Ciphertext: ct})
			}
			progress(1)
		}
	case *inference.SingleEvaluator:
		const chunk = 16
		for b := 0; b < len(j.input); b += chunk {
			in := make([]*rlwe.Ciphertext, 0, chunk)
			for _, v := range j.input[b:min(b+chunk, len(j.input))] {
				in = append(in, v.Ciphertext)
			}
			res, err := e.EvaluateMany(ctx, in)
			if err != nil {
				return nil, err
			}
			for _, ct := range res {
				out = append(out, he.EncryptedVector{Values: len(j.model.info.Classes), Ciphertext: ct})
			}
			progress(len(in))
		}
	}
	s.metrics.predictions.Add(int64(j.samples))
	var buf bytes.Buffer
	if err := he.WriteCiphertextFile(&buf, params, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// prepareJob reads and validates an inference request: model, key set (the
// caller's, covering the packing's keys), and the ciphertext batch (the
// model's parameters; count, level and scale of the plan). It returns the
// job and the request body, the input an asynchronous job stores.
func (s *Server) prepareJob(w http.ResponseWriter, r *http.Request, modelID string, limit int64) (*inferenceJob, []byte, error) {
	owner := principalOf(r.Context()).TokenID
	m, err := s.model(modelID)
	if err != nil {
		return nil, nil, err
	}
	packing, err := inference.ParsePacking(r.URL.Query().Get("packing"))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	keyID := r.URL.Query().Get("key")
	keyInfo, err := s.keyInfo(r.Context(), owner, keyID)
	if err != nil {
		return nil, nil, err
	}
	if keyInfo.Preset != m.info.Preset {
		return nil, nil, fmt.Errorf("%w: the model needs keys for preset %s, key set %.16s… is for %s", he.ErrParamsMismatch, m.info.Preset, keyID, keyInfo.Preset)
	}
	pi := m.info.Packings[packing.String()]
	spec := he.KeySpec{Relinearization: pi.Relinearization, GaloisElements: pi.GaloisElements}
	if missing := missingKeys(keyInfo, spec); missing != "" {
		return nil, nil, fmt.Errorf("%w: %s", inference.ErrMissingKeys, missing)
	}
	body, err := s.readBody(w, r, limit)
	if err != nil {
		return nil, nil, err
	}
	params, err := he.PresetByName(m.info.Preset)
	if err != nil {
		return nil, nil, err
	}
	cts, err := he.ReadCiphertextFile(bytes.NewReader(body), params, he.Limits{MaxGaloisKeys: 0, MaxCiphertextDegree: 1})
	if err != nil {
		return nil, nil, err
	}
	j := &inferenceJob{s: s, owner: owner, model: m, keyID: keyID, packing: packing, input: cts}
	scale := math.Exp2(float64(pi.LogInputScale))
	for i, c := range cts {
		if c.Ciphertext.Level() != pi.InputLevel || math.Abs(c.Ciphertext.Scale.Float64()-scale) > 1e-9*scale {
			return nil, nil, &inference.CiphertextError{Index: i, Field: "level and scale",
				Want: fmt.Sprintf("level %d, scale 2^%d", pi.InputLevel, pi.LogInputScale),
				Got:  fmt.Sprintf("level %d, scale 2^%.2f", c.Ciphertext.Level(), math.Log2(c.Ciphertext.Scale.Float64()))}
		}
	}
	switch packing {
	case inference.Batch:
		f := m.info.Features
		if len(cts) == 0 || len(cts)%f != 0 {
			return nil, nil, &inference.CiphertextError{Index: -1, Field: "count", Want: fmt.Sprintf("a multiple of %d (one ciphertext per feature per batch)", f), Got: fmt.Sprint(len(cts))}
		}
		j.total = len(cts) / f
		for b := 0; b < len(cts); b += f {
			for i := b; i < b+f; i++ {
				if cts[i].Values != cts[b].Values {
					return nil, nil, &inference.CiphertextError{Index: i, Field: "values", Want: fmt.Sprint(cts[b].Values), Got: fmt.Sprint(cts[i].Values)}
				}
			}
			j.samples += cts[b].Values
		}
	case inference.Single:
		if len(cts) == 0 {
			return nil, nil, &inference.CiphertextError{Index: -1, Field: "count", Want: "at least 1", Got: "0"}
		}
		j.total, j.samples = len(cts), len(cts)
	}
	return j, body, nil
}

func missingKeys(have schema.KeyInfo, spec he.KeySpec) string {
	if spec.Relinearization && !have.Relinearization {
		return "the relinearization key"
	}
	var missing []uint64
	for _, el := range spec.GaloisElements {
		found := false
		for _, h := range have.GaloisElements {
			found = found || h == el
		}
		if !found {
			missing = append(missing, el)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("Galois keys for elements %v", missing)
	}
	return ""
}

// handleInfer: POST /v1/models/{id}/infer?key=ID&packing=batch|single, body
// and response are ciphertext batches. The request waits for the result.
func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	j, _, err := s.prepareJob(w, r, chi.URLParam(r, "id"), s.cfg.MaxInferBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.jobs.Run(r.Context(), j)
	if r.Context().Err() != nil {
		return // the client is gone; its job was cancelled
	}
	if err != nil {
		s.writeJobError(w, r, err, "1")
		return
	}
	w.Header().Set("Content-Type", schema.CiphertextMediaType)
	w.Header().Set("X-Aios-Samples", fmt.Sprint(j.samples))
	w.Write(out)
}

// handlePostJob: POST /v1/jobs?model=ID&key=ID&packing=…, body a ciphertext
// batch; 202 with the job.
func (s *Server) handlePostJob(w http.ResponseWriter, r *http.Request) {
	j, body, err := s.prepareJob(w, r, r.URL.Query().Get("model"), s.cfg.MaxJobBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.jobs.Submit(r.Context(), j.spec(), body, j)
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
	b, err := s.jobs.Result(r.Context(), ownerFilter(principalOf(r.Context())), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", schema.CiphertextMediaType)
	w.Write(b)
}

// resumeWork turns a job that a previous run left queued or running back
// into its work: the model, packing and ciphertext batch of its row and
// input.
func (s *Server) resumeWork(r jobs.Record, input []byte) (jobs.Work, error) {
	m, err := s.model(r.Model)
	if err != nil {
		return nil, err
	}
	packing, err := inference.ParsePacking(r.Packing)
	if err != nil {
		return nil, err
	}
	params, err := he.PresetByName(m.info.Preset)
	if err != nil {
		return nil, err
	}
	cts, err := he.ReadCiphertextFile(bytes.NewReader(input), params, he.Limits{MaxCiphertextDegree: 1})
	if err != nil {
		return nil, err
	}
	return &inferenceJob{s: s, owner: r.Owner, model: m, keyID: r.Key, packing: packing, input: cts, total: r.Total, samples: r.Samples}, nil
}

// evaluatorCache keeps the last few evaluators (model, key set, packing):
// building one (a worker pool, encoded diagonals) costs more than a batch.
type evaluatorCache struct {
	mu    sync.Mutex
	limit int
	order []string
	byKey map[string]any
}

func (c *evaluatorCache) get(m *loadedModel, keys *he.EvaluationKeySet, packing inference.Packing) (any, error) {
	k := m.info.ID + "/" + keys.ID() + "/" + packing.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]any{}
	}
	if ev, ok := c.byKey[k]; ok {
		return ev, nil
	}
	var ev any
	var err error
	if packing == inference.Batch {
		ev, err = inference.NewBatchEvaluator(m.server.Model(), keys)
	} else {
		ev, err = inference.NewSingleEvaluator(m.server.Model(), keys)
	}
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
