package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store"
)

// Errors of the service.
var (
	ErrQueueFull    = errors.New("job queue is full")
	ErrShuttingDown = errors.New("node is shutting down")
	ErrNotFound     = errors.New("not found")
	// ErrConflict: the job is not in the state the call needs (the result
	// of a job that is not done).
	ErrConflict = errors.New("conflict")
)

// Work is what a job computes. Run reports each step it completes through
// progress (the steps of an asynchronous job are its Spec.Total) and returns
// the job's result. It should return soon after ctx ends, with an error
// that wraps ctx.Err(): that is how an interrupted job is told from a failed
// one.
type Work interface {
	Run(ctx context.Context, progress func(n int)) ([]byte, error)
}

// ResumeFunc turns a job that a previous run left queued or running, or
// one submitted without its Work, back into its Work: from its row and its
// stored input, which the Work reads (through input, once it is ready to
// hold what the input decodes to) when it runs.
type ResumeFunc func(r Record, input InputOpener) (Work, error)

// InputOpener opens a job's stored input; the caller closes it. The reader
// fails at its end if the stored bytes are not the ones submitted.
type InputOpener func() (io.ReadCloser, error)

// Staged is an input written to the blob store as it arrives
// ([store.Blobs.Stage]), not yet stored: [Service.SubmitStaged] commits it.
type Staged interface {
	Commit() (string, error)
	Abort()
}

// Spec describes an asynchronous job as its row shows it.
type Spec struct {
	Owner, Model, Key, Packing string
	Total, Samples             int
}

// Config configures a [Service].
type Config struct {
	// QueueSize bounds the waiting jobs; Workers runs that many at once.
	// Both must be positive.
	QueueSize, Workers int
	// Retention is how long a finished job and its result are kept; it
	// must be positive.
	Retention time.Duration
	// MaxInputBytes bounds an input read back to resume a job; it must be
	// positive.
	MaxInputBytes int64
	// Resume rebuilds the Work of the jobs a previous run left queued or
	// running; nil fails them.
	Resume ResumeFunc
	// Public reports whether the text of an error that failed a job may be
	// shown to the job's owner; other errors are logged and the job shows
	// "internal error". Nil: none may.
	Public func(error) bool
	// Logger gets the service's warnings and errors (default slog.Default()).
	Logger *slog.Logger

	// Lease, when positive, says that several replicas share the store
	// (which must then implement [Leaser]): an asynchronous job runs under
	// a lease of this length, renewed while it runs, and an idle replica
	// takes waiting jobs from the store, those submitted through other
	// replicas and those whose replica died (once their lease expired).
	// Zero: this service alone uses the store, and Start resumes what a
	// previous run left queued or running.
	Lease time.Duration
	// MaxAttempts bounds how many times a job is leased (default 3): a job
	// whose replicas keep dying under it fails after that many.
	MaxAttempts int
	// Poll is how often an idle replica looks for waiting jobs (default 1s).
	Poll time.Duration
	// Holder names this replica in its lease tokens, "HOLDER/random"
	// (default host:pid), so that an operator sees who holds a job.
	Holder string
}

// Service is the job service. Create it with [Start] and stop it with
// [Service.Shutdown]. It is safe for concurrent use.
type Service struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	blobs  Blobs
	leaser Leaser // with Config.Lease

	queue   chan *job
	running atomic.Int32
	wg      sync.WaitGroup
	// ctx ends every job's context when cancel is called.
	ctx         context.Context
	cancel      context.CancelFunc
	stopJanitor context.CancelFunc

	// mu makes admission (room in the queue, not shut down) and "store an
	// input blob and record its row" atomic against Shutdown and against
	// "count a blob's references and delete it" (deleteUnreferenced).
	mu     sync.Mutex
	closed bool
}

// job is a job in the queue.
type job struct {
	id        string // "" for a synchronous job
	inputBlob string
	work      Work
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when it has run
	result    []byte        // a synchronous job's outcome
	err       error
	completed int // steps done, touched only by the worker that runs it
	// record, for an asynchronous job submitted without its Work, is what
	// Config.Resume builds the Work from when the job starts.
	record *Record
	// lease is the token of the job's lease (with Config.Lease), lost set
	// once another replica took it over.
	lease string
	lost  atomic.Bool
}

// Start starts the workers and the janitor and queues again the jobs that a
// previous run left queued or running.
func Start(ctx context.Context, st Store, blobs Blobs, cfg Config) (*Service, error) {
	if cfg.QueueSize <= 0 || cfg.Workers <= 0 || cfg.Retention <= 0 || cfg.MaxInputBytes <= 0 {
		return nil, fmt.Errorf("jobs: queue size %d, workers %d, retention %v, input limit %d: each must be positive",
			cfg.QueueSize, cfg.Workers, cfg.Retention, cfg.MaxInputBytes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, store: st, blobs: blobs, queue: make(chan *job, cfg.QueueSize)}
	if cfg.Lease > 0 {
		var ok bool
		if s.leaser, ok = st.(Leaser); !ok {
			return nil, fmt.Errorf("jobs: Config.Lease needs a store that implements Leaser, not %T", st)
		}
		if s.cfg.MaxAttempts <= 0 {
			s.cfg.MaxAttempts = 3
		}
		if s.cfg.Poll <= 0 {
			s.cfg.Poll = time.Second
		}
		if s.cfg.Holder == "" {
			host, _ := os.Hostname()
			s.cfg.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.wg.Add(1)
		go s.worker()
	}
	jctx, stopJanitor := context.WithCancel(s.ctx)
	s.stopJanitor = stopJanitor
	s.wg.Add(1)
	go s.janitor(jctx)
	if s.leaser != nil {
		s.wg.Add(1)
		go s.poll(jctx)
		return s, nil
	}
	if err := s.resume(ctx); err != nil {
		s.Shutdown(ctx)
		return nil, err
	}
	return s, nil
}

// QueueDepth is the number of jobs waiting for a worker.
func (s *Service) QueueDepth() int { return len(s.queue) }

// Running is the number of jobs being evaluated.
func (s *Service) Running() int { return int(s.running.Load()) }

// Run runs w as a synchronous job and returns its result. When ctx ends
// first, the job is cancelled and Run returns ctx's error once it stopped.
func (s *Service) Run(ctx context.Context, w Work) ([]byte, error) {
	j := s.newJob(ctx, "", w)
	if err := s.enqueue(j, nil); err != nil {
		return nil, err
	}
	select {
	case <-j.done:
		return j.result, j.err
	case <-ctx.Done(): // and so the job's context
		<-j.done
		return nil, ctx.Err()
	}
}

// Submit stores input, records an asynchronous job of spec and queues w,
// and returns the job as its row now shows it. With w nil the job waits as
// its stored input alone: when it starts, Config.Resume builds its Work
// from its row and input, as after a restart, so that a queued job holds
// no decoded input in memory.
func (s *Service) Submit(ctx context.Context, spec Spec, input []byte, w Work) (schema.JobInfo, error) {
	return s.submit(ctx, spec, func() (string, error) { return s.blobs.Put(input) }, w)
}

// SubmitStaged is [Service.Submit] for an input already written to the
// blob store as it arrived: it commits input, or aborts it when the job is
// not taken.
func (s *Service) SubmitStaged(ctx context.Context, spec Spec, input Staged, w Work) (schema.JobInfo, error) {
	committed := false
	defer func() {
		if !committed {
			input.Abort()
		}
	}()
	return s.submit(ctx, spec, func() (string, error) {
		committed = true
		return input.Commit()
	}, w)
}

// submit stores a job's input (with put, under the lock that keeps a
// blob from being deleted between its storing and its row), records the
// job and queues it.
func (s *Service) submit(ctx context.Context, spec Spec, put func() (string, error), w Work) (schema.JobInfo, error) {
	j := s.newJob(context.Background(), newID(), w)
	err := s.enqueue(j, func() error {
		var err error
		if j.inputBlob, err = put(); err != nil {
			return err
		}
		r := Record{Owner: spec.Owner, InputBlob: j.inputBlob, JobInfo: schema.JobInfo{
			ID: j.id, Model: spec.Model, Key: spec.Key, Packing: spec.Packing, Status: schema.JobQueued,
			Total: spec.Total, Samples: spec.Samples, CreatedAt: time.Now().UTC()}}
		if w == nil {
			j.record = &r
		}
		if refs, blobs, ok := s.blobReferences(); ok {
			return refs.CreateReferencing(ctx, blobs, r)
		}
		return s.store.Create(ctx, r)
	})
	if err != nil {
		return schema.JobInfo{}, err
	}
	return s.Info(ctx, spec.Owner, j.id)
}

// blobReferences returns the store and blobs that record and remove blob
// references serialized across processes ([BlobReferences]), if they do.
func (s *Service) blobReferences() (BlobReferences, *store.Blobs, bool) {
	refs, ok := s.store.(BlobReferences)
	blobs, ok2 := s.blobs.(*store.Blobs)
	return refs, blobs, ok && ok2
}

// Info returns job id if owner submitted it ("" matches any owner).
func (s *Service) Info(ctx context.Context, owner, id string) (schema.JobInfo, error) {
	r, err := s.store.Get(ctx, id, owner)
	return r.JobInfo, err
}

// Result returns the result of job id if owner submitted it ("" matches any
// owner); it fails with ErrConflict while the job is not done.
func (s *Service) Result(ctx context.Context, owner, id string) ([]byte, error) {
	r, err := s.store.Get(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	if r.Status != schema.JobDone {
		return nil, fmt.Errorf("%w: job is %s", ErrConflict, r.Status)
	}
	return s.blobs.Get(r.ResultBlob, r.ResultBytes)
}

// Shutdown refuses new jobs and waits for the queued and running ones until
// ctx ends; then it cancels them: an interrupted asynchronous job is queued
// again and runs after the next start, a synchronous one fails with
// ErrShuttingDown. Calls after the first return at once.
func (s *Service) Shutdown(ctx context.Context) {
	s.mu.Lock()
	already := s.closed
	if !already {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	if already {
		return
	}
	defer s.cancel()
	s.stopJanitor()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		s.cancel()
		<-finished
	}
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// newJob makes a job whose context ends with parent's (a synchronous job's
// caller's) and when the service cancels its jobs.
func (s *Service) newJob(parent context.Context, id string, w Work) *job {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(s.ctx, cancel)
	return &job{id: id, work: w, ctx: ctx, cancel: func() { stop(); cancel() }, done: make(chan struct{})}
}

// enqueue admits j: record (if not nil) runs under the lock, after the
// checks, and j is queued only if it succeeds.
func (s *Service) enqueue(j *job, record func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.admit()
	if err == nil && record != nil {
		err = record()
	}
	if err != nil {
		j.cancel()
		return err
	}
	s.queue <- j // cannot block: checked for room under the lock
	return nil
}

// admit reports whether the queue takes a job now; s.mu is held.
func (s *Service) admit() error {
	if s.closed {
		return ErrShuttingDown
	}
	if len(s.queue) == cap(s.queue) {
		return ErrQueueFull
	}
	return nil
}

func (s *Service) worker() {
	defer s.wg.Done()
	for j := range s.queue {
		s.run(j)
	}
}

func (s *Service) run(j *job) {
	s.running.Add(1)
	defer s.running.Add(-1)
	defer close(j.done)
	defer j.cancel()
	var result []byte
	err := j.ctx.Err() // cancelled while it waited
	if err == nil && j.id != "" && s.leaser != nil {
		var run bool
		if run, err = s.lease(j); err == nil && !run {
			return // another replica runs it, or ran it
		}
	}
	if err == nil {
		if j.id != "" && s.leaser == nil {
			s.setStatus(j, Update{Status: schema.JobRunning})
		}
		if j.work == nil {
			j.work, err = s.build(j)
		}
		if err == nil {
			result, err = j.work.Run(j.ctx, j.progress(s))
		}
	}
	interrupted := err != nil && errors.Is(err, context.Canceled) && s.ctx.Err() != nil
	switch {
	case j.id == "" && interrupted:
		j.err = ErrShuttingDown
	case j.id == "":
		j.result, j.err = result, err
	case j.lost.Load():
		s.log.Warn("job taken over by another replica (lease lost); its outcome here is dropped", "job", j.id)
	case interrupted:
		s.setStatus(j, Update{Status: schema.JobQueued, Error: "interrupted by shutdown; runs again after restart"})
	case err != nil:
		s.fail(j, err)
	default:
		s.finish(j, result)
	}
}

// build makes the Work of a job submitted without one from its row and
// stored input.
func (s *Service) build(j *job) (Work, error) {
	if s.cfg.Resume == nil || j.record == nil {
		return nil, errors.New("jobs: a job without its Work needs Config.Resume")
	}
	return s.cfg.Resume(*j.record, s.opener(j.inputBlob))
}

// opener opens a job's input blob.
func (s *Service) opener(blob string) InputOpener {
	return func() (io.ReadCloser, error) { return s.blobs.Open(blob, s.cfg.MaxInputBytes) }
}

// progress returns the function through which j's Work reports its steps;
// an asynchronous job records them in its row.
func (j *job) progress(s *Service) func(n int) {
	return func(n int) {
		j.completed += n
		if j.id == "" {
			return
		}
		if err := s.store.SetProgress(context.Background(), j.id, j.completed); err != nil {
			s.log.Warn("job progress", "job", j.id, "err", err)
		}
	}
}

// fail records that an asynchronous job failed with err.
func (s *Service) fail(j *job, err error) {
	msg := err.Error()
	if s.cfg.Public == nil || !s.cfg.Public(err) {
		s.log.Error("job failed", "job", j.id, "err", err)
		msg = "internal error"
	}
	s.setStatus(j, Update{Status: schema.JobFailed, Error: msg, FinishedAt: time.Now().UTC()})
}

// finish stores an asynchronous job's result and records that it is done.
func (s *Service) finish(j *job, result []byte) {
	blob, err := s.blobs.Put(result)
	if err != nil {
		s.log.Error("store job result", "job", j.id, "err", err)
		s.setStatus(j, Update{Status: schema.JobFailed, Error: "internal error", FinishedAt: time.Now().UTC()})
		return
	}
	// When the lease was lost, another replica's result stands; this one's
	// blob is left, not deleted: it may be the very bytes that the other
	// replica is storing (blobs are content-addressed), and this process's
	// lock does not keep the other replica from recording them in between.
	s.setStatus(j, Update{Status: schema.JobDone, ResultBlob: blob, ResultBytes: int64(len(result)), FinishedAt: time.Now().UTC()})
}

// setStatus records u for job j, under its lease if it holds one, and
// reports whether it did; once the job finished, its input is deleted
// unless another job has the same bytes. Errors are logged: the job's own
// outcome stands either way.
func (s *Service) setStatus(j *job, u Update) bool {
	return s.setRecordStatus(j.id, j.inputBlob, j.lease, u)
}

// setRecordStatus is setStatus for the job id whose input is inputBlob and
// whose lease is lease ("": none).
func (s *Service) setRecordStatus(id, inputBlob, lease string, u Update) bool {
	u.Lease = lease
	if err := s.store.Update(context.Background(), id, u); errors.Is(err, ErrLeaseLost) {
		s.log.Warn("job taken over by another replica (lease lost); its outcome here is dropped", "job", id)
		return false
	} else if err != nil {
		s.log.Error("update job", "job", id, "err", err)
		return false
	}
	if !u.FinishedAt.IsZero() && inputBlob != "" {
		s.deleteUnreferenced(inputBlob)
	}
	return true
}
