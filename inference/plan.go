package inference

import (
	"fmt"
	"math"
	"slices"

	"github.com/aios-edge/aios/he"
)

// Packing says how samples are laid out in ciphertexts.
type Packing uint8

const (
	// Batch: ciphertext i holds feature i of up to N/2 samples, one sample
	// per slot. Dense layers are integer-constant multiply-adds of whole
	// ciphertexts: no rotations, only a relinearization key.
	Batch Packing = iota + 1
	// Single: one sample per ciphertext, its features in the slots
	// (replicated, see [Plan.Period]). Dense layers are baby-step
	// giant-step linear transformations: Galois keys for the rotations the
	// model's non-zero diagonals need.
	Single
)

func (p Packing) String() string {
	switch p {
	case Batch:
		return "batch"
	case Single:
		return "single"
	}
	return fmt.Sprintf("packing(%d)", uint8(p))
}

// ParsePacking returns the packing named "batch" or "single".
func ParsePacking(s string) (Packing, error) {
	switch s {
	case "batch":
		return Batch, nil
	case "single":
		return Single, nil
	}
	return 0, fmt.Errorf("%w: unknown packing %q (batch or single)", ErrPacking, s)
}

// Plan is where the ciphertexts of an encrypted evaluation live: the level
// and scale at which the client encrypts, and the level of the outputs.
// It is a pure function of the model and the packing ([Model.Plan]), so the
// client and the node compute the same plan.
//
// The batch plan (depth-1 models; deeper ones rescale once per further
// hidden layer) runs, for inputs at level L and scale S = 2^LogInputScale:
//
//	u = W·x, v = u + Add        level L, scale S,   degree 1
//	h = v·v (no relinearization) level L, scale S², degree 2
//	m = W'·h + Add'             level L, scale S²,  degree 2
//	rescale (while it keeps ≥ 2^minOutputLogScale), relinearize once per
//	output, divide the scale by OutScale: the output decrypts to logits.
//
// Between the input and the final rescale nothing but ring operations
// happen, which are exact modulo Q_L, so the only constraint is that the
// output message m·S² (times 2^MarginBits) stays below Q_L/2; S is the
// largest power of two for which it does, and L the lowest level whose
// estimated logit error (fresh encryption noise carried through the circuit,
// [Plan.LogitError]) stays below [MaxRelativeLogitError] of the largest
// logit seen in training.
//
// The single plan spends one level per dense layer (diagonals encoded at
// scale 2^d ≤ q, the largest that fits, then rescaled by the level's prime
// q) and relinearizes each square at once (rotations need degree-1 inputs); it
// rescales after a square only when another square follows.
type Plan struct {
	Packing       Packing
	Preset        string
	InputLevel    int
	LogInputScale int     // inputs are encoded at scale 2^LogInputScale
	OutputLevel   int     // level of the returned ciphertexts
	LogitError    float64 // estimated bound on |logit error| (a few standard deviations)
	// Period (single packing) lists, per layer boundary, the replication
	// period of the slots: Period[l] is a power of two ≥ the width of
	// layer l's input (Period[len(layers)] for the output), and slot j
	// holds value j mod Period[l].
	Period []int
	// DiagLogScale (single packing): per layer, the diagonals are encoded
	// at scale 2^DiagLogScale[l] and the product rescaled by the level's
	// prime q, so the scale goes from S to S·2^d/q.
	DiagLogScale []int
	// RescaleAfter (batch: after the multiply-adds of a hidden layer l ≥ 1;
	// single: after the square of hidden layer l) says where a mid-circuit
	// rescaling happens.
	RescaleAfter []bool
	// OutputRescales is how many rescalings follow the output layer.
	OutputRescales int
}

// InputScale returns 2^LogInputScale.
func (p Plan) InputScale() float64 { return math.Exp2(float64(p.LogInputScale)) }

// MaxRelativeLogitError bounds the estimated logit error a plan may have,
// relative to the largest logit seen on the training set.
const MaxRelativeLogitError = 1.0 / 1024

// minDiagLogScale is the smallest scale (log2) of the single packing's
// plaintext diagonals.
const minDiagLogScale = 16

// minOutputLogScale is the smallest scale (log2) the output is rescaled to:
// rescaling noise is about N, so the output keeps ≥ 2^(minOutputLogScale −
// logN) relative precision on the integer-domain message.
const minOutputLogScale = 10

// noise model (slot domain, absolute, before dividing by the scale), for
// the plan's error estimate: a fresh symmetric encryption has per-slot
// error of standard deviation σ·√N; 6σ bounds the maximum over a batch.
func freshNoise(p he.Parameters) float64 { return 6 * 3.2 * math.Sqrt(float64(p.N())) }

// key switching (relinearization, rotation) adds about N·σ·q_max/P.
func keySwitchNoise(p he.Parameters) float64 {
	qmax := 0.0
	for _, q := range p.Q() {
		qmax = max(qmax, float64(q))
	}
	pmin := math.Inf(1)
	for _, q := range p.P() {
		pmin = min(pmin, float64(q))
	}
	return 8 * float64(p.N()) * max(1, qmax/pmin)
}

// rescaling rounds each coefficient: about N for degree-2 ciphertexts.
func rescaleNoise(p he.Parameters) float64 { return float64(p.N()) }

// Plan returns the model's plan for packing in the preset its metadata
// names. It fails with ErrNoPreset when the circuit does not fit that
// preset at any level.
func (m *Model) Plan(packing Packing) (Plan, error) {
	params, err := he.PresetByName(m.Meta.Preset)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: model preset: %w", ErrNoPreset, err)
	}
	return m.PlanFor(packing, params)
}

// PlanFor is [Model.Plan] in the parameters p.
func (m *Model) PlanFor(packing Packing, p he.Parameters) (Plan, error) {
	if err := m.Validate(); err != nil {
		return Plan{}, err
	}
	b := m.Meta.Bounds
	if len(b.Layers) != len(m.Layers) {
		return Plan{}, fmt.Errorf("%w: the model has no circuit bounds (metadata.bounds.layers)", ErrNoPreset)
	}
	c := m.Circuit()
	pl := planner{c: c, b: b, p: p}
	pl.init()
	var best *Plan
	tol := MaxRelativeLogitError * max(b.MaxAbsLogit, 1)
	for L := 0; L <= p.MaxLevel(); L++ {
		var atL *Plan
		for s := 60; s >= 8; s-- {
			plan, ok := pl.simulate(packing, L, s)
			if ok && (atL == nil || plan.LogitError < atL.LogitError) {
				atL = &plan
			}
		}
		if atL == nil {
			continue
		}
		if atL.LogitError <= tol {
			atL.Preset = p.Name()
			return *atL, nil
		}
		if best == nil || atL.LogitError < best.LogitError {
			best = atL
		}
	}
	if best != nil {
		return Plan{}, fmt.Errorf("%w: %v packing in %s: the best plan (input level %d, scale 2^%d) has an estimated logit error %.3g, above %.3g",
			ErrNoPreset, packing, p.Name(), best.InputLevel, best.LogInputScale, best.LogitError, tol)
	}
	return Plan{}, fmt.Errorf("%w: the %v circuit (depth %d) does not fit %s at any level", ErrNoPreset, packing, m.Depth(), p.Name())
}

type planner struct {
	c       []CircuitLayer
	b       Bounds
	p       he.Parameters
	logQ    []float64 // log2 of the modulus at each level
	logq    []float64 // log2 of each prime
	rowNorm []float64 // per layer, max over outputs of ‖W[o,·]‖₂
	outMax  float64   // max OutScale
}

func (pl *planner) init() {
	acc := 0.0
	for _, q := range pl.p.Q() {
		l := math.Log2(float64(q))
		acc += l
		pl.logq = append(pl.logq, l)
		pl.logQ = append(pl.logQ, acc)
	}
	for _, cl := range pl.c {
		r := 0.0
		for o := range cl.Out {
			s := 0.0
			for _, w := range cl.W[o*cl.In : (o+1)*cl.In] {
				s += float64(w) * float64(w)
			}
			r = max(r, math.Sqrt(s))
		}
		pl.rowNorm = append(pl.rowNorm, r)
	}
	pl.outMax = slices.Max(pl.c[len(pl.c)-1].OutScale)
}

// msg is log2 of the largest message of layer l (sum or sum plus constant)
// with the margin.
func (pl *planner) msg(l int) float64 {
	lb := pl.b.Layers[l]
	return log2(max(lb.MaxAbsSum, lb.MaxAbsMsg)) + MarginBits
}

// fits reports whether a message of log2 size m at log2 scale sc can be
// rescaled or decrypted at level lev.
func (pl *planner) fits(m, sc float64, lev int) bool {
	return lev >= 0 && m+sc < pl.logQ[lev]-1
}

// simulate follows the circuit of packing from input level L at scale 2^s,
// checking every point where the ciphertext must hold its message exactly
// (a rescaling or the decryption), and estimates the logit error.
func (pl *planner) simulate(packing Packing, L, s int) (Plan, bool) {
	p := pl.p
	last := len(pl.c) - 1
	plan := Plan{Packing: packing, InputLevel: L, LogInputScale: s, RescaleAfter: make([]bool, len(pl.c))}
	lev, sc := L, float64(s)
	e := freshNoise(p) / math.Exp2(sc) // absolute error of the layer's inputs
	ks, rs := keySwitchNoise(p), rescaleNoise(p)
	if packing == Single {
		plan.DiagLogScale = make([]int, len(pl.c))
		plan.Period = make([]int, len(pl.c)+1)
		for l, cl := range pl.c {
			plan.Period[l] = nextPow2(cl.In)
		}
		plan.Period[len(pl.c)] = nextPow2(pl.c[last].Out)
		if slices.Max(plan.Period) > p.MaxSlots() {
			return Plan{}, false
		}
	}
	for l := range pl.c {
		m := pl.msg(l)
		eu := pl.rowNorm[l] * e
		switch packing {
		case Batch:
			if l > 0 && l < last {
				// degree-2 inputs: relinearize and rescale each output.
				if lev < 1 || !pl.fits(m, sc, lev) {
					return Plan{}, false
				}
				sc -= pl.logq[lev]
				lev--
				plan.RescaleAfter[l] = true
				eu += (ks + rs) / math.Exp2(sc)
			}
		case Single:
			// The diagonals at scale 2^d (the largest power of two up to
			// q_lev for which the product fits), then a rescaling by q_lev.
			if lev < 1 {
				return Plan{}, false
			}
			d := min(math.Round(pl.logq[lev]), math.Floor(pl.logQ[lev]-1-m-sc-1e-9))
			if d < minDiagLogScale {
				return Plan{}, false
			}
			plan.DiagLogScale[l] = int(d)
			vin := pl.b.MaxAbsInput
			if l > 0 {
				vin = pl.b.Layers[l-1].MaxAbsNext
			}
			eu += ks / math.Exp2(sc) // rotations: hoisted, divided by P with the diagonal products
			// Encoding the diagonals at 2^d rounds each weight by about
			// √N/2^d.
			eu += math.Sqrt(float64(p.N())) / math.Exp2(d) * math.Sqrt(float64(pl.c[l].In)) * vin
			sc += d - pl.logq[lev]
			lev--
			if !pl.fits(m, sc, lev) {
				return Plan{}, false
			}
			eu += rs / math.Exp2(sc)
		}
		if l < last {
			v := pl.b.Layers[l].MaxAbsMsg
			e = 2*v*eu + eu*eu
			sc *= 2
			if packing == Single {
				e += ks / math.Exp2(sc)
				if l < last-1 {
					if lev < 1 || !pl.fits(2*pl.msg(l), sc, lev) {
						return Plan{}, false
					}
					sc -= pl.logq[lev]
					lev--
					plan.RescaleAfter[l] = true
					e += rs / math.Exp2(sc)
				}
			}
			continue
		}
		// The output layer.
		if !pl.fits(m, sc, lev) {
			return Plan{}, false
		}
		for lev > 0 && sc-pl.logq[lev] >= minOutputLogScale && pl.fits(m, sc-pl.logq[lev], lev-1) {
			sc -= pl.logq[lev]
			lev--
			plan.OutputRescales++
			eu += rs / math.Exp2(sc)
		}
		if packing == Batch && last > 0 {
			eu += ks / math.Exp2(sc) // one relinearization per output
		}
		plan.LogitError = pl.outMax * eu
	}
	plan.OutputLevel = lev
	return plan, true
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
