package fl

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

// dpRound is round 0 of a record-dp federation at a random global model.
func dpRound(t *testing.T, f *testFed, eps float64) *Round {
	t.Helper()
	fed, err := NewFederationFromLiteral(f.dpLiteral(t, eps))
	if err != nil {
		t.Fatal(err)
	}
	std := fed.PublicStandardizer()
	g := Global{Mean: std.Mean, Std: std.Std, Params: make([]float64, fed.Parameters())}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range g.Params {
		g.Params[i] = rng.NormFloat64() * 0.3
	}
	rd, err := NewRound(fed, 0, StageTrain, g, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

func l2(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// TestDPClipping: removing any one record from a member's data moves its
// un-noised contribution (clipped gradient sum and count) by at most
// C' = C·√(1+γ²), and the count coordinate by exactly γ·C.
func TestDPClipping(t *testing.T) {
	f := newTestFed(t, 4)
	rd := dpRound(t, f, 8)
	d := f.parts[1]
	all, err := dpContribution(rd, d)
	if err != nil {
		t.Fatal(err)
	}
	bound := rd.Federation.dpClip()
	worst := 0.0
	for r := 0; r < d.Len(); r += 7 {
		less := &dataset.Dataset{Features: d.Features, Classes: d.Classes,
			X: slices.Delete(slices.Clone(d.X), r, r+1), Y: slices.Delete(slices.Clone(d.Y), r, r+1)}
		v, err := dpContribution(rd, less)
		if err != nil {
			t.Fatal(err)
		}
		for j := range v {
			v[j] -= all[j]
		}
		if c := -v[len(v)-1]; math.Abs(c-countScale*rd.Federation.lit.ClipNorm) > 1e-9 {
			t.Fatalf("record %d moves the count by %g", r, c)
		}
		worst = max(worst, l2(v))
	}
	if worst > bound*(1+1e-9) {
		t.Fatalf("a record moves the contribution by %g > C' = %g", worst, bound)
	}
	// The random model's gradients exceed C, so clipping acts: some
	// record's influence is the bound itself.
	if worst < 0.99*bound {
		t.Fatalf("largest influence %g, well below C' = %g: clipping is not exercised", worst, bound)
	}
}

// TestDPNoiseShares: a member's noised input is on the session's
// fixed-point grid (so mpc encodes it exactly), its noise has the share's
// variance σ_i² = (z·C'·2^f)²/t, and t shares carry the whole noise.
func TestDPNoiseShares(t *testing.T) {
	f := newTestFed(t, 4)
	rd := dpRound(t, f, 8)
	fed := rd.Federation
	v, err := dpContribution(rd, f.parts[0])
	if err != nil {
		t.Fatal(err)
	}
	in, err := noised(fed, v, newDetRand(3))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := fed.noise()
	fb := rd.Session.Literal().FracBits
	ss := 0.0
	for j, x := range in.Values {
		s := math.Ldexp(x, fb)
		if s != math.Round(s) {
			t.Fatalf("coordinate %d is off the 2^-%d grid", j, fb)
		}
		e := s - math.Round(math.Ldexp(v[j], fb))
		ss += e * e
	}
	got, want := ss/float64(len(v)), g.MemberSigma2()
	if math.Abs(got/want-1) > 0.15 { // 2411 draws: the standard error of the variance is 3%
		t.Fatalf("noise variance %g, want σ_i² = %g", got, want)
	}
	sd := fed.lit.NoiseMultiplier * fed.dpClip() * math.Ldexp(1, fb)
	if tw := float64(fed.lit.Threshold) * want; tw < sd*sd || tw > sd*sd*(1+1e-12) {
		t.Fatalf("t shares carry variance %g, want (z·C'·2^f)² = %g", tw, sd*sd)
	}
	// Two draws differ: the noise is fresh.
	again, _ := noised(fed, v, newDetRand(4))
	if slices.Equal(again.Values, in.Values) {
		t.Fatal("two noise draws are equal")
	}
}

// dpFed is a test federation whose coordinator has a ledger.
func dpFed(t *testing.T, n int) (*testFed, *dp.Ledger) {
	t.Helper()
	f := newTestFed(t, n)
	led, err := dp.OpenNode(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	f.coord.cfg.Ledger = led
	return f, led
}

// TestDPFederation runs a record-level DP federation in process: every
// round is debited, the ε spent is the accountant's composition of the
// rounds' RDP, the ledger verifies, and the final model is served with
// bounds from the public feature bound.
func TestDPFederation(t *testing.T) {
	f, led := dpFed(t, 4)
	lit := f.dpLiteral(t, 30)
	fed, err := NewFederationFromLiteral(lit)
	if err != nil {
		t.Fatal(err)
	}
	st := f.run(t, fed)
	if st.State != StateDone || len(st.Rounds) != len(fed.Plan()) || len(fed.Plan()) != fed.dpRounds() {
		t.Fatalf("state %s (%s %s), %d rounds of %d", st.State, st.Err, st.Stopped, len(st.Rounds), len(fed.Plan()))
	}
	g, _ := fed.noise()
	var sum dp.MicroEpsilon
	for k, r := range st.Rounds {
		if len(r.Included) != 4 || r.Seq == 0 || r.Epsilon <= 0 {
			t.Fatalf("round %d: included %d, ledger entry %d, ε %s", r.Index, len(r.Included), r.Seq, r.Epsilon)
		}
		sum += r.Epsilon
		want, _, err := g.RoundRDP().Times(int64(k + 1)).Epsilon(lit.Delta)
		if err != nil || r.Spent != want || sum != want {
			t.Fatalf("round %d: spent %s, entries sum to %s, the accountant composes %d rounds to %s", r.Index, r.Spent, sum, k+1, want)
		}
	}
	ctx := context.Background()
	a, err := led.Accounting(ctx, lit.Budget)
	if err != nil || a.Spent != st.Spent || a.Delta != lit.Delta || a.Spent > lit.Epsilon {
		t.Fatalf("ledger: %+v (%v); status spent %s", a, err, st.Spent)
	}
	if _, err := led.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := inference.Decode(st.Model)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := ev.Score(f.test.X, f.test.Y)
	if err != nil || acc < 0.6 {
		t.Fatalf("final int8 model: accuracy %.3f (%v)", acc, err)
	}
	if env := ev.Envelope(lit.FeatureBound); m.Meta.Bounds.MaxAbsLogit != env.MaxAbsLogit {
		t.Fatalf("bounds %+v, not the envelope", m.Meta.Bounds)
	}
	t.Logf("ε = %s at δ = %s (z = %g), final accuracy %.3f, preset %s", st.Spent, lit.Delta, lit.NoiseMultiplier, acc, m.Meta.Preset)
}

// TestDPRoundNotReleased: a round whose debit fails is not released: the
// global model stays what it was before the round. With the budget
// exhausted (here by another release just before the round's), the
// federation stops cleanly and says why; with a ledger error it fails.
func TestDPRoundNotReleased(t *testing.T) {
	for _, tc := range []string{"exhausted", "ledger error"} {
		t.Run(tc, func(t *testing.T) {
			f, led := dpFed(t, 3)
			lit := f.dpLiteral(t, 8)
			fed, err := NewFederationFromLiteral(lit)
			if err != nil {
				t.Fatal(err)
			}
			var before []float64
			f.coord.testOnlyBeforeRelease = func(round int) {
				if round != 1 {
					return
				}
				_, g, _ := f.coord.Global(fed.ID())
				before = g.Params
				if tc == "ledger error" {
					led.Close()
					return
				}
				// Spend what is left with a Laplace release (its RDP composes
				// on the (ε, δ) budget).
				spend(t, led, lit.Budget)
			}
			st := f.run(t, fed)
			if len(st.Rounds) != 2 || st.Rounds[0].Seq == 0 || st.Rounds[1].Seq != 0 || !strings.Contains(st.Rounds[1].Err, "not released") {
				t.Fatalf("rounds %+v", st.Rounds)
			}
			_, g, _ := f.coord.Global(fed.ID())
			if before == nil || !slices.Equal(g.Params, before) {
				t.Fatal("the global model moved after a round that was not released")
			}
			switch tc {
			case "exhausted":
				if st.State != StateStopped || !strings.Contains(st.Stopped, "round 1 was not released") || st.Model == nil {
					t.Fatalf("state %s, stopped %q, model %d bytes", st.State, st.Stopped, len(st.Model))
				}
			default:
				if st.State != StateFailed || !strings.Contains(st.Err, "not released") {
					t.Fatalf("state %s, error %q", st.State, st.Err)
				}
			}
		})
	}
}

// spend releases a Laplace count on budget that leaves too little for
// another round.
func spend(t *testing.T, led *dp.Ledger, budget string) {
	t.Helper()
	ctx := context.Background()
	a, err := led.Accounting(ctx, budget)
	if err != nil {
		t.Fatal(err)
	}
	mech, err := dp.NewLaplaceFromLiteral(dp.LaplaceLiteral{Epsilon: (a.Total - a.Spent) * 9 / 10, Lower: 0, Upper: 1, MaxContributions: 1})
	if err != nil {
		t.Fatal(err)
	}
	q, err := mech.Query(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := led.Release(ctx, dp.ReleaseRequest{Budget: budget, Query: q, Requester: "test", Purpose: "spend"}); err != nil {
		var ex *dp.ExhaustedError
		if !errors.As(err, &ex) {
			t.Fatal(err)
		}
	}
}
