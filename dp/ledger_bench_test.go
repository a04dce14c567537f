package dp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConcurrentSpend measures committed releases per second with 64
// goroutines spending against one budget in the SQLite store (WAL, full
// fsync on commit, BEGIN IMMEDIATE): each b.N iteration is one release,
// debited, chained and durable before it returns.
//
//	go test ./dp -run '^$' -bench ConcurrentSpend -benchtime 2000x
func BenchmarkConcurrentSpend(b *testing.B) {
	const spenders = 64
	ctx := context.Background()
	l := newTestLedger(b, b.TempDir(), LedgerOptions{})
	mustBudget(b, l, "bench", MaxEpsilon)
	q := mustQuery(b, 1, 0.5)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range spenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				_, err := l.Release(ctx, ReleaseRequest{Budget: "bench", Query: q, Requester: "bench",
					IdempotencyKey: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil && !errors.Is(err, context.Canceled) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d releases failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "spends/s")
	st, err := l.Budget(ctx, "bench")
	if err != nil || st.Releases != int64(b.N) {
		b.Fatalf("budget shows %d releases, want %d (%v)", st.Releases, b.N, err)
	}
}
