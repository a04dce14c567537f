package inference

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"

	"github.com/aios-edge/aios/he"
)

// BatchEvaluator runs a model on batch-packed ciphertexts (see [Batch] and
// [Plan]): ciphertext i holds feature i of up to N/2 samples, and output
// ciphertext o holds logit o of each sample. It is safe for concurrent use;
// each evaluation spreads the units of every layer over all cores, each
// goroutine with its own lattigo evaluator.
type BatchEvaluator struct {
	params  he.Parameters
	plan    Plan
	circuit []CircuitLayer
	rows    [][][]term // per layer, per output unit: its non-zero weights
	pool    *he.WorkerPool
	naive   bool
}

// term is one non-zero integer weight of a dense layer's row.
type term struct {
	in  int    // input index
	abs uint64 // |w|, 1…127
	neg bool   // w < 0
}

func rowsOf(c []CircuitLayer) [][][]term {
	rows := make([][][]term, len(c))
	for l, cl := range c {
		rows[l] = make([][]term, cl.Out)
		for o := range cl.Out {
			for i, w := range cl.W[o*cl.In : (o+1)*cl.In] {
				switch {
				case w > 0:
					rows[l][o] = append(rows[l][o], term{in: i, abs: uint64(w)})
				case w < 0:
					rows[l][o] = append(rows[l][o], term{in: i, abs: uint64(-int(w)), neg: true})
				}
			}
		}
	}
	return rows
}

// NewBatchEvaluator returns the optimized batch evaluator of m on a
// client's evaluation keys, which must be for the model's preset and hold
// the relinearization key ([Model.KeySpec]).
func NewBatchEvaluator(m *Model, keys *he.EvaluationKeySet) (*BatchEvaluator, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	plan, err := m.PlanFor(Batch, params)
	if err != nil {
		return nil, err
	}
	return newBatchEvaluator(m, params, plan, keys, false)
}

// NewNaiveBatchEvaluator returns the baseline the optimized evaluator is
// measured against: inputs at the preset's default scale and the level the
// model's metadata records ([ChoosePreset]), lattigo's MulThenAdd with the
// integer weights, one ciphertext per unit, and a relinearization and a
// rescaling after every square. Its plan is [NaivePlan].
func NewNaiveBatchEvaluator(m *Model, keys *he.EvaluationKeySet) (*BatchEvaluator, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	plan, err := NaivePlan(m)
	if err != nil {
		return nil, err
	}
	return newBatchEvaluator(m, params, plan, keys, true)
}

// NaivePlan is the plan of [NewNaiveBatchEvaluator]: inputs at the level
// the metadata records and the preset's default scale.
func NaivePlan(m *Model) (Plan, error) {
	if err := m.Validate(); err != nil {
		return Plan{}, err
	}
	params, err := modelParams(m)
	if err != nil {
		return Plan{}, err
	}
	if m.Meta.InputLevel > params.MaxLevel() {
		return Plan{}, fmt.Errorf("%w: input level %d above the preset's %d", ErrNoPreset, m.Meta.InputLevel, params.MaxLevel())
	}
	return Plan{
		Packing: Batch, Preset: params.Name(), InputLevel: m.Meta.InputLevel,
		LogInputScale: params.LogDefaultScale(), OutputLevel: m.Meta.InputLevel - m.Depth(),
		RescaleAfter: make([]bool, len(m.Layers)),
	}, nil
}

func newBatchEvaluator(m *Model, params he.Parameters, plan Plan, keys *he.EvaluationKeySet, naive bool) (*BatchEvaluator, error) {
	spec, err := m.keySpecFor(Batch, params)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(keys, params, spec, Batch); err != nil {
		return nil, err
	}
	c := m.Circuit()
	return &BatchEvaluator{
		params:  params,
		plan:    plan,
		circuit: c,
		rows:    rowsOf(c),
		pool:    he.NewWorkerPool(params, keys.Keys),
		naive:   naive,
	}, nil
}

// Plan returns the evaluator's plan: the level and scale it expects its
// inputs at.
func (e *BatchEvaluator) Plan() Plan { return e.plan }

// Evaluate runs the model on in, one ciphertext per feature at the plan's
// input level and scale, and returns one ciphertext per class whose slot n
// decrypts to logit o of sample n. Inputs that do not fit the plan get a
// [*CiphertextError].
func (e *BatchEvaluator) Evaluate(ctx context.Context, in []*rlwe.Ciphertext) ([]*rlwe.Ciphertext, error) {
	if want := e.circuit[0].In; len(in) != want {
		return nil, &CiphertextError{Index: -1, Field: "count", Want: fmt.Sprintf("%d (one per feature)", want), Got: fmt.Sprint(len(in))}
	}
	for i, ct := range in {
		if err := checkInput(i, ct, e.params, e.plan.InputLevel, e.plan.InputScale()); err != nil {
			return nil, err
		}
	}
	h := in
	for l := range e.circuit {
		out := make([]*rlwe.Ciphertext, e.circuit[l].Out)
		layer := e.layer
		if e.naive {
			layer = e.naiveLayer
		}
		err := e.pool.ForEach(ctx, len(out), func(w *he.Worker, o int) error {
			ct, err := layer(w.Evaluator, l, o, h)
			out[o] = ct
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("inference: layer %d: %w", l, err)
		}
		h = out
	}
	return h, nil
}

// layer computes unit o of layer l on h, the optimized way: the
// multiply-adds by denseLayer straight on the RNS limbs (degree-2 inputs
// accepted, so the relinearization of the squares is deferred to here,
// once per output instead of once per input), the constant, then either
// the square without relinearization (hidden layers) or the output
// rescalings, one relinearization and the output scale.
func (e *BatchEvaluator) layer(ev *ckks.Evaluator, l, o int, h []*rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	cl := &e.circuit[l]
	deg, lev := h[0].Degree(), h[0].Level()
	u := ckks.NewCiphertext(e.params.Parameters, deg, lev)
	*u.MetaData = *h[0].MetaData
	denseLayer(e.params.Q()[:lev+1], e.rows[l][o], h, u)
	if err := ev.Add(u, cl.Add[o], u); err != nil {
		return nil, err
	}
	if cl.Square {
		if deg == 2 {
			if err := ev.Relinearize(u, u); err != nil {
				return nil, err
			}
		}
		if e.plan.RescaleAfter[l] {
			if err := ev.Rescale(u, u); err != nil {
				return nil, err
			}
		}
		sq := ckks.NewCiphertext(e.params.Parameters, 2, u.Level())
		if err := ev.Mul(u, u, sq); err != nil {
			return nil, err
		}
		return sq, nil
	}
	for range e.plan.OutputRescales {
		if err := ev.Rescale(u, u); err != nil {
			return nil, err
		}
	}
	if u.Degree() == 2 {
		if err := ev.Relinearize(u, u); err != nil {
			return nil, err
		}
	}
	u.Scale = u.Scale.Div(rlwe.NewScale(cl.OutScale[o]))
	return u, nil
}

// naiveLayer is the baseline: lattigo's MulThenAdd per weight, and for
// hidden layers a relinearized square and a rescaling per unit.
func (e *BatchEvaluator) naiveLayer(ev *ckks.Evaluator, l, o int, h []*rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	cl := &e.circuit[l]
	acc := ckks.NewCiphertext(e.params.Parameters, h[0].Degree(), h[0].Level())
	*acc.MetaData = *h[0].MetaData
	for _, t := range e.rows[l][o] {
		w := int64(t.abs)
		if t.neg {
			w = -w
		}
		if err := ev.MulThenAdd(h[t.in], w, acc); err != nil {
			return nil, err
		}
	}
	if err := ev.Add(acc, cl.Add[o], acc); err != nil {
		return nil, err
	}
	if !cl.Square {
		acc.Scale = acc.Scale.Div(rlwe.NewScale(cl.OutScale[o]))
		return acc, nil
	}
	sq := ckks.NewCiphertext(e.params.Parameters, 1, acc.Level())
	if err := ev.MulRelin(acc, acc, sq); err != nil {
		return nil, err
	}
	if err := ev.Rescale(sq, sq); err != nil {
		return nil, err
	}
	return sq, nil
}

// denseLayer is the batch packing's dense layer for one output unit:
//
//	out = Σ_t w_t · in[t.in]   (mod q_j, for every polynomial of the
//	                            ciphertexts and every RNS limb j)
//
// with small signed integer weights, over whole ciphertexts in the NTT
// domain; out's polynomials are overwritten. The inputs share out's degree
// and level. It is exact (the same residues as lattigo's MulThenAdd with
// the integer constants) and is the kernel the accel backends implement
// (DESIGN.md, "Kernel contract": DenseLayer).
//
// Lazy reduction: a weight |w| ≤ 127 times a residue below q < 2^b is below
// 2^(b+7), so a group of 2^(57−b) − 1 terms adds up in a uint64 before one
// Barrett reduction. A negative weight contributes |w|·(q − x) =
// |w|·q − |w|·x: the products are added with two's-complement multipliers
// (wrapping arithmetic is exact modulo 2^64) and the group's Σ|w|·q is added
// at the reduction, where the true sum is back in [0, 2^64).
func denseLayer(moduli []uint64, terms []term, in []*rlwe.Ciphertext, out *rlwe.Ciphertext) {
	const block = 1024
	var acc [block]uint64
	for j, q := range moduli {
		u := ring.BRedConstant(q)
		b := bits.Len64(q)
		if b >= 56 {
			denseLayerWide(j, q, u, terms, in, out)
			continue
		}
		group := 1<<(57-b) - 1
		for p := range out.Value {
			dst := out.Value[p].Coeffs[j]
			n := len(dst)
			for lo := 0; lo < n; lo += block {
				hi := min(lo+block, n)
				a := acc[:hi-lo]
				clear(a)
				var c uint64 // Σ|w|·q of the negative terms since the last reduction
				cnt := 0
				reduce := func() {
					for k := range a {
						a[k] = ring.BRedAdd(a[k]+c, q, u)
					}
					c, cnt = 0, 0
				}
				mul := func(t term) uint64 {
					if t.neg {
						c += t.abs * q
						return -t.abs
					}
					return t.abs
				}
				for g := 0; g < len(terms); {
					if g+1 < len(terms) && group >= 2 {
						if cnt+2 > group {
							reduce()
						}
						m1, m2 := mul(terms[g]), mul(terms[g+1])
						x1 := in[terms[g].in].Value[p].Coeffs[j][lo:hi]
						x2 := in[terms[g+1].in].Value[p].Coeffs[j][lo:hi]
						x1, x2 = x1[:len(a)], x2[:len(a)]
						for k := range a {
							a[k] += m1*x1[k] + m2*x2[k]
						}
						g, cnt = g+2, cnt+2
						continue
					}
					if cnt+1 > group {
						reduce()
					}
					m1 := mul(terms[g])
					x1 := in[terms[g].in].Value[p].Coeffs[j][lo:hi]
					x1 = x1[:len(a)]
					for k := range a {
						a[k] += m1 * x1[k]
					}
					g, cnt = g+1, cnt+1
				}
				for k := range a {
					dst[lo+k] = ring.BRedAdd(a[k]+c, q, u)
				}
			}
		}
	}
}

// denseLayerWide is denseLayer's limb j for moduli of 56 bits or more:
// no room for lazy sums, each product is reduced.
func denseLayerWide(j int, q uint64, u []uint64, terms []term, in []*rlwe.Ciphertext, out *rlwe.Ciphertext) {
	for p := range out.Value {
		dst := out.Value[p].Coeffs[j]
		clear(dst)
		for _, t := range terms {
			x := in[t.in].Value[p].Coeffs[j]
			for k := range dst {
				xv := x[k]
				if t.neg {
					xv = q - xv
				}
				dst[k] = ring.BRedAdd(dst[k]+ring.BRed(xv, t.abs, q, u), q, u)
			}
		}
	}
}
