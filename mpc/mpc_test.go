package mpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc/internal/field"
)

// detRand is a deterministic io.Reader for tests.
type detRand struct{ c *rand.ChaCha8 }

func newDetRand(seed byte) *detRand {
	var s [32]byte
	s[0] = seed
	return &detRand{rand.NewChaCha8(s)}
}

func (d *detRand) Read(p []byte) (int, error) { return d.c.Read(p) }

type cluster struct {
	net   *MemNetwork
	nodes []*Node
	ids   []NodeID
	mu    sync.Mutex
	errs  []error
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &cluster{net: NewMemNetwork()}
	c.net.Errors = func(from, to NodeID, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}
	for i := range n {
		k, err := nodekey.Generate(newDetRand(byte(100 + i)))
		if err != nil {
			t.Fatal(err)
		}
		id := NodeID(k.Public())
		node, err := NewNode(Config{Key: k, Transport: c.net.Endpoint(id), Rand: newDetRand(byte(i))})
		if err != nil {
			t.Fatal(err)
		}
		c.net.Attach(ctx, id, node)
		c.nodes = append(c.nodes, node)
		c.ids = append(c.ids, id)
	}
	return c
}

func (c *cluster) literal(op Operation, t, d int, deadline time.Duration) SessionLiteral {
	now := time.Now()
	return SessionLiteral{
		Coordinator: c.ids[0], Participants: c.ids, Threshold: t, Operation: op, Dimension: d, FracBits: 16,
		Lower: -100, Upper: 100, Budget: "b", Epsilon: 1_000_000,
		AcceptBy: now.Add(deadline), InputBy: now.Add(2 * deadline), ReportBy: now.Add(3 * deadline), OutputBy: now.Add(4 * deadline),
	}
}

// runRaw runs a session with the noise-free test path and returns the raw
// aggregate and the coordinator's outcome.
func (c *cluster) runRaw(t testing.TB, lit SessionLiteral, inputs map[int]Input) ([]float64, *Outcome) {
	t.Helper()
	var raw []float64
	var out *Outcome
	c.nodes[0].rawForTesting = func(r []float64, o *Outcome) { raw, out = append([]float64(nil), r...), o }
	c.run(t, lit, inputs)
	if raw == nil {
		t.Fatal("no raw output")
	}
	return raw, out
}

// run proposes a session on node 0, gives each node its input and returns
// the session's id and the coordinator's outcome once it ends.
func (c *cluster) run(t testing.TB, lit SessionLiteral, inputs map[int]Input) ([32]byte, *Outcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := c.nodes[0].Propose(ctx, lit)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		if err := c.nodes[i].SetInput(s.ID(), in); err != nil {
			t.Fatal(err)
		}
	}
	o, err := c.nodes[0].Wait(ctx, s.ID())
	if err != nil {
		t.Fatalf("session failed: %v", err)
	}
	return s.ID(), o
}

// refFixed is the plaintext reference: the exact integer aggregate decoded
// the way the protocol decodes it.
func refDecode(x *big.Int, bits int) float64 {
	v, _ := new(big.Float).SetMantExp(new(big.Float).SetInt(x), -bits).Float64()
	return v
}

func randInputs(r *rand.Rand, n, d int, lo, hi float64) map[int]Input {
	in := map[int]Input{}
	for i := range n {
		v := make([]float64, d)
		for j := range v {
			v[j] = lo + (hi-lo)*r.Float64()*1.2 - 0.1*(hi-lo) // some outside the clamp
		}
		in[i] = Input{Values: v, Weight: r.Float64() * 3}
	}
	return in
}

func TestSumMatchesPlaintext(t *testing.T) {
	c := newCluster(t, 5)
	d := 50
	r := rand.New(rand.NewPCG(1, 2))
	inputs := randInputs(r, 5, d, -100, 100)
	raw, out := c.runRaw(t, c.literal(OpSum, 3, d, 2*time.Second), inputs)
	for j := range d {
		sum := new(big.Int)
		for i := range 5 {
			sum.Add(sum, big.NewInt(fixed(clamp(inputs[i].Values[j], -100, 100), 16)))
		}
		if want := refDecode(sum, 16); raw[j] != want {
			t.Fatalf("coordinate %d: got %v want %v", j, raw[j], want)
		}
	}
	if len(out.Included) != 5 || len(out.Excluded) != 0 {
		t.Fatalf("included %d excluded %v", len(out.Included), out.Excluded)
	}
}

func fx(v float64) int64 { return fixed(clamp(v, -100, 100), 16) }

func TestOperationsMatchPlaintext(t *testing.T) {
	const n, d = 5, 8
	r := rand.New(rand.NewPCG(3, 4))
	for _, op := range []Operation{OpMean, OpWeightedMean, OpHistogram, OpVariance, OpDotProduct} {
		t.Run(string(op), func(t *testing.T) {
			c := newCluster(t, n)
			lit := c.literal(op, 3, d, 2*time.Second)
			inputs := randInputs(r, n, d, -100, 100)
			switch op {
			case OpWeightedMean:
				lit.MaxWeight = 2
			case OpHistogram:
				lit.FracBits, lit.MaxItems = 0, 40
				for i := range n {
					v := make([]float64, 1+r.IntN(40))
					for k := range v {
						v[k] = r.Float64()*220 - 110
					}
					inputs[i] = Input{Values: v}
				}
			case OpVariance:
				lit.Lower, lit.Upper = -10, 10
				lit.FracBits = 8
			case OpDotProduct:
				lit.InputParties = []NodeID{c.ids[1], c.ids[3]}
				lit.Lower, lit.Upper = -10, 10
				lit.FracBits = 8
				inputs = map[int]Input{1: inputs[1], 3: inputs[3]}
			}
			raw, out := c.runRaw(t, lit, inputs)
			f := lit.FracBits
			want := make([]float64, 0)
			switch op {
			case OpMean:
				for j := range d {
					s := new(big.Int)
					for i := range n {
						s.Add(s, big.NewInt(fx(inputs[i].Values[j])))
					}
					want = append(want, refDecode(s, f))
				}
			case OpWeightedMean:
				ws := new(big.Int)
				for j := range d + 1 {
					s := new(big.Int)
					for i := range n {
						w := clamp(inputs[i].Weight, 0, 2)
						if j == d {
							s.Add(s, big.NewInt(fixed(w, f)))
						} else {
							s.Add(s, big.NewInt(fixed(w*clamp(inputs[i].Values[j], -100, 100), f)))
						}
					}
					ws = s
					want = append(want, refDecode(s, f))
				}
				_ = ws
			case OpHistogram:
				counts := make([]int64, d)
				for i := range n {
					for _, v := range inputs[i].Values {
						b := int(math.Floor((clamp(v, -100, 100) + 100) / 200 * d))
						counts[min(max(b, 0), d-1)]++
					}
				}
				for _, c := range counts {
					want = append(want, float64(c))
				}
			case OpVariance:
				s1, s2 := make([]*big.Int, d), make([]*big.Int, d)
				for j := range d {
					s1[j], s2[j] = new(big.Int), new(big.Int)
					for i := range n {
						x := big.NewInt(fixed(clamp(inputs[i].Values[j], -10, 10), f))
						s1[j].Add(s1[j], x)
						s2[j].Add(s2[j], new(big.Int).Mul(x, x))
					}
				}
				for j := range d {
					want = append(want, refDecode(s1[j], f))
				}
				for j := range d {
					want = append(want, refDecode(s2[j], 2*f))
				}
			case OpDotProduct:
				s := new(big.Int)
				for j := range d {
					a := big.NewInt(fixed(clamp(inputs[1].Values[j], -10, 10), f))
					b := big.NewInt(fixed(clamp(inputs[3].Values[j], -10, 10), f))
					s.Add(s, new(big.Int).Mul(a, b))
				}
				want = append(want, refDecode(s, 2*f))
			}
			if len(raw) != len(want) {
				t.Fatalf("got %d coordinates, want %d", len(raw), len(want))
			}
			for j := range want {
				if raw[j] != want[j] {
					t.Fatalf("coordinate %d: got %v want %v", j, raw[j], want[j])
				}
			}
			if op != OpDotProduct && len(out.Included) != n {
				t.Fatalf("included %d", len(out.Included))
			}
		})
	}
}

func TestCheatingDealerIsNamed(t *testing.T) {
	c := newCluster(t, 5)
	cheater := 2
	c.nodes[cheater].tamperShareForTesting = func(phase uint8, to int, sh []field.Element) {
		if to == 4 {
			sh[7] = field.Add(sh[7], field.One())
		}
	}
	inputs := randInputs(rand.New(rand.NewPCG(5, 6)), 5, 20, -100, 100)
	raw, out := c.runRaw(t, c.literal(OpSum, 3, 20, 2*time.Second), inputs)
	if len(out.Excluded) != 1 || out.Excluded[0].Dealer != c.ids[cheater] || out.Excluded[0].Reporter != c.ids[4] || out.Excluded[0].Reason != ReasonBadShare {
		t.Fatalf("excluded = %v", out.Excluded)
	}
	var de *DealerError
	if err := error(out.Excluded[0]); !errors.As(err, &de) || !errors.Is(err, ErrBadDeal) {
		t.Fatal("not a typed DealerError")
	}
	for j := range 20 {
		s := new(big.Int)
		for i := range 5 {
			if i != cheater {
				s.Add(s, big.NewInt(fx(inputs[i].Values[j])))
			}
		}
		if raw[j] != refDecode(s, 16) {
			t.Fatalf("coordinate %d wrong after exclusion", j)
		}
	}
}

func TestWrongOutputShareIsNamed(t *testing.T) {
	c := newCluster(t, 5)
	liar := 3
	c.nodes[liar].tamperOutputForTesting = func(sh []field.Element) { sh[0] = field.Add(sh[0], field.One()) }
	inputs := randInputs(rand.New(rand.NewPCG(7, 8)), 5, 10, -100, 100)
	raw, out := c.runRaw(t, c.literal(OpSum, 3, 10, 2*time.Second), inputs)
	if len(out.WrongOutput) != 1 || out.WrongOutput[0] != c.ids[liar] {
		t.Fatalf("wrong output = %v", out.WrongOutput)
	}
	s := new(big.Int)
	for i := range 5 {
		s.Add(s, big.NewInt(fx(inputs[i].Values[0])))
	}
	if raw[0] != refDecode(s, 16) {
		t.Fatal("result wrong despite t consistent shares")
	}
}

func TestSilentNodeIsExcluded(t *testing.T) {
	c := newCluster(t, 5)
	silent := c.ids[4]
	c.net.Filter = func(from, to NodeID, msg []byte) []byte {
		if from == silent {
			if e, err := DecodeEnvelope(msg); err == nil && e.Kind != KindAccept {
				return nil // accepts, then never sends again
			}
		}
		return msg
	}
	inputs := randInputs(rand.New(rand.NewPCG(9, 10)), 5, 10, -100, 100)
	raw, out := c.runRaw(t, c.literal(OpSum, 3, 10, time.Second), inputs)
	if len(out.Included) != 4 || len(out.Excluded) != 1 || out.Excluded[0].Dealer != silent || out.Excluded[0].Reason != ReasonMissing {
		t.Fatalf("included %d, excluded %v", len(out.Included), out.Excluded)
	}
	s := new(big.Int)
	for i := range 4 {
		s.Add(s, big.NewInt(fx(inputs[i].Values[0])))
	}
	if raw[0] != refDecode(s, 16) {
		t.Fatal("wrong result")
	}
}

func TestBadMessagesRejected(t *testing.T) {
	c := newCluster(t, 3)
	lit := c.literal(OpSum, 2, 4, 5*time.Second)
	ctx := context.Background()
	s, err := c.nodes[0].Propose(ctx, lit)
	if err != nil {
		t.Fatal(err)
	}
	r := c.nodes[0].sessions[s.ID()]
	// A valid report from node 1 to the coordinator, built by hand.
	mk := func(kind Kind, phase uint8, session [32]byte, from int, body []byte, key *nodekey.Key) []byte {
		e := &Envelope{Kind: kind, Phase: phase, Session: session, From: uint16(from), To: 0, Body: body}
		e.Nonce[0] = byte(len(body))
		sig, _ := key.Sign(e.signedBytes())
		copy(e.Sig[:], sig)
		return e.Marshal()
	}
	k1, _ := nodekey.Generate(newDetRand(101))
	k2, _ := nodekey.Generate(newDetRand(102))
	good := mk(KindReport, 1, s.ID(), 1, []byte{0, 0}, k1)
	if err := r.node.Deliver(ctx, good); err != nil {
		t.Fatalf("valid message rejected: %v", err)
	}
	if err := r.node.Deliver(ctx, good); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// Same slot, new nonce: still a replay of the slot.
	again := mk(KindReport, 1, s.ID(), 1, []byte{0, 0, 0}, k1)
	if err := r.node.Deliver(ctx, again); !errors.Is(err, ErrReplay) {
		t.Fatalf("slot replay: %v", err)
	}
	forged := mk(KindAccept, 0, s.ID(), 1, make([]byte, 32), k2) // signed by node 2, claims node 1
	if err := r.node.Deliver(ctx, forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("bad signature: %v", err)
	}
	other := s.ID()
	other[0] ^= 1
	if err := r.node.Deliver(ctx, mk(KindAccept, 0, other, 1, make([]byte, 32), k1)); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("wrong session: %v", err)
	}
	if err := r.node.Deliver(ctx, mk(KindAccept, 0, s.ID(), 2, make([]byte, 33), k2)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	if err := r.node.Deliver(ctx, make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
	if err := r.node.Deliver(ctx, mk(KindDecision, 1, s.ID(), 2, nil, k2)); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("decision from a non-coordinator: %v", err)
	}
	if err := c.net.Endpoint(c.ids[1]).Send(ctx, c.ids[0], make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("transport limit: %v", err)
	}
}

func TestSessionValidation(t *testing.T) {
	c := newCluster(t, 4)
	cases := []struct {
		name  string
		edit  func(*SessionLiteral)
		field string
	}{
		{"t>n", func(l *SessionLiteral) { l.Threshold = 5 }, "threshold"},
		{"d=0", func(l *SessionLiteral) { l.Dimension = 0 }, "dimension"},
		{"product n<2t-1", func(l *SessionLiteral) {
			l.Operation, l.Threshold, l.InputParties = OpDotProduct, 3, c.ids[:2]
		}, "threshold"},
		{"f too large for dp", func(l *SessionLiteral) { l.FracBits = 40; l.Upper = 1e6 }, "frac_bits"},
		{"dot overflows", func(l *SessionLiteral) {
			l.Operation, l.InputParties, l.Threshold, l.FracBits, l.Dimension = OpDotProduct, c.ids[:2], 2, 30, 1<<20
		}, "frac_bits"},
		{"coordinator outside", func(l *SessionLiteral) { l.Coordinator = NodeID{} }, "coordinator"},
		{"duplicate", func(l *SessionLiteral) { l.Participants = append(l.Participants, l.Participants[0]) }, "participants"},
		{"deadlines", func(l *SessionLiteral) { l.InputBy = l.AcceptBy }, "deadlines"},
		{"bounds", func(l *SessionLiteral) { l.Lower = l.Upper }, "bounds"},
		{"histogram f", func(l *SessionLiteral) { l.Operation, l.MaxItems = OpHistogram, 3 }, "frac_bits"},
		{"weight", func(l *SessionLiteral) { l.Operation = OpWeightedMean }, "max_weight"},
		{"epsilon", func(l *SessionLiteral) { l.Epsilon = 0 }, "release"},
	}
	for _, tc := range cases {
		lit := c.literal(OpSum, 2, 4, time.Second)
		tc.edit(&lit)
		_, err := NewSessionFromLiteral(lit)
		var se *SpecError
		if !errors.As(err, &se) || se.Field != tc.field || !errors.Is(err, ErrInvalidSession) {
			t.Errorf("%s: got %v, want a SpecError on %s", tc.name, err, tc.field)
		}
	}
	s, err := NewSessionFromLiteral(c.literal(OpSum, 2, 4, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := DecodeSession(s.Canonical())
	if err != nil || s2.ID() != s.ID() {
		t.Fatalf("canonical round trip: %v", err)
	}
}

// TestReleaseThroughLedger runs a session with noise: the ledger is debited
// and the result is within a loose bound of the truth.
func TestReleaseThroughLedger(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	ledger, err := dp.OpenNode(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.Close()
	b, _ := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: "b", Total: 10_000_000})
	if _, err := ledger.CreateBudget(ctx, b, "test"); err != nil {
		t.Fatal(err)
	}
	c.nodes[0].cfg.Ledger = ledger
	lit := c.literal(OpMean, 2, 3, 2*time.Second)
	lit.Lower, lit.Upper, lit.Epsilon = 0, 40, 5_000_000
	s, err := c.nodes[0].Propose(ctx, lit)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_ = c.nodes[i].SetInput(s.ID(), Input{Values: []float64{10, 20, 30}})
	}
	out, err := c.nodes[0].Wait(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if out.Release == nil || len(out.Release.Values) != 3 || len(out.Release.Seqs) != 1 {
		t.Fatalf("release = %+v", out.Release)
	}
	st, _ := ledger.Budget(ctx, "b")
	if st.Spent != 5_000_000 {
		t.Fatalf("spent %d", st.Spent)
	}
	for j, v := range out.Release.Values {
		if math.Abs(v-float64(10*(j+1))) > 60 || out.Release.CI[j].Lower > out.Release.CI[j].Upper {
			t.Fatalf("coordinate %d: %v", j, v)
		}
	}
}

var _ = errors.Is
var _ = fmt.Sprint
var _ = math.Abs
var _ = filepath.Join
var _ = dp.MaxFracBits
var _ = field.One
