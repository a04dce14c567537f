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
		subs: []*command{{
			name:    "query",
			summary: "answer one count, sum or mean over a CSV column with Laplace noise, debited from a budget",
			usage: "--data FILE --column C --agg count|sum|mean [--lower L --upper U] --epsilon E " +
				"--budget NAME --data-dir DIR [--idempotency-key K] [--json]",
			new: func() runner { return new(dpQueryCmd) },
		}},
	})
}

// dpQueryCmd is `aios dp query`.
type dpQueryCmd struct {
	data, column, agg, lower, upper, epsilon, budget, dataDir, db, key, requester, purpose string
	fracBits                                                                               int
	asJSON                                                                                 bool
}

func (c *dpQueryCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "", "CSV `file` with a header row")
	fs.StringVar(&c.column, "column", "", "name of the numeric column")
	fs.StringVar(&c.agg, "agg", "", "aggregation: count, sum or mean")
	fs.StringVar(&c.lower, "lower", "", "lower clamp bound of each value (required for sum and mean)")
	fs.StringVar(&c.upper, "upper", "", "upper clamp bound of each value (required for sum and mean)")
	fs.IntVar(&c.fracBits, "frac-bits", dp.DefaultFracBits, "fixed-point precision f: values are noised in steps of 2^-f")
	fs.StringVar(&c.epsilon, "epsilon", "", "privacy loss ε of this query, a decimal such as 0.5")
	fs.StringVar(&c.budget, "budget", "", "budget to debit")
	dataDirFlag(fs, &c.dataDir)
	dbFlag(fs, &c.db)
	fs.StringVar(&c.key, "idempotency-key", "", "a retry with the same key returns the same release and is not charged again")
	fs.StringVar(&c.requester, "requester", "", "who asks, recorded in the ledger (default: $USER)")
	fs.StringVar(&c.purpose, "purpose", "", "why, recorded in the ledger")
	jsonFlag(fs, &c.asJSON)
}

func (c *dpQueryCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	for name, v := range map[string]string{"data": c.data, "column": c.column, "agg": c.agg, "epsilon": c.epsilon, "budget": c.budget, "data-dir": c.dataDir} {
		if v == "" {
			return usagef("--%s is required", name)
		}
	}
	q, err := c.query()
	if err != nil {
		return err
	}
	ledger, err := openLedger(ctx, c.dataDir, c.db, false)
	if err != nil {
		return err
	}
	defer ledger.Close()
	who := c.requester
	if who == "" {
		who = os.Getenv("USER")
	}
	rel, err := ledger.Release(ctx, dp.ReleaseRequest{Budget: c.budget, Query: q, Requester: who, Purpose: c.purpose, IdempotencyKey: c.key})
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, rel, func(w io.Writer) error {
		replay := ""
		if rel.Replayed {
			replay = " (replayed: not charged again)"
		}
		_, err := fmt.Fprintf(w, "%s of %s: %s\n95%% CI: [%s, %s]\nε=%s from budget %q, ε=%s remaining%s\nledger entry %d, idempotency key %s\n",
			c.agg, c.column, fmtFloat(rel.Values[0]), fmtFloat(rel.CI[0].Lower), fmtFloat(rel.CI[0].Upper),
			rel.Epsilon, rel.Budget, rel.Remaining, replay, rel.Seq, rel.IdempotencyKey)
		return err
	})
}

// query reads the column and prepares the noised aggregate, which only the
// ledger can release.
func (c *dpQueryCmd) query() (dp.Query, error) {
	eps, err := dp.ParseEpsilon(c.epsilon)
	if err != nil {
		return nil, usagef("--epsilon: %v", err)
	}
	lit := dp.AggregateLiteral{Aggregation: dp.Aggregation(c.agg), Epsilon: eps, FracBits: c.fracBits}
	if lit.Lower, err = parseBound("lower", c.lower); err != nil {
		return nil, err
	}
	if lit.Upper, err = parseBound("upper", c.upper); err != nil {
		return nil, err
	}
	mech, err := dp.NewAggregateFromLiteral(lit)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(c.data)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	col, err := dp.ReadColumn(f, c.column, dp.CSVLimits{})
	if err != nil {
		return nil, err
	}
	return mech.Query(col)
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
