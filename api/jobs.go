package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// Jobs: every evaluation, synchronous (/models/{id}/infer) or not (/jobs),
// is a job in one bounded queue served by Config.JobWorkers workers. An
// asynchronous job's input and result are blobs and its row survives
// restarts (queued and interrupted jobs run again after a restart); a
// synchronous job lives in memory and answers its request directly.

type job struct {
	id, owner   string
	model       *loadedModel
	keyID       string
	packing     inference.Packing
	input       []he.EncryptedVector
	inputBlob   string
	inputBytes  []byte // an asynchronous job's input until submit stores it
	sync        bool
	done        chan struct{}
	result      []byte
	err         error
	total       int
	samples     int
	completed   atomic.Int64
	cancel      context.CancelFunc
	cancelMutex sync.Mutex
}

type jobRunner struct {
	queue   chan *job
	running atomic.Int32
	wg      sync.WaitGroup
	stop    context.CancelFunc
	ctx     context.Context

	stopJanitor context.CancelFunc

	mu   sync.Mutex
	live map[string]*job // queued or running, by ID

	evaluators *evaluatorCache
}

func (s *Server) startJobs() {
	ctx, stop := context.WithCancel(context.Background())
	s.jobs = &jobRunner{queue: make(chan *job, s.cfg.QueueSize), stop: stop, ctx: ctx, live: map[string]*job{},
		evaluators: &evaluatorCache{limit: 8}}
	s.metrics.queueDepth = func() int { return len(s.jobs.queue) }
	s.metrics.jobsRunning = func() int { return int(s.jobs.running.Load()) }
	for range s.cfg.JobWorkers {
		s.jobs.wg.Add(1)
		go s.jobWorker()
	}
	jctx, stopJanitor := context.WithCancel(ctx)
	s.jobs.stopJanitor = stopJanitor
	s.jobs.wg.Add(1)
	go s.janitor(jctx)
}

// stopJobs stops the workers: running jobs get until ctx is done to finish,
// then are cancelled; an interrupted asynchronous job goes back to queued
// and runs after the next start.
func (s *Server) stopJobs(ctx context.Context) {
	s.jobs.stopJanitor()
	close(s.jobs.queue)
	finished := make(chan struct{})
	go func() { s.jobs.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		s.jobs.stop()
		<-finished
	}
}

func (s *Server) jobWorker() {
	defer s.jobs.wg.Done()
	for j := range s.jobs.queue {
		s.runJob(j)
	}
}

func newJobID() string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// submit validates and enqueues a job; it fails fast with 429 when the
// queue is full.
func (s *Server) submit(ctx context.Context, j *job) error {
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	if s.shuttingDown.Load() {
		return ErrShuttingDown
	}
	if len(s.jobs.queue) == cap(s.jobs.queue) {
		return ErrQueueFull
	}
	if !j.sync {
		// Stored and recorded under the lock that deleteUnreferenced takes,
		// so a job finishing now cannot delete these bytes in between.
		var err error
		if j.inputBlob, err = s.blobs.Put(j.inputBytes); err != nil {
			return err
		}
		j.inputBytes = nil
		now := time.Now().UTC()
		_, err = s.db.SQL().ExecContext(ctx, `INSERT INTO jobs (id, owner, model, key_id, packing, status, done, total, samples, error, input_blob, result_blob, result_bytes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, '', ?, '', 0, ?)`,
			j.id, j.owner, j.model.info.ID, j.keyID, j.packing.String(), schema.JobQueued, j.total, j.samples, j.inputBlob, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("api: record job: %w", err)
		}
	}
	s.jobs.live[j.id] = j
	s.jobs.queue <- j // cannot block: checked for room under the lock
	return nil
}

func (s *Server) setJob(id string, status schema.JobStatus, msg string, resultBlob string, resultBytes int64) {
	var finished any
	if status == schema.JobDone || status == schema.JobFailed {
		finished = time.Now().UTC().UnixMicro()
	}
	_, err := s.db.SQL().Exec(`UPDATE jobs SET status = ?, error = ?, result_blob = ?, result_bytes = ?, finished_at = ? WHERE id = ?`,
		status, msg, resultBlob, resultBytes, finished, id)
	if err != nil {
		s.log.Error("update job", "job", id, "err", err)
		return
	}
	if finished != nil {
		s.releaseInput(id)
	}
}

// releaseInput deletes a finished job's input batch (it is not needed any
// more) unless a queued or running job has the same bytes.
func (s *Server) releaseInput(id string) {
	var blob string
	if err := s.db.SQL().QueryRow(`SELECT input_blob FROM jobs WHERE id = ?`, id).Scan(&blob); err != nil || blob == "" {
		return
	}
	if _, err := s.db.SQL().Exec(`UPDATE jobs SET input_blob = '' WHERE id = ?`, id); err != nil {
		return
	}
	s.deleteUnreferenced(blob)
}

// deleteUnreferenced removes a job blob that no job row refers to any more.
func (s *Server) deleteUnreferenced(blob string) {
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	var refs int
	err := s.db.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE input_blob = ? OR result_blob = ?`, blob, blob).Scan(&refs)
	if err == nil && refs == 0 {
		if err := s.blobs.Delete(blob); err != nil {
			s.log.Warn("delete job blob", "err", err)
		}
	}
}

// expireJobs forgets finished jobs older than the retention, with their
// results.
func (s *Server) expireJobs(now time.Time) {
	cutoff := now.Add(-s.cfg.JobRetention).UnixMicro()
	rows, err := s.db.SQL().Query(`SELECT id, result_blob FROM jobs WHERE status IN (?, ?) AND finished_at < ?`, schema.JobDone, schema.JobFailed, cutoff)
	if err != nil {
		s.log.Warn("expire jobs", "err", err)
		return
	}
	type old struct{ id, blob string }
	var list []old
	for rows.Next() {
		var o old
		if rows.Scan(&o.id, &o.blob) == nil {
			list = append(list, o)
		}
	}
	rows.Close()
	for _, o := range list {
		if _, err := s.db.SQL().Exec(`DELETE FROM jobs WHERE id = ?`, o.id); err != nil {
			s.log.Warn("expire job", "job", o.id, "err", err)
			continue
		}
		if o.blob != "" {
			s.deleteUnreferenced(o.blob)
		}
	}
	if len(list) > 0 {
		s.log.Info("expired finished jobs", "count", len(list), "retention", s.cfg.JobRetention.String())
	}
}

// janitor expires old jobs every hour until ctx ends.
func (s *Server) janitor(ctx context.Context) {
	defer s.jobs.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.expireJobs(time.Now())
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) runJob(j *job) {
	s.jobs.running.Add(1)
	defer s.jobs.running.Add(-1)
	defer func() {
		s.jobs.mu.Lock()
		delete(s.jobs.live, j.id)
		s.jobs.mu.Unlock()
		close(j.done)
	}()
	ctx, cancel := context.WithCancel(s.jobs.ctx)
	j.cancelMutex.Lock()
	j.cancel = cancel
	j.cancelMutex.Unlock()
	defer cancel()
	if !j.sync {
		s.setJob(j.id, schema.JobRunning, "", "", 0)
	}
	result, err := s.evaluateJob(ctx, j)
	switch {
	case err != nil && errors.Is(err, context.Canceled) && s.jobs.ctx.Err() != nil && !j.sync:
		s.setJob(j.id, schema.JobQueued, "interrupted by shutdown; runs again after restart", "", 0)
		j.err = ErrShuttingDown
	case err != nil:
		j.err = err
		if !j.sync {
			_, code := statusOf(err)
			msg := err.Error()
			if code == "internal" {
				s.log.Error("job failed", "job", j.id, "err", err)
				msg = "internal error"
			}
			s.setJob(j.id, schema.JobFailed, msg, "", 0)
		}
	case j.sync:
		j.result = result
	default:
		id, perr := s.blobs.Put(result)
		if perr != nil {
			j.err = perr
			s.setJob(j.id, schema.JobFailed, "internal error", "", 0)
			s.log.Error("store job result", "job", j.id, "err", perr)
			return
		}
		s.setJob(j.id, schema.JobDone, "", id, int64(len(result)))
	}
}

// evaluateJob runs the model on the job's ciphertexts and returns the
// encoded output batch.
func (s *Server) evaluateJob(ctx context.Context, j *job) ([]byte, error) {
	keys, _, err := s.evaluationKeys(ctx, j.owner, j.keyID)
	if err != nil {
		return nil, err
	}
	params, err := he.PresetByName(j.model.info.Preset)
	if err != nil {
		return nil, err
	}
	ev, err := s.jobs.evaluators.get(j.model, keys, j.packing)
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
			j.progress(s, 1)
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
			j.progress(s, len(in))
		}
	}
	s.metrics.predictions.Add(int64(j.samples))
	var buf bytes.Buffer
	if err := he.WriteCiphertextFile(&buf, params, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (j *job) progress(s *Server, n int) {
	done := j.completed.Add(int64(n))
	if !j.sync {
		if _, err := s.db.SQL().Exec(`UPDATE jobs SET done = ? WHERE id = ?`, done, j.id); err != nil {
			s.log.Warn("job progress", "job", j.id, "err", err)
		}
	}
}

// prepareJob reads and validates an inference request: model, key set (the
// caller's, covering the packing's keys), and the ciphertext batch (the
// model's parameters; count, level and scale of the plan).
func (s *Server) prepareJob(w http.ResponseWriter, r *http.Request, modelID string, limit int64, sync bool) (*job, error) {
	owner := principalOf(r.Context()).TokenID
	m, err := s.model(modelID)
	if err != nil {
		return nil, err
	}
	packing, err := inference.ParsePacking(r.URL.Query().Get("packing"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	keyID := r.URL.Query().Get("key")
	keyInfo, err := s.keyInfo(r.Context(), owner, keyID)
	if err != nil {
		return nil, err
	}
	if keyInfo.Preset != m.info.Preset {
		return nil, fmt.Errorf("%w: the model needs keys for preset %s, key set %.16s… is for %s", he.ErrParamsMismatch, m.info.Preset, keyID, keyInfo.Preset)
	}
	pi := m.info.Packings[packing.String()]
	spec := he.KeySpec{Relinearization: pi.Relinearization, GaloisElements: pi.GaloisElements}
	if missing := missingKeys(keyInfo, spec); missing != "" {
		return nil, fmt.Errorf("%w: %s", inference.ErrMissingKeys, missing)
	}
	body, err := s.readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	params, err := he.PresetByName(m.info.Preset)
	if err != nil {
		return nil, err
	}
	cts, err := he.ReadCiphertextFile(bytes.NewReader(body), params, he.Limits{MaxGaloisKeys: 0, MaxCiphertextDegree: 1})
	if err != nil {
		return nil, err
	}
	j := &job{id: newJobID(), owner: owner, model: m, keyID: keyID, packing: packing, input: cts, sync: sync, done: make(chan struct{})}
	scale := math.Exp2(float64(pi.LogInputScale))
	for i, c := range cts {
		if c.Ciphertext.Level() != pi.InputLevel || math.Abs(c.Ciphertext.Scale.Float64()-scale) > 1e-9*scale {
			return nil, &inference.CiphertextError{Index: i, Field: "level and scale",
				Want: fmt.Sprintf("level %d, scale 2^%d", pi.InputLevel, pi.LogInputScale),
				Got:  fmt.Sprintf("level %d, scale 2^%.2f", c.Ciphertext.Level(), math.Log2(c.Ciphertext.Scale.Float64()))}
		}
	}
	switch packing {
	case inference.Batch:
		f := m.info.Features
		if len(cts) == 0 || len(cts)%f != 0 {
			return nil, &inference.CiphertextError{Index: -1, Field: "count", Want: fmt.Sprintf("a multiple of %d (one ciphertext per feature per batch)", f), Got: fmt.Sprint(len(cts))}
		}
		j.total = len(cts) / f
		for b := 0; b < len(cts); b += f {
			for i := b; i < b+f; i++ {
				if cts[i].Values != cts[b].Values {
					return nil, &inference.CiphertextError{Index: i, Field: "values", Want: fmt.Sprint(cts[b].Values), Got: fmt.Sprint(cts[i].Values)}
				}
			}
			j.samples += cts[b].Values
		}
	case inference.Single:
		if len(cts) == 0 {
			return nil, &inference.CiphertextError{Index: -1, Field: "count", Want: "at least 1", Got: "0"}
		}
		j.total, j.samples = len(cts), len(cts)
	}
	if !sync {
		j.inputBytes = body // stored by submit, under the queue lock
	}
	return j, nil
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
	j, err := s.prepareJob(w, r, chi.URLParam(r, "id"), s.cfg.MaxInferBytes, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.submit(r.Context(), j); err != nil {
		if errors.Is(err, ErrQueueFull) {
			w.Header().Set("Retry-After", "1")
		}
		s.writeError(w, r, err)
		return
	}
	select {
	case <-j.done:
	case <-r.Context().Done():
		j.cancelMutex.Lock()
		if j.cancel != nil {
			j.cancel()
		}
		j.cancelMutex.Unlock()
		<-j.done
		return
	}
	if j.err != nil {
		s.writeError(w, r, j.err)
		return
	}
	w.Header().Set("Content-Type", schema.CiphertextMediaType)
	w.Header().Set("X-Aios-Samples", fmt.Sprint(j.samples))
	w.Write(j.result)
}

// handlePostJob: POST /v1/jobs?model=ID&key=ID&packing=…, body a ciphertext
// batch; 202 with the job.
func (s *Server) handlePostJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.prepareJob(w, r, r.URL.Query().Get("model"), s.cfg.MaxJobBytes, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.submit(r.Context(), j); err != nil {
		if errors.Is(err, ErrQueueFull) {
			w.Header().Set("Retry-After", "5")
		}
		s.writeError(w, r, err)
		return
	}
	info, err := s.jobInfo(r.Context(), j.owner, j.id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.id)
	writeJSON(w, http.StatusAccepted, info)
}

func (s *Server) jobInfo(ctx context.Context, owner, id string) (schema.JobInfo, error) {
	var info schema.JobInfo
	var created int64
	var finished sql.NullInt64
	err := s.db.SQL().QueryRowContext(ctx, `SELECT id, model, key_id, packing, status, done, total, samples, error, result_bytes, created_at, finished_at
		FROM jobs WHERE id = ? AND (owner = ? OR ? = '')`, id, owner, owner).Scan(
		&info.ID, &info.Model, &info.Key, &info.Packing, &info.Status, &info.Done, &info.Total, &info.Samples, &info.Error, &info.ResultBytes, &created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return schema.JobInfo{}, fmt.Errorf("%w: job %.24s", ErrNotFound, id)
	}
	if err != nil {
		return schema.JobInfo{}, fmt.Errorf("api: look up job: %w", err)
	}
	info.CreatedAt = time.UnixMicro(created).UTC()
	if finished.Valid {
		t := time.UnixMicro(finished.Int64).UTC()
		info.FinishedAt = &t
	}
	return info, nil
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	info, err := s.jobInfo(r.Context(), ownerFilter(principalOf(r.Context())), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// handleJobResult: GET /v1/jobs/{id}/result, the output ciphertext batch of
// a finished job (409 while it is not done).
func (s *Server) handleJobResult(w http.ResponseWriter, r *http.Request) {
	owner := ownerFilter(principalOf(r.Context()))
	info, err := s.jobInfo(r.Context(), owner, chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if info.Status != schema.JobDone {
		s.writeError(w, r, fmt.Errorf("%w: job is %s", ErrConflict, info.Status))
		return
	}
	var blob string
	if err := s.db.SQL().QueryRowContext(r.Context(), `SELECT result_blob FROM jobs WHERE id = ?`, info.ID).Scan(&blob); err != nil {
		s.writeError(w, r, fmt.Errorf("api: job result: %w", err))
		return
	}
	b, err := s.blobs.Get(blob, info.ResultBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", schema.CiphertextMediaType)
	w.Write(b)
}

// resumeJobs re-queues the asynchronous jobs a previous run left queued or
// running; those beyond the queue's room fail with a message saying so.
func (s *Server) resumeJobs(ctx context.Context) error {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, owner, model, key_id, packing, input_blob FROM jobs WHERE status IN (?, ?) ORDER BY created_at`, schema.JobQueued, schema.JobRunning)
	if err != nil {
		return fmt.Errorf("api: resume jobs: %w", err)
	}
	type pending struct{ id, owner, model, key, packing, blob string }
	var list []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.owner, &p.model, &p.key, &p.packing, &p.blob); err != nil {
			rows.Close()
			return err
		}
		list = append(list, p)
	}
	rows.Close()
	for _, p := range list {
		err := s.requeue(ctx, p.id, p.owner, p.model, p.key, p.packing, p.blob)
		if err != nil {
			s.setJob(p.id, schema.JobFailed, "could not resume after restart: "+err.Error(), "", 0)
		}
	}
	return nil
}

func (s *Server) requeue(ctx context.Context, id, owner, modelID, keyID, packingName, blob string) error {
	m, err := s.model(modelID)
	if err != nil {
		return err
	}
	packing, err := inference.ParsePacking(packingName)
	if err != nil {
		return err
	}
	params, err := he.PresetByName(m.info.Preset)
	if err != nil {
		return err
	}
	b, err := s.blobs.Get(blob, s.cfg.MaxJobBytes)
	if err != nil {
		return err
	}
	cts, err := he.ReadCiphertextFile(bytes.NewReader(b), params, he.Limits{MaxCiphertextDegree: 1})
	if err != nil {
		return err
	}
	j := &job{id: id, owner: owner, model: m, keyID: keyID, packing: packing, input: cts, inputBlob: blob, done: make(chan struct{})}
	if packing == inference.Batch {
		j.total = len(cts) / m.info.Features
		for b := 0; b < len(cts); b += m.info.Features {
			j.samples += cts[b].Values
		}
	} else {
		j.total, j.samples = len(cts), len(cts)
	}
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	if len(s.jobs.queue) == cap(s.jobs.queue) {
		return ErrQueueFull
	}
	s.setJob(id, schema.JobQueued, "", "", 0)
	s.jobs.live[id] = j
	s.jobs.queue <- j
	return nil
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
