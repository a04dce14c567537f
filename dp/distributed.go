package dp

import (
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"math/big"
)

// MechanismDistributedGaussian names, in ledger entries, the release of an
// aggregate that its contributors noised with discrete Gaussian shares.
const MechanismDistributedGaussian = "distributed-gaussian"

// DistributedGaussianLiteral declares the record-level DP of a federation's
// rounds under distributed noise: in every round each member clips every
// record's contribution to ℓ2 norm ClipNorm, sums them, encodes the sum in
// fixed point (round(x·2^FracBits) per coordinate), adds its share of
// discrete Gaussian noise ([DistributedGaussian.AddNoise]) and secret-shares
// the result; the aggregate of at least MinMembers such vectors is
// reconstructed and released through [Ledger.Release].
type DistributedGaussianLiteral struct {
	// ClipNorm is the ℓ2 bound C on one record's contribution, in real units.
	ClipNorm float64
	// NoiseMultiplier z sets the noise of an aggregate of MinMembers shares:
	// standard deviation z·C (in real units).
	NoiseMultiplier float64
	// FracBits is the fixed-point precision f of the encoded vectors.
	FracBits int
	// Dimension is the number d of coordinates.
	Dimension int
	// MinMembers is the fewest members a round may complete with (the
	// threshold t); each member's share is sized so that MinMembers shares
	// carry the full noise. Members is the size of the federation.
	MinMembers, Members int
	// SampleRate must be 1: every member uses all its records in every
	// round (see the package doc on why no amplification by subsampling is
	// claimed for distributed noise). Zero means 1.
	SampleRate float64
}

// DistributedGaussian is a validated [DistributedGaussianLiteral]. It is
// immutable.
type DistributedGaussian struct {
	lit    DistributedGaussianLiteral
	scale  float64 // 2^f
	sigma2 float64 // one member's noise variance, fixed-point units²
	delta2 float64 // ℓ2 sensitivity of the fixed-point sum
	round  RDP     // one round
}

// NewDistributedGaussianFromLiteral validates lit once and computes the RDP
// of one round.
func NewDistributedGaussianFromLiteral(lit DistributedGaussianLiteral) (*DistributedGaussian, error) {
	if !(lit.ClipNorm > 0 && lit.ClipNorm <= 1e6) {
		return nil, specErr("clip_norm", "must be in (0, 1e6]")
	}
	if !(lit.NoiseMultiplier >= MinNoiseMultiplier && lit.NoiseMultiplier <= MaxNoiseMultiplier) {
		return nil, specErr("noise_multiplier", "must be in [%g, %g]", MinNoiseMultiplier, MaxNoiseMultiplier)
	}
	if lit.FracBits < 0 || lit.FracBits > MaxFracBits {
		return nil, specErr("frac_bits", "must be in [0, %d]", MaxFracBits)
	}
	if lit.Dimension < 1 || lit.Dimension > maxDim {
		return nil, specErr("dimension", "must be in [1, %d]", maxDim)
	}
	if lit.MinMembers < 1 || lit.Members < lit.MinMembers || lit.Members > 1<<16 {
		return nil, specErr("members", "need 1 ≤ min_members ≤ members ≤ 65536")
	}
	if lit.SampleRate == 0 {
		lit.SampleRate = 1
	}
	if lit.SampleRate != 1 {
		return nil, specErr("sample_rate", "must be 1: no amplification by subsampling is claimed for distributed discrete Gaussian noise")
	}
	g := &DistributedGaussian{lit: lit, scale: math.Ldexp(1, lit.FracBits)}
	sd := lit.NoiseMultiplier * lit.ClipNorm * g.scale // of MinMembers shares together
	// Rounded up, so that MinMembers shares carry at least sd².
	g.sigma2 = math.Nextafter(sd*sd/float64(lit.MinMembers), math.Inf(1))
	if !(g.sigma2 >= 1 && g.sigma2 <= 1<<100) {
		return nil, specErr("noise_multiplier", "each member's noise variance must be in [1, 2^100] fixed-point units²; adjust frac_bits")
	}
	// One record moves a member's real sum by at most C in ℓ2; fixed-point
	// rounding moves each coordinate of the encoded sum by less than 1 more
	// (both sums are rounded), so the ℓ2 sensitivity is below C·2^f + √d.
	g.delta2 = lit.ClipNorm*g.scale + math.Sqrt(float64(lit.Dimension))
	eps := g.zcdpEpsilon()
	for i, a := range rdpOrdersMilli {
		g.round[i] = toMicroNats(float64(a) / 1000 * eps * eps / 2)
	}
	return g, nil
}

// zcdpEpsilon is the ε of Kairouz, Liu and Steinke, "The Distributed
// Discrete Gaussian Mechanism for Federated Learning with Secure
// Aggregation", ICML 2021, Theorem 1: the sum Z_n of n independent d-dimensional
// discrete Gaussians N_Z(0, σ²)^d (σ ≥ 1/2) satisfies, for every integer
// shift Δ, D_α(Z_n ‖ Z_n + Δ) ≤ α·ε²/2 with
//
//	ε = min{ √(‖Δ‖₂²/(nσ²) + τ·d/2),  ‖Δ‖₂/(√n·σ) + τ·√d },
//	τ = 10 · Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)).
//
// The main terms shrink and τ grows with n, so ε is bounded by taking
// n = MinMembers in the main terms and n = Members in τ.
func (g *DistributedGaussian) zcdpEpsilon() float64 {
	var tau float64
	for k := 1; k < g.lit.Members; k++ {
		tau += math.Exp(-2 * math.Pi * math.Pi * g.sigma2 * float64(k) / float64(k+1))
	}
	tau *= 10
	n, d := float64(g.lit.MinMembers), float64(g.lit.Dimension)
	a := math.Sqrt(g.delta2*g.delta2/(n*g.sigma2) + tau*d/2)
	b := g.delta2/math.Sqrt(n*g.sigma2) + tau*math.Sqrt(d)
	return min(a, b)
}

// MemberSigma2 returns the variance σ_i² of one member's discrete Gaussian
// noise per coordinate, in fixed-point units²: (z·C·2^f)²/MinMembers,
// rounded up.
func (g *DistributedGaussian) MemberSigma2() float64 { return g.sigma2 }

// RoundRDP returns the RDP of one round, as [Ledger.Release] debits it.
func (g *DistributedGaussian) RoundRDP() RDP { return g.round }

// RoundsAllowed returns how many more rounds the budget a admits: the
// largest k such that a.RDP plus k rounds converts to at most a.Total at
// a.Delta, exactly as the ledger will compose them (per-round RDP, rounded
// up, added k times). It is 0 for a pure-ε budget.
func (g *DistributedGaussian) RoundsAllowed(a *BudgetAccounting) int64 {
	if _, ok := a.Admits(g.round); !ok {
		return 0
	}
	lo, hi := int64(1), int64(2)
	for hi < MaxSteps {
		if _, ok := a.Admits(g.round.Times(hi)); !ok {
			break
		}
		lo, hi = hi, 2*hi
	}
	for hi-lo > 1 { // lo admitted, hi not (or the cap)
		mid := lo + (hi-lo)/2
		if _, ok := a.Admits(g.round.Times(mid)); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// AddNoise returns x with independent discrete Gaussian noise of variance
// MemberSigma2 added to each coordinate: one member's share of the noise,
// drawn from rnd (crypto/rand when nil) by [SampleDiscreteGaussian].
func (g *DistributedGaussian) AddNoise(rnd io.Reader, x []int64) ([]int64, error) {
	if len(x) != g.lit.Dimension {
		return nil, specErr("values", "have %d coordinates, want %d", len(x), g.lit.Dimension)
	}
	return AddDiscreteGaussian(rnd, x, g.sigma2)
}

// Query binds the reconstructed aggregate of members (≥ MinMembers) noised
// vectors, in fixed point, to its release. The values are released as they
// are (scaled by 2^-f): the noise is already in them.
func (g *DistributedGaussian) Query(aggregate []int64, members int) (Query, error) {
	if len(aggregate) != g.lit.Dimension {
		return nil, specErr("values", "have %d coordinates, want %d", len(aggregate), g.lit.Dimension)
	}
	if members < g.lit.MinMembers || members > g.lit.Members {
		return nil, specErr("members", "%d contributions, want %d to %d", members, g.lit.MinMembers, g.lit.Members)
	}
	return &distributedQuery{g: g, agg: append([]int64(nil), aggregate...), members: members}, nil
}

type distributedQuery struct {
	g       *DistributedGaussian
	agg     []int64
	members int
}

var _ rdpQuery = (*distributedQuery)(nil)

// Epsilon is 0: the release's cost is its RDP, converted at the budget's δ.
func (q *distributedQuery) Epsilon() MicroEpsilon { return 0 }
func (q *distributedQuery) Mechanism() string     { return MechanismDistributedGaussian }
func (q *distributedQuery) Dimension() int        { return len(q.agg) }
func (q *distributedQuery) Sensitivity() Sensitivity {
	return Sensitivity{L0: int64(len(q.agg)), LInf: int64(math.Ceil(q.g.delta2)), FracBits: int64(q.g.lit.FracBits)}
}
func (q *distributedQuery) rdp() RDP { return q.g.round }
func (q *distributedQuery) params() gaussianParams {
	return gaussianParams{noiseMultiplier: int64(q.g.lit.NoiseMultiplier * 1e6), sampleRate: 1_000_000_000, steps: 1,
		noiseShares: int64(q.g.lit.MinMembers)}
}

// z975 is the 0.975 quantile of the standard normal distribution.
const z975 = 1.959963984540054

// release returns the aggregate with the 95% interval of the noise that
// members shares of variance MemberSigma2 carry (normal approximation).
func (q *distributedQuery) release() (*Result, error) {
	half := z975 * math.Sqrt(float64(q.members)*q.g.sigma2) / q.g.scale
	res := &Result{Mechanism: MechanismDistributedGaussian, Values: make([]float64, len(q.agg)), CI: make([]Interval, len(q.agg))}
	for i, v := range q.agg {
		x := float64(v) / q.g.scale
		res.Values[i], res.CI[i] = x, Interval{Lower: x - half, Upper: x + half}
	}
	return res, nil
}

// AddDiscreteGaussian returns x with independent discrete Gaussian noise
// N_Z(0, sigma2) added to each coordinate, drawn from rnd (crypto/rand when
// nil) by [SampleDiscreteGaussian]. It fails on a sum that overflows int64.
func AddDiscreteGaussian(rnd io.Reader, x []int64, sigma2 float64) ([]int64, error) {
	if !(sigma2 > 0 && sigma2 <= 1<<100) {
		return nil, specErr("sigma2", "must be in (0, 2^100]")
	}
	s := new(big.Rat).SetFloat64(sigma2) // exact
	out := make([]int64, len(x))
	for i, v := range x {
		n, err := SampleDiscreteGaussian(rnd, s)
		if err != nil {
			return nil, err
		}
		if (n > 0 && v > math.MaxInt64-n) || (n < 0 && v < math.MinInt64-n) {
			return nil, specErr("values", "coordinate %d overflows with its noise", i)
		}
		out[i] = v + n
	}
	return out, nil
}

// SampleDiscreteGaussian draws one sample of the discrete Gaussian
// N_Z(0, σ²), P[Y = y] ∝ exp(−y²/(2σ²)) over the integers, for a rational
// σ² > 0, exactly: Canonne, Kamath and Steinke, "The Discrete Gaussian for
// Differential Privacy", NeurIPS 2020, Algorithm 1 (rejection from a
// discrete Laplace of scale t = ⌊σ⌋ + 1), with every Bernoulli trial drawn
// in exact rational arithmetic from uniform integers read from rnd
// (crypto/rand when nil). The running time varies with the draws, which do
// not depend on the data.
func SampleDiscreteGaussian(rnd io.Reader, sigma2 *big.Rat) (int64, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if sigma2 == nil || sigma2.Sign() <= 0 {
		return 0, specErr("sigma2", "must be positive")
	}
	// t = ⌊σ⌋ + 1 = ⌊√⌊σ²⌋⌋ + 1.
	fl := new(big.Int).Quo(sigma2.Num(), sigma2.Denom())
	t := new(big.Int).Add(new(big.Int).Sqrt(fl), big.NewInt(1))
	if !t.IsInt64() || t.Int64() > 1<<50 {
		return 0, specErr("sigma2", "too large")
	}
	tr := new(big.Rat).SetInt(t)
	s := sampler{rnd: rnd}
	sigma2OverT := new(big.Rat).Quo(sigma2, tr)
	twoSigma2 := new(big.Rat).Add(sigma2, sigma2)
	for {
		// Steps 3–4: U uniform in [0, t), accepted with probability e^{−U/t}.
		u, err := rand.Int(rnd, t)
		if err != nil {
			return 0, fmt.Errorf("dp: discrete Gaussian: %w", err)
		}
		d, err := s.bernoulliExp(new(big.Rat).SetFrac(u, t))
		if err != nil || !d {
			if err != nil {
				return 0, err
			}
			continue
		}
		// Steps 5–8: V geometric with parameter 1 − e^{−1}; X = U + t·V is
		// then geometric with parameter 1 − e^{−1/t}.
		v := int64(0)
		for {
			a, err := s.bernoulliExp(big.NewRat(1, 1))
			if err != nil {
				return 0, err
			}
			if !a {
				break
			}
			v++
		}
		x := new(big.Int).Add(u, new(big.Int).Mul(t, big.NewInt(v)))
		if !x.IsInt64() { // needs V > 2^13: probability below e^-8000
			continue
		}
		// Steps 9–11: a random sign, rejecting −0, gives a discrete Laplace
		// sample Y of scale t.
		b, err := s.bernoulli(big.NewRat(1, 2))
		if err != nil {
			return 0, err
		}
		if b && x.Sign() == 0 {
			continue
		}
		// Steps 12–13: accept Y with probability exp(−(|Y| − σ²/t)²/(2σ²)).
		g := new(big.Rat).Sub(new(big.Rat).SetInt(x), sigma2OverT)
		g.Mul(g, g)
		g.Quo(g, twoSigma2)
		c, err := s.bernoulliExp(g)
		if err != nil {
			return 0, err
		}
		if c {
			if b {
				return -x.Int64(), nil
			}
			return x.Int64(), nil
		}
	}
}

// sampler draws exact Bernoulli trials from uniform integers.
type sampler struct{ rnd io.Reader }

// bernoulli returns true with probability p ∈ [0, 1] (rational): a uniform
// integer below p's denominator is below its numerator.
func (s sampler) bernoulli(p *big.Rat) (bool, error) {
	u, err := rand.Int(s.rnd, p.Denom())
	if err != nil {
		return false, fmt.Errorf("dp: discrete Gaussian: %w", err)
	}
	return u.Cmp(p.Num()) < 0, nil
}

// bernoulliExp returns true with probability exp(−γ) for a rational γ ≥ 0
// (Canonne, Kamath and Steinke 2020, Algorithm 1's subroutine, after
// von Neumann): for γ ≤ 1, draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until
// one fails and return whether that k is odd; for γ > 1, ⌊γ⌋ trials of
// exp(−1) and one of exp(−(γ − ⌊γ⌋)) must all succeed.
func (s sampler) bernoulliExp(gamma *big.Rat) (bool, error) {
	one := big.NewRat(1, 1)
	for gamma.Cmp(one) > 0 {
		ok, err := s.bernoulliExp(one)
		if err != nil || !ok {
			return false, err
		}
		gamma = new(big.Rat).Sub(gamma, one)
	}
	k := int64(1)
	for {
		a, err := s.bernoulli(new(big.Rat).Quo(gamma, big.NewRat(k, 1)))
		if err != nil {
			return false, err
		}
		if !a {
			return k%2 == 1, nil
		}
		k++
	}
}
