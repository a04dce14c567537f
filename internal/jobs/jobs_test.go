package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/internal/store/storetest"
)

// fakeWork counts steps to its result; with a gate, each step waits for a
// value on it (or for the job's context to end).
type fakeWork struct {
	steps   int
	gate    chan struct{}
	result  []byte
	started chan struct{} // closed when Run begins, if not nil
	check   func() error  // run first, if not nil
}

func (w *fakeWork) Run(ctx context.Context, progress func(n int)) ([]byte, error) {
	if w.started != nil {
		close(w.started)
	}
	if w.check != nil {
		if err := w.check(); err != nil {
			return nil, err
		}
	}
	for range w.steps {
		if w.gate != nil {
			select {
			case <-w.gate:
			case <-ctx.Done():
				return nil, fmt.Errorf("fake work: %w", ctx.Err())
			}
		}
		progress(1)
	}
	return w.result, nil
}

// node is a service on a data directory, as a node holds it.
type node struct {
	t     *testing.T
	dir   string
	db    *store.DB
	st    *SQLStore
	blobs *store.Blobs
	svc   *Service
}

// readInput reads a job's stored input whole.
func readInput(open InputOpener) ([]byte, error) {
	f, err := open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startNode opens dir and starts a service on it; cfg's zero limits get
// small defaults.
func startNode(t *testing.T, dir string, cfg Config) *node {
	t.Helper()
	return startNodeOn(t, storetest.DB{Dir: dir}, cfg)
}

// startNodeOn is startNode on loc's database, with its blobs in the
// database when it is PostgreSQL, as api does; each call is a replica with
// its own pool.
func startNodeOn(t *testing.T, loc storetest.DB, cfg Config) *node {
	t.Helper()
	dir := loc.Dir
	ctx := context.Background()
	db, err := store.OpenWithOptions(ctx, dir, store.Options{URL: loc.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := NewSQLStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var blobs *store.Blobs
	if loc.URL != "" {
		blobs, err = store.OpenBlobsIn(ctx, db)
	} else {
		blobs, err = store.OpenBlobs(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	orDefault(&cfg.QueueSize, 4)
	orDefault(&cfg.Workers, 1)
	orDefault(&cfg.Retention, time.Hour)
	orDefault(&cfg.MaxInputBytes, 1<<20)
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	svc, err := Start(ctx, st, blobs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNow(svc) })
	return &node{t: t, dir: dir, db: db, st: st, blobs: blobs, svc: svc}
}

func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// stopNow shuts svc down without waiting for its jobs.
func stopNow(svc *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	svc.Shutdown(ctx)
}

func spec(owner string) Spec {
	return Spec{Owner: owner, Model: "m", Key: "k", Packing: "batch", Total: 3, Samples: 30}
}

func (n *node) submit(owner string, input []byte, w Work) schema.JobInfo {
	n.t.Helper()
	info, err := n.svc.Submit(context.Background(), spec(owner), input, w)
	if err != nil {
		n.t.Fatal(err)
	}
	return info
}

// wait polls job id until cond holds, for at most ten seconds.
func (n *node) wait(id string, cond func(Record) bool) Record {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := n.st.Get(context.Background(), id, "")
		if err != nil {
			n.t.Fatal(err)
		}
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("job %s: %+v", id, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func finished(r Record) bool { return r.Status == schema.JobDone || r.Status == schema.JobFailed }

func blobID(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (n *node) hasBlob(b []byte) bool {
	_, err := n.blobs.Get(blobID(b), 1<<20)
	return err == nil
}

// gone reports whether blob b is deleted within a second: a job's row
// records that it finished before its input blob is deleted.
func (n *node) gone(b []byte) bool {
	for range 200 {
		if !n.hasBlob(b) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func receive(t *testing.T, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}

func TestAsyncJob(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{})
	input, result := []byte("input"), []byte("result")
	info := n.submit("alice", input, &fakeWork{steps: 3, result: result})
	if info.Status != schema.JobQueued && info.Status != schema.JobRunning || info.Total != 3 || info.Samples != 30 || info.Model != "m" {
		t.Fatalf("submitted: %+v", info)
	}
	r := n.wait(info.ID, finished)
	if r.Status != schema.JobDone || r.Done != 3 || r.ResultBytes != int64(len(result)) || r.FinishedAt == nil || r.InputBlob != "" {
		t.Fatalf("finished: %+v", r)
	}
	ctx := context.Background()
	if got, err := n.svc.Result(ctx, "alice", info.ID); err != nil || string(got) != string(result) {
		t.Fatalf("result %q, %v", got, err)
	}
	if _, err := n.svc.Info(ctx, "bob", info.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another owner's view: %v", err)
	}
	if got, err := n.svc.Info(ctx, "", info.ID); err != nil || got.ID != info.ID {
		t.Fatalf("any owner's view: %+v %v", got, err)
	}
	if !n.gone(input) {
		t.Fatal("a finished job's input is kept")
	}
}

func TestResultConflictWhileRunning(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{})
	gate := make(chan struct{})
	info := n.submit("alice", []byte("x"), &fakeWork{steps: 1, gate: gate})
	if _, err := n.svc.Result(context.Background(), "alice", info.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("result of an unfinished job: %v", err)
	}
	close(gate)
	n.wait(info.ID, finished)
}

// TestQueueFull: with one worker busy and the queue's one place taken, both
// kinds of job are refused with ErrQueueFull, and nothing is recorded.
func TestQueueFull(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{QueueSize: 1})
	gate := make(chan struct{})
	started := make(chan struct{})
	running := n.submit("alice", []byte("a"), &fakeWork{steps: 1, gate: gate, started: started})
	receive(t, started)
	queued := n.submit("alice", []byte("b"), &fakeWork{steps: 1, result: []byte("b")})
	if _, err := n.svc.Run(context.Background(), &fakeWork{}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("synchronous job on a full queue: %v", err)
	}
	if _, err := n.svc.Submit(context.Background(), spec("alice"), []byte("c"), &fakeWork{}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("asynchronous job on a full queue: %v", err)
	}
	if n.hasBlob([]byte("c")) {
		t.Fatal("a refused job's input is stored")
	}
	// The same for an input staged as it arrived: not stored, and the
	// staging file gone.
	staged, err := n.blobs.Stage()
	if err != nil {
		t.Fatal(err)
	}
	staged.Write([]byte("d"))
	if _, err := n.svc.SubmitStaged(context.Background(), spec("alice"), staged, &fakeWork{}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("staged job on a full queue: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(n.dir, "blobs", "staging", "*")); n.hasBlob([]byte("d")) || len(left) > 0 {
		t.Fatalf("a refused staged input is kept: stored %v, staging %v", n.hasBlob([]byte("d")), left)
	}
	close(gate)
	for _, id := range []string{running.ID, queued.ID} {
		if r := n.wait(id, finished); r.Status != schema.JobDone {
			t.Fatalf("job %s: %+v", id, r)
		}
	}
}

// TestRunCancelled: a synchronous job ends with its caller's context, while
// it runs and while it waits in the queue (then it never runs).
func TestRunCancelled(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{})
	gate := make(chan struct{})
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := n.svc.Run(ctx, &fakeWork{steps: 1, gate: gate, started: started})
		errc <- err
	}()
	receive(t, started)
	waiting := &fakeWork{steps: 1, started: make(chan struct{})}
	wctx, wcancel := context.WithCancel(context.Background())
	werrc := make(chan error, 1)
	go func() {
		_, err := n.svc.Run(wctx, waiting)
		werrc <- err
	}()
	for n.svc.QueueDepth() == 0 {
		time.Sleep(time.Millisecond)
	}
	wcancel()
	cancel()
	for _, c := range []chan error{errc, werrc} {
		select {
		case err := <-c:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled job: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("cancelled job still running")
		}
	}
	select {
	case <-waiting.started:
		t.Fatal("a job cancelled while queued ran")
	default:
	}
	if out, err := n.svc.Run(context.Background(), &fakeWork{steps: 2, result: []byte("ok")}); err != nil || string(out) != "ok" {
		t.Fatalf("next job: %q %v", out, err)
	}
}

// TestShutdown: running jobs finish while Shutdown's context lasts; after it
// ends, an interrupted asynchronous job is queued again and a synchronous
// one fails with ErrShuttingDown; new jobs are refused.
func TestShutdown(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{Workers: 2})
	gate := make(chan struct{})
	started := make(chan struct{})
	finishing := n.submit("alice", []byte("a"), &fakeWork{steps: 1, gate: gate, started: started, result: []byte("r")})
	receive(t, started)
	go func() { gate <- struct{}{} }()
	n.svc.Shutdown(context.Background())
	if r, _ := n.st.Get(context.Background(), finishing.ID, ""); r.Status != schema.JobDone {
		t.Fatalf("graceful shutdown: %+v", r)
	}
	if _, err := n.svc.Run(context.Background(), &fakeWork{}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("job after shutdown: %v", err)
	}

	n = startNode(t, t.TempDir(), Config{Workers: 2})
	asyncStarted, syncStarted := make(chan struct{}), make(chan struct{})
	stuck := n.submit("alice", []byte("b"), &fakeWork{steps: 1, gate: make(chan struct{}), started: asyncStarted})
	errc := make(chan error, 1)
	go func() {
		_, err := n.svc.Run(context.Background(), &fakeWork{steps: 1, gate: make(chan struct{}), started: syncStarted})
		errc <- err
	}()
	receive(t, asyncStarted)
	receive(t, syncStarted)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	n.svc.Shutdown(ctx)
	if err := <-errc; !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("interrupted synchronous job: %v", err)
	}
	r, _ := n.st.Get(context.Background(), stuck.ID, "")
	if r.Status != schema.JobQueued || !strings.Contains(r.Error, "interrupted by shutdown") || r.InputBlob == "" || !n.hasBlob([]byte("b")) {
		t.Fatalf("interrupted asynchronous job: %+v", r)
	}
}

// TestResumeAfterRestart: the jobs a node left queued or running run again
// after a restart, from their stored inputs; those beyond the queue's room
// fail, saying so.
func TestResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, Config{QueueSize: 8})
	started := make(chan struct{})
	var ids []string
	for i := range 4 {
		w := &fakeWork{steps: 3, gate: make(chan struct{})}
		if i == 0 {
			w.started = started
		}
		ids = append(ids, n.submit("alice", []byte(fmt.Sprint("input ", i)), w).ID)
	}
	receive(t, started)
	stopNow(n.svc)
	n.db.Close()

	var mu sync.Mutex
	var inputs []string
	gate := make(chan struct{})
	resume := func(r Record, open InputOpener) (Work, error) {
		input, err := readInput(open)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		inputs = append(inputs, string(input))
		mu.Unlock()
		return &fakeWork{steps: r.Total, gate: gate, result: append([]byte("result of "), input...)}, nil
	}
	n = startNode(t, dir, Config{QueueSize: 1, Resume: resume})
	close(gate)
	for i, id := range ids {
		r := n.wait(id, finished)
		switch {
		case i == 0 && (r.Status != schema.JobDone || r.Done != 3):
			t.Errorf("first job after restart: %+v", r)
		case i >= 2 && (r.Status != schema.JobFailed || r.Error != "could not resume after restart: job queue is full"):
			t.Errorf("job %d beyond the queue's room: %+v", i, r)
		}
		if r.InputBlob != "" || !n.gone([]byte(fmt.Sprint("input ", i))) {
			t.Errorf("job %d keeps its input after it finished: %+v", i, r)
		}
	}
	if got, err := n.svc.Result(context.Background(), "alice", ids[0]); err != nil || string(got) != "result of input 0" {
		t.Fatalf("resumed result %q, %v", got, err)
	}
	if inputs[0] != "input 0" {
		t.Fatalf("resumed inputs %q, want the oldest first", inputs)
	}
}

// TestRetention: finished jobs older than the retention are forgotten with
// their results, never a blob that a live job refers to; a finished job's
// input goes at once unless a live job has the same bytes.
func TestRetention(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{Retention: time.Hour, Workers: 2})
	shared := []byte("shared bytes")
	old := n.submit("alice", []byte("old input"), &fakeWork{steps: 1, result: shared})
	n.wait(old.ID, finished)
	gate := make(chan struct{})
	live := n.submit("alice", shared, &fakeWork{steps: 1, gate: gate, result: []byte("live result")})
	twin := n.submit("alice", shared, &fakeWork{steps: 1, result: []byte("twin result")})
	n.wait(twin.ID, finished)
	if !n.hasBlob(shared) {
		t.Fatal("an input that a live job shares was deleted when its twin finished")
	}
	n.svc.Expire(time.Now())
	if _, err := n.svc.Info(context.Background(), "", old.ID); err != nil {
		t.Fatalf("job expired early: %v", err)
	}
	n.svc.Expire(time.Now().Add(time.Hour + time.Minute))
	for _, id := range []string{old.ID, twin.ID} {
		if _, err := n.svc.Info(context.Background(), "", id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired job %s: %v", id, err)
		}
	}
	if n.hasBlob([]byte("twin result")) {
		t.Fatal("an expired job's result was kept")
	}
	if !n.hasBlob(shared) {
		t.Fatal("an expired job's result that a live job has as input was deleted")
	}
	close(gate)
	n.wait(live.ID, finished)
	if !n.gone(shared) {
		t.Fatal("an input no job refers to any more was kept")
	}
}

// TestConcurrentSubmitsShareInput: jobs with the same input submitted while
// others with it finish; every job finds its input stored when it runs (the
// lock over "store and record" against "count and delete").
func TestConcurrentSubmitsShareInput(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{QueueSize: 64, Workers: 4})
	input := []byte("the same batch")
	check := func() error {
		if !n.hasBlob(input) {
			return errors.New("input blob missing while its job runs")
		}
		return nil
	}
	var wg sync.WaitGroup
	ids := make(chan string, 64)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				info, err := n.svc.Submit(context.Background(), spec("alice"), input, &fakeWork{steps: 1, check: check})
				if errors.Is(err, ErrQueueFull) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				ids <- info.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if r := n.wait(id, finished); r.Status != schema.JobDone {
			t.Fatalf("job %s: %+v", id, r)
		}
	}
}

// TestFailedJobMessage: a failed job shows its error's text only if Public
// allows it.
func TestFailedJobMessage(t *testing.T) {
	public := errors.New("bad ciphertext")
	n := startNode(t, t.TempDir(), Config{Public: func(err error) bool { return errors.Is(err, public) }})
	for _, c := range []struct {
		err  error
		want string
	}{{public, "bad ciphertext"}, {errors.New("disk on fire"), "internal error"}} {
		info := n.submit("alice", []byte(c.want), &fakeWork{check: func() error { return c.err }})
		if r := n.wait(info.ID, finished); r.Status != schema.JobFailed || r.Error != c.want {
			t.Errorf("%v: %+v", c.err, r)
		}
	}
}

func TestSQLStoreFreshDatabase(t *testing.T) {
	n := startNode(t, t.TempDir(), Config{})
	var v int
	if err := n.db.SQL().QueryRow(`SELECT MAX(version) FROM schema_migrations WHERE component = 'jobs'`).Scan(&v); err != nil || v != len(migrations()) {
		t.Fatalf("jobs schema version %d (%v), want %d", v, err, len(migrations()))
	}
	if _, err := NewSQLStore(context.Background(), n.db); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
}
