package dp

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/internal/store/storetest"
)

func newTestLedger(t testing.TB, dir string, opt LedgerOptions) *Ledger {
	t.Helper()
	return newLedgerOn(t, storetest.DB{Dir: dir}, opt)
}

// newLedgerOn opens a ledger on loc's database with loc's node key; each
// call opens its own pool, as a replica of the node does.
func newLedgerOn(t testing.TB, loc storetest.DB, opt LedgerOptions) *Ledger {
	t.Helper()
	ctx := context.Background()
	key, err := nodekey.LoadOrCreate(loc.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenWithOptions(ctx, loc.Dir, store.Options{URL: loc.URL})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLedger(ctx, db, key, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return l
}

func mustBudget(t testing.TB, l *Ledger, name string, total MicroEpsilon) {
	t.Helper()
	b, err := NewBudgetFromLiteral(BudgetLiteral{Name: name, Total: total, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateBudget(context.Background(), b, "tester"); err != nil {
		t.Fatal(err)
	}
}

func mustQuery(t testing.TB, eps MicroEpsilon, v float64) Query {
	t.Helper()
	m, err := NewLaplaceFromLiteral(LaplaceLiteral{Epsilon: eps, Lower: 0, Upper: 1, FracBits: 16})
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.Query(v)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestIdempotentReplay retries a release with its idempotency key, through
// the same ledger and through another replica's on the same database.
func TestIdempotentReplay(t *testing.T) { storetest.Each(t, testIdempotentReplay) }

func testIdempotentReplay(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	l := newLedgerOn(t, loc, LedgerOptions{})
	other := newLedgerOn(t, loc, LedgerOptions{})
	mustBudget(t, l, "b", MicroPerEpsilon)
	req := ReleaseRequest{Budget: "b", Query: mustQuery(t, 100_000, 42), Requester: "r", Purpose: "p", IdempotencyKey: "k1"}
	r1, err := l.Release(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Replayed || r1.Remaining != 900_000 {
		t.Fatalf("first release: replayed=%v remaining=%v", r1.Replayed, r1.Remaining)
	}
	for i := range 4 {
		// A retry (even one carrying another raw value) is free and returns
		// the stored draw, never a fresh one, through any replica.
		req.Query = mustQuery(t, 100_000, 7)
		r2, err := []*Ledger{l, other}[i%2].Release(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !r2.Replayed || r2.Seq != r1.Seq || r2.Values[0] != r1.Values[0] || r2.CI[0] != r1.CI[0] {
			t.Fatalf("replay differs: %+v vs %+v", r2, r1)
		}
	}
	st, err := l.Budget(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if st.Spent != 100_000 || st.Releases != 1 {
		t.Errorf("after retries spent=%v releases=%d, want 100000 and 1", st.Spent, st.Releases)
	}
	// The same key for another request is a conflict, not a replay.
	req.Query = mustQuery(t, 200_000, 42)
	if _, err := l.Release(ctx, req); !errors.Is(err, ErrIdempotencyConflict) {
		t.Errorf("key reuse with another ε: %v", err)
	}
	// Keys are scoped by budget.
	mustBudget(t, l, "other", MicroPerEpsilon)
	req.Budget, req.Query = "other", mustQuery(t, 100_000, 42)
	if r3, err := l.Release(ctx, req); err != nil || r3.Replayed {
		t.Errorf("same key on another budget: %v, replayed=%v", err, r3 != nil && r3.Replayed)
	}
}

func TestExhaustion(t *testing.T) { storetest.Each(t, testExhaustion) }

func testExhaustion(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	l := newLedgerOn(t, loc, LedgerOptions{})
	mustBudget(t, l, "b", 250_000)
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "b", Query: mustQuery(t, 200_000, 1)}); err != nil {
		t.Fatal(err)
	}
	_, err := l.Release(ctx, ReleaseRequest{Budget: "b", Query: mustQuery(t, 100_000, 1)})
	var ee *ExhaustedError
	if !errors.Is(err, ErrBudgetExhausted) || !errors.As(err, &ee) {
		t.Fatalf("overspend: %v, want *ExhaustedError", err)
	}
	if ee.Budget != "b" || ee.Remaining != 50_000 || ee.Requested != 100_000 {
		t.Errorf("ExhaustedError = %+v", ee)
	}
	if msg := err.Error(); !strings.Contains(msg, "ε=0.05 remaining") || !strings.Contains(msg, "needs ε=0.1") {
		t.Errorf("message does not say what remains: %q", msg)
	}
	// Exactly the remainder still fits; then nothing does.
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "b", Query: mustQuery(t, 50_000, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "b", Query: mustQuery(t, 1, 1)}); !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("spend on an empty budget: %v", err)
	}
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "nope", Query: mustQuery(t, 1, 1)}); !errors.Is(err, ErrUnknownBudget) {
		t.Errorf("unknown budget: %v", err)
	}
	b, _ := NewBudgetFromLiteral(BudgetLiteral{Name: "b", Total: 1})
	if _, err := l.CreateBudget(ctx, b, ""); !errors.Is(err, ErrBudgetExists) {
		t.Errorf("duplicate budget: %v", err)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSpend has 64 goroutines spend against one budget, through
// three replicas' ledgers (pools) on one database: the total spent never
// exceeds the budget, every successful spend has exactly one ledger entry,
// and the chain, with checkpoints signed by all three, verifies.
func TestConcurrentSpend(t *testing.T) { storetest.Each(t, testConcurrentSpend) }

func testConcurrentSpend(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	replicas := []*Ledger{
		newLedgerOn(t, loc, LedgerOptions{CheckpointEvery: 16}),
		newLedgerOn(t, loc, LedgerOptions{CheckpointEvery: 16}),
		newLedgerOn(t, loc, LedgerOptions{CheckpointEvery: 16}),
	}
	l := replicas[0]
	const (
		workers = 64
		tries   = 4
		each    = 10_000
		total   = 1_000_000 // room for 100 of the 256 attempts
	)
	mustBudget(t, l, "shared", total)
	var (
		mu   sync.Mutex
		seqs = map[int64]bool{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tries {
				r, err := replicas[(w+i)%len(replicas)].Release(ctx, ReleaseRequest{Budget: "shared", Query: mustQuery(t, each, 1),
					IdempotencyKey: fmt.Sprintf("w%d-%d", w, i)})
				if errors.Is(err, ErrBudgetExhausted) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seqs[r.Seq] {
					t.Errorf("seq %d returned twice", r.Seq)
				}
				seqs[r.Seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st, err := l.Budget(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if st.Spent > total || st.Spent != MicroEpsilon(len(seqs))*each || len(seqs) != total/each {
		t.Errorf("spent %v over %d successes, want %d successes of %d", st.Spent, len(seqs), total/each, each)
	}
	entries, err := l.Entries(ctx, "shared", 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	spends := 0
	for _, e := range entries {
		if e.Kind == KindSpend {
			spends++
			if !seqs[e.Seq] {
				t.Errorf("entry %d has no successful spend", e.Seq)
			}
		}
	}
	if spends != len(seqs) {
		t.Errorf("%d spend entries for %d successful spends", spends, len(seqs))
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checkpoints == 0 {
		t.Error("no automatic checkpoint")
	}
}

const crashEnv = "AIOS_DP_CRASH_CHILD_DIR"

// TestCrashChild is the child of TestCrash: it spends in a loop and prints
// each committed release until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	ctx := context.Background()
	l := newTestLedger(t, dir, LedgerOptions{CheckpointEvery: 5})
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		key := "c" + strconv.Itoa(i)
		r, err := l.Release(ctx, ReleaseRequest{Budget: "crash", Query: mustQuery(t, 1, 0.5), IdempotencyKey: key})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		fmt.Fprintf(out, "released %s %d %s\n", key, r.Seq, strconv.FormatFloat(r.Values[0], 'g', -1, 64))
		out.Flush()
	}
}

// TestCrash kills a spending child with SIGKILL, then checks after reopening
// that the chain verifies, that everything the child printed (it prints
// only after Release returned) has its entry and the same stored value, and
// that no entry is duplicated.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	ctx := context.Background()
	l := newTestLedger(t, dir, LedgerOptions{})
	mustBudget(t, l, "crash", MaxEpsilon)

	cmd, stdout, stderr := startChild(t, "TestCrashChild", crashEnv+"="+dir)
	released := map[string]string{} // key → "seq value"
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(20 * time.Second)
	killed := false
	for sc.Scan() { // read to EOF: lines printed up to the kill all count
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "released" {
			released[f[1]] = f[2] + " " + f[3]
		}
		if !killed && (len(released) >= 40 || time.Now().After(deadline)) {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if !killed {
		t.Fatalf("child exited early; stderr: %s", stderr.String())
	}
	_ = cmd.Wait()
	if len(released) < 10 {
		t.Fatalf("child released only %d values before the kill; stderr: %s", len(released), stderr.String())
	}

	// Reopen as a restarted node would.
	l2 := newTestLedger(t, dir, LedgerOptions{})
	rep, err := l2.Verify(ctx)
	if err != nil {
		t.Fatalf("chain after SIGKILL: %v", err)
	}
	entries, err := l2.Entries(ctx, "crash", 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Entry{}
	for _, e := range entries {
		if e.Kind != KindSpend {
			continue
		}
		if _, dup := byKey[e.IdempotencyKey]; dup {
			t.Errorf("idempotency key %s has two entries", e.IdempotencyKey)
		}
		byKey[e.IdempotencyKey] = e
	}
	for key, got := range released {
		e, ok := byKey[key]
		if !ok {
			t.Errorf("released %s without a ledger entry", key)
			continue
		}
		// The stored value is what was released: a retry returns it.
		r, err := l2.Release(ctx, ReleaseRequest{Budget: "crash", Query: mustQuery(t, 1, 0.5), IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%d %s", e.Seq, strconv.FormatFloat(r.Values[0], 'g', -1, 64)); want != got || !r.Replayed {
			t.Errorf("key %s: child saw %q, ledger has %q", key, got, want)
		}
	}
	st, _ := l2.Budget(ctx, "crash")
	if int64(len(byKey)) != st.Releases || st.Spent != MicroEpsilon(len(byKey)) {
		t.Errorf("budget says %d releases / %v spent, chain has %d", st.Releases, st.Spent, len(byKey))
	}
	t.Logf("child committed %d releases (%d seen before SIGKILL); %d checkpoints verified", len(byKey), len(released), rep.Checkpoints)
}

func TestBudgetLiteral(t *testing.T) {
	for name, lit := range map[string]BudgetLiteral{
		"empty name": {Total: 1},
		"upper case": {Name: "Tenant", Total: 1},
		"slash":      {Name: "a/b", Total: 1},
		"long":       {Name: strings.Repeat("a", 65), Total: 1},
		"zero":       {Name: "a", Total: 0},
		"too large":  {Name: "a", Total: MaxEpsilon + 1},
		"bad utf8":   {Name: "a", Total: 1, Description: "\xff"},
		"NUL":        {Name: "a", Total: 1, Description: "a\x00b"},
		"ESC":        {Name: "a", Total: 1, Description: "\x1b[2J"},
		"newline":    {Name: "a", Total: 1, Description: "a\nb"},
		"C1 control": {Name: "a", Total: 1, Description: "a\u009bb"},
	} {
		_, err := NewBudgetFromLiteral(lit)
		if !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: %v", name, err)
		}
		var se *SpecError
		if errors.As(err, &se) && lit.Description != "" && se.Field != "description" {
			t.Errorf("%s: field %q, want description", name, se.Field)
		}
	}
	if _, err := NewBudgetFromLiteral(BudgetLiteral{Name: "a", Total: 1, Description: "tab\tand ünïcode"}); err != nil {
		t.Errorf("tab and non-ASCII letters: %v", err)
	}
}

func TestReleaseRequestValidation(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{})
	mustBudget(t, l, "b", MicroPerEpsilon)
	q := mustQuery(t, 1, 1)
	for name, req := range map[string]ReleaseRequest{
		"nil query":    {Budget: "b"},
		"bad key":      {Budget: "b", Query: q, IdempotencyKey: "has space"},
		"long purpose": {Budget: "b", Query: q, Purpose: strings.Repeat("x", 513)},
		"bad budget":   {Budget: "B!", Query: q},
	} {
		if _, err := l.Release(ctx, req); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if st, _ := l.Budget(ctx, "b"); st.Spent != 0 {
		t.Error("an invalid request was charged")
	}
}

func TestOpenNode(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "node")
	l, err := OpenNode(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	mustBudget(t, l, "b", 1)
	id := l.PublicKey()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenNode(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.PublicKey() != id {
		t.Error("node key changed on reopen")
	}
	if _, err := l.Budget(ctx, "b"); err != nil {
		t.Error(err)
	}
}

// startChild runs this test binary as a child process that runs only test
// name, with env added to its environment, and returns it with its stdout
// and the buffer that collects its stderr.
func startChild(t *testing.T, name string, env ...string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

// TestGroupRollsBackHead has a writer that appends an entry and then fails
// run between two releases in one group commit: its entry is rolled back
// with its savepoint, so the group's chain head, which the group keeps in
// memory, must go back too, and the second release chain onto the first.
func TestGroupRollsBackHead(t *testing.T) { storetest.Each(t, testGroupRollsBackHead) }

func testGroupRollsBackHead(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	l := newLedgerOn(t, loc, LedgerOptions{CheckpointEvery: -1})
	mustBudget(t, l, "b", 1_000_000)
	// No committer runs until the three writers are pending, in order.
	holdCommitter(l)
	waitPending := func(n int) {
		for {
			l.gmu.Lock()
			got := len(l.pending)
			l.gmu.Unlock()
			if got == n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	errInjected := errors.New("injected after the append")
	type outcome struct {
		rel *Release
		err error
	}
	release := func(key string) <-chan outcome {
		c := make(chan outcome, 1)
		go func() {
			r, err := l.Release(ctx, ReleaseRequest{Budget: "b", Query: mustQuery(t, 10, 1), IdempotencyKey: key})
			c <- outcome{r, err}
		}()
		return c
	}
	first := release("first")
	waitPending(1)
	failed := make(chan error, 1)
	go func() {
		failed <- l.inTx(ctx, func(tx *sql.Tx) error {
			e := &Entry{Version: EntryV2, Kind: KindSpend, Budget: "b", Epsilon: 10, Mechanism: "laplace",
				Requester: "x", Time: time.Now().UnixMicro(), IdempotencyKey: "rolled-back"}
			if _, err := l.appendEntry(ctx, tx, e); err != nil {
				return err
			}
			return errInjected
		})
	}()
	waitPending(2)
	second := release("second")
	waitPending(3)
	go l.commitGroups()
	o1, err, o2 := <-first, <-failed, <-second
	if !errors.Is(err, errInjected) {
		t.Fatalf("failing writer: %v", err)
	}
	if o1.err != nil || o2.err != nil {
		t.Fatalf("releases: %v, %v", o1.err, o2.err)
	}
	if o2.rel.Seq != o1.rel.Seq+1 {
		t.Errorf("second release has seq %d after %d", o2.rel.Seq, o1.rel.Seq)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestGroupRefusalsInBatch has one group commit of releases that a group
// sends together on PostgreSQL (spendBatch): a replay, a release against an
// (ε, δ) budget, a spender with a grant and one without, refusals and a
// conflicting key among admitted releases.
// Each gets its own outcome, the admitted ones chain in the group's order,
// and the ledger verifies.
func TestGroupRefusalsInBatch(t *testing.T) { storetest.Each(t, testGroupRefusalsInBatch) }

func testGroupRefusalsInBatch(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	l := newLedgerOn(t, loc, LedgerOptions{CheckpointEvery: 2})
	mustBudget(t, l, "b", 40)
	rdpLedger(t, l)
	if _, _, err := l.Grant(ctx, "b", "role:client", "tester"); err != nil {
		t.Fatal(err)
	}
	granted := &Spender{Name: "token:s", Grantees: []string{"token:s", "role:client"}}
	other := &Spender{Name: "token:n", Grantees: []string{"token:n", "role:reader"}}
	// No committer runs until the writers are pending, in order.
	holdCommitter(l)
	type outcome struct {
		rel *Release
		err error
	}
	var outs []chan outcome
	for i, w := range []struct {
		budget, key, purpose string
		sp                   *Spender
	}{
		{"b", "a", "", nil}, {"b", "a", "", nil}, {"fed", "f", "", nil}, {"b", "c", "", nil},
		{"b", "s", "", granted}, {"b", "n", "", other},
		{"b", "d", "", nil}, {"b", "e", "", nil}, {"b", "a", "other", nil}, {"b", "h", "", nil},
	} {
		c := make(chan outcome, 1)
		outs = append(outs, c)
		go func() {
			r, err := l.Release(ctx, ReleaseRequest{Budget: w.budget, Query: mustQuery(t, 10, 1), IdempotencyKey: w.key, Purpose: w.purpose, Spender: w.sp})
			c <- outcome{r, err}
		}()
		for {
			l.gmu.Lock()
			n := len(l.pending)
			l.gmu.Unlock()
			if n == i+1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	go l.commitGroups()
	var o []outcome
	for _, c := range outs {
		o = append(o, <-c)
	}
	for _, i := range []int{0, 1, 2, 3, 4, 6} {
		if o[i].err != nil {
			t.Fatalf("release %d: %v", i, o[i].err)
		}
	}
	if !o[1].rel.Replayed || o[1].rel.Seq != o[0].rel.Seq || o[0].rel.Replayed {
		t.Errorf("replay: %+v after %+v", o[1].rel, o[0].rel)
	}
	for k, i := range []int{2, 3, 4, 6} {
		if o[i].rel.Seq != o[0].rel.Seq+int64(k)+1 || o[i].rel.Replayed {
			t.Errorf("release %d has seq %d after %d", i, o[i].rel.Seq, o[0].rel.Seq)
		}
	}
	if o[6].rel.Remaining != 0 {
		t.Errorf("remaining after the fourth release: %d", o[6].rel.Remaining)
	}
	var unspendable *UnspendableError
	if !errors.As(o[5].err, &unspendable) {
		t.Errorf("spender without a grant: %v, %v", o[5].rel, o[5].err)
	}
	for _, i := range []int{7, 9} {
		if !errors.Is(o[i].err, ErrBudgetExhausted) {
			t.Errorf("release %d: %v, %v", i, o[i].rel, o[i].err)
		}
	}
	if !errors.Is(o[8].err, ErrIdempotencyConflict) {
		t.Errorf("conflicting key: %v, %v", o[8].rel, o[8].err)
	}
	st, err := l.Budget(ctx, "b")
	if err != nil || st.Spent != 40 || st.Releases != 4 {
		t.Errorf("budget: %+v, %v", st, err)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// holdCommitter keeps l's group commit from running (until the test runs
// l.commitGroups), once the committer of the writers before has stopped:
// their callers may return before it finds nothing more pending.
func holdCommitter(l *Ledger) {
	for {
		l.gmu.Lock()
		if !l.leading {
			l.leading = true
			l.gmu.Unlock()
			return
		}
		l.gmu.Unlock()
		time.Sleep(time.Millisecond)
	}
}
