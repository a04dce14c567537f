package dp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
		{"edit release value", `UPDATE dp_releases SET result = json_set(result, '$.values[0]', 0.5) WHERE seq = 5`, 5, 0, ""},
		{"edit release interval", `UPDATE dp_releases SET result = json_set(result, '$.ci95[0].lower', -1e9) WHERE seq = 6`, 6, 0, ""},
		{"swap release values", `UPDATE dp_releases SET result = (SELECT result FROM dp_releases WHERE seq = 4), nonce = (SELECT nonce FROM dp_releases WHERE seq = 4) WHERE seq = 3`, 3, 0, ""},
		{"edit release nonce", `UPDATE dp_releases SET nonce = zeroblob(32) WHERE seq = 9`, 9, 0, ""},
		{"edit release commitment", `UPDATE dp_entries SET release_commitment = zeroblob(32) WHERE seq = 11`, 11, 0, ""},
		{"downgrade entry", `UPDATE dp_entries SET version = 1, release_commitment = x'' WHERE seq = 12`, 12, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := tampered(t, populated(t), tc.sql)
			_, err := l.Verify(context.Background())
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

// tampered runs sql on the database in dir as an attacker with the file
// can (foreign keys off) and returns a ledger on the result.
func tampered(t *testing.T, dir, sql string) *Ledger {
	t.Helper()
	ctx := context.Background()
	l := newTestLedger(t, dir, LedgerOptions{})
	conn, err := l.db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, sql); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = ON`); err != nil {
		t.Fatal(err)
	}
	return l
}

// exported returns l's export document and its JSON encoding.
func exported(t *testing.T, l *Ledger) (*AuditDocument, *bytes.Buffer) {
	t.Helper()
	doc, err := l.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteExport(&buf, doc); err != nil {
		t.Fatal(err)
	}
	return doc, &buf
}

func TestExportVerifyOffline(t *testing.T) {
	l := newTestLedger(t, populated(t), LedgerOptions{})
	doc, buf := exported(t, l)
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
	e.Version = EntryV1
	if got := bytesHex(e.Canonical()); got != wantCanon {
		t.Fatalf("version 1 set explicitly: canonical encoding\n got %s\nwant %s", got, wantCanon)
	}

	// Version 2: another tag, and the release commitment as a byte string
	// at the end (empty for a budget creation, 32 bytes for a spend).
	e.Version = EntryV2
	wantV2 := "00000017" + "61696f732f64702f6c65646765722d656e7472792f7632" + // tag
		wantCanon[2*(4+23):] + "00000000"
	if got := bytesHex(e.Canonical()); got != wantV2 {
		t.Fatalf("version 2 canonical encoding\n got %s\nwant %s", got, wantV2)
	}
	e.Kind, e.ReleaseCommitment = KindSpend, bytes.Repeat([]byte{0xab}, 32)
	wantSpend := strings.Replace(wantV2, "00000006"+"627564676574", "00000005"+"7370656e64", 1)
	wantSpend = wantSpend[:len(wantSpend)-8] + "00000020" + strings.Repeat("ab", 32)
	if got := bytesHex(e.Canonical()); got != wantSpend {
		t.Fatalf("version 2 spend canonical encoding\n got %s\nwant %s", got, wantSpend)
	}
	e.Version = 4
	if e.Canonical() != nil {
		t.Error("an unknown version has a canonical encoding")
	}
}

func TestReleaseCommitmentVector(t *testing.T) {
	nonce := bytes.Repeat([]byte{1}, ReleaseNonceSize)
	r := &Result{Mechanism: MechanismCount, Values: []float64{-0.5}, CI: []Interval{{Lower: -2, Upper: 1}}}
	want := "00000012" + "61696f732f64702f72656c656173652f7631" + // "aios/dp/release/v1"
		strings.Repeat("01", 32) + "00000005" + "636f756e74" +
		"0000000000000001" + "bfe0000000000000" + // one value: -0.5
		"0000000000000001" + "c000000000000000" + "3ff0000000000000" // one interval: [-2, 1]
	msg, _ := hex.DecodeString(want)
	if got, wantHash := ReleaseCommitment(nonce, r), sha256.Sum256(msg); got != wantHash {
		t.Fatalf("commitment %x, want SHA-256 of %s = %x", got, want, wantHash)
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
	rdpLedger(f, l) // version-3 entries
	doc, _ = l.Export(context.Background())
	buf.Reset()
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

// legacyKey is the node key of testdata/audit-v1.json, an export written by
// the ledger before release commitments (version-1 entries only): five
// entries, a checkpoint every three.
func legacyKey(t *testing.T) *nodekey.Key {
	t.Helper()
	key, err := nodekey.Generate(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestLegacyExportVerifies(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "audit-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := VerifyExport(f, legacyKey(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 5 || rep.LegacyEntries != 5 || rep.SignedEntries != 3 || rep.HeadSigned {
		t.Errorf("report %+v", rep)
	}
}

// TestLegacyLedger opens a database of the version-1 schema holding
// version-1 entries: it migrates, verifies, replays an old release, and
// appends version-2 entries after the old ones.
func TestLegacyLedger(t *testing.T) {
	ctx := context.Background()
	f, err := os.Open(filepath.Join("testdata", "audit-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DecodeExport(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, Component, Migrations()[:1]); err != nil {
		t.Fatal(err)
	}
	q := mustQuery(t, 10_000, 1)
	fp := requestHash(ReleaseRequest{Budget: "a", Query: q, Requester: "r", Purpose: "p"}, q.Sensitivity())
	for _, b := range doc.Budgets {
		mustExec(t, db, `INSERT INTO dp_budgets (name, total_micro, spent_micro, description, created_at) VALUES (?, ?, ?, 'test', 0)`,
			b.Name, int64(b.Total), int64(b.Spent))
	}
	for _, e := range doc.Entries {
		mustExec(t, db, `INSERT INTO dp_entries (seq, kind, budget, epsilon_micro, mechanism, l0, linf, frac_bits,
			lower_bound, upper_bound, requester, purpose, created_at, idempotency_key, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.Kind, e.Budget, int64(e.Epsilon), e.Mechanism, e.L0, e.LInf, e.FracBits, e.Lower, e.Upper,
			e.Requester, e.Purpose, e.Time, e.IdempotencyKey, e.PrevHash[:], e.Hash[:])
		if e.Kind == KindSpend {
			mustExec(t, db, `INSERT INTO dp_releases (seq, request_hash, result) VALUES (?, ?, ?)`,
				e.Seq, fp[:], `{"mechanism":"laplace","values":[1.5],"ci95":[{"lower":0,"upper":3}]}`)
		}
	}
	for _, cp := range doc.Checkpoints {
		mustExec(t, db, `INSERT INTO dp_checkpoints (entry_count, head_hash, created_at, signature) VALUES (?, ?, ?, ?)`,
			cp.EntryCount, cp.HeadHash[:], cp.Time, []byte(cp.Signature))
	}

	l, err := NewLedger(ctx, db, legacyKey(t), LedgerOptions{CheckpointEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Verify(ctx); err != nil || rep.LegacyEntries != 5 {
		t.Fatalf("migrated ledger: %+v, %v", rep, err)
	}
	old, err := l.Release(ctx, ReleaseRequest{Budget: "a", Query: q, Requester: "r", Purpose: "p", IdempotencyKey: "k0"})
	if err != nil || !old.Replayed || old.Values[0] != 1.5 || len(old.Nonce) != 0 {
		t.Fatalf("replay of a version-1 release: %+v, %v", old, err)
	}
	rel, err := l.Release(ctx, ReleaseRequest{Budget: "a", Query: q, Requester: "r", Purpose: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil || rep.Entries != 6 || rep.LegacyEntries != 5 || !rep.HeadSigned {
		t.Fatalf("after a new release: %+v, %v", rep, err)
	}
	es, err := l.Entries(ctx, "", 4, 0)
	if err != nil || len(es) != 2 {
		t.Fatal(es, err)
	}
	if es[0].Version != EntryV1 || es[1].Version != EntryV2 || len(es[1].ReleaseCommitment) != 32 {
		t.Errorf("versions %d, %d", es[0].Version, es[1].Version)
	}
	if err := es[1].CheckRelease(&rel.Result, rel.Nonce); err != nil {
		t.Error(err)
	}
	if err := es[0].CheckRelease(&old.Result, old.Nonce); !errors.Is(err, ErrAuditFailed) {
		t.Errorf("check of a version-1 release: %v", err)
	}
}

func mustExec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().ExecContext(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}
