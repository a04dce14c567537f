package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aios-edge/aios/inference"
)

// dist is the Euclidean distance between two nets' parameters.
func dist(a, b *Net) float64 {
	s := 0.0
	for l := range a.W {
		aw, bw := a.W[l].RawMatrix().Data, b.W[l].RawMatrix().Data
		for i := range aw {
			s += (aw[i] - bw[i]) * (aw[i] - bw[i])
		}
		for i := range a.B[l] {
			s += (a.B[l][i] - b.B[l][i]) * (a.B[l][i] - b.B[l][i])
		}
	}
	return math.Sqrt(s)
}

// TestFit: Fit continues from the given weights and learns; a FedProx term
// keeps the result nearer the anchor; quantization-aware Fit runs; masks
// hold; bad options are refused.
func TestFit(t *testing.T) {
	tr, te := load(t, "breast_cancer.csv")
	std := FitStandardizer(tr.X, 0.1)
	xtr, xte := std.Apply(tr.X), std.Apply(te.X)
	k := tr.NumClasses()
	start := NewNet([]int{tr.Features, 8, k}, inference.Square, false, rand.New(rand.NewPCG(1, 1)))
	ctx := context.Background()
	acc := func(n *Net) float64 { return inference.AccuracyOf(inference.Argmax(n.Logits(xte)), te.Y) }

	plain := start.Clone()
	if err := Fit(ctx, plain, xtr, tr.Y, k, FitOptions{Epochs: 5, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if a := acc(plain); a < 0.85 {
		t.Fatalf("accuracy after Fit %.3f", a)
	}
	prox := start.Clone()
	if err := Fit(ctx, prox, xtr, tr.Y, k, FitOptions{Epochs: 5, Seed: 1, Prox: 5, Anchor: start}); err != nil {
		t.Fatal(err)
	}
	if dp, dq := dist(plain, start), dist(prox, start); !(dq < dp) {
		t.Fatalf("prox moved %.4f, plain %.4f", dq, dp)
	}
	masked := plain.Clone()
	if err := Prune(masked, 0.5); err != nil {
		t.Fatal(err)
	}
	nz := masked.NonZero()
	if err := Fit(ctx, masked, xtr, tr.Y, k, FitOptions{Epochs: 2, Seed: 2, Bits: 8, Std: std}); err != nil {
		t.Fatal(err)
	}
	if masked.NonZero() > nz {
		t.Fatal("pruned weights came back")
	}
	m, err := Compress(masked, std, 8, tr.Classes)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.Score(te.X, te.Y)
	if err != nil || math.Abs(got-acc(Quantized(masked, std, 8))) > 0.02 {
		t.Fatalf("int8 model %.3f vs dequantized net %.3f (%v)", got, acc(Quantized(masked, std, 8)), err)
	}
	for _, o := range []FitOptions{{}, {Epochs: 1, Prox: 1}, {Epochs: 1, Bits: 1}, {Epochs: 1, Bits: 8}} {
		if err := Fit(ctx, start.Clone(), xtr, tr.Y, k, o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
}
