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
		usage:   "--data FILE [--hidden 32[,16]] [--activation square|poly] [--prune 0.5] [--bits 8] [--distill] --out model.aios",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			data := fs.String("data", "", "training data: CSV (label last, optional scikit-learn header, gzip ok)")
			hidden := fs.String("hidden", "32", "hidden layer widths, comma-separated")
			act := fs.String("activation", "square", "hidden activation: square (x²) or poly (0.125x² + 0.5x + 0.25)")
			prune := fs.Float64("prune", 0.5, "target weight sparsity in [0, 1)")
			bits := fs.Int("bits", 8, "weight bits (2–8, symmetric per output channel)")
			distill := fs.Bool("distill", false, "distil from a larger ReLU teacher")
			teacher := fs.String("teacher-hidden", "128", "teacher hidden layer widths")
			temp := fs.Float64("temperature", 4, "distillation temperature")
			epochs := fs.Int("epochs", 60, "float training epochs")
			fine := fs.Int("finetune", 20, "fine-tuning epochs after pruning and for quantization")
			noQAT := fs.Bool("no-qat", false, "post-training quantization only")
			seed := fs.Uint64("seed", 1, "seed of the split and of training")
			testFrac := fs.Float64("test", 0.2, "test fraction of the stratified split")
			name := fs.String("name", "", "model name (default: the data file's base name)")
			out := fs.String("out", "", "model file to write")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if *data == "" || *out == "" {
					return usagef("--data and --out are required")
				}
				if len(e.args) > 0 {
					return usagef("unexpected arguments %q", e.args)
				}
				opts := train.Options{Prune: *prune, Bits: *bits, Distill: *distill, Temperature: *temp,
					Epochs: *epochs, FineTune: *fine, NoQAT: *noQAT, Seed: *seed}
				var err error
				if opts.Hidden, err = parseWidths(*hidden); err != nil {
					return err
				}
				if opts.TeacherHidden, err = parseWidths(*teacher); err != nil {
					return err
				}
				switch *act {
				case "square":
					opts.Activation = inference.Square
				case "poly":
					opts.Activation = polyActivation
				default:
					return usagef("--activation %q: want square or poly", *act)
				}
				d, err := dataset.LoadCSVFile(*data, dataset.CSVOptions{})
				if err != nil {
					return err
				}
				trainSet, testSet, err := dataset.Split(d, *testFrac, *seed)
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
				m.Meta.Dataset = filepath.Base(*data)
				m.Meta.Name = *name
				if m.Meta.Name == "" {
					m.Meta.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(*data), ".gz"), ".csv")
				}
				m.Meta.Training = fmt.Sprintf("aios train --hidden %s --activation %s --prune %g --bits %d --distill=%t --teacher-hidden %s --temperature %g --epochs %d --finetune %d --no-qat=%t --seed %d --test %g",
					*hidden, *act, *prune, *bits, *distill, *teacher, *temp, *epochs, *fine, *noQAT, *seed, *testFrac)
				if err := inference.WriteFile(*out, m); err != nil {
					return err
				}
				rep := trainReport{Data: *data, Train: trainSet.Len(), Test: testSet.Len(), Stages: res.Stages, Out: *out, Meta: m.Meta}
				return report(e.stdout, *asJSON, rep, func(w io.Writer) error {
					fmt.Fprintf(w, "%s: %d train / %d test samples, %d features, %d classes\n\n", *data, trainSet.Len(), testSet.Len(), d.Features, d.NumClasses())
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
					fmt.Fprintln(tw, "stage\ttest acc\ttrain acc\tnon-zero\tweights\tbytes\t")
					for _, s := range res.Stages {
						fmt.Fprintf(tw, "%s\t%.2f%%\t%.2f%%\t%d\t%d\t%d\t\n", s.Name, 100*s.TestAccuracy, 100*s.TrainAccuracy, s.NonZero, s.Weights, s.Bytes)
					}
					tw.Flush()
					b := m.Meta.Bounds
					fmt.Fprintf(w, "\nbytes: dense float32 for float stages, the model file for quantized ones\n")
					fmt.Fprintf(w, "bounds on the training set: max |x| %.4g, max |pre-activation| %.4g, max |logit| %.4g\n", b.MaxAbsInput, b.MaxAbsPreActivation, b.MaxAbsLogit)
					_, err := fmt.Fprintf(w, "CKKS: depth %d, preset %s, input level %d\nwrote %s\n", m.Meta.Depth, m.Meta.Preset, m.Meta.InputLevel, *out)
					return err
				})
			}
		},
	})
}
