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
		usage:   "create NAME --epsilon E [--description D] | list | show NAME   --data-dir DIR [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			dataDir := fs.String("data-dir", "", "node data `directory`")
			epsilon := fs.String("epsilon", "", "create: total ε of the budget, a decimal such as 1.5")
			desc := fs.String("description", "", "create: what the budget covers (a dataset, a tenant)")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if len(e.args) == 0 {
					return usagef("expected create, list or show")
				}
				sub := e.args[0]
				args := e.args[1:]
				if *dataDir == "" {
					return usagef("--data-dir is required")
				}
				want := map[string]int{"create": 1, "list": 0, "show": 1}
				n, ok := want[sub]
				if !ok {
					return usagef("unknown subcommand %q", sub)
				}
				if len(args) != n {
					return usagef("%s takes %d argument(s)", sub, n)
				}
				var lit dp.BudgetLiteral
				if sub == "create" {
					if *epsilon == "" {
						return usagef("--epsilon is required")
					}
					total, err := dp.ParseEpsilon(*epsilon)
					if err != nil {
						return usagef("--epsilon: %v", err)
					}
					lit = dp.BudgetLiteral{Name: args[0], Total: total, Description: *desc}
				}
				ledger, err := dp.OpenNode(ctx, *dataDir)
				if err != nil {
					return err
				}
				defer ledger.Close()
				switch sub {
				case "create":
					b, err := dp.NewBudgetFromLiteral(lit)
					if err != nil {
						return err
					}
					st, err := ledger.CreateBudget(ctx, b, os.Getenv("USER"))
					if err != nil {
						return err
					}
					return report(e.stdout, *asJSON, st, func(w io.Writer) error {
						_, err := fmt.Fprintf(w, "created budget %q with ε=%s\n", st.Name, st.Total)
						return err
					})
				case "show":
					st, err := ledger.Budget(ctx, args[0])
					if err != nil {
						return err
					}
					return report(e.stdout, *asJSON, st, func(w io.Writer) error { return budgetTable(w, []dp.BudgetStatus{st}) })
				}
				all, err := ledger.Budgets(ctx)
				if err != nil {
					return err
				}
				if all == nil {
					all = []dp.BudgetStatus{}
				}
				return report(e.stdout, *asJSON, all, func(w io.Writer) error { return budgetTable(w, all) })
			}
		},
	})
}

func budgetTable(w io.Writer, bs []dp.BudgetStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTOTAL ε\tSPENT ε\tREMAINING ε\tRELEASES\tDESCRIPTION")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", b.Name, b.Total, b.Spent, b.Remaining, b.Releases, b.Description)
	}
	return tw.Flush()
}
