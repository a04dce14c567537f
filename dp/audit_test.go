package dp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
)

// populated returns a data directory whose ledger holds two budgets, ten
// spends and a checkpoint every four entries.
func populated(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := newTestLedger(t, dir, LedgerOptions{CheckpointEvery: 4})
	ctx := context.Background()
	mustBudget(t, l, "a", MicroPerEpsilon)
	mustBudget(t, l, "b", MicroPerEpsilon)
	for i := range 10 {
		name := []string{"a", "b"}[i%2]
		if _, err := l.Release(ctx, ReleaseRequest{Budget: name, Query: mustQuery(t, 10_000, 1), Requester: "r", Purpose: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Verify(ctx); err != nil || rep.Entries != 12 || rep.Releases != 10 || rep.SignedEntries != 12 {
		t.Fatalf("untampered ledger: %+v, %v", rep, err)
	}
	return dir
}

// TestTamper edits, deletes or reorders one row, and checks that the
// verifier fails and names the first bad entry.
func TestTamper(t *testing.T) {
	cases := []struct {
		name       string
		sql        string
		seq        int64 // first bad entry; 0: see checkpoint/budget
		checkpoint int
		budget     string
	}{
		{"edit epsilon", `UPDATE dp_entries SET epsilon_micro = 1 WHERE seq = 5`, 5, 0, ""},
		{"edit requester", `UPDATE dp_entries SET requester = 'someone else' WHERE seq = 7`, 7, 0, ""},
		{"edit time", `UPDATE dp_entries SET created_at = created_at + 1 WHERE seq = 3`, 3, 0, ""},
		{"edit budget total", `UPDATE dp_entries SET epsilon_micro = 2000000 WHERE seq = 1`, 1, 0, ""},
		{"delete middle", `DELETE FROM dp_releases WHERE seq = 6; DELETE FROM dp_entries WHERE seq = 6`, 6, 0, ""},
		{"delete last", `DELETE FROM dp_releases WHERE seq = 12; DELETE FROM dp_entries WHERE seq = 12`, 0, 3, ""},
		{"reorder", `UPDATE dp_entries SET seq = -1 WHERE seq = 8; UPDATE dp_entries SET seq = 8 WHERE seq = 9; UPDATE dp_entries SET seq = 9 WHERE seq = -1`, 8, 0, ""},
		{"rehash edited entry", `UPDATE dp_entries SET hash = zeroblob(32) WHERE seq = 4`, 4, 0, ""},
		{"refund", `UPDATE dp_budgets SET spent_micro = 0 WHERE name = 'a'`, 0, 0, "a"},
		{"raise total", `UPDATE dp_budgets SET total_micro = 5000000 WHERE name = 'b'`, 0, 0, "b"},
		{"forge checkpoint", `UPDATE dp_checkpoints SET created_at = created_at + 1 WHERE id = 2`, 0, 2, ""},
		{"drop release", `DELETE FROM dp_releases WHERE seq = 10`, 10, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := populated(t)
			ctx := context.Background()
			db, err := store.Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// An attacker with the file can switch foreign keys off.
			conn, err := db.SQL().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = ON`); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			key, err := nodekey.LoadOrCreate(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			l, err := NewLedger(ctx, db, key, LedgerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Verify(ctx)
			var ae *AuditError
			if !errors.Is(err, ErrAuditFailed) || !errors.As(err, &ae) {
				t.Fatalf("verify after tampering: %v", err)
			}
			if ae.Seq != tc.seq || ae.Checkpoint != tc.checkpoint || ae.Budget != tc.budget {
				t.Errorf("error names entry %d / checkpoint %d / budget %q, want %d / %d / %q (%v)",
					ae.Seq, ae.Checkpoint, ae.Budget, tc.seq, tc.checkpoint, tc.budget, err)
			}
		})
	}
}

func TestExportVerifyOffline(t *testing.T) {
	dir := populated(t)
	ctx := context.Background()
	l := newTestLedger(t, dir, LedgerOptions{})
	doc, err := l.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteExport(&buf, doc); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(`"values"`)) {
		t.Error("the export carries released values")
	}
	pub, err := nodekey.ParsePublicKey(l.PublicKey().String())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyExport(bytes.NewReader(buf.Bytes()), pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 12 || rep.Checkpoints != 4 || len(rep.Budgets) != 2 {
		t.Errorf("report %+v", rep)
	}
	// Another node's key does not verify it.
	other, _ := nodekey.Generate(bytes.NewReader(bytes.Repeat([]byte{9}, 32)))
	if _, err := VerifyExport(bytes.NewReader(buf.Bytes()), other.Public()); !errors.Is(err, ErrAuditFailed) {
		t.Errorf("foreign key: %v", err)
	}
	// A document whose node_id was swapped fails on the signatures.
	doc.NodeID = other.ID()
	if _, err := Verify(doc, other.Public()); !errors.Is(err, ErrAuditFailed) {
		t.Errorf("swapped node id: %v", err)
	}
	// Decoding is strict.
	for name, in := range map[string]string{
		"trailing": buf.String() + "{}",
		"unknown":  `{"format":"aios-dp-audit/v1","extra":1}`,
		"format":   `{"format":"v0"}`,
		"bad hash": `{"format":"aios-dp-audit/v1","entries":[{"hash":"zz"}]}`,
	} {
		if _, err := DecodeExport(bytes.NewReader([]byte(in))); !errors.Is(err, ErrInvalidExport) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x.json"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEntryCanonicalVector(t *testing.T) {
	// A fixed entry hashes to a fixed value: the canonical encoding is a
	// format that verifiers in other languages implement, so it must not
	// drift.
	e := Entry{Seq: 1, Kind: KindBudget, Budget: "a", Epsilon: 1_000_000, Requester: "op", Purpose: "d", Time: 1_700_000_000_000_000}
	wantCanon := "00000017" + "61696f732f64702f6c65646765722d656e7472792f7631" + // tag
		"0000000000000001" + "00000006" + "627564676574" + "00000001" + "61" + "00000000000f4240" + "00000000" +
		"0000000000000000" + "0000000000000000" + "0000000000000000" + "0000000000000000" + "0000000000000000" +
		"00000002" + "6f70" + "00000001" + "64" + "00060a24181e4000" + "00000000"
	if got := bytesHex(e.Canonical()); got != wantCanon {
		t.Fatalf("canonical encoding\n got %s\nwant %s", got, wantCanon)
	}
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func FuzzVerifyExport(f *testing.F) {
	dir := f.TempDir()
	key, err := nodekey.LoadOrCreate(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	l, err := NewLedger(context.Background(), db, key, LedgerOptions{CheckpointEvery: 2})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := NewBudgetFromLiteral(BudgetLiteral{Name: "a", Total: 10})
	if _, err := l.CreateBudget(context.Background(), b, ""); err != nil {
		f.Fatal(err)
	}
	for range 3 {
		if _, err := l.Release(context.Background(), ReleaseRequest{Budget: "a", Query: mustQuery(f, 1, 0)}); err != nil {
			f.Fatal(err)
		}
	}
	doc, _ := l.Export(context.Background())
	var buf bytes.Buffer
	_ = WriteExport(&buf, doc)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":"aios-dp-audit/v1","node_id":"` + key.ID() + `","checkpoints":[{"entry_count":99}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	pub := key.Public()
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyExport(bytes.NewReader(data), pub)
		if err == nil && rep == nil {
			t.Fatal("nil report without error")
		}
		if err != nil && !errors.Is(err, ErrInvalidExport) && !errors.Is(err, ErrAuditFailed) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}
