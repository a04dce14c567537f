package dp

import (
	"fmt"
	"math"
	"strconv"
)

// NumRDPOrders is the number of Rényi orders the accountant tracks.
const NumRDPOrders = 20

// rdpOrdersMilli is the fixed set of Rényi orders α, in thousandths (1250 is
// α = 1.25). Small orders (down to 1.25) serve long compositions and small
// budgets, where the optimum α of the (ε, δ) conversion is close to 1; large
// orders (up to 256) serve short compositions and small δ, where
// log(1/δ)/(α−1) dominates. The set is the DP-SGD accountants' usual range
// (TensorFlow Privacy's and Opacus's defaults span 1.25 … 256 or more) thinned
// to 20 orders so that a ledger entry stays small. Thousandths keep the
// conversion in integers. The ledger records the orders in each (ε, δ)
// budget's creation entry.
var rdpOrdersMilli = [NumRDPOrders]int64{
	1250, 1500, 1750, 2000, 2500, 3000, 4000, 5000, 6000, 8000,
	10000, 12000, 16000, 20000, 24000, 32000, 48000, 64000, 128000, 256000,
}

// RDPOrders returns the Rényi orders α of [RDP], in order.
func RDPOrders() [NumRDPOrders]float64 {
	var out [NumRDPOrders]float64
	for i, a := range rdpOrdersMilli {
		out[i] = float64(a) / 1000
	}
	return out
}

// MaxRDPMicro is the largest RDP value the accountant stores, in micro-nats
// (10^9 nats). A value at or above it means "no bound at this order": sums
// saturate there, and such an order converts to an ε far above
// [MaxEpsilon], so it never admits a release.
const MaxRDPMicro int64 = 1_000_000_000_000_000

// RDP is a privacy loss in Rényi differential privacy (Mironov, "Rényi
// Differential Privacy", CSF 2017, Definition 4): element i is ε(α) at order
// α = [RDPOrders]()[i], in integer micro-nats (10^-6 of the natural-log unit),
// rounded up and saturated at [MaxRDPMicro]. RDP composes by addition at each
// order (Mironov 2017, Proposition 1), which [RDP.Add] does exactly.
type RDP [NumRDPOrders]int64

// Add returns the composition of r and o: their sum at each order,
// saturating at MaxRDPMicro.
func (r RDP) Add(o RDP) RDP {
	var out RDP
	for i := range r {
		out[i] = satAdd(r[i], o[i])
	}
	return out
}

// Times returns the composition of k copies of r (k ≥ 0), saturating at
// MaxRDPMicro.
func (r RDP) Times(k int64) RDP {
	var out RDP
	for i, v := range r {
		switch {
		case k <= 0 || v == 0:
		case v >= MaxRDPMicro/k:
			out[i] = MaxRDPMicro
		default:
			out[i] = min(v*k, MaxRDPMicro)
		}
	}
	return out
}

// LessEq reports whether r ≤ o at every order.
func (r RDP) LessEq(o RDP) bool {
	for i := range r {
		if r[i] > o[i] {
			return false
		}
	}
	return true
}

func satAdd(a, b int64) int64 {
	if a >= MaxRDPMicro-b {
		return MaxRDPMicro
	}
	return a + b
}

// Epsilon converts r to (ε, δ)-DP at δ = delta: the smallest over the
// orders of ε(α) + log(1/δ)/(α−1) (Mironov 2017, Proposition 3), rounded up
// to micro-ε, and the order that attains it. It computes in integers from
// the conversion constant [LogInvDeltaMicro]. It fails only for a δ that
// [CheckDelta] refuses.
func (r RDP) Epsilon(delta PicoDelta) (MicroEpsilon, float64, error) {
	if err := CheckDelta(delta); err != nil {
		return 0, 0, err
	}
	eps, i := convertRDP(r[:], rdpOrdersMilli[:], LogInvDeltaMicro(delta))
	return eps, float64(rdpOrdersMilli[i]) / 1000, nil
}

// convertRDP is [RDP.Epsilon] over any orders (in thousandths, each > 1000)
// and a conversion constant logInv = ⌈10^6 · log(1/δ)⌉: it returns
// min_i rdp[i] + ⌈logInv · 1000 / (orders[i] − 1000)⌉ and the index i.
// The verifier uses it with the orders recorded in a budget's entry.
func convertRDP(rdp []int64, orders []int64, logInv int64) (MicroEpsilon, int) {
	best, at := int64(math.MaxInt64), 0
	for i, a := range orders {
		d := a - 1000
		term := (logInv*1000 + d - 1) / d // ⌈logInv/(α−1)⌉, α−1 = d/1000
		if e := satAdd(rdp[i], term); e < best {
			best, at = e, i
		}
	}
	return MicroEpsilon(best), at
}

// PicoDelta is the δ of (ε, δ)-differential privacy in units of 10^-12:
// 10_000_000 is δ = 10^-5. Zero means pure ε-DP.
type PicoDelta int64

// PicoPerUnit is the number of PicoDelta in δ = 1.
const PicoPerUnit PicoDelta = 1_000_000_000_000

// MaxDelta bounds a budget's δ (10^-2: a δ above the inverse of the number
// of records protects no one; 10^-2 is already far beyond that).
const MaxDelta PicoDelta = PicoPerUnit / 100

// Float64 returns δ as a float64.
func (d PicoDelta) Float64() float64 { return float64(d) / float64(PicoPerUnit) }

// String formats δ as a decimal in exponent form ("1e-05").
func (d PicoDelta) String() string { return strconv.FormatFloat(d.Float64(), 'g', -1, 64) }

// CheckDelta reports whether d is a valid δ for an (ε, δ) budget: in
// (0, MaxDelta].
func CheckDelta(d PicoDelta) error {
	if d <= 0 || d > MaxDelta {
		return specErr("delta", "must be in (0, %s]", MaxDelta)
	}
	return nil
}

// LogInvDeltaMicro returns the conversion constant of δ: ⌈10^6 · ln(1/δ)⌉
// plus one micro-nat, which covers the floating-point error of the
// logarithm, so that the constant is never below the exact value. An (ε, δ)
// budget's creation entry records it, and every conversion at that budget
// uses the recorded integer.
func LogInvDeltaMicro(d PicoDelta) int64 {
	// ln(1/δ) = 12·ln 10 − ln(d) for δ = d·10^-12.
	v := 1e6 * (12*math.Ln10 - math.Log(float64(d)))
	return int64(math.Ceil(v)) + 1
}

// RDP of mechanisms. Each is computed in float64 at every order, multiplied
// by (1 + 10^-9) against rounding error, and rounded up to micro-nats, so
// the accountant never records less than the true value.

// rdpSafety is the relative margin added to a float64 RDP before rounding up.
const rdpSafety = 1 + 1e-9

// toMicroNats rounds an RDP value in nats up to micro-nats, saturating;
// NaN or +Inf (no bound) give MaxRDPMicro.
func toMicroNats(nats float64) int64 {
	v := math.Ceil(nats * 1e6 * rdpSafety)
	if !(v < float64(MaxRDPMicro)) { // also NaN
		return MaxRDPMicro
	}
	if v < 0 {
		return 0
	}
	return int64(v)
}

// Limits on the parameters of a Gaussian release.
const (
	MinNoiseMultiplier = 0.01
	MaxNoiseMultiplier = 1e6
	MaxSteps           = 1_000_000_000
)

// checkGaussian validates a noise multiplier σ, a sampling rate q and a
// number of steps.
func checkGaussian(sigma, q float64, steps int64) error {
	if !(sigma >= MinNoiseMultiplier && sigma <= MaxNoiseMultiplier) {
		return specErr("noise_multiplier", "must be in [%g, %g]", MinNoiseMultiplier, MaxNoiseMultiplier)
	}
	if !(q > 0 && q <= 1) {
		return specErr("sample_rate", "must be in (0, 1]")
	}
	if steps < 1 || steps > MaxSteps {
		return specErr("steps", "must be in [1, %d]", MaxSteps)
	}
	return nil
}

// SampledGaussianRDP returns the RDP of steps compositions of the Poisson
// subsampled Gaussian mechanism: each record is included independently with
// probability q, the ℓ2 sensitivity of the sum is 1 (contributions clipped
// to norm C, noise of standard deviation σ·C), and σ is the noise
// multiplier. For q = 1 it is the Gaussian mechanism, α/(2σ²) at order α
// (Mironov 2017, Table II); for q < 1 it is the exact RDP of Mironov, Talwar
// and Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
// 2019, Section 3.3 (see sampledGaussianRDP). Each order's value for one
// step is multiplied by steps before it is rounded up.
func SampledGaussianRDP(q, sigma float64, steps int64) (RDP, error) {
	if err := checkGaussian(sigma, q, steps); err != nil {
		return RDP{}, err
	}
	var out RDP
	for i, a := range rdpOrdersMilli {
		out[i] = toMicroNats(float64(steps) * sampledGaussianRDP(q, sigma, float64(a)/1000))
	}
	return out, nil
}

// LaplaceRDP returns an RDP bound for a pure ε-DP release (a [Laplace] or
// [Aggregate] query): min(ε, α·ε²/2) at order α. An ε-DP mechanism has
// Rényi divergence at most ε at every order (ε-DP is (∞, ε)-RDP and the
// Rényi divergence is non-decreasing in α; Mironov 2017, Section III), and
// it is (ε²/2)-zero-concentrated DP (Bun and Steinke, "Concentrated
// Differential Privacy: Simplifications, Extensions, and Lower Bounds", TCC
// 2016, Proposition 3.3), that is (α, α·ε²/2)-RDP at every α. The tighter
// closed form of the continuous Laplace mechanism (Mironov 2017, Table II)
// does not apply: the noise is the library's discrete (two-sided geometric)
// Laplace.
func LaplaceRDP(eps MicroEpsilon) RDP {
	var out RDP
	e := eps.Float64()
	for i, a := range rdpOrdersMilli {
		zcdp := toMicroNats(float64(a) / 1000 * e * e / 2)
		out[i] = min(int64(eps), zcdp)
	}
	return out
}

// sampledGaussianRDP is the RDP at order α > 1 of one step of the Poisson
// subsampled Gaussian mechanism with sampling rate q ∈ (0, 1] and noise
// multiplier σ, in nats, or +Inf where the computation does not give a
// trustworthy bound. It is log(A_α)/(α−1), where A_α is the α-th moment of
// the privacy loss (Mironov, Talwar and Zhang 2019, Section 3.3).
func sampledGaussianRDP(q, sigma, alpha float64) float64 {
	if q == 1 {
		return alpha / (2 * sigma * sigma)
	}
	var logA float64
	if alpha == math.Trunc(alpha) {
		logA = logAInteger(q, sigma, int(alpha))
	} else {
		logA = logAFractional(q, sigma, alpha)
	}
	return max(logA, 0) / (alpha - 1)
}

// logAInteger is log A_α for an integer order α ≥ 2 (Mironov, Talwar and
// Zhang 2019, Section 3.3, integer α):
//
//	A_α = Σ_{k=0..α} C(α, k) (1−q)^{α−k} q^k exp((k²−k)/(2σ²)),
//
// summed in log space; every term is positive.
func logAInteger(q, sigma float64, alpha int) float64 {
	logA := math.Inf(-1)
	lq, l1q := math.Log(q), math.Log1p(-q)
	for k := 0; k <= alpha; k++ {
		t := logBinomial(float64(alpha), float64(k)) + float64(k)*lq + float64(k*k-k)/(2*sigma*sigma)
		if alpha > k {
			t += float64(alpha-k) * l1q
		}
		logA = logAddExp(logA, t)
	}
	return logA
}

// logAFractional is log A_α for a fractional order α > 1 (Mironov, Talwar
// and Zhang 2019, Section 3.3, fractional α): with z₀ = σ²·log(1/q − 1) + 1/2,
// A_α = A₀ + A₁ where
//
//	A₀ = Σ_{i≥0} C(α, i) q^i (1−q)^{α−i} exp((i²−i)/(2σ²)) · ½ erfc((i − z₀)/(√2 σ))
//	A₁ = Σ_{i≥0} C(α, i) q^{α−i} (1−q)^i exp(((α−i)²−(α−i))/(2σ²)) · ½ erfc((z₀ − (α−i))/(√2 σ))
//
// with the generalised binomial coefficient C(α, i), whose sign alternates
// for i > α + 1. Positive and negative terms are summed apart in log space.
// The series stops, as TensorFlow Privacy's does, at the first i > α where
// both terms are below e^-30; from there on the terms alternate in sign and
// shrink, so the tail is at most the last term's magnitude, which is added
// to the sum: the result errs upward, by at most about 10^-13 relative to
// A_α ≥ 1. A series that does not settle within 10,000 terms, or whose
// negative part is not below its positive part, gives +Inf.
func logAFractional(q, sigma, alpha float64) float64 {
	pos, neg := math.Inf(-1), math.Inf(-1)
	lq, l1q := math.Log(q), math.Log1p(-q)
	z0 := sigma*sigma*(math.Log(1/q-1)) + 0.5
	s2 := 2 * sigma * sigma
	for i := 0.0; i < 10000; i++ {
		j := alpha - i
		lc, sign := logBinomialSigned(alpha, i)
		s0 := lc + i*lq + j*l1q + (i*i-i)/s2 + math.Log(0.5) + logErfc((i-z0)/(math.Sqrt2*sigma))
		s1 := lc + j*lq + i*l1q + (j*j-j)/s2 + math.Log(0.5) + logErfc((z0-j)/(math.Sqrt2*sigma))
		term := logAddExp(s0, s1)
		if sign > 0 {
			pos = logAddExp(pos, term)
		} else {
			neg = logAddExp(neg, term)
		}
		if i > alpha && max(s0, s1) < -30 {
			pos = logAddExp(pos, term) // the tail allowance
			if neg >= pos {
				return math.Inf(1)
			}
			return pos + math.Log1p(-math.Exp(neg-pos))
		}
	}
	return math.Inf(1)
}

// logBinomial is log C(n, k) for 0 ≤ k ≤ n.
func logBinomial(n, k float64) float64 {
	l, _ := logBinomialSigned(n, k)
	return l
}

// logBinomialSigned returns log |C(α, i)| and the sign of the generalised
// binomial coefficient C(α, i) = Γ(α+1) / (Γ(i+1) Γ(α−i+1)) for real α > 0
// and integer i ≥ 0. Where α − i + 1 is a non-positive integer (only for an
// integer α < i) the coefficient is 0: log −Inf, sign +1.
func logBinomialSigned(alpha, i float64) (float64, int) {
	if x := alpha - i + 1; x <= 0 && x == math.Trunc(x) {
		return math.Inf(-1), 1
	}
	la, sa := math.Lgamma(alpha + 1)
	li, _ := math.Lgamma(i + 1)
	lj, sj := math.Lgamma(alpha - i + 1)
	return la - li - lj, sa * sj
}

// logAddExp returns log(e^a + e^b).
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// logErfc returns log(erfc(x)), by the asymptotic expansion
// erfc(x) ≈ e^{−x²}/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)) where erfc
// underflows (x > 25; the first omitted term is below 10^-10 there).
func logErfc(x float64) float64 {
	if x <= 25 {
		return math.Log(math.Erfc(x))
	}
	x2 := x * x
	return -x2 - math.Log(x) - 0.5*math.Log(math.Pi) + math.Log1p(-1/(2*x2)+3/(4*x2*x2)-15/(8*x2*x2*x2))
}

// String formats r as "α:ε(α)" pairs in nats, for messages.
func (r RDP) String() string {
	s := ""
	for i, v := range r {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%g:%s", float64(rdpOrdersMilli[i])/1000, MicroEpsilon(v))
	}
	return s
}
