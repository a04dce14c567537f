package inference

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	lhe "github.com/tuneinsight/lattigo/v5/he"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"

	"github.com/aios-edge/aios/he"
)

// bsgsLogRatio is lattigo's LogBabyStepGianStepRatio for the dense layers:
// log2(n1/n2) of the baby-step giant-step split.
const bsgsLogRatio = 1

// SingleEvaluator runs a model on one sample per ciphertext (see [Single]
// and [Plan]): each dense layer is one baby-step giant-step linear
// transformation (Halevi and Shoup, "Algorithms in HElib", CRYPTO 2014,
// §4; lattigo's he/hefloat LinearTransformation) whose plaintext
// diagonals hold the integer weights, all-zero diagonals left out. With the
// input replicated with period P_in (a power of two ≥ the layer's inputs)
// and the output wanted with period P_out, diagonal k ∈ [0, P_in) is
//
//	d_k[j] = W[j mod P_out][(j + k) mod P_in]   (0 outside the matrix)
//
// so that Σ_k d_k ⊙ rot_k(x) is W·x replicated with period P_out, ready
// for the next layer without any extra rotation. The diagonals are encoded
// at scale 2^Plan.DiagLogScale[l] and the product rescaled by one prime. The output ciphertext's
// slot o holds the integer-domain message of class o; the client applies
// OutScale ([Client.DecryptSingle]). It is safe for concurrent use.
type SingleEvaluator struct {
	params  he.Parameters
	plan    Plan
	circuit []CircuitLayer
	lts     [][]hefloat.LinearTransformation // per layer, its parts (none: an all-zero layer)
	levels  []int                            // per layer, the level of its transformation
	adds    []*rlwe.Plaintext
	pool    *he.WorkerPool
}

// singleDiagonals returns the non-zero diagonals of layer l in the single
// packing (see [SingleEvaluator]).
func singleDiagonals(cl CircuitLayer, pin, pout, slots int) hefloat.Diagonals[float64] {
	diags := hefloat.Diagonals[float64]{}
	period := max(pin, pout)
	at := func(j, k int) float64 {
		r, c := j%pout, (j+k)%pin
		if r >= cl.Out || c >= cl.In {
			return 0
		}
		return float64(cl.W[r*cl.In+c])
	}
	for k := range pin {
		nonzero := false
		for j := range period {
			if at(j, k) != 0 {
				nonzero = true
				break
			}
		}
		if !nonzero {
			continue // pruned away: no plaintext, no rotation
		}
		d := make([]float64, slots)
		for j := range d {
			d[j] = at(j, k)
		}
		diags[k] = d
	}
	return diags
}

// singleParts is how many linear transformations each dense layer is
// split into, by giant step, so that the parts run on separate cores and
// their sums are added (a fixed number: the keys must not depend on the
// machine).
const singleParts = 2

// singleLTParams returns the linear transformations of layer l (no
// diagonals encoded) and their diagonals: the non-zero diagonals split by
// the parity of their giant step k / n1, n1 the baby-step count lattigo
// chooses for the whole layer.
func singleLTParams(c []CircuitLayer, plan Plan, params he.Parameters, l, level int) (ltps []hefloat.LinearTransformationParameters, parts []hefloat.Diagonals[float64], n1 int) {
	diags := singleDiagonals(c[l], plan.Period[l], plan.Period[l+1], params.MaxSlots())
	idx := diags.DiagonalsIndexList()
	if len(idx) == 0 {
		return nil, nil, 0
	}
	n1 = lhe.FindBestBSGSRatio(idx, params.MaxSlots(), bsgsLogRatio)
	parts = make([]hefloat.Diagonals[float64], singleParts)
	for k, d := range diags {
		g := (k / n1) % singleParts
		if parts[g] == nil {
			parts[g] = hefloat.Diagonals[float64]{}
		}
		parts[g][k] = d
	}
	parts = slices.DeleteFunc(parts, func(d hefloat.Diagonals[float64]) bool { return d == nil })
	ltps = make([]hefloat.LinearTransformationParameters, len(parts))
	for i, d := range parts {
		list := d.DiagonalsIndexList()
		slices.Sort(list)
		ltps[i] = hefloat.LinearTransformationParameters{
			DiagonalsIndexList:       list,
			Level:                    level,
			Scale:                    rlwe.NewScale(math.Exp2(float64(plan.DiagLogScale[l]))),
			LogDimensions:            params.LogMaxDimensions(),
			LogBabyStepGianStepRatio: bsgsLogRatio,
		}
	}
	return ltps, parts, n1
}

// singleLevels returns the level at which each layer's linear
// transformation runs.
func singleLevels(plan Plan, layers int) []int {
	lv := make([]int, layers)
	lev := plan.InputLevel
	for l := range layers {
		lv[l] = lev
		lev-- // the transformation's rescaling
		if plan.RescaleAfter[l] {
			lev--
		}
	}
	return lv
}

// singleGaloisElements returns the Galois elements of every layer's
// transformation.
func singleGaloisElements(c []CircuitLayer, plan Plan, params he.Parameters) []uint64 {
	var rots []int
	levels := singleLevels(plan, len(c))
	for l := range c {
		ltps, _, n1 := singleLTParams(c, plan, params, l, levels[l])
		for _, ltp := range ltps {
			_, giant, baby := lhe.BSGSIndex(ltp.DiagonalsIndexList, params.MaxSlots(), n1)
			rots = append(append(rots, giant...), baby...)
		}
	}
	return he.GaloisElementsForRotations(params, rots)
}

// NewSingleEvaluator returns the single-query evaluator of m on a client's
// evaluation keys, which must be for the model's preset and hold the keys
// [Model.KeySpec](Single) lists. It encodes the diagonals once.
func NewSingleEvaluator(m *Model, keys *he.EvaluationKeySet) (*SingleEvaluator, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	plan, err := m.PlanFor(Single, params)
	if err != nil {
		return nil, err
	}
	spec, err := m.keySpecFor(Single, params)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(keys, params, spec, Single); err != nil {
		return nil, err
	}
	c := m.Circuit()
	e := &SingleEvaluator{params: params, plan: plan, circuit: c, pool: he.NewWorkerPool(params, keys.Keys)}
	enc := &hefloat.Encoder{Encoder: *ckks.NewEncoder(params.Parameters)}
	levels := singleLevels(plan, len(c))
	scale := rlwe.NewScale(plan.InputScale())
	for l := range c {
		ltps, diags, n1 := singleLTParams(c, plan, params, l, levels[l])
		var lts []hefloat.LinearTransformation
		for i, ltp := range ltps {
			lt := hefloat.NewLinearTransformation(params, ltp)
			// Every part uses the whole layer's baby steps, so the parts
			// need no rotation the undivided layer would not.
			lt.N1 = n1
			if err := hefloat.EncodeLinearTransformation(enc, diags[i], lt); err != nil {
				return nil, fmt.Errorf("inference: layer %d: encode diagonals: %w", l, err)
			}
			lts = append(lts, lt)
		}
		e.lts = append(e.lts, lts)
		e.levels = append(e.levels, levels[l])
		// The constant, replicated like the layer's output, at the level
		// and scale after the transformation's rescaling.
		scale = scale.Mul(rlwe.NewScale(math.Exp2(float64(plan.DiagLogScale[l])))).Div(rlwe.NewScale(params.Q()[levels[l]]))
		pt := ckks.NewPlaintext(params.Parameters, levels[l]-1)
		pt.Scale = scale
		add := make([]float64, params.MaxSlots())
		pout := plan.Period[l+1]
		for j := range add {
			if r := j % pout; r < c[l].Out {
				add[j] = c[l].Add[r]
			}
		}
		if err := enc.Encode(add, pt); err != nil {
			return nil, fmt.Errorf("inference: layer %d: encode constants: %w", l, err)
		}
		e.adds = append(e.adds, pt)
		if c[l].Square {
			scale = scale.Mul(scale)
			if plan.RescaleAfter[l] {
				scale = scale.Div(rlwe.NewScale(params.Q()[levels[l]-1]))
			}
		}
	}
	return e, nil
}

// Plan returns the evaluator's plan.
func (e *SingleEvaluator) Plan() Plan { return e.plan }

// Evaluate runs the model on one sample's ciphertext (the plan's input
// level and scale) and returns a ciphertext whose slot o decrypts to the
// integer-domain message of class o (see [Client.DecryptSingle]).
func (e *SingleEvaluator) Evaluate(ctx context.Context, in *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if err := checkInput(0, in, e.params, e.plan.InputLevel, e.plan.InputScale()); err != nil {
		return nil, err
	}
	var out *rlwe.Ciphertext
	err := e.pool.Do(func(w *he.Worker) (err error) {
		out, err = e.evaluate(ctx, w.Evaluator, in)
		return err
	})
	return out, err
}

// EvaluateMany evaluates many samples' ciphertexts concurrently, one
// goroutine per core.
func (e *SingleEvaluator) EvaluateMany(ctx context.Context, in []*rlwe.Ciphertext) ([]*rlwe.Ciphertext, error) {
	for i, ct := range in {
		if err := checkInput(i, ct, e.params, e.plan.InputLevel, e.plan.InputScale()); err != nil {
			return nil, err
		}
	}
	out := make([]*rlwe.Ciphertext, len(in))
	err := e.pool.ForEach(ctx, len(in), func(w *he.Worker, i int) (err error) {
		out[i], err = e.evaluate(ctx, w.Evaluator, in[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (e *SingleEvaluator) evaluate(ctx context.Context, ev *ckks.Evaluator, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	lte := hefloat.NewLinearTransformationEvaluator(ev)
	for l := range e.circuit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		u, err := e.linear(ev, lte, l, ct)
		if err != nil {
			return nil, fmt.Errorf("inference: layer %d: %w", l, err)
		}
		if err := ev.Rescale(u, u); err != nil {
			return nil, fmt.Errorf("inference: layer %d: %w", l, err)
		}
		add := *e.adds[l]
		md := *add.MetaData
		md.Scale = u.Scale // equal up to big-float rounding
		add.MetaData = &md
		if err := ev.Add(u, &add, u); err != nil {
			return nil, fmt.Errorf("inference: layer %d: %w", l, err)
		}
		if !e.circuit[l].Square {
			for range e.plan.OutputRescales {
				if err := ev.Rescale(u, u); err != nil {
					return nil, err
				}
			}
			return u, nil
		}
		sq := ckks.NewCiphertext(e.params.Parameters, 1, u.Level())
		if err := ev.MulRelin(u, u, sq); err != nil {
			return nil, fmt.Errorf("inference: layer %d: %w", l, err)
		}
		if e.plan.RescaleAfter[l] {
			if err := ev.Rescale(sq, sq); err != nil {
				return nil, err
			}
		}
		ct = sq
	}
	return ct, nil
}

// linear evaluates layer l's transformation on ct: its parts concurrently,
// the first on ev, the others on workers of their own, then their sum.
func (e *SingleEvaluator) linear(ev *ckks.Evaluator, lte *hefloat.LinearTransformationEvaluator, l int, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	lts := e.lts[l]
	level := e.levels[l]
	outs := make([]*rlwe.Ciphertext, max(len(lts), 1))
	for i := range outs {
		outs[i] = ckks.NewCiphertext(e.params.Parameters, 1, level)
	}
	if len(lts) == 0 { // every weight pruned: W·x = 0
		*outs[0].MetaData = *ct.MetaData
		outs[0].Scale = ct.Scale.Mul(rlwe.NewScale(math.Exp2(float64(e.plan.DiagLogScale[l]))))
		return outs[0], nil
	}
	errs := make([]error, len(lts))
	var wg sync.WaitGroup
	for i := 1; i < len(lts); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.pool.Do(func(w *he.Worker) error {
				return hefloat.NewLinearTransformationEvaluator(w.Evaluator).Evaluate(ct, lts[i], outs[i])
			})
		}()
	}
	errs[0] = lte.Evaluate(ct, lts[0], outs[0])
	wg.Wait()
	for i := range lts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if i > 0 {
			if err := ev.Add(outs[0], outs[i], outs[0]); err != nil {
				return nil, err
			}
		}
	}
	return outs[0], nil
}
