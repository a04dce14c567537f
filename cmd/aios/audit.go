package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
)

func init() {
	register(&command{
		name:    "audit",
		summary: "verify or export the DP ledger's hash chain and signed checkpoints",
		usage: "verify --data-dir DIR [--json] | verify --export FILE --node-id HEX [--json] | " +
			"verify --server URL --token T [--node-id HEX] [--json] | " +
			"export --data-dir DIR [--out FILE] | checkpoint --data-dir DIR [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			dataDir := fs.String("data-dir", "", "node data `directory`")
			export := fs.String("export", "", "verify: an export document `file` instead of a data directory")
			nodeID := fs.String("node-id", "", "verify --export: the node's public key (hex), obtained from the node out of band")
			out := fs.String("out", "", "export: write to this `file` instead of stdout")
			server := fs.String("server", "", "verify: fetch the ledger from this node `URL` (GET /v1/audit/export)")
			token := fs.String("token", os.Getenv("AIOS_TOKEN"), "verify --server: an auditor or admin token (default $AIOS_TOKEN)")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if len(e.args) == 0 {
					return usagef("expected verify, export or checkpoint")
				}
				sub := e.args[0]
				rest := e.args[1:]
				if len(rest) > 0 {
					return usagef("unexpected argument %q", rest[0])
				}
				switch sub {
				case "verify":
					var rep *dp.VerifyReport
					var err error
					switch {
					case *server != "" && *export == "" && *dataDir == "":
						rep, err = verifyServer(ctx, e, *server, *token, *nodeID)
					case *export != "" && *dataDir == "":
						if *nodeID == "" {
							return usagef("--export needs --node-id")
						}
						pub, perr := nodekey.ParsePublicKey(*nodeID)
						if perr != nil {
							return usagef("--node-id: %v", perr)
						}
						f, ferr := os.Open(*export)
						if ferr != nil {
							return ferr
						}
						rep, err = dp.VerifyExport(f, pub)
						f.Close()
					case *dataDir != "" && *export == "":
						ledger, lerr := dp.OpenNode(ctx, *dataDir)
						if lerr != nil {
							return lerr
						}
						rep, err = ledger.Verify(ctx)
						ledger.Close()
					default:
						return usagef("give one of --data-dir, --export or --server")
					}
					if err != nil {
						return err
					}
					return report(e.stdout, *asJSON, rep, func(w io.Writer) error {
						fmt.Fprintf(w, "OK: %d entries (%d releases), chain head %s\n", rep.Entries, rep.Releases, rep.HeadHash)
						fmt.Fprintf(w, "%d checkpoints signed by node %s; the latest covers %d entries (%d not yet signed)\n",
							rep.Checkpoints, rep.NodeID, rep.SignedEntries, rep.Entries-rep.SignedEntries)
						for _, b := range rep.Budgets {
							fmt.Fprintf(w, "budget %s: spent ε=%s of ε=%s, equal to the sum of its entries\n", b.Name, b.Spent, b.Total)
						}
						return nil
					})
				case "export", "checkpoint":
					if *dataDir == "" {
						return usagef("--data-dir is required")
					}
					ledger, err := dp.OpenNode(ctx, *dataDir)
					if err != nil {
						return err
					}
					defer ledger.Close()
					if sub == "checkpoint" {
						cp, err := ledger.Checkpoint(ctx)
						if err != nil {
							return err
						}
						return report(e.stdout, *asJSON, cp, func(w io.Writer) error {
							_, err := fmt.Fprintf(w, "checkpoint: %d entries, head %s, signed by node %s\n", cp.EntryCount, cp.HeadHash, ledger.PublicKey())
							return err
						})
					}
					doc, err := ledger.Export(ctx)
					if err != nil {
						return err
					}
					if *out == "" {
						return dp.WriteExport(e.stdout, doc)
					}
					f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
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
						len(doc.Entries), *out, *out, doc.NodeID)
					return nil
				}
				return usagef("unknown subcommand %q", sub)
			}
		},
	})
}

// verifyServer fetches a node's audit export and verifies it against nodeID,
// or, without one, against the key the node reports (said on stderr: only a
// key obtained out of band makes the signatures mean something).
func verifyServer(ctx context.Context, e *env, server, token, nodeID string) (*dp.VerifyReport, error) {
	c, err := client.New(server, token, client.Options{})
	if err != nil {
		return nil, usagef("%v", err)
	}
	if nodeID == "" {
		h, err := c.Health(ctx)
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
	doc, err := c.AuditExport(ctx)
	if err != nil {
		return nil, err
	}
	return dp.VerifyExport(bytes.NewReader(doc), pub)
}
