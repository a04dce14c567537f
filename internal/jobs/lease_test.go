package jobs

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store/storetest"
)

// leased is a replica's config with short leases.
func leased(resume ResumeFunc) Config {
	return Config{Workers: 2, QueueSize: 16, Lease: 2 * time.Second, Poll: 20 * time.Millisecond, Resume: resume}
}

// tlog writes a service's log to the test's.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// TestLeasesAcrossReplicas: jobs submitted through one replica as rows
// alone run on the three replicas, each once, with one result each.
func TestLeasesAcrossReplicas(t *testing.T) { storetest.Each(t, testLeasesAcrossReplicas) }

func testLeasesAcrossReplicas(t *testing.T, loc storetest.DB) {
	var mu sync.Mutex
	runs := map[string]int{} // job input → runs
	resume := func(r Record, open InputOpener) (Work, error) {
		input, err := readInput(open)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		runs[string(input)]++
		mu.Unlock()
		return &fakeWork{steps: 3, result: append([]byte("result of "), input...)}, nil
	}
	cfg := leased(resume)
	cfg.Logger = slog.New(slog.NewTextHandler(tlog{t}, nil))
	a := startNodeOn(t, loc, cfg)
	startNodeOn(t, loc, cfg)
	startNodeOn(t, loc, cfg)
	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = a.submit("alice", []byte{byte('a' + i)}, nil).ID
	}
	for i, id := range ids {
		r := a.wait(id, finished)
		if r.Status != schema.JobDone {
			t.Fatalf("job %d: %+v", i, r)
		}
		got, err := a.svc.Result(context.Background(), "alice", id)
		if err != nil || string(got) != "result of "+string(rune('a'+i)) {
			t.Errorf("job %d result %q, %v", i, got, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for in, k := range runs {
		if k != 1 {
			t.Errorf("job %q built %d times", in, k)
		}
	}
	if len(runs) != n {
		t.Errorf("%d jobs ran, want %d", len(runs), n)
	}
}

// record stores input and records a queued job of it, without its
// service.
func (n *node) record(input string) string {
	n.t.Helper()
	blob, err := n.blobs.Put([]byte(input))
	if err != nil {
		n.t.Fatal(err)
	}
	id := newID()
	if err := n.st.Create(context.Background(), Record{Owner: "alice", InputBlob: blob, JobInfo: schema.JobInfo{
		ID: id, Model: "m", Key: "k", Packing: "batch", Status: schema.JobQueued, Total: 1, Samples: 1, CreatedAt: time.Now().UTC()}}); err != nil {
		n.t.Fatal(err)
	}
	return id
}

// TestLeaseTakeover: a job leased by a replica that then died (it claimed
// the job and went silent) is taken over by another once the lease
// expires; the dead replica's late outcome is refused, so the job has one
// result; and a job whose replicas keep dying fails after MaxAttempts.
func TestLeaseTakeover(t *testing.T) { storetest.Each(t, testLeaseTakeover) }

func testLeaseTakeover(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	var built atomic.Int32
	resume := func(Record, InputOpener) (Work, error) {
		built.Add(1)
		return &fakeWork{steps: 1, result: []byte("live")}, nil
	}
	cfg := leased(resume)
	cfg.Workers, cfg.MaxAttempts = 1, 2
	// The dead replica: its store, a job's row and a claim, and nothing
	// more.
	dead := startNodeOn(t, loc, Config{Lease: time.Hour, Poll: time.Hour})
	id := dead.record("input")
	now := time.Now()
	if _, attempts, ok, err := dead.st.Claim(ctx, id, "dead-token", now, now.Add(500*time.Millisecond)); err != nil || !ok || attempts != 1 {
		t.Fatalf("claim: ok=%v attempts=%d %v", ok, attempts, err)
	}
	if _, _, ok, err := dead.st.Claim(ctx, "", "other", now, now.Add(time.Second)); err != nil || ok {
		t.Fatalf("a leased job was claimed again: ok=%v %v", ok, err)
	}
	// A job claimed and abandoned MaxAttempts times, before the live
	// replica starts: it fails.
	id2 := dead.record("cursed")
	for i := range 2 {
		now := time.Now()
		if _, _, ok, err := dead.st.Claim(ctx, id2, "dead", now, now); err != nil || !ok {
			t.Fatalf("claim %d: ok=%v %v", i, ok, err)
		}
		time.Sleep(time.Millisecond)
	}
	live := startNodeOn(t, loc, cfg)
	start := time.Now()
	r := live.wait(id, finished)
	if r.Status != schema.JobDone || built.Load() != 1 {
		t.Fatalf("taken-over job: %+v (built %d times)", r, built.Load())
	}
	if since := time.Since(start); since < 300*time.Millisecond {
		t.Errorf("taken over after %v, before the lease expired", since)
	}
	err := dead.st.Update(ctx, id, Update{Status: schema.JobDone, ResultBlob: "x", ResultBytes: 1, FinishedAt: time.Now(), Lease: "dead-token"})
	if !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the dead replica's late result: %v, want ErrLeaseLost", err)
	}
	if got, err := live.svc.Result(ctx, "alice", id); err != nil || string(got) != "live" {
		t.Errorf("result %q, %v", got, err)
	}
	if err := dead.st.Renew(ctx, id, "dead-token", time.Now().Add(time.Hour)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renewing a lost lease: %v", err)
	}

	r = live.wait(id2, finished)
	if r.Status != schema.JobFailed || !strings.Contains(r.Error, "gave up after 2 attempts") {
		t.Errorf("abandoned job: %+v", r)
	}
}
