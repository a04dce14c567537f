// Package train trains and compresses the HE-friendly networks that aios
// evaluates on encrypted inputs: a multilayer perceptron with degree-2
// activations (x², or a fixed degree-2 polynomial trained as such), softmax
// cross-entropy, mini-batch Adam; then magnitude pruning with fine-tuning,
// symmetric per-output-channel int8 quantization (post-training, then
// quantization-aware fine-tuning with a straight-through estimator), and
// optionally knowledge distillation from a larger ReLU teacher. The result
// is an [inference.Model] whose first layer absorbs the input
// standardisation, so that clients encrypt raw features.
//
// Most callers want [Run]. Everything is deterministic given
// [Options.Seed]: one PCG generator per stage, seeded from it.
package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

// ErrOptions: invalid training options.
var ErrOptions = errors.New("train: invalid options")

// Options configures [Run]. Zero fields take the defaults noted.
type Options struct {
	Hidden     []int                // hidden layer widths, e.g. {32} (required)
	Activation inference.Activation // inference.Square (default) or a Poly
	Epochs     int                  // float training epochs (default 60)
	FineTune   int                  // epochs of pruning and of quantization fine-tuning (default 20)
	Batch      int                  // mini-batch size (default 32)
	LR         float64              // Adam step size (default 0.002)
	// WeightDecay is the L2 coefficient (default 1e-4); it also keeps the
	// square activations' pre-activations modest.
	WeightDecay float64
	Prune       float64 // target sparsity of the weights, in [0, 1)
	Bits        int     // weight bits, 2 … 8 (default 8)
	NoQAT       bool    // skip quantization-aware fine-tuning
	// StdFloor raises small feature deviations (see FitStandardizer);
	// default 0.1, negative for none.
	StdFloor float64

	Distill       bool
	TeacherHidden []int   // default {128}
	Temperature   float64 // default 4
	Alpha         float64 // weight of the soft targets (default 0.7)

	Seed     uint64
	Progress func(Progress) // per-epoch report; may be nil
}

// Progress is one epoch's report.
type Progress struct {
	Stage  string
	Epoch  int
	Epochs int
	Loss   float64 // mean hard-label cross-entropy over the epoch
}

// Stage is one row of the compression report.
type Stage struct {
	Name          string  `json:"name"`
	TestAccuracy  float64 `json:"test_accuracy"`
	TrainAccuracy float64 `json:"train_accuracy"`
	NonZero       int     `json:"nonzero_weights"`
	Weights       int     `json:"weights"`
	// Bytes: dense float32 weights and biases for float stages, the model
	// file for quantized ones.
	Bytes int `json:"bytes"`
}

// Result is what [Run] produced.
type Result struct {
	Model  *inference.Model
	Stages []Stage
	Std    Standardizer
	Net    *Net // the final student in float, with fake-quantized weights
}

func (o *Options) defaults() error {
	if len(o.Hidden) == 0 {
		return fmt.Errorf("%w: no hidden layer", ErrOptions)
	}
	for _, h := range append(append([]int(nil), o.Hidden...), o.TeacherHidden...) {
		if h <= 0 || h > 4096 {
			return fmt.Errorf("%w: hidden width %d", ErrOptions, h)
		}
	}
	if len(o.Hidden) > inference.MaxLayers-1 {
		return fmt.Errorf("%w: %d hidden layers", ErrOptions, len(o.Hidden))
	}
	if o.Activation.Kind == inference.ActNone {
		o.Activation = inference.Square
	}
	if (o.Activation.Kind != inference.ActSquare && o.Activation.Kind != inference.ActPoly) || o.Activation.C[2] == 0 {
		return fmt.Errorf("%w: activation %v %v", ErrOptions, o.Activation.Kind, o.Activation.C)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Epochs, 60)
	def(&o.FineTune, 20)
	def(&o.Batch, 32)
	def(&o.Bits, 8)
	if o.Bits < 2 || o.Bits > 8 {
		return fmt.Errorf("%w: %d bits (want 2 … 8)", ErrOptions, o.Bits)
	}
	if o.LR <= 0 {
		o.LR = 0.002
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 1e-4
	}
	if o.StdFloor == 0 {
		o.StdFloor = 0.1
	}
	if !(o.Prune >= 0 && o.Prune < 1) {
		return fmt.Errorf("%w: sparsity %v outside [0, 1)", ErrOptions, o.Prune)
	}
	if len(o.TeacherHidden) == 0 {
		o.TeacherHidden = []int{128}
	}
	if o.Temperature <= 0 {
		o.Temperature = 4
	}
	if o.Alpha <= 0 || o.Alpha >= 1 {
		o.Alpha = 0.7
	}
	return nil
}

func sizes(in int, hidden []int, out int) []int {
	return append(append([]int{in}, hidden...), out)
}

// Run trains and compresses a model on trainSet and reports each stage's
// accuracy on testSet. The stages: "teacher" and "distilled" (with
// Distill), "float", "pruned" (with Prune > 0), "quantized (PTQ)" and
// "quantized" (after quantization-aware fine-tuning, unless NoQAT). The
// model is the last stage's; its metadata carries the accuracies, the
// training-set bounds and the CKKS preset chosen by
// [inference.ChoosePreset].
func Run(ctx context.Context, trainSet, testSet *dataset.Dataset, opts Options) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if trainSet.Len() == 0 || testSet.Len() == 0 {
		return nil, fmt.Errorf("%w: empty train or test set", ErrOptions)
	}
	if testSet.Features != trainSet.Features {
		return nil, &dataset.FeatureCountError{Want: trainSet.Features, Got: testSet.Features}
	}
	k := trainSet.NumClasses()
	std := FitStandardizer(trainSet.X, max(opts.StdFloor, 0))
	xtr, xte := std.Apply(trainSet.X), std.Apply(testSet.X)
	res := &Result{Std: std}
	rng := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(opts.Seed, stream)) }
	cfg := func(stage string, epochs int) fitConfig {
		return fitConfig{epochs: epochs, batch: opts.Batch, lr: opts.LR, weightDecay: opts.WeightDecay, clip: 5, stage: stage}
	}
	score := func(n *Net, w []*mat.Dense, x [][]float64, y []int) float64 {
		return inference.AccuracyOf(inference.Argmax(n.logitsWith(x, w)), y)
	}
	floatStage := func(name string, n *Net) Stage {
		return Stage{Name: name, TestAccuracy: score(n, n.W, xte, testSet.Y), TrainAccuracy: score(n, n.W, xtr, trainSet.Y),
			NonZero: n.NonZero(), Weights: n.Weights(), Bytes: n.FloatBytes()}
	}
	var acc inference.Accuracy

	// Float student on hard labels.
	student := NewNet(sizes(trainSet.Features, opts.Hidden, k), opts.Activation, false, rng(1))
	if err := fit(ctx, student, xtr, trainSet.Y, k, cfg("float", opts.Epochs), rng(2), opts.Progress); err != nil {
		return nil, err
	}
	st := floatStage("float", student)
	acc.Float = st.TestAccuracy
	res.Stages = append(res.Stages, st)

	if opts.Distill {
		teacher := NewNet(sizes(trainSet.Features, opts.TeacherHidden, k), inference.Activation{}, true, rng(3))
		if err := fit(ctx, teacher, xtr, trainSet.Y, k, cfg("teacher", opts.Epochs), rng(4), opts.Progress); err != nil {
			return nil, err
		}
		st := floatStage("teacher", teacher)
		acc.Teacher = st.TestAccuracy
		res.Stages = append(res.Stages, st)
		d := NewNet(sizes(trainSet.Features, opts.Hidden, k), opts.Activation, false, rng(1))
		c := cfg("distilled", opts.Epochs)
		c.teacher, c.temp, c.alpha = teacher.Logits(xtr), opts.Temperature, opts.Alpha
		if err := fit(ctx, d, xtr, trainSet.Y, k, c, rng(5), opts.Progress); err != nil {
			return nil, err
		}
		st = floatStage("distilled", d)
		acc.Distilled = st.TestAccuracy
		res.Stages = append(res.Stages, st)
		student = d
	}

	if opts.Prune > 0 {
		if err := Prune(student, opts.Prune); err != nil {
			return nil, err
		}
		if err := fit(ctx, student, xtr, trainSet.Y, k, cfg("pruned", opts.FineTune), rng(6), opts.Progress); err != nil {
			return nil, err
		}
		st := floatStage("pruned", student)
		acc.Pruned = st.TestAccuracy
		res.Stages = append(res.Stages, st)
	}

	quantStage := func(name string) (*inference.Model, Stage, error) {
		m, err := Compress(student, std, opts.Bits, trainSet.Classes)
		if err != nil {
			return nil, Stage{}, err
		}
		ev, err := inference.NewEvaluator(m)
		if err != nil {
			return nil, Stage{}, fmt.Errorf("train: compressed model invalid: %w", err)
		}
		te, err := ev.Score(testSet.X, testSet.Y)
		if err != nil {
			return nil, Stage{}, err
		}
		tr, err := ev.Score(trainSet.X, trainSet.Y)
		if err != nil {
			return nil, Stage{}, err
		}
		enc, err := inference.Encode(m)
		if err != nil {
			return nil, Stage{}, err
		}
		return m, Stage{Name: name, TestAccuracy: te, TrainAccuracy: tr, NonZero: m.NonZero(), Weights: m.Weights(), Bytes: len(enc)}, nil
	}
	m, st, err := quantStage("quantized (PTQ)")
	if err != nil {
		return nil, err
	}
	if !opts.NoQAT {
		res.Stages = append(res.Stages, st)
		c := cfg("quantized", opts.FineTune)
		c.lr /= 4
		c.weights = func(n *Net) []*mat.Dense { return quantize(n, std, opts.Bits).deq }
		if err := fit(ctx, student, xtr, trainSet.Y, k, c, rng(7), opts.Progress); err != nil {
			return nil, err
		}
		if m, st, err = quantStage("quantized"); err != nil {
			return nil, err
		}
	}
	acc.Quantized, acc.Train, acc.TestSize = st.TestAccuracy, st.TrainAccuracy, testSet.Len()
	ev, _ := inference.NewEvaluator(m)
	b, err := ev.Trace(trainSet.X)
	if err != nil {
		return nil, err
	}
	m.Meta.Accuracy, m.Meta.Bounds, m.Meta.Seed = acc, b, opts.Seed
	m.Meta.CreatedBy = "aios train"
	if m.Meta.Preset, m.Meta.InputLevel, err = inference.ChoosePreset(b); err != nil {
		return nil, err
	}
	enc, err := inference.Encode(m)
	if err != nil {
		return nil, err
	}
	st.Bytes = len(enc)
	res.Stages = append(res.Stages, st)
	// The float net with the weights the int8 model realises.
	res.Net = Quantized(student, std, opts.Bits)
	res.Model = m
	return res, nil
}
