package dp

import (
	"math"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// Aggregation names a bounded aggregation over a local column.
type Aggregation string

// The aggregations offered over local data.
const (
	AggCount Aggregation = "count"
	AggSum   Aggregation = "sum"
	AggMean  Aggregation = "mean"
)

// AggregateLiteral declares a bounded aggregation over one column of a local
// dataset in which every row is the only contribution of a distinct privacy
// unit (pre-aggregate per unit, clamped, before if that is not so): ℓ0 = 1
// and ℓ∞ = 1 for a count, max(|lower|, |upper|) for a sum.
type AggregateLiteral struct {
	Aggregation Aggregation
	Epsilon     MicroEpsilon
	// Lower and Upper clamp every value; required for sum and mean, ignored
	// by count (whose sensitivity is one row).
	Lower, Upper float64
	// FracBits is the fixed-point precision f of the summed values. Zero
	// means integer data.
	FracBits int
}

// Aggregate is a validated [AggregateLiteral]. It is immutable.
type Aggregate struct {
	agg      Aggregation
	eps      MicroEpsilon
	fracBits int
	scale    float64
	lower    int64 // fixed point
	upper    int64
	lowerF   float64
	upperF   float64
}

// NewAggregateFromLiteral validates lit once.
func NewAggregateFromLiteral(lit AggregateLiteral) (*Aggregate, error) {
	if err := checkEpsilon(lit.Epsilon); err != nil {
		return nil, err
	}
	a := &Aggregate{agg: lit.Aggregation, eps: lit.Epsilon}
	switch lit.Aggregation {
	case AggCount:
		a.scale = 1
		return a, nil
	case AggSum, AggMean:
	default:
		return nil, specErr("aggregation", "must be count, sum or mean")
	}
	if lit.FracBits < 0 || lit.FracBits > MaxFracBits {
		return nil, specErr("frac_bits", "must be in [0, %d]", MaxFracBits)
	}
	a.fracBits, a.scale = lit.FracBits, math.Ldexp(1, lit.FracBits)
	lo, hi, err := fixedBounds(lit.Lower, lit.Upper, a.scale)
	if err != nil {
		return nil, err
	}
	if lit.Aggregation == AggMean && a.eps < 2 {
		return nil, specErr("epsilon", "a mean needs at least 2 micro-ε (split in two)")
	}
	a.lower, a.upper, a.lowerF, a.upperF = lo, hi, lit.Lower, lit.Upper
	return a, nil
}

// Query binds the aggregation to a column read with [ReadColumn]. NaN
// entries are not allowed there; values outside the bounds are clamped.
func (a *Aggregate) Query(column []float64) (Query, error) {
	q := &aggregateQuery{a: a}
	if a.agg == AggCount {
		q.count = int64(len(column))
		return q, nil
	}
	q.fixed = make([]int64, len(column))
	for i, v := range column {
		if math.IsNaN(v) {
			return nil, specErr("column", "row %d is NaN", i+1)
		}
		// Clamp in float first (Dwork–Roth's clamping step), then convert:
		// rounding is monotone, so the result lies in [a.lower, a.upper].
		q.fixed[i] = int64(math.Round(min(max(v, a.lowerF), a.upperF) * a.scale))
	}
	return q, nil
}

type aggregateQuery struct {
	a     *Aggregate
	count int64
	fixed []int64
}

var _ Query = (*aggregateQuery)(nil)

func (q *aggregateQuery) Epsilon() MicroEpsilon { return q.a.eps }
func (q *aggregateQuery) Dimension() int        { return 1 }
func (q *aggregateQuery) Mechanism() string {
	switch q.a.agg {
	case AggCount:
		return MechanismCount
	case AggSum:
		return MechanismBoundedSum
	}
	return MechanismBoundedMean
}

func (q *aggregateQuery) Sensitivity() Sensitivity {
	a := q.a
	switch a.agg {
	case AggCount:
		return Sensitivity{L0: 1, LInf: 1}
	case AggSum:
		return Sensitivity{L0: 1, LInf: max(abs64(a.lower), abs64(a.upper)), FracBits: int64(a.fracBits), Lower: a.lower, Upper: a.upper}
	}
	_, half := a.midpoint()
	return Sensitivity{L0: 1, LInf: half, FracBits: int64(a.fracBits), Lower: a.lower, Upper: a.upper}
}

// midpoint returns the fixed-point midpoint m of the bounds and the largest
// distance of a bound from it (the normalised sum's ℓ∞).
func (a *Aggregate) midpoint() (mid, half int64) {
	mid = a.lower + (a.upper-a.lower)/2
	return mid, max(a.upper-mid, mid-a.lower)
}

func (q *aggregateQuery) release() (*Result, error) {
	switch q.a.agg {
	case AggCount:
		return q.releaseCount()
	case AggSum:
		return q.releaseSum()
	}
	return q.releaseMean()
}

func newCount(eps float64) (*dpagg.Count, error) {
	c, err := dpagg.NewCount(&dpagg.CountOptions{Epsilon: eps, MaxPartitionsContributed: 1, Noise: noise.Laplace()})
	return c, errLibrary("count", err)
}

func newSum(eps float64, lower, upper int64) (*dpagg.BoundedSumInt64, error) {
	s, err := dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{
		Epsilon: eps, MaxPartitionsContributed: 1, Lower: lower, Upper: upper, Noise: noise.Laplace(),
	})
	return s, errLibrary("bounded sum", err)
}

func (q *aggregateQuery) releaseCount() (*Result, error) {
	c, err := newCount(q.a.eps.Float64())
	if err != nil {
		return nil, err
	}
	if err := c.IncrementBy(q.count); err != nil {
		return nil, errLibrary("count", err)
	}
	v, err := c.Result()
	if err != nil {
		return nil, errLibrary("count", err)
	}
	ci, err := c.ComputeConfidenceInterval(1 - ConfidenceLevel)
	if err != nil {
		return nil, errLibrary("count interval", err)
	}
	return &Result{Mechanism: MechanismCount, Values: []float64{float64(v)}, CI: []Interval{{ci.LowerBound, ci.UpperBound}}}, nil
}

func (q *aggregateQuery) releaseSum() (*Result, error) {
	s, err := newSum(q.a.eps.Float64(), q.a.lower, q.a.upper)
	if err != nil {
		return nil, err
	}
	for _, x := range q.fixed {
		if err := s.Add(x); err != nil { // the library's message quotes x: drop it
			return nil, errLibrary("bounded sum", err)
		}
	}
	v, err := s.Result()
	if err != nil {
		return nil, errLibrary("bounded sum", err)
	}
	ci, err := s.ComputeConfidenceInterval(1 - ConfidenceLevel)
	if err != nil {
		return nil, errLibrary("bounded sum interval", err)
	}
	sc := q.a.scale
	return &Result{Mechanism: MechanismBoundedSum, Values: []float64{float64(v) / sc}, CI: []Interval{{ci.LowerBound / sc, ci.UpperBound / sc}}}, nil
}

// releaseMean follows dpagg.BoundedMean (Result and
// ComputeConfidenceInterval) with an integer normalised sum.
func (q *aggregateQuery) releaseMean() (*Result, error) {
	a := q.a
	half := a.eps.Float64() / 2
	mid, dist := a.midpoint()
	c, err := newCount(half)
	if err != nil {
		return nil, err
	}
	s, err := newSum(half, -dist, dist)
	if err != nil {
		return nil, err
	}
	for _, x := range q.fixed {
		if err := s.Add(x - mid); err != nil {
			return nil, errLibrary("bounded mean", err)
		}
	}
	if err := c.IncrementBy(int64(len(q.fixed))); err != nil {
		return nil, errLibrary("bounded mean", err)
	}
	nc, err := c.Result()
	if err != nil {
		return nil, errLibrary("bounded mean", err)
	}
	ns, err := s.Result()
	if err != nil {
		return nil, errLibrary("bounded mean", err)
	}
	lo, hi := float64(a.lower), float64(a.upper)
	clamp := func(x float64) float64 { return min(max(x, lo), hi) }
	mean := clamp(float64(ns)/math.Max(1, float64(nc)) + float64(mid))

	// The tightest interval over splits (1-α) = (1-α_num)(1-α_den), as in
	// dpagg.BoundedMean.ComputeConfidenceInterval.
	alpha := 1 - ConfidenceLevel
	best := Interval{Lower: lo, Upper: hi}
	for i := 1; i < 1000; i++ {
		aNum := float64(i) / 1000 * alpha
		aDen := (alpha - aNum) / (1 - aNum)
		num, err1 := s.ComputeConfidenceInterval(aNum)
		den, err2 := c.ComputeConfidenceInterval(aDen)
		if err1 != nil || err2 != nil {
			return nil, errLibrary("bounded mean interval", err1)
		}
		dl, du := math.Max(den.LowerBound, 1), math.Max(den.UpperBound, 1)
		var ml, mu float64
		if num.LowerBound >= 0 {
			ml = num.LowerBound / du
		} else {
			ml = num.LowerBound / dl
		}
		if num.UpperBound >= 0 {
			mu = num.UpperBound / dl
		} else {
			mu = num.UpperBound / du
		}
		ml, mu = clamp(ml+float64(mid)), clamp(mu+float64(mid))
		if mu-ml < best.Upper-best.Lower {
			best = Interval{Lower: ml, Upper: mu}
		}
	}
	sc := a.scale
	return &Result{Mechanism: MechanismBoundedMean, Values: []float64{mean / sc}, CI: []Interval{{best.Lower / sc, best.Upper / sc}}}, nil
}
