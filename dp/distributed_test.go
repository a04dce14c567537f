package dp

import (
	"bytes"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

func seeded(seed byte) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return mrand.NewChaCha8(s)
}

// TestDiscreteGaussianDistribution compares sample frequencies with the
// discrete Gaussian's probabilities P[y] ∝ exp(−y²/(2σ²)) by a χ² test
// (bins |y| ≤ 8 and a tail bin, critical value of χ² with 18 degrees of
// freedom at 10^-4: 47.0), for an integer and a fractional σ²; and checks
// that a wrong σ² fails the same test.
func TestDiscreteGaussianDistribution(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 6000
	}
	chi2 := func(samples []int64, sigma2 float64) float64 {
		var z float64
		for y := -60; y <= 60; y++ {
			z += math.Exp(-float64(y*y) / (2 * sigma2))
		}
		counts := map[int64]int{}
		for _, s := range samples {
			if s < -8 || s > 8 {
				s = 99
			}
			counts[s]++
		}
		var stat, tail float64
		for y := int64(-8); y <= 8; y++ {
			p := math.Exp(-float64(y*y)/(2*sigma2)) / z
			tail += p
			e := p * float64(len(samples))
			stat += (float64(counts[y]) - e) * (float64(counts[y]) - e) / e
		}
		e := (1 - tail) * float64(len(samples))
		if e > 1 {
			stat += (float64(counts[99]) - e) * (float64(counts[99]) - e) / e
		}
		return stat
	}
	for i, s2 := range []*big.Rat{big.NewRat(2, 1), big.NewRat(7, 5)} {
		rnd := seeded(byte(i))
		samples := make([]int64, n)
		for j := range samples {
			v, err := SampleDiscreteGaussian(rnd, s2)
			if err != nil {
				t.Fatal(err)
			}
			samples[j] = v
		}
		f, _ := s2.Float64()
		if c := chi2(samples, f); c > 47.0 {
			t.Errorf("σ²=%s: χ² = %.1f", s2, c)
		}
		if c := chi2(samples, 1.3*f); c <= 47.0 {
			t.Errorf("σ²=%s tested as %g: χ² = %.1f, the test does not tell them apart", s2, 1.3*f, c)
		}
	}
}

// TestAddDiscreteGaussianMoments checks mean and variance at the scale of
// a federation's shares (σ² = 10^8): the variance of N_Z(0, σ²) is within
// 10^-100 of σ² there, and the sample variance of n draws has relative
// standard deviation √(2/n).
func TestAddDiscreteGaussianMoments(t *testing.T) {
	const sigma2 = 1e8
	x := make([]int64, 4000)
	for i := range x {
		x[i] = 1 << 40
	}
	out, err := AddDiscreteGaussian(seeded(9), x, sigma2)
	if err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	for _, v := range out {
		d := float64(v - 1<<40)
		sum += d
		sq += d * d
	}
	n := float64(len(x))
	mean, variance := sum/n, sq/n
	if math.Abs(mean) > 5*math.Sqrt(sigma2/n) || math.Abs(variance/sigma2-1) > 5*math.Sqrt(2/n) {
		t.Errorf("mean %g, variance %g (σ² = %g)", mean, variance, sigma2)
	}
	// Deterministic for a given source.
	again, _ := AddDiscreteGaussian(seeded(9), x, sigma2)
	for i := range again {
		if again[i] != out[i] {
			t.Fatal("the same source gave other noise")
		}
	}
	if _, err := AddDiscreteGaussian(bytes.NewReader(nil), x, sigma2); err == nil {
		t.Error("an exhausted source gave noise")
	}
	// 64 coordinates at the top of the range: one of them overflows unless
	// all 64 noises are ≤ 0 (probability 2^-64), so the check cannot pass
	// by chance.
	top := make([]int64, 64)
	for i := range top {
		top[i] = math.MaxInt64
	}
	if _, err := AddDiscreteGaussian(nil, top, 1e30); err == nil {
		t.Error("overflow accepted")
	}
}

// TestDistributedGaussianRDP checks the per-round RDP: with shares far
// above σ = 1, τ of Kairouz, Liu and Steinke is 0 and the bound is that of
// a Gaussian of noise multiplier σ_total/Δ₂ (Mironov 2017, Table II), with
// Δ₂ = C·2^f + √d; with shares of variance 1 and many members, τ adds to it.
func TestDistributedGaussianRDP(t *testing.T) {
	g := testFederation(t, 1.5)
	delta2 := 65536 + 10.0 // C·2^f + √100
	want, err := SampledGaussianRDP(1, 1.5*65536/delta2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if d := g.RoundRDP()[i] - want[i]; d < -1 || d > 1 {
			t.Errorf("α=%g: %d micro-nats, Gaussian at the effective multiplier %d", RDPOrders()[i], g.RoundRDP()[i], want[i])
		}
	}
	if s := g.MemberSigma2(); s < 1.5*1.5*65536*65536/4 || s > 1.5*1.5*65536*65536/4*(1+1e-15) {
		t.Errorf("MemberSigma2 = %g", s)
	}
	small, err := NewDistributedGaussianFromLiteral(DistributedGaussianLiteral{
		ClipNorm: 1, NoiseMultiplier: 2, FracBits: 0, Dimension: 100, MinMembers: 4, Members: 60})
	if err != nil {
		t.Fatal(err)
	}
	// σ_i² = 1 and 60 members: τ = 10·Σ_{k<60} exp(−2π²k/(k+1)) = 5.5·10^-4.
	plain, _ := SampledGaussianRDP(1, 2/(1+10.0), 1)
	if !plain.LessEq(small.RoundRDP()) || plain == small.RoundRDP() {
		t.Errorf("τ did not raise the bound: %v vs %v", small.RoundRDP(), plain)
	}
	for _, lit := range []DistributedGaussianLiteral{
		{ClipNorm: 1, NoiseMultiplier: 1, Dimension: 10, MinMembers: 2, Members: 3, SampleRate: 0.5},
		{ClipNorm: 0, NoiseMultiplier: 1, Dimension: 10, MinMembers: 2, Members: 3},
		{ClipNorm: 1, NoiseMultiplier: 1, Dimension: 10, MinMembers: 4, Members: 3},
		{ClipNorm: 1, NoiseMultiplier: 0.1, Dimension: 10, MinMembers: 4, Members: 4}, // σ_i² < 1
		{ClipNorm: 1, NoiseMultiplier: 1, Dimension: 0, MinMembers: 1, Members: 1},
	} {
		if _, err := NewDistributedGaussianFromLiteral(lit); err == nil {
			t.Errorf("%+v accepted", lit)
		}
	}
	if _, err := g.Query(make([]int64, 100), 3); err == nil {
		t.Error("an aggregate of fewer than MinMembers shares accepted")
	}
}

// TestRoundsAllowed compares RoundsAllowed with a count round by round.
func TestRoundsAllowed(t *testing.T) {
	for _, z := range []float64{0.8, 2, 6} {
		g := testFederation(t, z)
		a := &BudgetAccounting{Total: 8 * MicroPerEpsilon, Delta: delta1e5, RDP: LaplaceRDP(300_000)}
		var k int64
		for acc := a.RDP; ; k++ {
			acc = acc.Add(g.RoundRDP())
			if eps, _, _ := acc.Epsilon(delta1e5); eps > a.Total {
				break
			}
		}
		if got := g.RoundsAllowed(a); got != k {
			t.Errorf("z=%g: RoundsAllowed = %d, counted %d", z, got, k)
		}
	}
	if g := testFederation(t, 2); g.RoundsAllowed(&BudgetAccounting{Total: MicroPerEpsilon}) != 0 {
		t.Error("a pure-ε budget admits rounds")
	}
}

// BenchmarkAddNoise times one member's share for a federation update
// (d = 2,400 coordinates, z = 1.1, C = 1, f = 16, 6 of 10 members).
func BenchmarkAddNoise(b *testing.B) {
	g, err := NewDistributedGaussianFromLiteral(DistributedGaussianLiteral{
		ClipNorm: 1, NoiseMultiplier: 1.1, FracBits: 16, Dimension: 2400, MinMembers: 6, Members: 10})
	if err != nil {
		b.Fatal(err)
	}
	x := make([]int64, 2400)
	for b.Loop() {
		if _, err := g.AddNoise(nil, x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2400, "ns/coordinate")
}
