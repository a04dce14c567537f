package main

// `aios budget grant`, `revoke` and `grants`: who besides the operator may
// spend a budget over the node's API. These commands, like every command
// on --data-dir, are the node's operator (whoever can open the data
// directory can write its grants anyway); so is `aios dp query
// --data-dir`, which spends without a grant. See package dp, "Grants".

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/dp"
)

func grantCommand() *command {
	return &command{name: "grant", summary: "let a token or a role spend a budget over the API",
		usage: "NAME (--token-id ID | --role ROLE) --data-dir DIR [--json]", new: func() runner { return &budgetGrantCmd{} }}
}

func revokeCommand() *command {
	return &command{name: "revoke", summary: "end a token's or a role's grant of a budget",
		usage: "NAME (--token-id ID | --role ROLE) --data-dir DIR [--json]", new: func() runner { return &budgetGrantCmd{revoke: true} }}
}

func grantsCommand() *command {
	return &command{name: "grants", summary: "list who may spend a budget over the API",
		usage: "NAME --data-dir DIR [--json]", new: func() runner { return new(budgetGrantsCmd) }}
}

// budgetGrantCmd is `aios budget grant` and, with revoke, `aios budget
// revoke`.
type budgetGrantCmd struct {
	ledgerFlags
	tokenID, role string
	revoke        bool
}

func (c *budgetGrantCmd) declare(fs *flag.FlagSet) {
	c.ledgerFlags.declare(fs)
	fs.StringVar(&c.tokenID, "token-id", "", "the `id` of a token of this node (aios token create prints it)")
	fs.StringVar(&c.role, "role", "", "a role: every token of it (client, peer, auditor, admin)")
}

// grantee turns --token-id or --role into a grantee name, checking that
// the token exists or that the role is one.
func (c *budgetGrantCmd) grantee(ctx context.Context) (string, error) {
	switch {
	case (c.tokenID == "") == (c.role == ""):
		return "", usagef("give one of --token-id and --role")
	case c.role != "":
		r, err := api.ParseRole(c.role)
		if err != nil {
			return "", usagef("--role: %v", err)
		}
		return "role:" + string(r), nil
	}
	if c.revoke {
		return "token:" + c.tokenID, nil // the ledger answers for a grant it does not hold
	}
	db, err := openStore(ctx, c.dataDir, c.db)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := api.LookupToken(ctx, db, c.tokenID); err != nil {
		return "", err
	}
	return "token:" + c.tokenID, nil
}

func (c *budgetGrantCmd) run(ctx context.Context, e *env) error {
	return c.withLedger(ctx, e, 1, func(l *dp.Ledger) error {
		grantee, err := c.grantee(ctx)
		if err != nil {
			return err
		}
		if c.revoke {
			return c.revokeGrant(ctx, e, l, grantee)
		}
		by := "operator"
		if u := os.Getenv("USER"); u != "" {
			by += ":" + u
		}
		g, created, err := l.Grant(ctx, e.args[0], grantee, by)
		if err != nil {
			return err
		}
		verb := "granted"
		if !created {
			verb = "already granted"
		}
		return report(e.stdout, c.asJSON, g, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s budget %q to %s\n", verb, g.Budget, grantee)
			return err
		})
	})
}

func (c *budgetGrantCmd) revokeGrant(ctx context.Context, e *env, l *dp.Ledger, grantee string) error {
	budget := e.args[0]
	if err := l.Revoke(ctx, budget, grantee); err != nil {
		return err
	}
	res := map[string]string{"budget": budget, "revoked": grantee}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "revoked %s's grant of budget %q\n", grantee, budget)
		return err
	})
}

// budgetGrantsCmd is `aios budget grants`.
type budgetGrantsCmd struct{ ledgerFlags }

func (c *budgetGrantsCmd) run(ctx context.Context, e *env) error {
	return c.withLedger(ctx, e, 1, func(l *dp.Ledger) error {
		gs, err := l.Grants(ctx, e.args[0])
		if err != nil {
			return err
		}
		return report(e.stdout, c.asJSON, gs, func(w io.Writer) error { return grantTable(w, gs) })
	})
}

// withLedger opens the ledger of --data-dir for a command that takes want
// positional arguments, calls f with it and closes it.
func (f *ledgerFlags) withLedger(ctx context.Context, e *env, want int, fn func(*dp.Ledger) error) error {
	ledger, err := f.open(ctx, e, want, false) // a grant needs an existing budget: never a new node
	if err != nil {
		return err
	}
	defer ledger.Close()
	return fn(ledger)
}

func grantTable(w io.Writer, gs []dp.Grant) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANTEE\tGRANTED BY\tSINCE")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Grantee, g.GrantedBy, g.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
