package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/inference/train"
)

// polyActivation is the activation --activation poly trains: 0.125·z² +
// 0.5·z + 0.25 = 0.125·(z + 2)², the degree-2 least-squares fit of ReLU on
// [−4, 4] rounded to short constants (as in Hesamifard et al.,
// "CryptoDL", 2017).
var polyActivation = inference.Poly(0.25, 0.5, 0.125)

type trainReport struct {
	Data   string             `json:"data"`
	Train  int                `json:"train_samples"`
	Test   int                `json:"test_samples"`
	Stages []train.Stage      `json:"stages"`
	Out    string             `json:"out"`
	Meta   inference.Metadata `json:"metadata"`
}

func parseWidths(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, usagef("bad layer width %q in %q", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

func init() {
	register(&command{
		name:    "train",
		summary: "train and compress an HE-friendly model (float, distilled, pruned, int8) and write it",
		usage:   "--data FILE [--hidden 32[,16]] [--activation square|poly] [--prune 0.5] [--bits 8] [--distill] --out model.aios [--force]",
		new:     func() runner { return new(trainCmd) },
	})
}

// trainCmd is `aios train`.
type trainCmd struct {
	data, hidden, act, teacher, name, out string
	prune, temp, testFrac                 float64
	bits, epochs, fine                    int
	distill, noQAT, force, asJSON         bool
	seed                                  uint64
}

func (c *trainCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "", "training data: CSV (label last, optional scikit-learn header, gzip ok)")
	fs.StringVar(&c.hidden, "hidden", "32", "hidden layer widths, comma-separated")
	fs.StringVar(&c.act, "activation", "square", "hidden activation: square (x²) or poly (0.125x² + 0.5x + 0.25)")
	fs.Float64Var(&c.prune, "prune", 0.5, "target weight sparsity in [0, 1)")
	fs.IntVar(&c.bits, "bits", 8, "weight bits (2–8, symmetric per output channel)")
	fs.BoolVar(&c.distill, "distill", false, "distil from a larger ReLU teacher")
	fs.StringVar(&c.teacher, "teacher-hidden", "128", "teacher hidden layer widths")
	fs.Float64Var(&c.temp, "temperature", 4, "distillation temperature")
	fs.IntVar(&c.epochs, "epochs", 60, "float training epochs")
	fs.IntVar(&c.fine, "finetune", 20, "fine-tuning epochs after pruning and for quantization")
	fs.BoolVar(&c.noQAT, "no-qat", false, "post-training quantization only")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the split and of training")
	fs.Float64Var(&c.testFrac, "test", 0.2, "test fraction of the stratified split")
	fs.StringVar(&c.name, "name", "", "model name (default: the data file's base name)")
	fs.StringVar(&c.out, "out", "", "model file to write")
	fs.BoolVar(&c.force, "force", false, "overwrite an existing model file")
	jsonFlag(fs, &c.asJSON)
}

func (c *trainCmd) run(ctx context.Context, e *env) error {
	if c.data == "" || c.out == "" {
		return usagef("--data and --out are required")
	}
	if err := noArgs(e); err != nil {
		return err
	}
	opts, err := c.options()
	if err != nil {
		return err
	}
	if err := refuseExisting(c.out, c.force); err != nil { // before the training, not after
		return err
	}
	d, err := dataset.LoadCSVFile(c.data, dataset.CSVOptions{})
	if err != nil {
		return err
	}
	trainSet, testSet, err := dataset.Split(d, c.testFrac, c.seed)
	if err != nil {
		return usagef("%v", err)
	}
	opts.Progress = func(p train.Progress) {
		fmt.Fprintf(e.stderr, "%-10s epoch %3d/%d  loss %.4f\n", p.Stage, p.Epoch, p.Epochs, p.Loss)
	}
	res, err := train.Run(ctx, trainSet, testSet, opts)
	if err != nil {
		return err
	}
	m := res.Model
	m.Meta.Dataset = filepath.Base(c.data)
	m.Meta.Name = c.name
	if m.Meta.Name == "" {
		m.Meta.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(c.data), ".gz"), ".csv")
	}
	m.Meta.Training = fmt.Sprintf("aios train --hidden %s --activation %s --prune %g --bits %d --distill=%t --teacher-hidden %s --temperature %g --epochs %d --finetune %d --no-qat=%t --seed %d --test %g",
		c.hidden, c.act, c.prune, c.bits, c.distill, c.teacher, c.temp, c.epochs, c.fine, c.noQAT, c.seed, c.testFrac)
	b, err := inference.Encode(m)
	if err != nil {
		return err
	}
	if err := writeFileWith(c.out, 0o644, c.force, writeBytes(b)); err != nil {
		return err
	}
	rep := trainReport{Data: c.data, Train: trainSet.Len(), Test: testSet.Len(), Stages: res.Stages, Out: c.out, Meta: m.Meta}
	return report(e.stdout, c.asJSON, rep, func(w io.Writer) error { return c.printReport(w, rep, d) })
}

// options turns the flags into training options.
func (c *trainCmd) options() (train.Options, error) {
	opts := train.Options{Prune: c.prune, Bits: c.bits, Distill: c.distill, Temperature: c.temp,
		Epochs: c.epochs, FineTune: c.fine, NoQAT: c.noQAT, Seed: c.seed}
	var err error
	if opts.Hidden, err = parseWidths(c.hidden); err != nil {
		return opts, err
	}
	if opts.TeacherHidden, err = parseWidths(c.teacher); err != nil {
		return opts, err
	}
	switch c.act {
	case "square":
		opts.Activation = inference.Square
	case "poly":
		opts.Activation = polyActivation
	default:
		return opts, usagef("--activation %q: want square or poly", c.act)
	}
	return opts, nil
}

func (c *trainCmd) printReport(w io.Writer, rep trainReport, d *dataset.Dataset) error {
	fmt.Fprintf(w, "%s: %d train / %d test samples, %d features, %d classes\n\n", c.data, rep.Train, rep.Test, d.Features, d.NumClasses())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\ttest acc\ttrain acc\tnon-zero\tweights\tbytes\t")
	for _, s := range rep.Stages {
		fmt.Fprintf(tw, "%s\t%.2f%%\t%.2f%%\t%d\t%d\t%d\t\n", s.Name, 100*s.TestAccuracy, 100*s.TrainAccuracy, s.NonZero, s.Weights, s.Bytes)
	}
	tw.Flush()
	md := rep.Meta
	b := md.Bounds
	fmt.Fprintf(w, "\nbytes: dense float32 for float stages, the model file for quantized ones\n")
	fmt.Fprintf(w, "bounds on the training set: max |x| %.4g, max |pre-activation| %.4g, max |logit| %.4g\n", b.MaxAbsInput, b.MaxAbsPreActivation, b.MaxAbsLogit)
	_, err := fmt.Fprintf(w, "CKKS: depth %d, preset %s, input level %d\nwrote %s\n", md.Depth, md.Preset, md.InputLevel, c.out)
	return err
}
