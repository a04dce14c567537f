package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aios-edge/aios/inference"
)

type modelLayerInfo struct {
	In         int        `json:"in"`
	Out        int        `json:"out"`
	NonZero    int        `json:"nonzero_weights"`
	Activation string     `json:"activation"`
	Coeffs     [3]float64 `json:"coefficients,omitempty"`
	MinScale   float64    `json:"min_scale"`
	MaxScale   float64    `json:"max_scale"`
}

type modelInfo struct {
	File    string             `json:"file"`
	Bytes   int                `json:"bytes"`
	Version int                `json:"format_version"`
	Meta    inference.Metadata `json:"metadata"`
	Layers  []modelLayerInfo   `json:"layers"`
	NonZero int                `json:"nonzero_weights"`
	Weights int                `json:"weights"`
}

func init() {
	register(&command{
		name:    "model",
		summary: "inspect model files",
		subs: []*command{{
			name:    "inspect",
			summary: "inspect a model file: metadata, layers, CKKS preset and depth",
			usage:   "FILE [--json]",
			new:     func() runner { return new(modelInspectCmd) },
		}},
	})
}

// modelInspectCmd is `aios model inspect`.
type modelInspectCmd struct {
	asJSON bool
}

func (c *modelInspectCmd) declare(fs *flag.FlagSet) { jsonFlag(fs, &c.asJSON) }

func (c *modelInspectCmd) run(_ context.Context, e *env) error {
	if len(e.args) != 1 {
		return usagef("want: aios model inspect FILE")
	}
	return modelInspect(e, e.args[0], c.asJSON)
}

func modelInspect(e *env, path string, asJSON bool) error {
	m, err := inference.ReadFile(path)
	if err != nil {
		return err
	}
	enc, err := inference.Encode(m)
	if err != nil {
		return err
	}
	info := modelInfo{File: path, Bytes: len(enc), Version: inference.FormatVersion, Meta: m.Meta, NonZero: m.NonZero(), Weights: m.Weights()}
	for i := range m.Layers {
		l := &m.Layers[i]
		li := modelLayerInfo{In: l.In, Out: l.Out, NonZero: l.NonZero(), Activation: l.Act.Kind.String(), MinScale: l.Scale[0], MaxScale: l.Scale[0]}
		if l.Act.Kind == inference.ActPoly {
			li.Coeffs = l.Act.C
		}
		for _, s := range l.Scale {
			li.MinScale, li.MaxScale = min(li.MinScale, s), max(li.MaxScale, s)
		}
		info.Layers = append(info.Layers, li)
	}
	return report(e.stdout, asJSON, info, func(w io.Writer) error {
		md := &m.Meta
		fmt.Fprintf(w, "%s: aios model, format v%d, %d bytes\n", path, info.Version, info.Bytes)
		fmt.Fprintf(w, "name       %s\ndataset    %s\nfeatures   %d\nclasses    %s\ncreated by %s\nseed       %d\n",
			md.Name, md.Dataset, md.Features, strings.Join(md.Classes, ", "), md.CreatedBy, md.Seed)
		if md.Training != "" {
			fmt.Fprintf(w, "training   %s\n", md.Training)
		}
		a := md.Accuracy
		fmt.Fprintf(w, "accuracy   quantized %.2f%% (test, %d samples), train %.2f%%, float %.2f%%", 100*a.Quantized, a.TestSize, 100*a.Train, 100*a.Float)
		if a.Pruned > 0 {
			fmt.Fprintf(w, ", pruned %.2f%%", 100*a.Pruned)
		}
		if a.Distilled > 0 {
			fmt.Fprintf(w, ", distilled %.2f%%, teacher %.2f%%", 100*a.Distilled, 100*a.Teacher)
		}
		fmt.Fprintf(w, "\nCKKS       preset %s, depth %d, input level %d\n", md.Preset, md.Depth, md.InputLevel)
		fmt.Fprintf(w, "bounds     max |x| %.4g, max |pre-activation| %.4g, max |logit| %.4g\n", md.Bounds.MaxAbsInput, md.Bounds.MaxAbsPreActivation, md.Bounds.MaxAbsLogit)
		fmt.Fprintf(w, "weights    %d non-zero of %d\n\n", info.NonZero, info.Weights)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "layer\tin\tout\tnon-zero\tactivation\tscales\tmax |msg|\t")
		for i, l := range info.Layers {
			act := l.Activation
			if l.Activation == "poly" {
				act = fmt.Sprintf("%g+%gz+%gz²", l.Coeffs[0], l.Coeffs[1], l.Coeffs[2])
			}
			msg := 0.0
			if i < len(md.Bounds.Layers) {
				msg = md.Bounds.Layers[i].MaxAbsMsg
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%.3g–%.3g\t%.4g\t\n", i, l.In, l.Out, l.NonZero, act, l.MinScale, l.MaxScale, msg)
		}
		return tw.Flush()
	})
}
