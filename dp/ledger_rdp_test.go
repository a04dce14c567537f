package dp

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// testFederation is a small federation: 4-of-6 members, 100 coordinates.
func testFederation(t testing.TB, z float64) *DistributedGaussian {
	t.Helper()
	g, err := NewDistributedGaussianFromLiteral(DistributedGaussianLiteral{
		ClipNorm: 1, NoiseMultiplier: z, FracBits: 16, Dimension: 100, MinMembers: 4, Members: 6})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// rdpLedger creates the (ε, δ) budget "fed" (ε = 8, δ = 10^-5) on l and
// spends a Laplace release and two rounds from it.
func rdpLedger(t testing.TB, l *Ledger) {
	t.Helper()
	ctx := context.Background()
	b, err := NewBudgetFromLiteral(BudgetLiteral{Name: "fed", Total: 8 * MicroPerEpsilon, Delta: delta1e5, Description: "federation"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateBudget(ctx, b, "op"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: mustQuery(t, 100_000, 3)}); err != nil {
		t.Fatal(err)
	}
	g := testFederation(t, 2)
	for range 2 {
		q, err := g.Query(make([]int64, 100), 5)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: q}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRDPBudget runs a federation's rounds against an (ε, δ) budget after a
// Laplace release: each debit is the growth of the composed ε, the rounds
// RoundsAllowed predicts are released and the next one is refused without a
// value, and the ledger verifies with version-3 entries.
func TestRDPBudget(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{CheckpointEvery: 5})
	b, err := NewBudgetFromLiteral(BudgetLiteral{Name: "fed", Total: 3 * MicroPerEpsilon, Delta: delta1e5, Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateBudget(ctx, b, "op"); err != nil {
		t.Fatal(err)
	}
	lap, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: mustQuery(t, 200_000, 3)})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := LaplaceRDP(200_000).Epsilon(delta1e5)
	if lap.Epsilon != want {
		t.Errorf("Laplace on an (ε, δ) budget debited %s, want its RDP conversion %s", lap.Epsilon, want)
	}
	g := testFederation(t, 3)
	acct, err := l.Accounting(ctx, "fed")
	if err != nil {
		t.Fatal(err)
	}
	if acct.RDP != LaplaceRDP(200_000) || acct.Spent != want {
		t.Fatalf("accounting after the Laplace release: %+v", acct)
	}
	rounds := g.RoundsAllowed(acct)
	if rounds < 2 || rounds > 1000 {
		t.Fatalf("RoundsAllowed = %d", rounds)
	}
	for r := int64(0); ; r++ {
		q, err := g.Query(make([]int64, 100), 4+int(r%3))
		if err != nil {
			t.Fatal(err)
		}
		rel, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: q, IdempotencyKey: "round-" + string(rune('a'+r%26)) + strings.Repeat("x", int(r/26))})
		if r == rounds {
			var ex *ExhaustedError
			if !errors.As(err, &ex) || rel != nil {
				t.Fatalf("round %d beyond RoundsAllowed: %v, %v", r+1, rel, err)
			}
			break
		}
		if err != nil {
			t.Fatalf("round %d of %d: %v", r+1, rounds, err)
		}
		if rel.Mechanism != MechanismDistributedGaussian || rel.Epsilon <= 0 {
			t.Fatalf("round %d: %+v", r+1, rel)
		}
	}
	acct, err = l.Accounting(ctx, "fed")
	if err != nil {
		t.Fatal(err)
	}
	if acct.RDP != LaplaceRDP(200_000).Add(g.RoundRDP().Times(rounds)) {
		t.Errorf("per-order sums %v are not the Laplace release plus %d rounds", acct.RDP, rounds)
	}
	if eps, _, _ := acct.RDP.Epsilon(delta1e5); eps != acct.Spent || eps > acct.Total {
		t.Errorf("spent %s, composed ε %s, total %s", acct.Spent, eps, acct.Total)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Releases != rounds+1 {
		t.Errorf("verified %d releases, want %d", rep.Releases, rounds+1)
	}
	es, err := l.Entries(ctx, "fed", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Version != EntryV3 {
			t.Errorf("entry %d of an (ε, δ) budget has version %d", e.Seq, e.Version)
		}
	}
	if es[0].Delta != delta1e5 || len(es[0].Orders) != NumRDPOrders || es[2].NoiseShares != 4 || es[2].Steps != 1 {
		t.Errorf("entries do not record the accounting: %+v / %+v", es[0], es[2])
	}
}

func TestGaussianNeedsDelta(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{})
	mustBudget(t, l, "pure", 10*MicroPerEpsilon)
	q, err := testFederation(t, 2).Query(make([]int64, 100), 4)
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := l.Release(ctx, ReleaseRequest{Budget: "pure", Query: q}); !errors.Is(err, ErrDeltaRequired) || rel != nil {
		t.Fatalf("Gaussian on a pure-ε budget: %v, %v", rel, err)
	}
	if st, _ := l.Budget(ctx, "pure"); st.Spent != 0 {
		t.Errorf("spent %s after a refused release", st.Spent)
	}
	// A pure-ε budget keeps writing version 2.
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "pure", Query: mustQuery(t, 1000, 1)}); err != nil {
		t.Fatal(err)
	}
	es, _ := l.Entries(ctx, "pure", 0, 0)
	for _, e := range es {
		if e.Version != EntryV2 || e.hasV3Fields() {
			t.Errorf("pure-ε entry %d: version %d", e.Seq, e.Version)
		}
	}
}

func TestRDPIdempotentReplay(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{})
	rdpLedger(t, l)
	g := testFederation(t, 2)
	q, _ := g.Query([]int64{7, 8: 9, 99: 0}, 4)
	r1, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: q, IdempotencyKey: "round-7"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := l.Accounting(ctx, "fed")
	q2, _ := g.Query(make([]int64, 100), 5) // a retry, as the coordinator would resend it
	r2, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: q2, IdempotencyKey: "round-7"})
	if err != nil || !r2.Replayed || r2.Values[0] != r1.Values[0] || r2.Epsilon != r1.Epsilon {
		t.Fatalf("replay: %+v, %v", r2, err)
	}
	if after, _ := l.Accounting(ctx, "fed"); *after != *before {
		t.Errorf("replay spent: %+v → %+v", before, after)
	}
	// Another federation under the same key is a conflict.
	q3, _ := testFederation(t, 3).Query(make([]int64, 100), 4)
	if _, err := l.Release(ctx, ReleaseRequest{Budget: "fed", Query: q3, IdempotencyKey: "round-7"}); !errors.Is(err, ErrIdempotencyConflict) {
		t.Errorf("key reused for another noise level: %v", err)
	}
}

// TestRDPTamper rewrites the RDP of a round in an export and re-hashes the
// chain after it (what whoever holds the database could do): the verifier
// recomputes the composed ε and names the entry.
func TestRDPTamper(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t, t.TempDir(), LedgerOptions{CheckpointEvery: -1})
	rdpLedger(t, l)
	for _, c := range []struct {
		name   string
		edit   func(e *Entry)
		reason string
	}{
		{"lower RDP", func(e *Entry) {
			for i := range e.RDP {
				e.RDP[i] -= 1000
			}
		}, "does not match its RDP"},
		{"RDP dropped", func(e *Entry) { e.RDP = e.RDP[:3] }, "RDP values"},
		{"negative RDP", func(e *Entry) { e.RDP[0] = -1 }, "out of range"},
		{"as version 2", func(e *Entry) { e.Version = EntryV2 }, "with version-3 fields"},
		{"orders on a spend", func(e *Entry) { e.Orders = []int64{2000} }, "budget fields"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, err := l.Export(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(doc, l.PublicKey()); err != nil {
				t.Fatal(err)
			}
			var bad int64
			for i := range doc.Entries {
				if e := &doc.Entries[i]; e.Mechanism == MechanismDistributedGaussian && bad == 0 {
					c.edit(e)
					bad = e.Seq
				}
			}
			rehashFrom(doc, 0)
			_, err = Verify(doc, l.PublicKey())
			var ae *AuditError
			if !errors.As(err, &ae) || ae.Seq != bad || !strings.Contains(ae.Reason, c.reason) {
				t.Fatalf("got %v, want entry %d: %q", err, bad, c.reason)
			}
		})
	}
	doc, _ := l.Export(ctx)
	doc.Entries[0].LogInvDelta += 5 // entry 1 creates "fed"
	rehashFrom(doc, 0)
	if _, err := Verify(doc, l.PublicKey()); !errors.Is(err, ErrAuditFailed) || !strings.Contains(err.Error(), "conversion constant") {
		t.Errorf("wrong conversion constant accepted: %v", err)
	}
}

// rehashFrom recomputes the hashes of doc's entries from index i on.
func rehashFrom(doc *AuditDocument, i int) {
	for ; i < len(doc.Entries); i++ {
		e := &doc.Entries[i]
		if i > 0 {
			e.PrevHash = doc.Entries[i-1].Hash
		}
		e.Hash = e.ChainHash()
	}
}

// TestEntryCanonicalV3Vector fixes the version-3 encoding.
func TestEntryCanonicalV3Vector(t *testing.T) {
	e := Entry{Version: EntryV3, Seq: 1, Kind: KindSpend, Budget: "a", Epsilon: 5, Mechanism: "m", Time: 2,
		IdempotencyKey: "k", ReleaseCommitment: make([]byte, 32), Delta: 0, NoiseMultiplier: 1_500_000,
		SampleRate: 1_000_000_000, Steps: 1, NoiseShares: 4, RDP: []int64{10, 20}}
	want := "00000017" + "61696f732f64702f6c65646765722d656e7472792f7633" + // "aios/dp/ledger-entry/v3"
		"0000000000000001" + "00000005" + "7370656e64" + "00000001" + "61" + "0000000000000005" + "00000001" + "6d" +
		strings.Repeat("0000000000000000", 5) + "00000000" + "00000000" + "0000000000000002" + "00000001" + "6b" +
		"00000020" + strings.Repeat("00", 32) +
		"0000000000000000" + "0000000000000000" + "0000000000000000" + // δ, constant, no orders
		"000000000016e360" + "000000003b9aca00" + "0000000000000001" + "0000000000000004" +
		"0000000000000002" + "000000000000000a" + "0000000000000014"
	if got := bytesHex(e.Canonical()); got != want {
		t.Fatalf("version 3 canonical encoding\n got %s\nwant %s", got, want)
	}
}
