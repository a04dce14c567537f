package dp

import (
	"errors"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// ksStatistic is the one-sample Kolmogorov–Smirnov statistic
// D = sup |F_n(x) − F(x)| of samples against cdf.
func ksStatistic(samples []float64, cdf func(float64) float64) float64 {
	xs := slices.Clone(samples)
	slices.Sort(xs)
	n := float64(len(xs))
	d := 0.0
	for i := 0; i < len(xs); {
		j := i
		for j < len(xs) && xs[j] == xs[i] { // ties: the empirical CDF jumps once
			j++
		}
		f := cdf(xs[i])
		d = max(d, math.Abs(float64(j)/n-f), math.Abs(f-float64(i)/n))
		i = j
	}
	return d
}

// ksCritical is the asymptotic critical value of D at level alpha:
// sqrt(−ln(α/2)/2)/sqrt(n) (Kolmogorov's limit distribution).
func ksCritical(n int, alpha float64) float64 {
	return math.Sqrt(-math.Log(alpha/2)/2) / math.Sqrt(float64(n))
}

// laplaceSamples releases x = 0 n times through the same integer path as
// every Laplace query and returns the released values in real units.
func laplaceSamples(t *testing.T, n int, fracBits int, lInf int64, eps MicroEpsilon) []float64 {
	t.Helper()
	fixed := make([]int64, n)
	noised, err := addLaplaceFixed(fixed, 1, lInf, eps)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, n)
	for i, v := range noised {
		out[i] = math.Ldexp(float64(v), -fracBits)
	}
	return out
}

// TestLaplaceDistribution checks 100,000 released values of a fixed input
// against Laplace(0, Δ/ε) with a KS test at α = 0.001, and their mean and
// variance against 5-sigma bounds. Δ = 1 (ℓ∞ = 2^16 in fixed point, f = 16),
// ε = 0.5, so the scale is b = 2.
func TestLaplaceDistribution(t *testing.T) {
	const (
		n     = 100_000
		f     = 16
		alpha = 0.001
	)
	eps := MicroEpsilon(500_000)
	b := 1 / eps.Float64() // Δ/ε with Δ = 1
	xs := laplaceSamples(t, n, f, 1<<f, eps)

	crit := ksCritical(n, alpha)
	d := ksStatistic(xs, distuv.Laplace{Mu: 0, Scale: b}.CDF)
	t.Logf("KS D = %.5f, critical %.5f at α = %g", d, crit, alpha)
	if d > crit {
		t.Errorf("KS test rejects Laplace(0, %g): D = %.5f > %.5f", b, d, crit)
	}
	// The same test must reject a wrong scale (±10%): it has the power to
	// see a mis-calibrated mechanism.
	for _, wrong := range []float64{0.9 * b, 1.1 * b} {
		if dw := ksStatistic(xs, distuv.Laplace{Mu: 0, Scale: wrong}.CDF); dw <= crit {
			t.Errorf("KS test accepts the wrong scale %g: D = %.5f ≤ %.5f", wrong, dw, crit)
		}
	}

	mean, variance := stat.MeanVariance(xs, nil)
	// Var(X) = 2b², so sd(mean) = sqrt(2/n)·b; Var(s²) ≈ (μ4 − σ⁴)/n = 20b⁴/n.
	if lim := 5 * math.Sqrt(2/float64(n)) * b; math.Abs(mean) > lim {
		t.Errorf("mean %.5f outside ±%.5f", mean, lim)
	}
	if lim := 5 * math.Sqrt(20/float64(n)) * b * b; math.Abs(variance-2*b*b) > lim {
		t.Errorf("variance %.5f outside %.5f ± %.5f", variance, 2*b*b, lim)
	}
}

// TestLaplaceWrongScaleFails feeds the checks above samples drawn at twice
// the ε: the KS test and the variance bound must both fail.
func TestLaplaceWrongScaleFails(t *testing.T) {
	const n, f = 100_000, 16
	xs := laplaceSamples(t, n, f, 1<<f, 1_000_000) // b = 1, tested as b = 2
	b := 2.0
	if d := ksStatistic(xs, distuv.Laplace{Scale: b}.CDF); d <= ksCritical(n, 0.001) {
		t.Errorf("KS test accepted samples of scale 1 as scale 2 (D = %.5f)", d)
	}
	_, variance := stat.MeanVariance(xs, nil)
	if lim := 5 * math.Sqrt(20/float64(n)) * b * b; math.Abs(variance-2*b*b) <= lim {
		t.Errorf("variance bound accepted samples of scale 1 as scale 2")
	}
}

func TestLaplaceQuery(t *testing.T) {
	m, err := NewLaplaceFromLiteral(LaplaceLiteral{Epsilon: 1_000_000, Lower: -2, Upper: 3, MaxContributions: 2, FracBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.Query(10, 20, 30)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors count every coordinate in ℓ0; ℓ∞ = max(|lower|, |upper|)·contributions.
	want := Sensitivity{L0: 3, LInf: 3 * 256 * 2, FracBits: 8, Lower: -2 * 256, Upper: 3 * 256}
	if got := q.Sensitivity(); got != want {
		t.Errorf("Sensitivity() = %+v, want %+v", got, want)
	}
	res, err := q.release()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Values) != 3 || len(res.CI) != 3 {
		t.Fatalf("release has %d values and %d intervals", len(res.Values), len(res.CI))
	}
	// Scale b = ℓ1/ε = 3·3·2 = 18; the 95% interval is ±b·ln(20) around the value.
	halfWidth := 18 * math.Log(20)
	for i, v := range res.Values {
		ci := res.CI[i]
		if !(ci.Lower <= v && v <= ci.Upper) {
			t.Errorf("coordinate %d: value outside its interval", i)
		}
		if w := (ci.Upper - ci.Lower) / 2; math.Abs(w-halfWidth) > 0.05 {
			t.Errorf("coordinate %d: CI half-width %.3f, want %.3f", i, w, halfWidth)
		}
		if v != math.Ldexp(math.Round(math.Ldexp(v, 8)), -8) {
			t.Errorf("coordinate %d: %v is not on the 2^-8 grid", i, v)
		}
	}
}

func TestLaplaceRejects(t *testing.T) {
	cases := map[string]struct {
		lit  LaplaceLiteral
		want error
	}{
		"no bounds":      {LaplaceLiteral{Epsilon: 1}, ErrMissingBounds},
		"inverted":       {LaplaceLiteral{Epsilon: 1, Lower: 2, Upper: 1}, ErrInvalidSpec},
		"nan":            {LaplaceLiteral{Epsilon: 1, Lower: math.NaN(), Upper: 1}, ErrInvalidSpec},
		"inf":            {LaplaceLiteral{Epsilon: 1, Lower: 0, Upper: math.Inf(1)}, ErrInvalidSpec},
		"zero epsilon":   {LaplaceLiteral{Lower: 0, Upper: 1}, ErrInvalidSpec},
		"huge epsilon":   {LaplaceLiteral{Epsilon: MaxEpsilon + 1, Lower: 0, Upper: 1}, ErrInvalidSpec},
		"frac bits":      {LaplaceLiteral{Epsilon: 1, Lower: 0, Upper: 1, FracBits: 99}, ErrInvalidSpec},
		"contributions":  {LaplaceLiteral{Epsilon: 1, Lower: 0, Upper: 1, MaxContributions: -1}, ErrInvalidSpec},
		"too fine":       {LaplaceLiteral{Epsilon: 1, Lower: 0, Upper: 0.001, FracBits: 2}, ErrInvalidSpec},
		"overflow scale": {LaplaceLiteral{Epsilon: 1, Lower: 0, Upper: 1e15, FracBits: 40}, ErrInvalidSpec},
	}
	for name, tc := range cases {
		_, err := NewLaplaceFromLiteral(tc.lit)
		var se *SpecError
		if !errors.Is(err, tc.want) || !errors.As(err, &se) {
			t.Errorf("%s: %v, want %v as *SpecError", name, err, tc.want)
		}
	}
	m, _ := NewLaplaceFromLiteral(LaplaceLiteral{Epsilon: 1, Lower: 0, Upper: 1})
	for name, vals := range map[string][]float64{"empty": nil, "nan": {math.NaN()}, "inf": {math.Inf(-1)}, "huge": {1e300}} {
		if _, err := m.Query(vals...); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Query %s: %v", name, err)
		}
	}
}

func TestAggregates(t *testing.T) {
	col := make([]float64, 1000)
	for i := range col {
		col[i] = float64(i % 10) // mean 4.5, sum 4500
	}
	col = append(col, 1e9, -1e9) // clamped to the bounds [0, 9]: +9 and +0
	for _, tc := range []struct {
		agg  Aggregation
		want float64
		tol  float64
	}{
		{AggCount, 1002, 2},
		{AggSum, 4509, 20},
		{AggMean, 4509.0 / 1002, 0.05},
	} {
		a, err := NewAggregateFromLiteral(AggregateLiteral{Aggregation: tc.agg, Epsilon: 10 * MicroPerEpsilon, Lower: 0, Upper: 9, FracBits: 8})
		if err != nil {
			t.Fatal(err)
		}
		q, err := a.Query(col)
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.release()
		if err != nil {
			t.Fatal(err)
		}
		v, ci := res.Values[0], res.CI[0]
		if math.Abs(v-tc.want) > tc.tol {
			t.Errorf("%s = %v, want %v ± %v", tc.agg, v, tc.want, tc.tol)
		}
		if !(ci.Lower <= v && v <= ci.Upper) || ci.Upper < ci.Lower {
			t.Errorf("%s: value %v outside its interval [%v, %v]", tc.agg, v, ci.Lower, ci.Upper)
		}
		if res.Mechanism != q.Mechanism() {
			t.Errorf("%s: mechanism %q vs %q", tc.agg, res.Mechanism, q.Mechanism())
		}
	}
	if _, err := NewAggregateFromLiteral(AggregateLiteral{Aggregation: AggSum, Epsilon: 1}); !errors.Is(err, ErrMissingBounds) {
		t.Errorf("sum without bounds: %v, want ErrMissingBounds", err)
	}
	if _, err := NewAggregateFromLiteral(AggregateLiteral{Aggregation: "median", Epsilon: 1, Upper: 1}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("unknown aggregation: %v", err)
	}
	if _, err := NewAggregateFromLiteral(AggregateLiteral{Aggregation: AggCount, Epsilon: 1}); err != nil {
		t.Errorf("count needs no bounds: %v", err)
	}
}

func TestParseEpsilon(t *testing.T) {
	for s, want := range map[string]MicroEpsilon{"1": 1_000_000, "0.5": 500_000, ".25": 250_000, "0.000001": 1, "3.": 3_000_000, "1000": MaxEpsilon} {
		got, err := ParseEpsilon(s)
		if err != nil || got != want {
			t.Errorf("ParseEpsilon(%q) = %v, %v; want %v", s, got, err, want)
		}
		if back, _ := ParseEpsilon(got.String()); back != got {
			t.Errorf("String round trip of %v: %q", got, got.String())
		}
	}
	for _, s := range []string{"", ".", "0", "0.0000001", "-1", "1e-3", "NaN", "1000.000001", "1,5", " 1", "0x1"} {
		if _, err := ParseEpsilon(s); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("ParseEpsilon(%q) = %v, want ErrInvalidSpec", s, err)
		}
	}
}
