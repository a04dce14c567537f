package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/aios-edge/aios/api"
)

func init() {
	register(&command{
		name:    "token",
		summary: "manage the bearer tokens of a node's data directory",
		subs: []*command{{
			name:    "create",
			summary: "create a bearer token for a role (client, peer, auditor, admin) on a node's data directory",
			usage:   "--role ROLE [--name NAME] --data-dir DIR [--json]",
			new:     func() runner { return new(tokenCreateCmd) },
		}},
	})
}

// tokenCreateCmd is `aios token create`.
type tokenCreateCmd struct {
	dataDir, db, role, name string
	asJSON                  bool
}

func (c *tokenCreateCmd) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &c.dataDir)
	dbFlag(fs, &c.db)
	fs.StringVar(&c.role, "role", "", "client, peer, auditor or admin")
	fs.StringVar(&c.name, "name", "", "a label for the token")
	jsonFlag(fs, &c.asJSON)
}

func (c *tokenCreateCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	if c.dataDir == "" || c.role == "" {
		return usagef("--data-dir and --role are required")
	}
	r, err := api.ParseRole(c.role)
	if err != nil {
		return usagef("%v", err)
	}
	db, err := openStore(ctx, c.dataDir, c.db)
	if err != nil {
		return err
	}
	defer db.Close()
	tok, info, err := api.CreateToken(ctx, db, r, c.name)
	if err != nil {
		return err
	}
	res := struct {
		Token string `json:"token"`
		api.TokenInfo
	}{tok, info}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, tok)
		return err
	})
}
