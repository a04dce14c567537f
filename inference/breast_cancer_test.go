package inference_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/inference/train"
)

// TestBreastCancerEncrypted trains a small model (short training), then
// evaluates the whole test split encrypted in the batch packing and a few
// samples in the single packing, against the plaintext reference.
func TestBreastCancerEncrypted(t *testing.T) {
	d, err := dataset.LoadCSVFile(filepath.Join("..", "testvectors", "datasets", "breast_cancer.csv"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	trainSet, test, err := dataset.Split(d, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Run(context.Background(), trainSet, test, train.Options{
		Hidden: []int{16}, Epochs: 30, FineTune: 8, Prune: 0.5, Bits: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Model
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Predict(test.X)
	if err != nil {
		t.Fatal(err)
	}
	acc := inference.AccuracyOf(inference.Argmax(want), test.Y)
	t.Logf("breast cancer: preset %s, quantized test accuracy %.4f, bounds max |msg| %v", m.Meta.Preset, acc, m.Meta.Bounds.Layers)

	km := keysFor(t, m, inference.Batch)
	ev, err := inference.NewBatchEvaluator(m, km.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	got := evaluateBatch(t, m, km, ev, test.X)
	agree, maxErr := compare(got, want)
	t.Logf("batch plan %+v: agreement %.4f on %d samples, max |logit error| %.3g", ev.Plan(), agree, test.Len(), maxErr)
	if agree < 0.999 {
		t.Errorf("batch agreement %.4f", agree)
	}

	n := 6
	if testing.Short() {
		n = 2
	}
	skm := keysFor(t, m, inference.Single)
	sev, err := inference.NewSingleEvaluator(m, skm.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	sgot := evaluateSingle(t, m, skm, sev, test.X[:n])
	agree, maxErr = compare(sgot, want[:n])
	t.Logf("single plan %+v: agreement %.4f on %d samples, max |logit error| %.3g", sev.Plan(), agree, n, maxErr)
	if agree < 1 {
		t.Errorf("single agreement %.4f", agree)
	}
}
