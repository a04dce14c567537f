package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/train"
)

// net lays the global parameters out as a net (per layer the weights
// row-major, then the biases, as package fl does).
func (d *flDemo) net(g *schema.FLGlobal) (*train.Net, error) {
	act := inference.Square
	if g.Activation == "poly" {
		act = polyActivation
	}
	n := &train.Net{Sizes: g.Sizes, Act: act}
	off := 0
	for l := 0; l+1 < len(g.Sizes); l++ {
		in, out := g.Sizes[l], g.Sizes[l+1]
		if off+in*out+out > len(g.Params) {
			return nil, errors.New("the global model does not match its sizes")
		}
		n.W = append(n.W, mat.NewDense(out, in, append([]float64(nil), g.Params[off:off+in*out]...)))
		off += in * out
		n.B = append(n.B, append([]float64(nil), g.Params[off:off+out]...))
		off += out
	}
	return n, nil
}

// finish trains the centralized baseline, scores the final model in
// float, int8 and under CKKS, and writes it.
func (d *flDemo) finish(ctx context.Context) error {
	g, err := d.cl.Nodes[0].Client.FederationGlobal(ctx, d.fedID)
	if err != nil {
		return err
	}
	if d.rep.Final.Accuracy, err = d.scoreGlobal(ctx); err != nil {
		return err
	}
	base, err := d.centralized(g.Sizes)
	if err != nil {
		return err
	}
	d.rep.CentralizedAccuracy = base
	file, err := d.cl.Nodes[0].Client.FederationModel(ctx, d.fedID)
	if err != nil {
		return err
	}
	m, err := inference.Decode(file)
	if err != nil {
		return err
	}
	return d.scoreModel(ctx, m)
}

// centralized trains the same architecture on the union of the parts for
// the federation's epoch budget (rounds × local epochs), at a constant
// Adam step of --baseline-lr.
func (d *flDemo) centralized(sizes []int) (float64, error) {
	act := inference.Square
	if d.act == "poly" {
		act = polyActivation
	}
	std := train.FitStandardizer(d.trainSet.X, 0.1)
	n := train.NewNet(sizes, act, false, rand.New(rand.NewPCG(d.seed, 1)))
	err := train.Fit(context.Background(), n, std.Apply(d.trainSet.X), d.trainSet.Y, len(d.trainSet.Classes),
		train.FitOptions{Epochs: d.rounds * d.epochs, Batch: d.batch, LR: d.baselineLR, Seed: d.seed})
	if err != nil {
		return 0, err
	}
	return inference.AccuracyOf(inference.Argmax(n.Logits(std.Apply(d.test.X))), d.test.Y), nil
}

// scoreModel scores the final int8 model in plaintext and encrypted (the
// batch packing, in this process, as aios eval --encrypted) and writes it.
func (d *flDemo) scoreModel(ctx context.Context, m *inference.Model) error {
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		return err
	}
	want, err := ref.Predict(d.test.X)
	if err != nil {
		return err
	}
	f := &d.rep.Final
	f.CompressedAccuracy = inference.AccuracyOf(inference.Argmax(want), d.test.Y)
	f.Preset, f.NonZero, f.Weights = m.Meta.Preset, m.NonZero(), m.Weights()
	enc, err := evalEncrypted(ctx, io.Discard, m, inference.Batch, false, d.test.X, d.test.Y, want)
	if err != nil {
		return err
	}
	f.EncryptedAccuracy, f.EncryptedAgreement = enc.Accuracy, enc.Agreement
	if d.out != "" {
		return inference.WriteFile(d.out, m)
	}
	return nil
}

func (d *flDemo) printSummary(w io.Writer) error {
	r := d.rep
	f := r.Final
	fmt.Fprintf(w, "%s: %d nodes, t = %d, %s; %d parameters (raw float32 update %d B)\n", r.Data, r.Nodes, r.Threshold, r.Partition, r.Parameters, r.RawUpdateBytes)
	fmt.Fprintf(w, "centralized baseline (same architecture, %d epochs on the union, Adam step %g): %.4f\n", d.rounds*d.epochs, d.baselineLR, r.CentralizedAccuracy)
	fmt.Fprintf(w, "federated, float:            %.4f\n", f.Accuracy)
	fmt.Fprintf(w, "federated, int8 (%d/%d non-zero): %.4f\n", f.NonZero, f.Weights, f.CompressedAccuracy)
	fmt.Fprintf(w, "encrypted (CKKS %s):          %.4f, agreement with int8 %.4f\n", f.Preset, f.EncryptedAccuracy, f.EncryptedAgreement)
	if f.Epsilon != nil {
		fmt.Fprintf(w, "privacy: record-level DP, (ε, δ) = (%.4f, %g) spent from budget %s (noise multiplier %g); model %s on node 0; %.1f s wall\n",
			*f.Epsilon, *f.Delta, r.Budget, r.NoiseMultiplier, f.ModelID, r.WallSeconds)
		return nil
	}
	fmt.Fprintf(w, "privacy: secure aggregation only (no ε claimed); model %s on node 0; %.1f s wall\n", f.ModelID, r.WallSeconds)
	return nil
}
