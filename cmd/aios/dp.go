package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/aios-edge/aios/dp"
)

func init() {
	register(&command{
		name:    "dp",
		summary: "differentially private queries over local data, debited from a privacy budget",
		usage: "query --data FILE --column C --agg count|sum|mean [--lower L --upper U] --epsilon E " +
			"--budget NAME --data-dir DIR [--idempotency-key K] [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			data := fs.String("data", "", "CSV `file` with a header row")
			column := fs.String("column", "", "name of the numeric column")
			agg := fs.String("agg", "", "aggregation: count, sum or mean")
			lower := fs.String("lower", "", "lower clamp bound of each value (required for sum and mean)")
			upper := fs.String("upper", "", "upper clamp bound of each value (required for sum and mean)")
			fracBits := fs.Int("frac-bits", dp.DefaultFracBits, "fixed-point precision f: values are noised in steps of 2^-f")
			epsilon := fs.String("epsilon", "", "privacy loss ε of this query, a decimal such as 0.5")
			budget := fs.String("budget", "", "budget to debit")
			dataDir := fs.String("data-dir", "", "node data `directory`")
			key := fs.String("idempotency-key", "", "a retry with the same key returns the same release and is not charged again")
			requester := fs.String("requester", "", "who asks, recorded in the ledger (default: $USER)")
			purpose := fs.String("purpose", "", "why, recorded in the ledger")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if len(e.args) == 0 || e.args[0] != "query" {
					return usagef("expected the subcommand 'query'")
				}
				rest := e.args[1:]
				if len(rest) > 0 {
					return usagef("unexpected argument %q", rest[0])
				}
				for name, v := range map[string]string{"data": *data, "column": *column, "agg": *agg, "epsilon": *epsilon, "budget": *budget, "data-dir": *dataDir} {
					if v == "" {
						return usagef("--%s is required", name)
					}
				}
				eps, err := dp.ParseEpsilon(*epsilon)
				if err != nil {
					return usagef("--epsilon: %v", err)
				}
				lit := dp.AggregateLiteral{Aggregation: dp.Aggregation(*agg), Epsilon: eps, FracBits: *fracBits}
				if lit.Lower, err = parseBound("lower", *lower); err != nil {
					return err
				}
				if lit.Upper, err = parseBound("upper", *upper); err != nil {
					return err
				}
				mech, err := dp.NewAggregateFromLiteral(lit)
				if err != nil {
					return err
				}
				f, err := os.Open(*data)
				if err != nil {
					return err
				}
				col, err := dp.ReadColumn(f, *column, dp.CSVLimits{})
				f.Close()
				if err != nil {
					return err
				}
				q, err := mech.Query(col)
				if err != nil {
					return err
				}
				ledger, err := dp.OpenNode(ctx, *dataDir)
				if err != nil {
					return err
				}
				defer ledger.Close()
				who := *requester
				if who == "" {
					who = os.Getenv("USER")
				}
				rel, err := ledger.Release(ctx, dp.ReleaseRequest{Budget: *budget, Query: q, Requester: who, Purpose: *purpose, IdempotencyKey: *key})
				if err != nil {
					return err
				}
				return report(e.stdout, *asJSON, rel, func(w io.Writer) error {
					replay := ""
					if rel.Replayed {
						replay = " (replayed: not charged again)"
					}
					_, err := fmt.Fprintf(w, "%s of %s: %s\n95%% CI: [%s, %s]\nε=%s from budget %q, ε=%s remaining%s\nledger entry %d, idempotency key %s\n",
						*agg, *column, fmtFloat(rel.Values[0]), fmtFloat(rel.CI[0].Lower), fmtFloat(rel.CI[0].Upper),
						rel.Epsilon, rel.Budget, rel.Remaining, replay, rel.Seq, rel.IdempotencyKey)
					return err
				})
			}
		},
	})
}

func parseBound(name, s string) (float64, error) {
	if s == "" {
		return 0, nil // undeclared: the dp package refuses it where bounds are needed
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, usagef("--%s: not a number", name)
	}
	return v, nil
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
