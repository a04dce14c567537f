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
		name:    "node",
		summary: "print this node's id (its Ed25519 public key), creating the key if missing — for peers files",
		usage:   "id --data-dir DIR [--node-key FILE] [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			dataDir := fs.String("data-dir", "", "the node's data directory")
			keyFile := fs.String("node-key", "", "the node key file, if not the one in the data directory")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(_ context.Context, e *env) error {
				if len(e.args) != 1 || e.args[0] != "id" {
					return usagef("the only subcommand is id")
				}
				if *dataDir == "" && *keyFile == "" {
					return usagef("give --data-dir or --node-key")
				}
				k, err := api.LoadNodeKey(*dataDir, *keyFile)
				if err != nil {
					return err
				}
				res := struct {
					NodeID string `json:"node_id"`
				}{k.ID()}
				return report(e.stdout, *asJSON, res, func(w io.Writer) error {
					_, err := fmt.Fprintln(w, res.NodeID)
					return err
				})
			}
		},
	})
}
