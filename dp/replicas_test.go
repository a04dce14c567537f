package dp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/store/storetest"
)

const replicaEnv = "AIOS_DP_REPLICA_CHILD" // "dir url"

// TestReplicaSpenders runs three replica processes (this test binary) on
// one PostgreSQL database, 64 spenders each, against one budget of ε = 1
// spending ε = 0.01 per release until it is exhausted: exactly 100 releases
// succeed, every other attempt is refused as exhausted, the chain verifies
// and the spent ε is the sum of the entries. Then again with one replica
// killed (SIGKILL) mid-load: the others spend what remains, and every
// release a replica reported has its entry.
func TestReplicaSpenders(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns replica processes")
	}
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "all", true: "kill"}[kill], func(t *testing.T) {
			loc := storetest.Postgres(t)
			testReplicaSpenders(t, loc, kill)
		})
	}
}

func testReplicaSpenders(t *testing.T, loc storetest.DB, kill bool) {
	ctx := context.Background()
	l := newLedgerOn(t, loc, LedgerOptions{}) // creates the node key the children share
	mustBudget(t, l, "shared", MicroPerEpsilon)
	const replicas = 3
	var (
		mu       sync.Mutex
		released = map[string]int64{} // idempotency key → seq
		refused  int
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(time.Minute)
	for r := range replicas {
		cmd, stdout, stderr := startChild(t, "TestReplicaSpenderChild", replicaEnv+"="+loc.Dir+" "+loc.URL, "AIOS_DP_REPLICA="+strconv.Itoa(r))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(stdout)
			n := 0
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				mu.Lock()
				switch {
				case len(f) == 3 && f[0] == "released":
					seq, _ := strconv.ParseInt(f[2], 10, 64)
					if _, dup := released[f[1]]; dup {
						t.Errorf("key %s released twice", f[1])
					}
					released[f[1]] = seq
					n++
				case len(f) == 1 && f[0] == "exhausted":
					refused++
				}
				mu.Unlock()
				if kill && r == 0 && n == 1 {
					cmd.Process.Signal(syscall.SIGKILL)
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
				}
			}
			err := cmd.Wait()
			if kill && r == 0 && (err == nil || !strings.Contains(err.Error(), "killed")) {
				t.Errorf("replica 0 was not killed mid-load: %v", err)
			}
			if !(kill && r == 0) && err != nil {
				t.Errorf("replica %d: %v; stderr: %s", r, err, stderr.String())
			}
		}()
	}
	wg.Wait()
	st, err := l.Budget(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if st.Releases != 100 || st.Spent != MicroPerEpsilon || st.Remaining != 0 {
		t.Errorf("budget after the load: %d releases, spent %v, remaining %v; want 100, 1, 0", st.Releases, st.Spent, st.Remaining)
	}
	if !kill && (len(released) != 100 || refused != replicas*64) {
		t.Errorf("replicas reported %d releases and %d exhausted spenders, want 100 and %d", len(released), refused, replicas*64)
	}
	if kill && len(released) > 100 {
		t.Errorf("replicas reported %d releases", len(released))
	}
	entries, err := l.Entries(ctx, "shared", 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var sum MicroEpsilon
	bySeq := map[int64]string{}
	for _, e := range entries {
		if e.Kind == KindSpend {
			sum += e.Epsilon
			bySeq[e.Seq] = e.IdempotencyKey
		}
	}
	if sum != st.Spent {
		t.Errorf("entries sum to %v, the budget shows %v spent", sum, st.Spent)
	}
	for key, seq := range released {
		if bySeq[seq] != key {
			t.Errorf("release %s (seq %d) has no entry", key, seq)
		}
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatalf("chain after the load: %v", err)
	}
}

// TestReplicaSpenderChild is one replica of TestReplicaSpenders: 64
// spenders release until the budget is exhausted, each printing its
// releases and then "exhausted".
func TestReplicaSpenderChild(t *testing.T) {
	env := os.Getenv(replicaEnv)
	if env == "" {
		t.Skip("run by TestReplicaSpenders")
	}
	dir, url, _ := strings.Cut(env, " ")
	l := newLedgerOn(t, storetest.DB{Dir: dir, URL: url}, LedgerOptions{CheckpointEvery: 16})
	replica := os.Getenv("AIOS_DP_REPLICA")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("r%s-w%d-%d", replica, w, i)
				r, err := l.Release(context.Background(), ReleaseRequest{Budget: "shared", Query: mustQuery(t, 10_000, 0.5), IdempotencyKey: key})
				mu.Lock()
				switch {
				case errors.Is(err, ErrBudgetExhausted):
					fmt.Fprintln(out, "exhausted")
				case err != nil:
					fmt.Fprintln(os.Stderr, "replica:", err)
					os.Exit(3)
				default:
					fmt.Fprintf(out, "released %s %d\n", key, r.Seq)
				}
				out.Flush()
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}
