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
//
// The sub-benchmark group=1 is the baseline without group commit (each
// release its own transaction and fsync); group=256 is the ledger's.
func BenchmarkConcurrentSpend(b *testing.B) {
	for _, group := range []int{1, maxGroup} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			l := newTestLedger(b, b.TempDir(), LedgerOptions{})
			l.group = group
			benchSpend(b, []*Ledger{l}, 64)
		})
	}
}

// BenchmarkConcurrentSpendPostgres is BenchmarkConcurrentSpend on
// PostgreSQL with three replicas' ledgers (each its own pool of
// connections, as three aios serve processes have) of 64 spenders each.
// It needs AIOS_TEST_POSTGRES; for durable commits run it under
// AIOS_PG_FSYNC=on scripts/with-postgres.sh.
func BenchmarkConcurrentSpendPostgres(b *testing.B) {
	for _, group := range []int{1, maxGroup} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			loc := storetest.Postgres(b)
			var ledgers []*Ledger
			for range 3 {
				l := newLedgerOn(b, loc, LedgerOptions{})
				l.group = group
				ledgers = append(ledgers, l)
			}
			benchSpend(b, ledgers, 64)
		})
	}
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
