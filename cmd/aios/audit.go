package main

import (
	"bytes"
	"context"
	"errors"
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
				usage: "(--data-dir DIR | --export FILE --node-id HEX | --server URL --token T [--node-id HEX]) [--pin FILE] [--allow-unsigned-head] [--json]",
				new:   func() runner { return new(auditVerifyCmd) }},
			{name: "export", summary: "export a ledger as a document that can be verified offline", usage: "--data-dir DIR [--out FILE [--force]]",
				new: func() runner { return new(auditExportCmd) }},
			{name: "checkpoint", summary: "sign a checkpoint of the ledger's current head", usage: "--data-dir DIR [--json]",
				new: func() runner { return new(auditCheckpointCmd) }},
		},
	})
}

// auditVerifyCmd is `aios audit verify`.
type auditVerifyCmd struct {
	serverFlags
	dataDir, db, export, nodeID, pinFile string
	allowUnsigned, asJSON                bool
}

func (c *auditVerifyCmd) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &c.dataDir)
	dbFlag(fs, &c.db)
	fs.StringVar(&c.export, "export", "", "an export document `file` instead of a data directory")
	fs.StringVar(&c.nodeID, "node-id", "", "the node's public key (hex), obtained from the node out of band (needed with --export)")
	fs.StringVar(&c.pinFile, "pin", "", "the auditor's pin `file`: prove that the chain extends the checkpoint it holds (no rollback, no fork), "+
		"then update it to the latest signed checkpoint; created if missing (trust on first use)")
	fs.BoolVar(&c.allowUnsigned, "allow-unsigned-head", false, "succeed even if the last entries are not covered by a signed checkpoint")
	c.serverFlags.declare(fs, "", "with --server, an auditor or admin token; the ledger is fetched with GET /v1/audit/export")
	jsonFlag(fs, &c.asJSON)
}

func (c *auditVerifyCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	pin, err := c.readPin(e)
	if err != nil {
		return err
	}
	rep, err := c.verify(ctx, e, pin)
	if err != nil {
		return err
	}
	if err := rep.RequireSignedHead(); err != nil {
		if !c.allowUnsigned {
			return fmt.Errorf("%w (run aios audit checkpoint on the node, or pass --allow-unsigned-head)", err)
		}
		fmt.Fprintf(e.stderr, "warning: %v (allowed by --allow-unsigned-head)\n", err)
	}
	if err := c.writePin(e, pin, rep); err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, rep, func(w io.Writer) error {
		fmt.Fprintf(w, "OK: verified up to entry %d, signed up to entry %d", rep.Entries, rep.SignedEntries)
		if rep.UnsignedEntries > 0 {
			fmt.Fprintf(w, "; entries %d-%d are NOT covered by a signed checkpoint", rep.SignedEntries+1, rep.Entries)
		}
		fmt.Fprintf(w, "\n%d entries (%d releases), chain head %s\n", rep.Entries, rep.Releases, rep.HeadHash)
		fmt.Fprintf(w, "%d checkpoints signed by node %s; the latest covers %d entries (%d not yet signed)\n",
			rep.Checkpoints, rep.NodeID, rep.SignedEntries, rep.UnsignedEntries)
		if rep.Pins > 0 {
			fmt.Fprintf(w, "the chain extends the pinned checkpoint of entry %d: nothing pinned was removed or rewritten\n", rep.PinnedEntries)
		}
		for _, b := range rep.Budgets {
			fmt.Fprintf(w, "budget %s: spent ε=%s of ε=%s, equal to the sum of its entries\n", b.Name, b.Spent, b.Total)
		}
		return nil
	})
}

// readPin reads --pin; it returns nil without --pin and, with a note on
// stderr, when the file does not exist yet.
func (c *auditVerifyCmd) readPin(e *env) (*dp.Pin, error) {
	if c.pinFile == "" {
		return nil, nil
	}
	f, err := os.Open(c.pinFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(e.stderr, "note: %s does not exist: this is the first pin (trust on first use); "+
			"later verifications with --pin %s prove that the chain extends what is verified now\n", c.pinFile, c.pinFile)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pin, err := dp.DecodePin(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.pinFile, err)
	}
	return pin, nil
}

// writePin replaces --pin, atomically, by the pin of the latest checkpoint
// of a verified report, unless the old pin covers more entries (checkpoints
// may be deleted below a pin without the chain changing) or there is no
// checkpoint to pin.
func (c *auditVerifyCmd) writePin(e *env, old *dp.Pin, rep *dp.VerifyReport) error {
	if c.pinFile == "" {
		return nil
	}
	pin := rep.Pin()
	switch {
	case pin == nil && old == nil:
		fmt.Fprintf(e.stderr, "note: the ledger has no signed checkpoint: nothing to pin, %s not written\n", c.pinFile)
		return nil
	case pin == nil || (old != nil && old.EntryCount > pin.EntryCount):
		return nil
	}
	if err := writeFileWith(c.pinFile, 0o600, true, func(w io.Writer) error { return dp.WritePin(w, pin) }); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "pinned the checkpoint of entry %d in %s\n", pin.EntryCount, c.pinFile)
	return nil
}

// verify verifies the one source the flags name against pin (nil for
// none).
func (c *auditVerifyCmd) verify(ctx context.Context, e *env, pin *dp.Pin) (*dp.VerifyReport, error) {
	switch {
	case c.server != "" && c.export == "" && c.dataDir == "":
		return c.verifyServer(ctx, e, pin)
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
		return dp.VerifyExport(f, pub, pin)
	case c.dataDir != "" && c.export == "":
		ledger, err := openLedger(ctx, c.dataDir, c.db, false)
		if err != nil {
			return nil, err
		}
		defer ledger.Close()
		return ledger.Verify(ctx, pin)
	}
	return nil, usagef("give one of --data-dir, --export or --server")
}

// verifyServer fetches a node's audit export and verifies it against
// --node-id, or, without one, against the key the node reports (said on
// stderr: only a key obtained out of band makes the signatures mean
// something).
func (c *auditVerifyCmd) verifyServer(ctx context.Context, e *env, pin *dp.Pin) (*dp.VerifyReport, error) {
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
	return dp.VerifyExport(bytes.NewReader(doc), pub, pin)
}

// auditExportCmd is `aios audit export`.
type auditExportCmd struct {
	ledgerFlags
	out   string
	force bool
}

func (c *auditExportCmd) declare(fs *flag.FlagSet) {
	dataDirFlag(fs, &c.dataDir)
	dbFlag(fs, &c.db)
	fs.StringVar(&c.out, "out", "", "write to this `file` instead of stdout")
	fs.BoolVar(&c.force, "force", false, "overwrite an existing --out file")
}

func (c *auditExportCmd) run(ctx context.Context, e *env) error {
	if c.out != "" {
		if err := refuseExisting(c.out, c.force); err != nil {
			return err
		}
	}
	ledger, err := c.open(ctx, e, 0, false)
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
	if err := writeFileWith(c.out, 0o600, c.force, func(w io.Writer) error { return dp.WriteExport(w, doc) }); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %d entries to %s; verify with: aios audit verify --export %s --node-id %s\n",
		len(doc.Entries), c.out, c.out, doc.NodeID)
	return nil
}

// auditCheckpointCmd is `aios audit checkpoint`.
type auditCheckpointCmd struct{ ledgerFlags }

func (c *auditCheckpointCmd) run(ctx context.Context, e *env) error {
	ledger, err := c.open(ctx, e, 0, false)
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
