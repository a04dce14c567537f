package inference

import (
	"fmt"
	"math"
	"slices"
)

// ActivationKind names the activation that follows a hidden layer.
type ActivationKind uint8

const (
	// ActNone: no activation (the output layer).
	ActNone ActivationKind = 0
	// ActSquare: a(z) = z².
	ActSquare ActivationKind = 1
	// ActPoly: a(z) = c0 + c1·z + c2·z², c2 ≠ 0.
	ActPoly ActivationKind = 2
)

func (k ActivationKind) String() string {
	switch k {
	case ActNone:
		return "none"
	case ActSquare:
		return "square"
	case ActPoly:
		return "poly"
	}
	return fmt.Sprintf("activation(%d)", uint8(k))
}

// Activation is a degree-2 polynomial activation a(z) = C[0] + C[1]·z +
// C[2]·z², the form the encrypted circuit evaluates with one square. For
// [ActSquare] C is (0, 0, 1).
type Activation struct {
	Kind ActivationKind
	C    [3]float64
}

// Square is the activation a(z) = z².
var Square = Activation{Kind: ActSquare, C: [3]float64{0, 0, 1}}

// Poly returns the activation c0 + c1·z + c2·z².
func Poly(c0, c1, c2 float64) Activation {
	return Activation{Kind: ActPoly, C: [3]float64{c0, c1, c2}}
}

// Eval returns a(z).
func (a Activation) Eval(z float64) float64 {
	if a.Kind == ActNone {
		return z
	}
	return a.C[0] + z*(a.C[1]+z*a.C[2])
}

// Deriv returns a'(z).
func (a Activation) Deriv(z float64) float64 {
	if a.Kind == ActNone {
		return 1
	}
	return a.C[1] + 2*a.C[2]*z
}

// Completed returns the activation in completed-square form
// a(z) = Gain·(z + Shift)² + Offset (Gain = c2, Shift = c1/(2·c2),
// Offset = c0 − c1²/(4·c2)): the form the circuit uses.
func (a Activation) Completed() (gain, shift, offset float64) {
	c0, c1, c2 := a.C[0], a.C[1], a.C[2]
	return c2, c1 / (2 * c2), c0 - c1*c1/(4*c2)
}

func (a Activation) validate(hidden bool) error {
	switch {
	case !hidden && a.Kind != ActNone:
		return fmt.Errorf("%w: the output layer has activation %v", ErrMalformed, a.Kind)
	case !hidden:
		return nil
	case a.Kind == ActSquare:
		if a.C != Square.C {
			return fmt.Errorf("%w: square activation with coefficients %v", ErrMalformed, a.C)
		}
		return nil
	case a.Kind == ActPoly:
		for _, c := range a.C {
			if !finite(c) || math.Abs(c) > 1e6 {
				return fmt.Errorf("%w: activation coefficient %v", ErrMalformed, c)
			}
		}
		if a.C[2] == 0 || math.Abs(a.C[2]) < 1e-6 {
			return fmt.Errorf("%w: poly activation needs a z² coefficient, got %v", ErrMalformed, a.C[2])
		}
		return nil
	}
	return fmt.Errorf("%w: hidden layer with activation %v", ErrMalformed, a.Kind)
}

// Layer is a dense layer with symmetric per-output-channel int8 weights: its
// real-valued pre-activation is z_o = Scale[o]·Σ_i W[o·In+i]·x_i + Bias[o].
// Every layer but the last is followed by Act; how the next layer consumes
// it is the circuit described in the package documentation.
type Layer struct {
	In, Out int
	W       []int8    // Out×In, row-major; values in [−127, 127]
	Scale   []float64 // Out, finite and > 0
	Bias    []float64 // Out, finite
	Act     Activation
}

// NonZero returns the number of non-zero weights.
func (l *Layer) NonZero() int {
	n := 0
	for _, w := range l.W {
		if w != 0 {
			n++
		}
	}
	return n
}

// Metadata describes a model for people and for the encrypted evaluator.
type Metadata struct {
	Name      string   `json:"name"`
	Dataset   string   `json:"dataset"`
	Features  int      `json:"features"`
	Classes   []string `json:"classes"`
	CreatedBy string   `json:"created_by"`
	Created   string   `json:"created,omitempty"` // RFC 3339; empty in reproducible builds
	Seed      uint64   `json:"seed"`
	Training  string   `json:"training,omitempty"` // the command or options that produced it

	// Accuracy figures on the data set's split (dataset.Split(d, 0.2, seed)).
	Accuracy Accuracy `json:"accuracy"`

	// Bounds seen on the training set (see [Model.Trace]).
	Bounds Bounds `json:"bounds"`

	// The CKKS preset the circuit needs ("n13", …; see he.PresetByName),
	// its multiplicative depth (rescalings: one per hidden layer) and the
	// level at which the client should encrypt inputs in that preset.
	Preset     string `json:"preset"`
	Depth      int    `json:"depth"`
	InputLevel int    `json:"input_level"`
}

// Accuracy holds test (and train) accuracies of the stages that produced the
// model, as fractions in [0, 1]; a stage that did not run is 0.
type Accuracy struct {
	Teacher   float64 `json:"teacher,omitempty"`
	Float     float64 `json:"float"`
	Distilled float64 `json:"distilled,omitempty"`
	Pruned    float64 `json:"pruned,omitempty"`
	Quantized float64 `json:"quantized"` // this model, by the reference evaluator
	Train     float64 `json:"train"`     // this model on the training split
	TestSize  int     `json:"test_size"`
}

// Bounds are magnitudes the encrypted evaluator needs to choose scales and
// levels, measured on the training set.
type Bounds struct {
	MaxAbsInput         float64 `json:"max_abs_input"`          // max |x_i| (raw features)
	MaxAbsPreActivation float64 `json:"max_abs_pre_activation"` // max |z| over hidden layers (real values)
	MaxAbsLogit         float64 `json:"max_abs_logit"`
	// Per layer, the largest message in the circuit's ciphertexts (before
	// the square for hidden layers; the output message for the last).
	Layers []LayerBounds `json:"layers"`
	// Features holds, per input feature, the smallest and largest value of
	// the training split, in the units the model takes (raw features: the
	// standardisation is folded into layer 0). They are exact extremes of
	// the training data, so a model discloses them with its contract; a
	// model trained where no party sees the data (package fl) has none.
	Features []FeatureRange `json:"features,omitempty"`
}

// FeatureRange is the span of one input feature on the training split.
type FeatureRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// LayerBounds are the circuit magnitudes of one layer.
type LayerBounds struct {
	MaxAbsPre  float64 `json:"max_abs_pre"`  // max |z| (real pre-activation or logit)
	MaxAbsSum  float64 `json:"max_abs_sum"`  // max |u|, u = Σ W·h (integer weights)
	MaxAbsMsg  float64 `json:"max_abs_msg"`  // max |u + c| (the message squared, or the output message)
	MaxAbsNext float64 `json:"max_abs_next"` // max (u + c)², hidden layers only
}

// Model is a compressed MLP: int8 layers, degree-2 activations, metadata.
// Build one with the train package or [Decode]; check a hand-built one with
// [Model.Validate].
type Model struct {
	Meta   Metadata
	Layers []Layer
}

// Limits on models this package accepts.
const (
	MaxLayers     = 16
	MaxWidth      = 1 << 14 // inputs or outputs of one layer
	MaxLayerSize  = 1 << 22 // weights of one layer
	MaxModelBytes = 64 << 20
	maxMetaBytes  = 1 << 20
	maxClassName  = 256
)

// Depth returns the multiplicative depth of the model's encrypted circuit:
// one rescaling per hidden layer (the square); integer-constant
// multiply-adds, constant additions and the output scale consume none.
func (m *Model) Depth() int { return max(len(m.Layers)-1, 0) }

// Features returns the number of input features.
func (m *Model) Features() int {
	if len(m.Layers) == 0 {
		return 0
	}
	return m.Layers[0].In
}

// NonZero returns the number of non-zero weights of all layers.
func (m *Model) NonZero() int {
	n := 0
	for i := range m.Layers {
		n += m.Layers[i].NonZero()
	}
	return n
}

// Weights returns the number of weights of all layers (zero or not).
func (m *Model) Weights() int {
	n := 0
	for i := range m.Layers {
		n += len(m.Layers[i].W)
	}
	return n
}

// Validate checks every invariant the circuit relies on: shapes chain and
// match the metadata, weights are symmetric int8, scales finite and
// positive, biases finite, hidden layers have a known degree-2 activation
// and the output layer none, the metadata's depth is the circuit's.
func (m *Model) Validate() error {
	if len(m.Layers) == 0 {
		return fmt.Errorf("%w: no layers", ErrMalformed)
	}
	if len(m.Layers) > MaxLayers {
		return fmt.Errorf("%w: %d layers (limit %d)", ErrTooLarge, len(m.Layers), MaxLayers)
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		if l.In <= 0 || l.Out <= 0 || l.In > MaxWidth || l.Out > MaxWidth || l.In*l.Out > MaxLayerSize {
			return fmt.Errorf("%w: layer %d is %d×%d", ErrTooLarge, i, l.Out, l.In)
		}
		if i > 0 && l.In != m.Layers[i-1].Out {
			return &ShapeError{Layer: i, What: "inputs", Want: m.Layers[i-1].Out, Got: l.In}
		}
		if len(l.W) != l.In*l.Out {
			return &ShapeError{Layer: i, What: "weights", Want: l.In * l.Out, Got: len(l.W)}
		}
		if len(l.Scale) != l.Out {
			return &ShapeError{Layer: i, What: "scales", Want: l.Out, Got: len(l.Scale)}
		}
		if len(l.Bias) != l.Out {
			return &ShapeError{Layer: i, What: "biases", Want: l.Out, Got: len(l.Bias)}
		}
		if slices.Contains(l.W, -128) {
			return fmt.Errorf("%w: layer %d: weight −128 (symmetric int8 is [−127, 127])", ErrMalformed, i)
		}
		for o, s := range l.Scale {
			if !finite(s) || s <= 0 || s > 1e6 || s < 1e-30 {
				return fmt.Errorf("%w: layer %d: scale %d is %v (want finite, positive)", ErrMalformed, i, o, s)
			}
		}
		for o, b := range l.Bias {
			if !finite(b) || math.Abs(b) > 1e12 {
				return fmt.Errorf("%w: layer %d: bias %d is %v", ErrMalformed, i, o, b)
			}
		}
		if err := l.Act.validate(i < len(m.Layers)-1); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	md := &m.Meta
	if md.Features != m.Layers[0].In {
		return &ShapeError{Layer: 0, What: "inputs (metadata features)", Want: md.Features, Got: m.Layers[0].In}
	}
	if out := m.Layers[len(m.Layers)-1].Out; len(md.Classes) != out {
		return &ShapeError{Layer: len(m.Layers) - 1, What: "outputs (metadata classes)", Want: len(md.Classes), Got: out}
	}
	if md.Depth != m.Depth() {
		return fmt.Errorf("%w: metadata depth %d, the circuit has %d", ErrMalformed, md.Depth, m.Depth())
	}
	if md.InputLevel < md.Depth {
		return fmt.Errorf("%w: input level %d below the depth %d", ErrMalformed, md.InputLevel, md.Depth)
	}
	for _, c := range md.Classes {
		if len(c) > maxClassName {
			return fmt.Errorf("%w: class name of %d bytes", ErrTooLarge, len(c))
		}
	}
	if len(md.Bounds.Layers) != 0 && len(md.Bounds.Layers) != len(m.Layers) {
		return fmt.Errorf("%w: bounds for %d layers, model has %d", ErrMalformed, len(md.Bounds.Layers), len(m.Layers))
	}
	if err := checkRanges(md.Bounds.Features, m.Features()); err != nil {
		return err
	}
	return nil
}

// checkRanges checks per-feature training ranges (none is allowed) against
// the input width.
func checkRanges(rs []FeatureRange, features int) error {
	if len(rs) == 0 {
		return nil
	}
	if len(rs) != features {
		return fmt.Errorf("%w: training ranges for %d features, the model takes %d", ErrMalformed, len(rs), features)
	}
	for i, r := range rs {
		if !finite(r.Min) || !finite(r.Max) || r.Min > r.Max {
			return fmt.Errorf("%w: training range of feature %d is [%v, %v]", ErrMalformed, i, r.Min, r.Max)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
