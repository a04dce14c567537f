package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/store"
)

// TestAuditVerifyPin runs `aios audit verify --pin` against the attacks of
// issue 12 item 8: the tail of a pinned ledger is rolled back, and the
// chain is rewritten with all checkpoints deleted. Without the pin neither
// is visible (the chain is consistent) except as an unsigned head; with
// it, verify fails with the audit exit status and leaves the pin alone.
func TestAuditVerifyPin(t *testing.T) {
	for _, attack := range []struct {
		name, sql, want string
	}{
		{"rollback", `DELETE FROM dp_releases WHERE seq > 2; DELETE FROM dp_entries WHERE seq > 2; DELETE FROM dp_checkpoints;
			UPDATE dp_budgets SET spent_micro = (SELECT SUM(epsilon_micro) FROM dp_entries WHERE kind = 'spend')`,
			"pinned checkpoint covers 3 entries, the chain has 2 (entries were removed)"},
		{"fork", `DELETE FROM dp_checkpoints; UPDATE dp_entries SET purpose = 'rewritten' WHERE seq = 2`,
			"head hash after 3 entries differs from the chain"},
	} {
		t.Run(attack.name, func(t *testing.T) {
			dir := t.TempDir()
			node, pin := filepath.Join(dir, "node"), filepath.Join(dir, "pin.json")
			csv := filepath.Join(dir, "r.csv")
			if err := os.WriteFile(csv, []byte("temp\n1\n2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			mustRun(t, "budget", "create", "b", "--epsilon", "1", "--data-dir", node)
			for range 2 {
				mustRun(t, "dp", "query", "--data", csv, "--column", "temp", "--agg", "count", "--epsilon", "0.1", "--budget", "b", "--data-dir", node)
			}
			mustRun(t, "audit", "checkpoint", "--data-dir", node)
			mustRun(t, "audit", "verify", "--data-dir", node, "--pin", pin)
			pinned, err := os.ReadFile(pin)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(pin); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("pin file: %v, %v", fi, err)
			}

			tamper(t, node, attack.sql)
			if attack.name == "fork" {
				rehashChain(t, node)
			}
			if code, _, stderr := runAios(t, "audit", "verify", "--data-dir", node); code != exitUnsignedHead || !strings.Contains(stderr, "not covered") {
				t.Errorf("without the pin: exit %d, %s", code, stderr)
			}
			code, _, stderr := runAios(t, "audit", "verify", "--data-dir", node, "--pin", pin, "--allow-unsigned-head")
			if code != exitAudit || !strings.Contains(stderr, attack.want) {
				t.Errorf("with the pin: exit %d, %s; want %d with %q", code, stderr, exitAudit, attack.want)
			}
			if now, err := os.ReadFile(pin); err != nil || string(now) != string(pinned) {
				t.Errorf("a failed verification changed the pin: %v\n%s", err, now)
			}
		})
	}
}

// tamper runs sql on the database of a data directory, as whoever holds
// it can.
func tamper(t *testing.T, dataDir, sql string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{`PRAGMA foreign_keys = OFF`, sql, `PRAGMA foreign_keys = ON`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// rehashChain recomputes the hash chain of a data directory's ledger after
// a rewrite, so that it is consistent again and only a signature or a pin
// can tell.
func rehashChain(t *testing.T, dataDir string) {
	t.Helper()
	ctx := context.Background()
	l, err := dp.OpenNode(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	es, err := l.Entries(ctx, "", 0, 0)
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	var sql strings.Builder
	var prev dp.Hash
	for i := range es {
		e := &es[i]
		e.PrevHash = prev
		e.Hash = e.ChainHash()
		fmt.Fprintf(&sql, "UPDATE dp_entries SET prev_hash = x'%x', hash = x'%x' WHERE seq = %d;\n", e.PrevHash[:], e.Hash[:], e.Seq)
		prev = e.Hash
	}
	tamper(t, dataDir, sql.String())
}
