package dp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
)

// tenEntries returns a data directory whose ledger holds a budget and nine
// spends, with automatic checkpoints after entries 4 and 8: entries 9 and 10
// are chained but not signed.
func tenEntries(t *testing.T) (string, *Ledger) {
	t.Helper()
	dir := t.TempDir()
	l := newTestLedger(t, dir, LedgerOptions{CheckpointEvery: 4})
	mustBudget(t, l, "a", MicroPerEpsilon)
	spend(t, l, 9)
	return dir, l
}

// spend makes n releases of ε = 0.01 on budget "a".
func spend(t *testing.T, l *Ledger, n int) {
	t.Helper()
	for range n {
		if _, err := l.Release(context.Background(), ReleaseRequest{Budget: "a", Query: mustQuery(t, 10_000, 1)}); err != nil {
			t.Fatal(err)
		}
	}
}

// pinHead signs a checkpoint of the head, as an auditor asks the node to
// (GET /v1/audit/export does), verifies, and returns the report's pin.
func pinHead(t *testing.T, l *Ledger) *Pin {
	t.Helper()
	ctx := context.Background()
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil || !rep.HeadSigned {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	return roundTrip(t, rep.Pin())
}

// roundTrip writes p as a pin file and reads it back, as an auditor keeps it.
func roundTrip(t *testing.T, p *Pin) *Pin {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePin(&buf, p); err != nil {
		t.Fatal(err)
	}
	got, err := DecodePin(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// rehash rewrites the purpose of entry seq and re-hashes every entry from
// it on, as an attacker with the database can: the chain is consistent
// again, and only signatures or a pin can tell.
func rehash(t *testing.T, l *Ledger, seq int64, purpose string) {
	t.Helper()
	ctx := context.Background()
	es, err := l.Entries(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var prev Hash
	for i := range es {
		e := &es[i]
		if e.Seq == seq {
			e.Purpose = purpose
		}
		if e.Seq >= seq {
			e.PrevHash = prev
			e.Hash = e.ChainHash()
			mustExec(t, l.db, `UPDATE dp_entries SET purpose = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Purpose, e.PrevHash[:], e.Hash[:], e.Seq)
		}
		prev = e.Hash
	}
}

func TestUnsignedHeadReported(t *testing.T) {
	ctx := context.Background()
	_, l := tenEntries(t)
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 10 || rep.SignedEntries != 8 || rep.UnsignedEntries != 2 || rep.HeadSigned ||
		rep.LatestCheckpoint == nil || rep.LatestCheckpoint.EntryCount != 8 {
		t.Errorf("report %+v", rep)
	}
	if err := rep.RequireSignedHead(); !errors.Is(err, ErrUnsignedHead) || !strings.Contains(err.Error(), "entries 9-10") {
		t.Errorf("RequireSignedHead: %v", err)
	}
	if p := rep.Pin(); p == nil || p.EntryCount != 8 {
		t.Errorf("pin of an unsigned head: %+v", p)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err = l.Verify(ctx); err != nil || !rep.HeadSigned || rep.RequireSignedHead() != nil || rep.Pin().EntryCount != 10 {
		t.Errorf("after a checkpoint: %+v, %v", rep, err)
	}

	// Without any checkpoint, not even an empty chain counts as signed.
	empty := newTestLedger(t, t.TempDir(), LedgerOptions{})
	if rep, err = empty.Verify(ctx); err != nil || rep.HeadSigned || rep.Pin() != nil || !errors.Is(rep.RequireSignedHead(), ErrUnsignedHead) {
		t.Errorf("empty ledger: %+v, %v", rep, err)
	}
}

// TestPinAttacks runs the attacks of issue 12 on a ledger whose head the
// auditor pinned, and checks that a verification with the pin fails with
// the right sentinel, while one without it does not see the attack (the
// chain is consistent) and at most reports an unsigned head.
func TestPinAttacks(t *testing.T) {
	const refund = `UPDATE dp_budgets SET spent_micro = (SELECT SUM(epsilon_micro) FROM dp_entries WHERE budget = 'a' AND kind = 'spend') WHERE name = 'a';`
	cases := []struct {
		name   string
		attack func(t *testing.T, dir string, l *Ledger)
		want   error
	}{
		{"unsigned tail rolled back", func(t *testing.T, dir string, l *Ledger) {
			tampered(t, dir, `DELETE FROM dp_releases WHERE seq > 8; DELETE FROM dp_entries WHERE seq > 8;
				DELETE FROM dp_checkpoints WHERE entry_count > 8;`+refund)
		}, ErrRollback},
		{"unsigned tail rewritten", func(t *testing.T, dir string, l *Ledger) {
			rehash(t, l, 9, "something else")
			mustExec(t, l.db, `DELETE FROM dp_checkpoints WHERE entry_count > 8`)
		}, ErrFork},
		{"all checkpoints deleted and chain re-hashed", func(t *testing.T, dir string, l *Ledger) {
			rehash(t, l, 2, "something else")
			mustExec(t, l.db, `DELETE FROM dp_checkpoints`)
		}, ErrFork},
		{"rolled back and re-grown", func(t *testing.T, dir string, l *Ledger) {
			tampered(t, dir, `DELETE FROM dp_releases WHERE seq > 8; DELETE FROM dp_entries WHERE seq > 8;
				DELETE FROM dp_checkpoints WHERE entry_count > 8;`+refund)
			spend(t, l, 3)
		}, ErrFork},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir, l := tenEntries(t)
			pin := pinHead(t, l)
			tc.attack(t, dir, l)
			if _, err := l.Verify(ctx); err != nil {
				t.Fatalf("without the pin the attack is not visible in the chain itself, yet: %v", err)
			}
			_, err := l.Verify(ctx, pin)
			var ae *AuditError
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrAuditFailed) || !errors.As(err, &ae) {
				t.Fatalf("verify with the pin: %v, want %v", err, tc.want)
			}
			// The same holds offline, on the export.
			_, buf := exported(t, l)
			if _, err := VerifyExport(buf, l.PublicKey(), nil, pin); !errors.Is(err, tc.want) {
				t.Errorf("VerifyExport with the pin: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestPinUnsignedTailAttacks: the tail after the last checkpoint can be
// rolled back or rewritten unseen by a pin of that checkpoint (nothing
// signed it), but the report then says plainly that the head is unsigned.
func TestPinUnsignedTailAttacks(t *testing.T) {
	ctx := context.Background()
	_, l := tenEntries(t)
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pin := rep.Pin() // entry 8
	rehash(t, l, 10, "rewritten")
	rep, err = l.Verify(ctx, pin)
	if err != nil || rep.HeadSigned || rep.UnsignedEntries != 2 || rep.Pins != 1 || rep.PinnedEntries != 8 {
		t.Fatalf("rewritten unsigned tail: %+v, %v", rep, err)
	}
	if !errors.Is(rep.RequireSignedHead(), ErrUnsignedHead) {
		t.Error("the unsigned head is not reported")
	}
}

func TestPinHonestGrowth(t *testing.T) {
	ctx := context.Background()
	_, l := tenEntries(t)
	pin := pinHead(t, l)
	spend(t, l, 5)
	rep, err := l.Verify(ctx, pin)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 15 || rep.Pins != 1 || rep.PinnedEntries != 10 || rep.SignedEntries != 12 || rep.Pin().EntryCount != 12 {
		t.Errorf("report %+v", rep)
	}
	// The new pin replaces the old one, and both hold.
	if _, err := l.Verify(ctx, pin, roundTrip(t, rep.Pin())); err != nil {
		t.Error(err)
	}
}

// TestPinFork: the node itself signs two histories (two databases, one key)
// and shows each to another auditor; a pin from one exposes the other.
func TestPinFork(t *testing.T) {
	ctx := context.Background()
	key, err := nodekey.Generate(bytes.NewReader(bytes.Repeat([]byte{3}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Unix(1_700_000_000, 0) }
	var ledgers [2]*Ledger
	for i := range ledgers {
		db, err := store.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if ledgers[i], err = NewLedger(ctx, db, key, LedgerOptions{Now: clock}); err != nil {
			t.Fatal(err)
		}
		mustBudget(t, ledgers[i], "a", MicroPerEpsilon)
		for j := range 2 {
			req := ReleaseRequest{Budget: "a", Query: mustQuery(t, 10_000, 1), IdempotencyKey: fmt.Sprintf("h%d-%d", i, j)}
			if _, err := ledgers[i].Release(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
	}
	pin := pinHead(t, ledgers[0])
	doc, err := ledgers[1].Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledgers[1].Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(doc, key.Public()); err != nil {
		t.Fatalf("the other history verifies on its own: %v", err)
	}
	if _, err := Verify(doc, key.Public(), pin); !errors.Is(err, ErrFork) {
		t.Errorf("fork: %v", err)
	}
}

func TestPinRejected(t *testing.T) {
	ctx := context.Background()
	_, l := tenEntries(t)
	pin := pinHead(t, l)
	other, _ := nodekey.Generate(bytes.NewReader(bytes.Repeat([]byte{9}, 32)))
	bad := func(edit func(p *Pin)) *Pin { p := *pin; p.Signature = bytes.Clone(pin.Signature); edit(&p); return &p }
	for name, p := range map[string]*Pin{
		"other node":    bad(func(p *Pin) { p.NodeID = other.ID() }),
		"bad signature": bad(func(p *Pin) { p.Signature[0] ^= 1 }),
		"moved":         bad(func(p *Pin) { p.EntryCount-- }),
		"format":        bad(func(p *Pin) { p.Format = "v0" }),
	} {
		if _, err := l.Verify(ctx, p); !errors.Is(err, ErrInvalidPin) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A pin signed by another node is refused by the verifier of this one.
	otherLedger, err := NewLedger(ctx, l.db, other, LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherLedger.Verify(ctx, pin); !errors.Is(err, ErrInvalidPin) {
		t.Errorf("pin of another node: %v", err)
	}
}

func TestDecodePin(t *testing.T) {
	_, l := tenEntries(t)
	var buf bytes.Buffer
	if err := WritePin(&buf, pinHead(t, l)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	for name, in := range map[string]string{
		"empty":     ``,
		"trailing":  good + "{}",
		"unknown":   strings.Replace(good, `"format"`, `"extra": 1, "format"`, 1),
		"format":    strings.Replace(good, PinFormat, "aios-dp-pin/v0", 1),
		"node id":   strings.Replace(good, `"node_id": "`, `"node_id": "zz`, 1),
		"signature": strings.Replace(good, `"signature": "`, `"signature": "00`, 1),
		"too large": `{"format": "` + strings.Repeat(" ", MaxPinSize) + `"}`,
	} {
		if _, err := DecodePin(strings.NewReader(in)); !errors.Is(err, ErrInvalidPin) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodePin(f *testing.F) {
	l := newTestLedger(f, f.TempDir(), LedgerOptions{})
	key := l.key
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	_ = WritePin(&buf, &Pin{Format: PinFormat, NodeID: key.ID(), Checkpoint: *cp})
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":"aios-dp-pin/v1","node_id":"` + key.ID() + `","entry_count":-1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	doc, _ := l.Export(context.Background())
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePin(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalidPin) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if _, err := Verify(doc, key.Public(), p); err != nil && !errors.Is(err, ErrInvalidPin) && !errors.Is(err, ErrAuditFailed) {
			t.Fatalf("untyped error: %v", err)
		}
		var out bytes.Buffer
		if err := WritePin(&out, p); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodePin(&out); err != nil {
			t.Fatalf("re-encoded pin does not decode: %v", err)
		}
	})
}
