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
	if raw == nil {
		t.Fatal("no raw output")
	}
	_ = o
	return raw, out
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

var _ = errors.Is
var _ = fmt.Sprint
var _ = math.Abs
var _ = filepath.Join
var _ = dp.MaxFracBits
var _ = field.One
