package dp

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"
)

// DefaultFracBits is a reasonable fixed-point precision f for real-valued
// aggregates: values are released in steps of 2^-16.
const DefaultFracBits = 16

// MaxFracBits bounds the fixed-point precision f.
const MaxFracBits = 40

// ConfidenceLevel is the level of the interval returned with every release.
const ConfidenceLevel = 0.95

const (
	maxFixed = 1 << 52 // |fixed-point value| and ℓ1·(1/ε) stay exact in float64
	maxDim   = 1 << 16 // coordinates in one vector release
)

// Mechanism names, as recorded in ledger entries.
const (
	MechanismLaplace     = "laplace"      // Laplace on a caller's aggregate (vector)
	MechanismCount       = "count"        // dpagg.Count over a local column
	MechanismBoundedSum  = "bounded-sum"  // dpagg.BoundedSumInt64 over a local column
	MechanismBoundedMean = "bounded-mean" // count + normalised sum, ε/2 each
)

// Sensitivity is what a ledger entry records about a release's noise
// calibration, in fixed-point units of 2^-FracBits: ℓ0 (coordinates or
// partitions a unit may move), ℓ∞ (how far it may move one) and the clamp
// bounds. For a bounded mean, LInf is that of the normalised sum.
type Sensitivity struct {
	L0       int64 `json:"l0"`
	LInf     int64 `json:"linf"`
	FracBits int64 `json:"frac_bits"`
	Lower    int64 `json:"lower"`
	Upper    int64 `json:"upper"`
}

// Interval is a confidence interval for one released coordinate.
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Result is what a release returns: the noised values, one per coordinate,
// each with its 95% confidence interval. It never holds the raw input.
type Result struct {
	Mechanism string     `json:"mechanism"`
	Values    []float64  `json:"values"`
	CI        []Interval `json:"ci95"`
}

// Query is a validated, ready-to-release computation: its ε, mechanism and
// sensitivity, and the data it will noise. Only this package builds Queries
// (from a [Laplace] or an [Aggregate]), and only [Ledger.Release] runs them.
type Query interface {
	Epsilon() MicroEpsilon
	Mechanism() string
	Sensitivity() Sensitivity
	// Dimension is the number of released coordinates.
	Dimension() int
	release() (*Result, error)
}

// LaplaceLiteral declares a Laplace release of an aggregate the caller has
// computed (for example an MPC sum): the ε to spend and the clamp bounds
// every contribution was held to.
type LaplaceLiteral struct {
	// Epsilon is the privacy loss of the whole release (all coordinates).
	Epsilon MicroEpsilon
	// Lower and Upper are the bounds each contribution was clamped to,
	// per coordinate. Both zero means "not declared", which is refused.
	Lower, Upper float64
	// MaxContributions is how many contributions one privacy unit may make
	// to each coordinate (the ℓ∞ multiplier). Zero means 1.
	MaxContributions int64
	// FracBits is the fixed-point precision f: values are noised as
	// round(x·2^f). Zero means integer data.
	FracBits int
}

// Laplace is a validated [LaplaceLiteral]. It is immutable.
type Laplace struct {
	eps      MicroEpsilon
	fracBits int
	scale    float64 // 2^f
	lower    int64   // fixed-point bounds
	upper    int64
	lInf     int64
}

// NewLaplaceFromLiteral validates lit once.
func NewLaplaceFromLiteral(lit LaplaceLiteral) (*Laplace, error) {
	if err := checkEpsilon(lit.Epsilon); err != nil {
		return nil, err
	}
	if lit.FracBits < 0 || lit.FracBits > MaxFracBits {
		return nil, specErr("frac_bits", "must be in [0, %d]", MaxFracBits)
	}
	c := lit.MaxContributions
	if c == 0 {
		c = 1
	}
	if c < 0 || c > 1<<20 {
		return nil, specErr("max_contributions", "must be in [1, 2^20]")
	}
	scale := math.Ldexp(1, lit.FracBits)
	lo, hi, err := fixedBounds(lit.Lower, lit.Upper, scale)
	if err != nil {
		return nil, err
	}
	lInf := max(abs64(lo), abs64(hi))
	if lInf > maxFixed/c {
		return nil, specErr("bounds", "sensitivity overflows at this precision")
	}
	return &Laplace{eps: lit.Epsilon, fracBits: lit.FracBits, scale: scale, lower: lo, upper: hi, lInf: lInf * c}, nil
}

// Query binds the mechanism to the values to release (one per coordinate).
// The values are the caller's raw aggregate: they are kept only in memory
// until the release and never stored or logged.
func (l *Laplace) Query(values ...float64) (Query, error) {
	d := len(values)
	if d == 0 || d > maxDim {
		return nil, specErr("values", "need between 1 and %d coordinates", maxDim)
	}
	if l.lInf > maxFixed/int64(d) {
		return nil, specErr("values", "ℓ1 sensitivity overflows for %d coordinates", d)
	}
	fixed := make([]int64, d)
	for i, v := range values {
		f := math.Round(v * l.scale)
		if math.IsNaN(f) || math.Abs(f) > maxFixed {
			return nil, specErr("values", "coordinate %d is not finite or out of the fixed-point range", i)
		}
		fixed[i] = int64(f)
	}
	return &laplaceQuery{mech: l, fixed: fixed}, nil
}

type laplaceQuery struct {
	mech  *Laplace
	fixed []int64
}

var _ Query = (*laplaceQuery)(nil)

func (q *laplaceQuery) Epsilon() MicroEpsilon { return q.mech.eps }
func (q *laplaceQuery) Mechanism() string     { return MechanismLaplace }
func (q *laplaceQuery) Dimension() int        { return len(q.fixed) }
func (q *laplaceQuery) Sensitivity() Sensitivity {
	return Sensitivity{L0: int64(len(q.fixed)), LInf: q.mech.lInf, FracBits: int64(q.mech.fracBits), Lower: q.mech.lower, Upper: q.mech.upper}
}

func (q *laplaceQuery) release() (*Result, error) {
	noised, err := addLaplaceFixed(q.fixed, int64(len(q.fixed)), q.mech.lInf, q.mech.eps)
	if err != nil {
		return nil, err
	}
	res := &Result{Mechanism: MechanismLaplace, Values: make([]float64, len(noised)), CI: make([]Interval, len(noised))}
	for i, n := range noised {
		ci, err := noise.Laplace().ComputeConfidenceIntervalInt64(n, int64(len(noised)), q.mech.lInf, q.mech.eps.Float64(), 0, 1-ConfidenceLevel)
		if err != nil {
			return nil, fmt.Errorf("%w: confidence interval", ErrNoise)
		}
		res.Values[i] = float64(n) / q.mech.scale
		res.CI[i] = Interval{Lower: ci.LowerBound / q.mech.scale, Upper: ci.UpperBound / q.mech.scale}
	}
	return res, nil
}

// addLaplaceFixed noises each fixed-point coordinate with the library's
// integer Laplace mechanism (Dwork and Roth 2014, Definition 3.3): scale
// ℓ0·ℓ∞/ε in fixed-point units. It is the
// one place where noise is drawn for [Laplace] queries, and the function the
// statistical tests sample.
func addLaplaceFixed(fixed []int64, l0, lInf int64, eps MicroEpsilon) ([]int64, error) {
	out := make([]int64, len(fixed))
	for i, x := range fixed {
		n, err := noise.Laplace().AddNoiseInt64(x, l0, lInf, eps.Float64(), 0)
		if err != nil {
			// The library's messages carry parameters, never x; still, keep
			// only our own text.
			return nil, fmt.Errorf("%w: invalid noise parameters", ErrNoise)
		}
		out[i] = n
	}
	return out, nil
}

func checkEpsilon(eps MicroEpsilon) error {
	if eps <= 0 || eps > MaxEpsilon {
		return specErr("epsilon", "must be in (0, %s]", MaxEpsilon)
	}
	return nil
}

// fixedBounds validates declared clamp bounds and converts them to fixed
// point. Both zero means undeclared.
func fixedBounds(lower, upper, scale float64) (lo, hi int64, err error) {
	if lower == 0 && upper == 0 {
		return 0, 0, &SpecError{Field: "bounds", Reason: "declare the clamp bounds lower < upper", Err: ErrMissingBounds}
	}
	if math.IsNaN(lower) || math.IsNaN(upper) || math.IsInf(lower, 0) || math.IsInf(upper, 0) {
		return 0, 0, specErr("bounds", "must be finite")
	}
	if !(lower < upper) {
		return 0, 0, specErr("bounds", "lower must be below upper")
	}
	fl, fh := math.Round(lower*scale), math.Round(upper*scale)
	if math.Abs(fl) > maxFixed || math.Abs(fh) > maxFixed {
		return 0, 0, specErr("bounds", "out of the fixed-point range at this precision")
	}
	if fl == fh {
		return 0, 0, specErr("bounds", "indistinguishable at this fixed-point precision; raise frac_bits")
	}
	return int64(fl), int64(fh), nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// errLibrary hides a noise library error's text (which may quote inputs)
// behind ErrNoise.
func errLibrary(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNoise, what)
}
