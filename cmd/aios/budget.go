package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/aios-edge/aios/dp"
)

func init() {
	register(&command{
		name:    "budget",
		summary: "create, list and show privacy budgets (ε, pure DP) in the node's ledger",
		subs: []*command{
			{name: "create", summary: "create a privacy budget", usage: "NAME --epsilon E [--description D] --data-dir DIR [--json]",
				new: func() runner { return new(budgetCreateCmd) }},
			{name: "list", summary: "list the privacy budgets", usage: "--data-dir DIR [--json]",
				new: func() runner { return new(budgetListCmd) }},
			{name: "show", summary: "show one privacy budget", usage: "NAME --data-dir DIR [--json]",
				new: func() runner { return new(budgetShowCmd) }},
			grantCommand(), revokeCommand(), grantsCommand(),
		},
	})
}

// ledgerFlags are the flags of the commands that open a node's ledger.
type ledgerFlags struct {
	dataDir, db string
	asJSON      bool
}

func (f *ledgerFlags) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &f.dataDir)
	dbFlag(fs, &f.db)
	jsonFlag(fs, &f.asJSON)
}

// open checks that the command got want positional arguments and opens the
// ledger of --data-dir, which must exist unless create is set.
func (f *ledgerFlags) open(ctx context.Context, e *env, want int, create bool) (*dp.Ledger, error) {
	if f.dataDir == "" {
		return nil, usagef("--data-dir is required")
	}
	if len(e.args) != want {
		return nil, usagef("takes %d argument(s)", want)
	}
	return openLedger(ctx, f.dataDir, f.db, create)
}

// budgetCreateCmd is `aios budget create`.
type budgetCreateCmd struct {
	ledgerFlags
	epsilon, desc string
}

func (c *budgetCreateCmd) declare(fs *flag.FlagSet) {
	c.ledgerFlags.declare(fs)
	fs.StringVar(&c.epsilon, "epsilon", "", "total ε of the budget, a decimal such as 1.5")
	fs.StringVar(&c.desc, "description", "", "what the budget covers (a dataset, a tenant)")
}

func (c *budgetCreateCmd) run(ctx context.Context, e *env) error {
	if c.epsilon == "" {
		return usagef("--epsilon is required")
	}
	total, err := dp.ParseEpsilon(c.epsilon)
	if err != nil {
		return usagef("--epsilon: %v", err)
	}
	ledger, err := c.open(ctx, e, 1, true)
	if err != nil {
		return err
	}
	defer ledger.Close()
	b, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: e.args[0], Total: total, Description: c.desc})
	if err != nil {
		return err
	}
	st, err := ledger.CreateBudget(ctx, b, os.Getenv("USER"))
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, st, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "created budget %q with ε=%s\n", st.Name, st.Total)
		return err
	})
}

// budgetListCmd is `aios budget list`.
type budgetListCmd struct{ ledgerFlags }

func (c *budgetListCmd) run(ctx context.Context, e *env) error {
	ledger, err := c.open(ctx, e, 0, false)
	if err != nil {
		return err
	}
	defer ledger.Close()
	all, err := ledger.Budgets(ctx)
	if err != nil {
		return err
	}
	if all == nil {
		all = []dp.BudgetStatus{}
	}
	return report(e.stdout, c.asJSON, all, func(w io.Writer) error { return budgetTable(w, all) })
}

// budgetShowCmd is `aios budget show`.
type budgetShowCmd struct{ ledgerFlags }

func (c *budgetShowCmd) run(ctx context.Context, e *env) error {
	ledger, err := c.open(ctx, e, 1, false)
	if err != nil {
		return err
	}
	defer ledger.Close()
	st, err := ledger.Budget(ctx, e.args[0])
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, st, func(w io.Writer) error { return budgetTable(w, []dp.BudgetStatus{st}) })
}

func budgetTable(w io.Writer, bs []dp.BudgetStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTOTAL ε\tSPENT ε\tREMAINING ε\tδ\tRELEASES\tDESCRIPTION")
	for _, b := range bs {
		delta := "-" // pure ε
		if b.Delta != 0 {
			delta = b.Delta.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", b.Name, b.Total, b.Spent, b.Remaining, delta, b.Releases, b.Description)
	}
	return tw.Flush()
}
