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
		summary: "show this node's identity",
		subs: []*command{{
			name:    "id",
			summary: "print this node's id (its Ed25519 public key), creating the key if missing — for peers files",
			usage:   "--data-dir DIR [--node-key FILE] [--json]",
			new:     func() runner { return new(nodeIDCmd) },
		}},
	})
}

// nodeIDCmd is `aios node id`.
type nodeIDCmd struct {
	dataDir, keyFile string
	asJSON           bool
}

func (c *nodeIDCmd) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &c.dataDir)
	fs.StringVar(&c.keyFile, "node-key", "", "the node key file, if not the one in the data directory")
	jsonFlag(fs, &c.asJSON)
}

func (c *nodeIDCmd) run(_ context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	if c.dataDir == "" && c.keyFile == "" {
		return usagef("give --data-dir or --node-key")
	}
	k, err := api.LoadNodeKey(c.dataDir, c.keyFile)
	if err != nil {
		return err
	}
	res := struct {
		NodeID string `json:"node_id"`
	}{k.ID()}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, res.NodeID)
		return err
	})
}
