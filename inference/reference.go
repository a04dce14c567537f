package inference

import (
	"fmt"
	"math"
)

// CircuitLayer is one layer of the circuit the encrypted evaluator runs, with
// every constant it needs precomputed (see the package documentation,
// "Circuit").
type CircuitLayer struct {
	In, Out int
	// W are the integer constants of the multiply-adds: u_o = Σ_i W[o·In+i]·h_i.
	W []int8
	// Add are the float constants added to each u_o (no level consumed).
	Add []float64
	// Square: hidden layers square (u_o + Add_o), one relinearization and
	// one rescaling.
	Square bool
	// OutScale (output layer only): logit_o = OutScale_o·(u_o + Add_o). The
	// encrypted evaluator applies it without a level by dividing the output
	// ciphertext's scale by OutScale_o (or the client multiplies after
	// decrypting).
	OutScale []float64
}

// Circuit returns the model's circuit. It assumes a model that passed
// [Model.Validate].
func (m *Model) Circuit() []CircuitLayer {
	c := make([]CircuitLayer, len(m.Layers))
	last := len(m.Layers) - 1
	for i := range m.Layers {
		l := &m.Layers[i]
		cl := CircuitLayer{In: l.In, Out: l.Out, W: l.W, Add: make([]float64, l.Out), Square: i < last}
		shift := 0.0
		if i < last {
			_, shift, _ = l.Act.Completed()
		}
		for o := range cl.Add {
			cl.Add[o] = (l.Bias[o] + shift) / l.Scale[o]
		}
		if i == last {
			cl.OutScale = l.Scale
		}
		c[i] = cl
	}
	return c
}

// Evaluator is the plaintext quantized reference: it performs, in float64,
// exactly the arithmetic of the encrypted circuit (integer weights times
// float values, float constants added, squares, the output scale), so the
// encrypted evaluator's outputs differ from its outputs only by CKKS error.
// An Evaluator is immutable and safe for concurrent use.
type Evaluator struct {
	features int
	circuit  []CircuitLayer
	scale    [][]float64 // per layer, for the real pre-activations in Trace
	bias     [][]float64
}

// NewEvaluator returns the reference evaluator of m after validating it.
func NewEvaluator(m *Model) (*Evaluator, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	e := &Evaluator{features: m.Features(), circuit: m.Circuit()}
	for i := range m.Layers {
		e.scale = append(e.scale, m.Layers[i].Scale)
		e.bias = append(e.bias, m.Layers[i].Bias)
	}
	return e, nil
}

// Predict returns the logits of each sample of x (raw features: the input
// standardisation is folded into the first layer).
func (e *Evaluator) Predict(x [][]float64) ([][]float64, error) {
	out := make([][]float64, len(x))
	for n, xs := range x {
		if len(xs) != e.features {
			return nil, &FeatureCountError{Sample: n, Want: e.features, Got: len(xs)}
		}
		out[n] = e.predictOne(xs, nil)
	}
	return out, nil
}

// observer receives the intermediate values of one evaluation.
type observer func(layer, o int, u, msg float64)

func (e *Evaluator) predictOne(x []float64, obs observer) []float64 {
	h := x
	for li := range e.circuit {
		c := &e.circuit[li]
		next := make([]float64, c.Out)
		for o := range c.Out {
			row := c.W[o*c.In : (o+1)*c.In]
			u := 0.0
			for i, w := range row {
				if w != 0 {
					u += float64(w) * h[i]
				}
			}
			v := u + c.Add[o]
			if obs != nil {
				obs(li, o, u, v)
			}
			if c.Square {
				next[o] = v * v
			} else {
				next[o] = c.OutScale[o] * v
			}
		}
		h = next
	}
	return h
}

// Trace evaluates x and returns the magnitudes the encrypted evaluator must
// accommodate (see [Bounds]).
func (e *Evaluator) Trace(x [][]float64) (Bounds, error) {
	var b Bounds
	b.Layers = make([]LayerBounds, len(e.circuit))
	if len(x) > 0 {
		b.Features = make([]FeatureRange, e.features)
		for i := range b.Features {
			b.Features[i] = FeatureRange{Min: math.Inf(1), Max: math.Inf(-1)}
		}
	}
	last := len(e.circuit) - 1
	for n, xs := range x {
		if len(xs) != e.features {
			return Bounds{}, &FeatureCountError{Sample: n, Want: e.features, Got: len(xs)}
		}
		for i, v := range xs {
			b.MaxAbsInput = max(b.MaxAbsInput, math.Abs(v))
			r := &b.Features[i]
			r.Min, r.Max = min(r.Min, v), max(r.Max, v)
		}
		e.predictOne(xs, func(li, o int, u, v float64) {
			lb := &b.Layers[li]
			lb.MaxAbsSum = max(lb.MaxAbsSum, math.Abs(u))
			lb.MaxAbsMsg = max(lb.MaxAbsMsg, math.Abs(v))
			// The real pre-activation: z = s·u + b.
			z := math.Abs(e.scale[li][o]*u + e.bias[li][o])
			lb.MaxAbsPre = max(lb.MaxAbsPre, z)
			if li < last {
				lb.MaxAbsNext = max(lb.MaxAbsNext, v*v)
				b.MaxAbsPreActivation = max(b.MaxAbsPreActivation, z)
			} else {
				b.MaxAbsLogit = max(b.MaxAbsLogit, z)
			}
		})
	}
	return b, nil
}

// Envelope returns bounds that hold for every input whose features are all
// in [−maxAbsInput, maxAbsInput], by interval arithmetic through the
// circuit: |u_o| ≤ Σ_i |W_oi|·H_i with H the bound of the layer's inputs,
// |v_o| ≤ |u_o| + |c_o|, a hidden layer's outputs bounded by v_o², the
// output layer's by |OutScale_o|·|v_o|. It reads no data: a model trained
// where no aggregate of the data may be released exactly (package fl's
// record-level DP) gets its CKKS plan from it. The bounds are worst cases,
// so they may need a larger preset than [Evaluator.Trace]'s. Features is
// left empty.
func (e *Evaluator) Envelope(maxAbsInput float64) Bounds {
	b := Bounds{MaxAbsInput: maxAbsInput, Layers: make([]LayerBounds, len(e.circuit))}
	h := make([]float64, e.features)
	for i := range h {
		h[i] = maxAbsInput
	}
	last := len(e.circuit) - 1
	for li := range e.circuit {
		c := &e.circuit[li]
		lb := &b.Layers[li]
		next := make([]float64, c.Out)
		for o := range c.Out {
			u := 0.0
			for i, w := range c.W[o*c.In : (o+1)*c.In] {
				u += math.Abs(float64(w)) * h[i]
			}
			v := u + math.Abs(c.Add[o])
			z := math.Abs(e.scale[li][o])*u + math.Abs(e.bias[li][o])
			lb.MaxAbsSum, lb.MaxAbsMsg, lb.MaxAbsPre = max(lb.MaxAbsSum, u), max(lb.MaxAbsMsg, v), max(lb.MaxAbsPre, z)
			if li < last {
				lb.MaxAbsNext = max(lb.MaxAbsNext, v*v)
				b.MaxAbsPreActivation = max(b.MaxAbsPreActivation, z)
			} else {
				b.MaxAbsLogit = max(b.MaxAbsLogit, z)
			}
			if c.Square {
				next[o] = v * v
			} else {
				next[o] = math.Abs(c.OutScale[o]) * v
			}
		}
		h = next
	}
	return b
}

// Argmax returns the index of the largest value of each row (the first on
// ties).
func Argmax(logits [][]float64) []int {
	out := make([]int, len(logits))
	for n, row := range logits {
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[n] = best
	}
	return out
}

// AccuracyOf returns the fraction of predictions equal to labels (0 for no
// samples). It panics if the lengths differ (programmer error).
func AccuracyOf(pred, labels []int) float64 {
	if len(pred) != len(labels) {
		panic("inference: AccuracyOf: length mismatch")
	}
	if len(pred) == 0 {
		return 0
	}
	ok := 0
	for i := range pred {
		if pred[i] == labels[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(pred))
}

// Score returns the reference evaluator's accuracy on (x, y).
func (e *Evaluator) Score(x [][]float64, y []int) (float64, error) {
	logits, err := e.Predict(x)
	if err != nil {
		return 0, err
	}
	if len(y) != len(x) {
		return 0, fmt.Errorf("%w: %d samples, %d labels", ErrMalformed, len(x), len(y))
	}
	return AccuracyOf(Argmax(logits), y), nil
}
