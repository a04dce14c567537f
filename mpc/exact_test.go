package mpc

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestExactRelease runs a secure-aggregation (ReleaseExact) weighted mean:
// the aggregate equals the plaintext weighted mean of the clamped inputs,
// it is taken once, it never appears in the Outcome, and no ledger is
// needed.
func TestExactRelease(t *testing.T) {
	c := newCluster(t, 4)
	lit := c.literal(OpWeightedMean, 3, 5, 2*time.Second)
	lit.Budget, lit.Epsilon, lit.Release, lit.MaxWeight = "", 0, ReleaseExact, 10
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := randInputs(rng, 4, 5, -100, 100)
	id, o := c.run(t, lit, inputs)
	if o.Release != nil || !o.Aggregated {
		t.Fatalf("outcome: release %v, aggregated %v", o.Release, o.Aggregated)
	}
	agg, err := c.nodes[0].TakeAggregate(id)
	if err != nil {
		t.Fatal(err)
	}
	var sw float64
	want := make([]float64, 5)
	for _, in := range inputs {
		w := clamp(in.Weight, 0, lit.MaxWeight)
		sw += math.Round(w*65536) / 65536
		for j, v := range in.Values {
			want[j] += math.Round(w*clamp(v, -100, 100)*65536) / 65536
		}
	}
	if agg.Dealers != 4 || math.Abs(agg.Weight-sw) > 1e-9 {
		t.Fatalf("dealers %d weight %v, want 4, %v", agg.Dealers, agg.Weight, sw)
	}
	for j := range want {
		if got := agg.Values[j]; math.Abs(got-want[j]/sw) > 1e-9 {
			t.Fatalf("coordinate %d: %v, want %v", j, got, want[j]/sw)
		}
	}
	if _, err := c.nodes[0].TakeAggregate(id); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("second take: %v", err)
	}
	if _, err := c.nodes[1].TakeAggregate(id); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("take on a member: %v", err)
	}
}

// TestExactSum: a sum's exact aggregate survives the clearing of the raw
// aggregate (finalize returns it unchanged for sums).
func TestExactSum(t *testing.T) {
	c := newCluster(t, 3)
	lit := c.literal(OpSum, 2, 2, 2*time.Second)
	lit.Budget, lit.Epsilon, lit.Release = "", 0, ReleaseExact
	inputs := map[int]Input{}
	for i := range 3 {
		inputs[i] = Input{Values: []float64{float64(i + 1), 0.5}}
	}
	id, _ := c.run(t, lit, inputs)
	agg, err := c.nodes[0].TakeAggregate(id)
	if err != nil || agg.Values[0] != 6 || agg.Values[1] != 1.5 {
		t.Fatalf("sum %v (%v), want [6 1.5]", agg, err)
	}
}

// TestExactReleaseSpec: the release mode is validated and encoded.
func TestExactReleaseSpec(t *testing.T) {
	c := newCluster(t, 3)
	lit := c.literal(OpSum, 2, 3, time.Second)
	lit.Release = ReleaseExact
	if _, err := NewSessionFromLiteral(lit); !errors.Is(err, ErrInvalidSession) {
		t.Fatalf("exact with a budget: %v", err)
	}
	lit.Budget, lit.Epsilon = "", 0
	s, err := NewSessionFromLiteral(lit)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeSession(s.Canonical())
	if err != nil || d.Literal().Release != ReleaseExact {
		t.Fatalf("decode: %v", err)
	}
	lit.Release = ReleaseLaplace
	if _, err := NewSessionFromLiteral(lit); !errors.Is(err, ErrInvalidSession) {
		t.Fatalf("Laplace without a budget: %v", err)
	}
	lit.Release = 7
	lit.Budget, lit.Epsilon = "b", 1
	if _, err := NewSessionFromLiteral(lit); !errors.Is(err, ErrInvalidSession) {
		t.Fatalf("unknown mode: %v", err)
	}
}
