package fl

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/aios-edge/aios/mpc"
)

// TestScheduleSpec: the step-size schedule validates, encodes and decodes,
// and an empty schedule is the constant one.
func TestScheduleSpec(t *testing.T) {
	f := newTestFed(t, 4)
	l := f.literal()
	fed, err := NewFederationFromLiteral(l)
	if err != nil {
		t.Fatal(err)
	}
	if got := fed.Literal().LRSchedule; got != ScheduleConstant {
		t.Fatalf("empty schedule validated as %q, want %q", got, ScheduleConstant)
	}
	l.LRSchedule, l.LRFinal = ScheduleCosine, 0.1
	fed, err = NewFederationFromLiteral(l)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeFederation(fed.Canonical())
	if err != nil || again.ID() != fed.ID() || again.Literal().LRSchedule != ScheduleCosine || again.Literal().LRFinal != 0.1 {
		t.Fatalf("cosine spec does not decode to itself: %v", err)
	}
	for name, mod := range map[string]func(*FederationLiteral){
		"constant with a final fraction": func(l *FederationLiteral) { l.LRSchedule, l.LRFinal = ScheduleConstant, 0.1 },
		"cosine without one":             func(l *FederationLiteral) { l.LRSchedule, l.LRFinal = ScheduleCosine, 0 },
		"cosine above 1":                 func(l *FederationLiteral) { l.LRSchedule, l.LRFinal = ScheduleCosine, 1.5 },
		"cosine NaN":                     func(l *FederationLiteral) { l.LRSchedule, l.LRFinal = ScheduleCosine, math.NaN() },
		"unknown":                        func(l *FederationLiteral) { l.LRSchedule, l.LRFinal = "step", 0.1 },
	} {
		l := f.literal()
		mod(&l)
		var se *SpecError
		if _, err := NewFederationFromLiteral(l); !errors.Is(err, ErrSpec) || !errors.As(err, &se) || (se.Field != "lr_final" && se.Field != "lr_schedule") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestStepSize: the cosine schedule's steps over the plan (stats, 4 float
// rounds, 1 prune, 1 qat, bounds), and the constant one's.
func TestStepSize(t *testing.T) {
	f := newTestFed(t, 4)
	l := f.literal()
	l.LR, l.LRSchedule, l.LRFinal = 0.02, ScheduleCosine, 0.1
	fed, err := NewFederationFromLiteral(l)
	if err != nil {
		t.Fatal(err)
	}
	// Float round k of 4: 0.02·(0.1 + 0.9·(1 + cos(πk/3))/2); the two
	// compression rounds are a second cycle: 0.02, then 0.002.
	want := []float64{0.02, 0.02, 0.02 * (0.1 + 0.9*0.75), 0.02 * (0.1 + 0.9*0.25), 0.002, 0.02, 0.002, 0.02}
	plan := fed.Plan()
	if len(plan) != len(want) {
		t.Fatalf("plan %v", plan)
	}
	for i, w := range want {
		if got := fed.StepSize(i); math.Abs(got-w) > 1e-15 {
			t.Errorf("round %d (%s): step %v, want %v", i, plan[i], got, w)
		}
	}
	l.LRSchedule, l.LRFinal = ScheduleConstant, 0
	if fed, err = NewFederationFromLiteral(l); err != nil {
		t.Fatal(err)
	}
	for i := range plan {
		if got := fed.StepSize(i); got != 0.02 {
			t.Errorf("constant, round %d: step %v", i, got)
		}
	}
}

// TestScheduleApplied: a member trains the last float round of a cosine
// federation at LRFinal·LR: its update is the one of a constant federation
// at that step, and not the one at LR.
func TestScheduleApplied(t *testing.T) {
	f := newTestFed(t, 4)
	input := func(schedule Schedule, lr, final float64) []float64 {
		t.Helper()
		l := f.literal()
		l.LR, l.LRSchedule, l.LRFinal = lr, schedule, final
		fed, err := NewFederationFromLiteral(l)
		if err != nil {
			t.Fatal(err)
		}
		g := testGlobal(fed)
		last := l.Rounds // index of the last float round: the stats round is 0
		if fed.Plan()[last] != StageTrain || fed.Plan()[last+1] == StageTrain {
			t.Fatalf("round %d is not the last float round of %v", last, fed.Plan())
		}
		rd, err := NewRound(fed, last, StageTrain, g, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		in, err := LocalInput(context.Background(), rd, f.parts[1])
		if err != nil {
			t.Fatal(err)
		}
		return in.Values
	}
	cos := input(ScheduleCosine, 0.02, 0.1)
	low := input(ScheduleConstant, 0.002, 0)
	high := input(ScheduleConstant, 0.02, 0)
	same, differs := true, false
	for j := range cos {
		same = same && math.Abs(cos[j]-low[j]) < 1e-12
		differs = differs || math.Abs(cos[j]-high[j]) > 1e-6
	}
	if !same || !differs {
		t.Fatalf("the cosine federation's last float round did not train at LRFinal·LR (same as 0.002: %v, differs from 0.02: %v)", same, differs)
	}
}

// TestScheduleAppliedDP: with record-level DP the coordinator's step on
// the released mean gradient of the last float round is LRFinal·LR under
// the cosine schedule: the step of a constant federation at that rate,
// a tenth of the one at LR.
func TestScheduleAppliedDP(t *testing.T) {
	f, _ := dpFed(t, 3)
	step := func(schedule Schedule, lr, final float64, budget string) []float64 {
		t.Helper()
		l := f.dpLiteral(t, 8)
		l.LR, l.LRSchedule, l.LRFinal, l.Budget = lr, schedule, final, budget
		fed, err := NewFederationFromLiteral(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.coord.openBudget(fed); err != nil {
			t.Fatal(err)
		}
		// A fixed aggregate on the session's fixed-point grid: a gradient
		// sum and the count of 100 records.
		fb := fed.sessionShape(StageTrain, [16]byte{}, nowForCheck).FracBits
		agg := &mpc.Aggregate{Operation: mpc.OpSum, Dealers: 3, Values: make([]float64, fed.Parameters()+1)}
		for j := range fed.Parameters() {
			agg.Values[j] = math.Ldexp(float64(j%7-3), -2)
		}
		agg.Values[fed.Parameters()] = math.Round(math.Ldexp(countScale*l.ClipNorm*100, fb)) / math.Ldexp(1, fb)
		last := l.Rounds - 1 // record-dp plans have no stats round
		if fed.Plan()[last] != StageTrain || fed.Plan()[last+1] == StageTrain {
			t.Fatalf("round %d is not the last float round of %v", last, fed.Plan())
		}
		s, err := f.coord.releaseRound(context.Background(), &fedRun{fed: fed}, last, agg, &RoundStatus{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cos := step(ScheduleCosine, 0.5, 0.1, "cosine")
	low := step(ScheduleConstant, 0.05, 0, "low")
	high := step(ScheduleConstant, 0.5, 0, "high")
	nonzero := false
	for j := range cos {
		if math.Abs(cos[j]-low[j]) > 1e-12 || math.Abs(10*cos[j]-high[j]) > 1e-9 {
			t.Fatalf("coordinate %d: cosine step %v, constant 0.05 %v, constant 0.5 %v", j, cos[j], low[j], high[j])
		}
		nonzero = nonzero || cos[j] != 0
	}
	if !nonzero {
		t.Fatal("the step is zero")
	}
}
