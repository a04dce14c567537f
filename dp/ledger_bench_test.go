package dp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/store/storetest"
)

// BenchmarkConcurrentSpend measures committed releases per second with 64
// goroutines spending against one budget in the SQLite store (WAL, full
// fsync on commit, BEGIN IMMEDIATE): each b.N iteration is one release,
// debited, chained and durable before it returns.
//
//	go test ./dp -run '^$' -bench ConcurrentSpend -benchtime 2000x
func BenchmarkConcurrentSpend(b *testing.B) {
	benchSpend(b, []*Ledger{newTestLedger(b, b.TempDir(), LedgerOptions{})}, 64)
}

// BenchmarkConcurrentSpendPostgres is BenchmarkConcurrentSpend on
// PostgreSQL with three replicas' ledgers (each its own pool of
// connections, as three aios serve processes have) of 64 spenders each.
// It needs AIOS_TEST_POSTGRES; for durable commits run it under
// AIOS_PG_FSYNC=on scripts/with-postgres.sh.
func BenchmarkConcurrentSpendPostgres(b *testing.B) {
	loc := storetest.Postgres(b)
	benchSpend(b, []*Ledger{newLedgerOn(b, loc, LedgerOptions{}), newLedgerOn(b, loc, LedgerOptions{}), newLedgerOn(b, loc, LedgerOptions{})}, 64)
}

// benchSpend has perLedger spenders on each ledger release against one
// budget until b.N releases are committed.
func benchSpend(b *testing.B, ledgers []*Ledger, perLedger int) {
	spenders := perLedger * len(ledgers)
	ctx := context.Background()
	l := ledgers[0]
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
				_, err := ledgers[w%len(ledgers)].Release(ctx, ReleaseRequest{Budget: "bench", Query: q, Requester: "bench",
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
