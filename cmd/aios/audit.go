package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
)

func init() {
	register(&command{
		name:    "audit",
		summary: "verify or export the DP ledger's hash chain and signed checkpoints",
		subs: []*command{
			{name: "verify", summary: "verify a ledger's hash chain, checkpoint signatures and budget sums",
				usage: "--data-dir DIR [--json] | --export FILE --node-id HEX [--json] | --server URL --token T [--node-id HEX] [--json]",
				new:   func() runner { return new(auditVerifyCmd) }},
			{name: "export", summary: "export a ledger as a document that can be verified offline", usage: "--data-dir DIR [--out FILE]",
				new: func() runner { return new(auditExportCmd) }},
			{name: "checkpoint", summary: "sign a checkpoint of the ledger's current head", usage: "--data-dir DIR [--json]",
				new: func() runner { return new(auditCheckpointCmd) }},
		},
	})
}

// auditVerifyCmd is `aios audit verify`.
type auditVerifyCmd struct {
	serverFlags
	dataDir, export, nodeID string
	asJSON                  bool
}

func (c *auditVerifyCmd) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &c.dataDir)
	fs.StringVar(&c.export, "export", "", "an export document `file` instead of a data directory")
	fs.StringVar(&c.nodeID, "node-id", "", "the node's public key (hex), obtained from the node out of band (needed with --export)")
	c.serverFlags.declare(fs, "", "with --server, an auditor or admin token; the ledger is fetched with GET /v1/audit/export")
	jsonFlag(fs, &c.asJSON)
}

func (c *auditVerifyCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	rep, err := c.verify(ctx, e)
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, rep, func(w io.Writer) error {
		fmt.Fprintf(w, "OK: %d entries (%d releases), chain head %s\n", rep.Entries, rep.Releases, rep.HeadHash)
		fmt.Fprintf(w, "%d checkpoints signed by node %s; the latest covers %d entries (%d not yet signed)\n",
			rep.Checkpoints, rep.NodeID, rep.SignedEntries, rep.Entries-rep.SignedEntries)
		for _, b := range rep.Budgets {
			fmt.Fprintf(w, "budget %s: spent ε=%s of ε=%s, equal to the sum of its entries\n", b.Name, b.Spent, b.Total)
		}
		return nil
	})
}

// verify verifies the one source the flags name.
func (c *auditVerifyCmd) verify(ctx context.Context, e *env) (*dp.VerifyReport, error) {
	switch {
	case c.server != "" && c.export == "" && c.dataDir == "":
		return c.verifyServer(ctx, e)
	case c.export != "" && c.dataDir == "":
		if c.nodeID == "" {
			return nil, usagef("--export needs --node-id")
		}
		pub, err := nodekey.ParsePublicKey(c.nodeID)
		if err != nil {
			return nil, usagef("--node-id: %v", err)
		}
		f, err := os.Open(c.export)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return dp.VerifyExport(f, pub)
	case c.dataDir != "" && c.export == "":
		ledger, err := dp.OpenNode(ctx, c.dataDir)
		if err != nil {
			return nil, err
		}
		defer ledger.Close()
		return ledger.Verify(ctx)
	}
	return nil, usagef("give one of --data-dir, --export or --server")
}

// verifyServer fetches a node's audit export and verifies it against
// --node-id, or, without one, against the key the node reports (said on
// stderr: only a key obtained out of band makes the signatures mean
// something).
func (c *auditVerifyCmd) verifyServer(ctx context.Context, e *env) (*dp.VerifyReport, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	nodeID := c.nodeID
	if nodeID == "" {
		h, err := cl.Health(ctx)
		if err != nil {
			return nil, err
		}
		nodeID, _ = h["node_id"].(string)
		fmt.Fprintf(e.stderr, "note: verifying against the node key the node itself reports (%s); pass --node-id with a key obtained out of band\n", nodeID)
	}
	pub, err := nodekey.ParsePublicKey(nodeID)
	if err != nil {
		return nil, usagef("--node-id: %v", err)
	}
	doc, err := cl.AuditExport(ctx)
	if err != nil {
		return nil, err
	}
	return dp.VerifyExport(bytes.NewReader(doc), pub)
}

// auditExportCmd is `aios audit export`.
type auditExportCmd struct {
	ledgerFlags
	out string
}

func (c *auditExportCmd) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &c.dataDir)
	fs.StringVar(&c.out, "out", "", "write to this `file` instead of stdout")
}

func (c *auditExportCmd) run(ctx context.Context, e *env) error {
	ledger, err := c.open(ctx, e, 0)
	if err != nil {
		return err
	}
	defer ledger.Close()
	doc, err := ledger.Export(ctx)
	if err != nil {
		return err
	}
	if c.out == "" {
		return dp.WriteExport(e.stdout, doc)
	}
	f, err := os.OpenFile(c.out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := dp.WriteExport(f, doc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %d entries to %s; verify with: aios audit verify --export %s --node-id %s\n",
		len(doc.Entries), c.out, c.out, doc.NodeID)
	return nil
}

// auditCheckpointCmd is `aios audit checkpoint`.
type auditCheckpointCmd struct{ ledgerFlags }

func (c *auditCheckpointCmd) run(ctx context.Context, e *env) error {
	ledger, err := c.open(ctx, e, 0)
	if err != nil {
		return err
	}
	defer ledger.Close()
	cp, err := ledger.Checkpoint(ctx)
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, cp, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "checkpoint: %d entries, head %s, signed by node %s\n", cp.EntryCount, cp.HeadHash, ledger.PublicKey())
		return err
	})
}
