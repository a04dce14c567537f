package inference

import (
	"context"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/he"
)

// BatchEvaluator runs a model on batch-packed ciphertexts (see [Batch] and
// [Plan]): ciphertext i holds feature i of up to N/2 samples, and output
// ciphertext o holds logit o of each sample. It is safe for concurrent use.
// The dense layers (integer multiply-adds of whole ciphertexts) run on an
// accel backend — all CPU cores, or a GPU — and the squares, relinearizations
// and rescalings spread over all cores, each goroutine with its own lattigo
// evaluator.
type BatchEvaluator struct {
	params  he.Parameters
	plan    Plan
	circuit []CircuitLayer
	weights [][]int64 // per layer, the circuit's W as the backend takes it
	pool    *he.WorkerPool
	backend accel.Backend
	naive   bool
}

// NewBatchEvaluator returns the optimized batch evaluator of m on a
// client's evaluation keys, which must be for the model's preset and hold
// the relinearization key ([Model.KeySpec]). Its dense layers run on the
// pure-Go cpu backend (all cores); [NewBatchEvaluatorOn] takes another.
func NewBatchEvaluator(m *Model, keys *he.EvaluationKeySet) (*BatchEvaluator, error) {
	return NewBatchEvaluatorOn(accel.CPU(), m, keys)
}

// NewBatchEvaluatorOn is NewBatchEvaluator with the dense layers on be (the
// backend the caller selected, e.g. with accel.SelectByName).
func NewBatchEvaluatorOn(be accel.Backend, m *Model, keys *he.EvaluationKeySet) (*BatchEvaluator, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	plan, err := m.PlanFor(Batch, params)
	if err != nil {
		return nil, err
	}
	e, err := newBatchEvaluator(m, params, plan, keys, false)
	if err != nil {
		return nil, err
	}
	e.backend = be
	return e, nil
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
	weights := make([][]int64, len(c))
	for l, cl := range c {
		weights[l] = make([]int64, len(cl.W))
		for i, w := range cl.W {
			weights[l][i] = int64(w)
		}
	}
	return &BatchEvaluator{
		params:  params,
		plan:    plan,
		circuit: c,
		weights: weights,
		pool:    he.NewWorkerPool(params, keys.Keys),
		naive:   naive,
	}, nil
}

// Backend names the kernel backend of the dense layers ("" for the naive
// baseline, which uses lattigo's evaluator).
func (e *BatchEvaluator) Backend() string {
	if e.backend == nil {
		return ""
	}
	return e.backend.Name()
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
		var dense []*rlwe.Ciphertext
		if !e.naive {
			var err error
			if dense, err = denseLayer(e.backend, e.params, e.circuit[l].Out, e.weights[l], e.circuit[l].Add, h); err != nil {
				return nil, fmt.Errorf("inference: layer %d: %w", l, err)
			}
		}
		out := make([]*rlwe.Ciphertext, e.circuit[l].Out)
		err := e.pool.ForEach(ctx, len(out), func(w *he.Worker, o int) (err error) {
			if e.naive {
				out[o], err = e.naiveLayer(w.Evaluator, l, o, h)
			} else {
				out[o], err = e.finish(w.Evaluator, l, o, dense[o])
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("inference: layer %d: %w", l, err)
		}
		h = out
	}
	return h, nil
}

// denseLayer computes u_o = Σ_i W[o·len(h)+i]·h_i + add_o for every output
// unit o on the backend, over whole ciphertexts in the NTT domain (degree-2
// inputs accepted, so the relinearization of the squares is deferred past
// it, once per output instead of once per input). The result equals
// lattigo's MulThenAdd with the integer constants followed by Add of the
// constant, bit for bit (the contract of accel.Backend.DenseLayer).
func denseLayer(be accel.Backend, params he.Parameters, outs int, w []int64, add []float64, h []*rlwe.Ciphertext) ([]*rlwe.Ciphertext, error) {
	L, d := h[0].Level(), h[0].Degree()
	lay := accel.CiphertextLayout(params.N(), params.Q()[:L+1], d)
	rows := func(ct *rlwe.Ciphertext) [][]uint64 {
		r := make([][]uint64, 0, lay.Rows())
		for _, p := range ct.Value {
			r = append(r, p.Coeffs[:L+1]...)
		}
		return r
	}
	args := &accel.DenseLayerArgs{Layout: lay, Weights: w, In: make([][][]uint64, len(h)),
		Out: make([][][]uint64, outs), Bias: make([][]uint64, outs)}
	for i, ct := range h {
		args.In[i] = rows(ct)
	}
	out := make([]*rlwe.Ciphertext, outs)
	for o := range out {
		out[o] = ckks.NewCiphertext(params.Parameters, d, L)
		*out[o].MetaData = *h[0].MetaData
		args.Out[o] = rows(out[o])
		var err error
		v := accel.ScaledConstant(add[o], h[0].Scale, params.EncodingPrecision())
		if args.Bias[o], err = accel.BiasResidues(lay, L+1, v); err != nil {
			return nil, err
		}
	}
	if err := be.DenseLayer(args); err != nil {
		return nil, err
	}
	return out, nil
}

// finish completes unit o of layer l from its dense-layer output u: the
// square without relinearization (hidden layers; the next dense layer
// takes degree-2 inputs) or the output rescalings, one relinearization and
// the output scale.
func (e *BatchEvaluator) finish(ev *ckks.Evaluator, l, o int, u *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	cl := &e.circuit[l]
	deg := u.Degree()
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
	for i, w := range e.weights[l][o*cl.In : (o+1)*cl.In] {
		if w == 0 {
			continue
		}
		if err := ev.MulThenAdd(h[i], w, acc); err != nil {
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
