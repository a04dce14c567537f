package inference

import (
	"fmt"
	"math"

	"github.com/aios-edge/aios/he"
)

// MarginBits is the headroom, in bits, that [ChoosePreset] leaves above the
// largest message seen on the training set (a factor 2^MarginBits for
// inputs the training set did not show), plus one bit for the sign.
const MarginBits = 3

// ChoosePreset returns the smallest built-in CKKS preset, and the lowest
// level in it at which the client should encrypt, such that the circuit of a
// model with depth len(b.Layers)−1 fits: it needs one level per hidden layer,
// and at every step the ciphertext's coefficients (message × scale) must stay
// below half the modulus of its level:
//
//   - layer l's multiply-add and constant at level L−l: (max|u|, max|u+c|)·2^MarginBits·Δ;
//   - its square, before the rescaling, at level L−l: (max|u+c|·2^MarginBits·Δ)²;
//   - the output message at level L−depth: max|u+c|·2^MarginBits·Δ;
//
// with Δ the preset's default scale (every rescaling prime is about Δ, so
// each ciphertext is back at scale Δ after its rescale). Presets are tried
// from he.PresetForDepth(depth) upwards in he.PresetNames order.
func ChoosePreset(b Bounds) (name string, inputLevel int, err error) {
	return choosePreset(b, nil)
}

// choosePreset is ChoosePreset taking only a (preset, level) at which the
// bounds fit and usable, if given, returns no error; where none is, the
// error is the last one usable returned.
func choosePreset(b Bounds, usable func(name string, p he.Parameters, level int) error) (string, int, error) {
	depth := len(b.Layers) - 1
	if depth < 0 {
		return "", 0, fmt.Errorf("%w: no layer bounds", ErrMalformed)
	}
	first, err := he.PresetForDepth(depth)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrNoPreset, err)
	}
	started := false
	var refused error
	for _, n := range he.PresetNames() {
		if n == first.Name() {
			started = true
		}
		if !started {
			continue
		}
		p, err := he.PresetByName(n)
		if err != nil {
			return "", 0, err
		}
		logQ := make([]float64, 0, len(p.Q()))
		acc := 0.0
		for _, q := range p.Q() {
			acc += math.Log2(float64(q))
			logQ = append(logQ, acc) // logQ[l]: log2 of the modulus at level l
		}
		logScale := math.Log2(p.DefaultScale().Float64())
		for L := depth; L <= p.MaxLevel(); L++ {
			if !fits(b, logQ, logScale, L) {
				continue
			}
			if usable == nil {
				return n, L, nil
			}
			if refused = usable(n, p, L); refused == nil {
				return n, L, nil
			}
		}
	}
	if refused != nil {
		return "", 0, refused
	}
	return "", 0, fmt.Errorf("%w: depth %d, largest message 2^%.1f", ErrNoPreset, depth, largestLog2(b))
}

func fits(b Bounds, logQ []float64, logScale float64, top int) bool {
	last := len(b.Layers) - 1
	for l, lb := range b.Layers {
		level := top - l
		room := logQ[level] - 1 // |coefficient| < Q/2
		msg := log2(max(lb.MaxAbsSum, lb.MaxAbsMsg)) + MarginBits + logScale
		if msg >= room {
			return false
		}
		if l < last && 2*(log2(lb.MaxAbsMsg)+MarginBits+logScale) >= room {
			return false
		}
	}
	return true
}

func log2(v float64) float64 { return math.Log2(max(v, 1)) }

func largestLog2(b Bounds) float64 {
	m := 0.0
	for _, lb := range b.Layers {
		m = max(m, log2(lb.MaxAbsSum), log2(lb.MaxAbsMsg))
	}
	return m
}

// ChooseModelPreset is [ChoosePreset] for a model whose metadata holds its
// bounds: the smallest preset, and its lowest level, at which the bounds
// fit and both packings also have a plan ([Model.PlanFor]: the estimated
// logit error within [MaxRelativeLogitError]). A model whose
// bounds fit a preset can still miss that error bound in it (a small
// scale at its only fitting level); the next preset's larger modulus then
// serves it. m is not modified.
func ChooseModelPreset(m *Model) (name string, inputLevel int, err error) {
	return choosePreset(m.Meta.Bounds, func(name string, p he.Parameters, level int) error {
		c := *m
		c.Meta.Preset, c.Meta.InputLevel = name, level
		if _, err := c.PlanFor(Single, p); err != nil {
			return err
		}
		_, err := c.PlanFor(Batch, p)
		return err
	})
}
