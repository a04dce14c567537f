package dp_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/aios-edge/aios/dp"
)

// A node releases a noised sum of values clamped to [0, 100] from the budget
// of one tenant; the retry with the same idempotency key is free and returns
// the same value.
func ExampleLedger_Release() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "aios-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ledger, err := dp.OpenNode(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer ledger.Close()

	budget, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: "tenant-a", Total: dp.MicroPerEpsilon})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ledger.CreateBudget(ctx, budget, "operator"); err != nil {
		log.Fatal(err)
	}

	mech, err := dp.NewLaplaceFromLiteral(dp.LaplaceLiteral{Epsilon: 250_000, Lower: 0, Upper: 100, FracBits: dp.DefaultFracBits})
	if err != nil {
		log.Fatal(err)
	}
	q, err := mech.Query(1234.5) // the raw aggregate: never stored, never logged
	if err != nil {
		log.Fatal(err)
	}
	req := dp.ReleaseRequest{Budget: "tenant-a", Query: q, Requester: "analyst", Purpose: "weekly report", IdempotencyKey: "report-2024-w01"}
	first, err := ledger.Release(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	retry, err := ledger.Release(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same value on retry:", retry.Values[0] == first.Values[0], retry.Replayed)
	fmt.Println("remaining ε:", retry.Remaining)
	fmt.Println("value inside its 95% interval:", first.CI[0].Lower <= first.Values[0] && first.Values[0] <= first.CI[0].Upper)

	report, err := ledger.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("entries:", report.Entries, "releases:", report.Releases)
	// Output:
	// same value on retry: true true
	// remaining ε: 0.75
	// value inside its 95% interval: true
	// entries: 2 releases: 1
}
