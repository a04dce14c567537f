package dp

import (
	"math"
	"testing"
)

// epsilonAt is the accountant's (ε, δ) for steps of the subsampled Gaussian
// at any orders (in thousandths): the per-order RDP rounded up to
// micro-nats as SampledGaussianRDP does, then convertRDP. It lets a test use
// the order set of a published computation.
func epsilonAt(q, sigma float64, steps int64, delta PicoDelta, orders []int64) (MicroEpsilon, float64) {
	rdp := make([]int64, len(orders))
	for i, a := range orders {
		rdp[i] = toMicroNats(float64(steps) * sampledGaussianRDP(q, sigma, float64(a)/1000))
	}
	eps, i := convertRDP(rdp, orders, LogInvDeltaMicro(delta))
	return eps, float64(orders[i]) / 1000
}

// tfTutorialOrders is the order set of TensorFlow Privacy's MNIST DP-SGD
// tutorial (tutorials/mnist_dpsgd_tutorial.py, compute_epsilon):
// 1.1, 1.2, …, 10.9 and 12, 13, …, 63.
func tfTutorialOrders() []int64 {
	var out []int64
	for x := int64(1); x < 100; x++ {
		out = append(out, 1000+100*x)
	}
	for a := int64(12); a < 64; a++ {
		out = append(out, 1000*a)
	}
	return out
}

const delta1e5 PicoDelta = 10_000_000 // δ = 10^-5

// TestPublishedDPSGDMNIST checks the accountant against the figures
// published in TensorFlow Privacy's tutorial README (tutorials/README.md,
// "Expected Output" and the first row of "Select Parameters"): DP-SGD on
// MNIST with 60,000 examples, batches of 256 (q = 256/60000), noise
// multiplier 1.12, δ = 10^-5, steps = epochs·60000/256 (integer division, as
// the tutorial counts them), the tutorial's own order set and the RDP to
// (ε, δ) conversion of Mironov 2017, Proposition 3 (that of the tutorial's
// rdp_accountant.get_privacy_spent at the time): ε = 1.00 after 1 epoch,
// 1.04 after 2 and 2.92 after 60. The README prints two decimals, so the
// tolerance is half a unit of the last place plus the accountant's rounding
// up (at most one micro-nat per order and one micro-ε).
//
// (The README's "Expected Output" section names the tutorial's default noise
// multiplier 1.1, but its figures are those of 1.12, the multiplier in its
// table: 1.1 gives ε = 3.01 after 60 epochs, outside the tolerance, which the
// last case checks.)
func TestPublishedDPSGDMNIST(t *testing.T) {
	q := 256.0 / 60000
	for _, c := range []struct {
		epochs int64
		sigma  float64
		want   float64
	}{
		{1, 1.12, 1.00},
		{2, 1.12, 1.04},
		{60, 1.12, 2.92},
	} {
		steps := c.epochs * 60000 / 256
		got, order := epsilonAt(q, c.sigma, steps, delta1e5, tfTutorialOrders())
		if math.Abs(got.Float64()-c.want) > 0.005+2e-6 {
			t.Errorf("%d epochs, σ=%g: ε = %s at α = %g, published %.2f", c.epochs, c.sigma, got, order, c.want)
		}
	}
	if got, _ := epsilonAt(q, 1.1, 14062, delta1e5, tfTutorialOrders()); math.Abs(got.Float64()-2.92) <= 0.005 {
		t.Errorf("σ=1.1 gives ε = %s, expected it to differ from the σ=1.12 figure", got)
	}
	// The fixed order set has fewer orders than the tutorial's, so its ε is
	// at least as large, and here (optimum near α = 9, between 8 and 10) at
	// most 2% larger.
	r, err := SampledGaussianRDP(q, 1.12, 14062)
	if err != nil {
		t.Fatal(err)
	}
	got, order, err := r.Epsilon(delta1e5)
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Float64(); e < 2.92-0.005 || e > 2.92*1.02 {
		t.Errorf("fixed orders: ε = %s at α = %g, want within [2.915, %.4f]", got, order, 2.92*1.02)
	}
}

// TestPublishedMomentsAccountant checks the figure of Abadi et al., "Deep
// Learning with Differential Privacy", CCS 2016, Section 3.1 (after Theorem
// 1): q = 0.01, σ = 4, δ = 10^-5 and T = 10,000 steps give ε ≈ 1.26 with the
// moments accountant. The moments accountant at integer λ is RDP at order
// λ + 1 with the conversion of Mironov 2017, Proposition 3, and its optimum
// (α = 20) is in the fixed order set, so the fixed orders must reproduce it
// within the paper's two decimals.
func TestPublishedMomentsAccountant(t *testing.T) {
	r, err := SampledGaussianRDP(0.01, 4, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got, order, err := r.Epsilon(delta1e5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Float64()-1.26) > 0.005+2e-6 || order != 20 {
		t.Errorf("ε = %s at α = %g, published 1.26 (optimum at α = 20)", got, order)
	}
}

// TestGaussianClosedForm checks the Gaussian mechanism's RDP α/(2σ²)
// (Mironov 2017, Table II): the integer-order sum of Mironov, Talwar and
// Zhang at q = 1 must reduce to it, the fractional series must approach it
// as q → 1, and SampledGaussianRDP at q = 1 must record it rounded up.
func TestGaussianClosedForm(t *testing.T) {
	for _, sigma := range []float64{0.7, 1, 3.5} {
		for _, alpha := range []int{2, 3, 8, 32} {
			want := float64(alpha) / (2 * sigma * sigma)
			if got := logAInteger(1, sigma, alpha) / float64(alpha-1); math.Abs(got-want) > 1e-12*want {
				t.Errorf("σ=%g α=%d: integer sum at q=1 gives %g, want %g", sigma, alpha, got, want)
			}
		}
		for _, alpha := range []float64{1.5, 2.5, 6.5} {
			want := alpha / (2 * sigma * sigma)
			if got := sampledGaussianRDP(1-1e-9, sigma, alpha); math.Abs(got-want) > 1e-6*want {
				t.Errorf("σ=%g α=%g: fractional series at q→1 gives %g, want %g", sigma, alpha, got, want)
			}
		}
		r, err := SampledGaussianRDP(1, sigma, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i, alpha := range RDPOrders() {
			exact := 3 * alpha / (2 * sigma * sigma) * 1e6
			if v := float64(r[i]); v < exact || v > exact*(1+1e-8)+1 {
				t.Errorf("σ=%g α=%g: recorded %d micro-nats, exact %f", sigma, alpha, r[i], exact)
			}
		}
	}
}

// TestSampledGaussianReference checks both of Mironov, Talwar and Zhang's
// series against A_α computed from its definition,
//
//	A_α = E_{z∼N(0,σ²)} [((1−q) + q·exp((2z−1)/(2σ²)))^α],
//
// by numerical integration at 40 significant digits (mpmath.quad), which
// shares no code or formula with the series. The series may err upward by
// its tail allowance (about 10^-13 on A_α, so 10^-13/(α−1) on the RDP), and
// otherwise agree to a relative 10^-10.
func TestSampledGaussianReference(t *testing.T) {
	for _, c := range []struct{ q, sigma, alpha, want float64 }{
		{256.0 / 60000, 1.12, 1.25, 1.3798661265467465e-5},
		{256.0 / 60000, 1.12, 1.5, 1.658786606731e-5},
		{256.0 / 60000, 1.12, 2.5, 2.7846157648234738e-5},
		{256.0 / 60000, 1.12, 8, 9.2970894827585323e-5},
		{256.0 / 60000, 1.12, 9.1, 0.00010673373913405201},
		{256.0 / 60000, 1.12, 32, 7.1221498938163754},
		{0.01, 4, 20, 6.5263129572803867e-5},
		{0.1, 0.8, 1.75, 0.029520687928979875},
		{0.1, 0.8, 3, 0.095058539076152878},
		{0.1, 0.8, 64, 47.660865937275885},
		{0.01, 2, 256, 27.376770323086465},
		{0.05, 1, 10.5, 1.940517089687803},
		{0.5, 5, 2.5, 0.01275302543498481},
		{0.0001, 0.4, 1.5, 2.9733101260693105e-6},
	} {
		got := sampledGaussianRDP(c.q, c.sigma, c.alpha)
		if got < c.want*(1-1e-10) || got > c.want*(1+1e-10)+2e-13/(c.alpha-1) {
			t.Errorf("q=%g σ=%g α=%g: RDP %.17g, reference %.17g", c.q, c.sigma, c.alpha, got, c.want)
		}
	}
}

// gaussianDelta is the exact δ(ε) of the Gaussian mechanism with ℓ2
// sensitivity 1 and noise σ (Balle and Wang, "Improving the Gaussian
// Mechanism for Differential Privacy", ICML 2018, Theorem 8):
// Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ).
func gaussianDelta(sigma, eps float64) float64 {
	phi := func(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
	return phi(1/(2*sigma)-eps*sigma) - math.Exp(eps)*phi(-1/(2*sigma)-eps*sigma)
}

// TestGaussianAboveAnalyticBound checks that the accountant's ε for one
// Gaussian release is never below the exact ε of Balle and Wang 2018 at the
// same σ and δ (an RDP conversion is an upper bound; one below the exact
// value would under-count), and within twice it (the conversion is loosest
// at small ε: 1.57 times at σ = 20).
func TestGaussianAboveAnalyticBound(t *testing.T) {
	for _, sigma := range []float64{0.5, 1, 2, 5, 20} {
		lo, hi := 0.0, 100.0 // δ(ε) decreases in ε: bisect for δ(ε) = 10^-5
		for range 200 {
			mid := (lo + hi) / 2
			if gaussianDelta(sigma, mid) > 1e-5 {
				lo = mid
			} else {
				hi = mid
			}
		}
		r, err := SampledGaussianRDP(1, sigma, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := r.Epsilon(delta1e5)
		if err != nil {
			t.Fatal(err)
		}
		if e := got.Float64(); e < hi || e > 2*hi {
			t.Errorf("σ=%g: RDP gives ε = %s, exact ε = %.6f", sigma, got, hi)
		}
	}
}

// TestSampledGaussianMonotone checks at every order that the RDP grows with
// the sampling rate and shrinks with the noise multiplier.
func TestSampledGaussianMonotone(t *testing.T) {
	prev := RDP{}
	for _, q := range []float64{1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 1} {
		r, err := SampledGaussianRDP(q, 1.5, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !prev.LessEq(r) {
			t.Errorf("q=%g: %v not above %v", q, r, prev)
		}
		prev = r
	}
	for _, sigma := range []float64{0.5, 1, 2, 8} {
		r, err := SampledGaussianRDP(0.05, sigma, 1)
		if err != nil {
			t.Fatal(err)
		}
		if sigma > 0.5 && !r.LessEq(prev) {
			t.Errorf("σ=%g: %v not below %v", sigma, r, prev)
		}
		prev = r
	}
}

func TestSampledGaussianRejects(t *testing.T) {
	for _, c := range []struct {
		q, sigma float64
		steps    int64
	}{
		{0, 1, 1}, {1.5, 1, 1}, {math.NaN(), 1, 1}, {0.1, 0, 1}, {0.1, math.Inf(1), 1},
		{0.1, math.NaN(), 1}, {0.1, 1, 0}, {0.1, 1, MaxSteps + 1},
	} {
		if _, err := SampledGaussianRDP(c.q, c.sigma, c.steps); err == nil {
			t.Errorf("q=%g σ=%g steps=%d accepted", c.q, c.sigma, c.steps)
		}
	}
}

// TestLaplaceRDP checks min(ε, α·ε²/2) (Bun and Steinke 2016, Proposition
// 3.3, and ε-DP ⇒ (α, ε)-RDP).
func TestLaplaceRDP(t *testing.T) {
	r := LaplaceRDP(100_000) // ε = 0.1: α·0.005 below 0.1 up to α = 20
	for i, alpha := range RDPOrders() {
		want := min(100_000, int64(math.Ceil(alpha*0.005*1e6*rdpSafety)))
		if r[i] != want {
			t.Errorf("ε=0.1 α=%g: %d micro-nats, want %d", alpha, r[i], want)
		}
	}
	if r := LaplaceRDP(2 * MicroPerEpsilon); r[0] != 2*int64(MicroPerEpsilon) || r[NumRDPOrders-1] != 2*int64(MicroPerEpsilon) {
		t.Errorf("ε=2: %v, want ε at every order", r)
	}
}

// TestConvertRDP checks the integer conversion by hand: with ln(1/δ) = 10^6
// micro-nats (exactly, as a constant), orders 1.25, 2 and 11 add
// ⌈4·10^6⌉, 10^6 and 10^5; the minimum of rdp + those is taken.
func TestConvertRDP(t *testing.T) {
	orders := []int64{1250, 2000, 11000}
	for _, c := range []struct {
		rdp  []int64
		want MicroEpsilon
		at   int
	}{
		{[]int64{0, 0, 0}, 100_000, 2},
		{[]int64{0, 0, 5_000_000}, 1_000_000, 1},
		{[]int64{1, 3_500_000, 5_000_000}, 4_000_001, 0},
		{[]int64{MaxRDPMicro, MaxRDPMicro, MaxRDPMicro}, MicroEpsilon(MaxRDPMicro), 0},
	} {
		got, at := convertRDP(c.rdp, orders, 1_000_000)
		if got != c.want || at != c.at {
			t.Errorf("%v: ε = %d at %d, want %d at %d", c.rdp, got, at, c.want, c.at)
		}
	}
	// ⌈10^6/(α−1)⌉ rounds up: at α = 4, ⌈10^6/3⌉ = 333334.
	if got, _ := convertRDP([]int64{0}, []int64{4000}, 1_000_000); got != 333_334 {
		t.Errorf("α=4: %d, want 333334", got)
	}
}

func TestLogInvDelta(t *testing.T) {
	// ln(10^5) = 11.512925464970229: ⌈11512925.46…⌉ + 1.
	if got := LogInvDeltaMicro(delta1e5); got != 11_512_927 {
		t.Errorf("δ=1e-5: %d, want 11512927", got)
	}
	for _, d := range []PicoDelta{0, -1, MaxDelta + 1} {
		if err := CheckDelta(d); err == nil {
			t.Errorf("δ=%d accepted", d)
		}
		if _, _, err := (RDP{}).Epsilon(d); err == nil {
			t.Errorf("Epsilon at δ=%d accepted", d)
		}
	}
}

func TestRDPSaturates(t *testing.T) {
	var big RDP
	for i := range big {
		big[i] = MaxRDPMicro - 1
	}
	if s := big.Add(big); s[0] != MaxRDPMicro {
		t.Errorf("Add: %d, want saturation", s[0])
	}
	if s := big.Times(3); s[0] != MaxRDPMicro {
		t.Errorf("Times: %d, want saturation", s[0])
	}
	one := RDP{0: 7}
	if s := one.Times(3); s[0] != 21 || s[1] != 0 {
		t.Errorf("Times(3) of 7: %v", s)
	}
	if toMicroNats(math.Inf(1)) != MaxRDPMicro || toMicroNats(math.NaN()) != MaxRDPMicro {
		t.Error("no bound must saturate")
	}
}
