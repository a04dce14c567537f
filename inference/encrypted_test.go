package inference_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

// digits loads the bundled model and its test split.
func digits(t testing.TB) (*inference.Model, *dataset.Dataset) {
	m, _, test := digitsSplit(t)
	return m, test
}

// digitsSplit loads the bundled model and its train and test splits.
func digitsSplit(t testing.TB) (m *inference.Model, train, test *dataset.Dataset) {
	t.Helper()
	m, err := inference.ReadFile(filepath.Join("..", "testvectors", "models", "digits.aios"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.LoadCSVFile(filepath.Join("..", "testvectors", "datasets", m.Meta.Dataset), dataset.CSVOptions{Features: m.Features()})
	if err != nil {
		t.Fatal(err)
	}
	if train, test, err = dataset.Split(d, 0.2, m.Meta.Seed); err != nil {
		t.Fatal(err)
	}
	return m, train, test
}

// evaluateBatch encrypts x for ev's plan, evaluates it with ev and returns
// the decrypted logits.
func evaluateBatch(t testing.TB, m *inference.Model, km *he.KeyMaterial, ev *inference.BatchEvaluator, x [][]float64) [][]float64 {
	t.Helper()
	c, err := inference.NewClientForPlan(m, ev.Plan(), km)
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.EncryptBatch(x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ev.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecryptBatch(out, len(x))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// evaluateSingle encrypts each sample of x as one query, evaluates them
// with ev and returns the decrypted logits.
func evaluateSingle(t testing.TB, m *inference.Model, km *he.KeyMaterial, ev *inference.SingleEvaluator, x [][]float64) [][]float64 {
	t.Helper()
	c, err := inference.NewClient(m, inference.Single, km)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]*rlwe.Ciphertext, len(x))
	for i := range in {
		if in[i], err = c.EncryptSingle(x[i]); err != nil {
			t.Fatal(err)
		}
	}
	out, err := ev.EvaluateMany(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]float64, len(x))
	for i := range got {
		if got[i], err = c.DecryptSingle(out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func keysFor(t testing.TB, m *inference.Model, packing inference.Packing) *he.KeyMaterial {
	t.Helper()
	params, err := he.PresetByName(m.Meta.Preset)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := m.KeySpec(packing)
	if err != nil {
		t.Fatal(err)
	}
	km, err := he.GenerateKeys(params, spec)
	if err != nil {
		t.Fatal(err)
	}
	return km
}

// compare returns the argmax agreement and the largest absolute logit
// difference between got and the reference want.
func compare(got, want [][]float64) (agree float64, maxErr float64) {
	g, w := inference.Argmax(got), inference.Argmax(want)
	same := 0
	for n := range g {
		if g[n] == w[n] {
			same++
		}
		for o := range got[n] {
			maxErr = max(maxErr, math.Abs(got[n][o]-want[n][o]))
		}
	}
	return float64(same) / float64(len(g)), maxErr
}

func TestBatchDigits(t *testing.T) {
	m, test := digits(t)
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Predict(test.X)
	if err != nil {
		t.Fatal(err)
	}
	km := keysFor(t, m, inference.Batch)
	for _, naive := range []bool{false, true} {
		var ev *inference.BatchEvaluator
		if naive {
			ev, err = inference.NewNaiveBatchEvaluator(m, km.Evaluation)
		} else {
			ev, err = inference.NewBatchEvaluator(m, km.Evaluation)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := evaluateBatch(t, m, km, ev, test.X)
		agree, maxErr := compare(got, want)
		t.Logf("naive=%v plan %+v: agreement %.4f, max |logit error| %.3g", naive, ev.Plan(), agree, maxErr)
		if agree < 0.999 || maxErr > 0.05 {
			t.Errorf("naive=%v: agreement %.4f, max logit error %.3g", naive, agree, maxErr)
		}
	}
}

func TestSingleDigits(t *testing.T) {
	m, test := digits(t)
	n := 12
	if testing.Short() {
		n = 4
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Predict(test.X[:n])
	if err != nil {
		t.Fatal(err)
	}
	km := keysFor(t, m, inference.Single)
	ev, err := inference.NewSingleEvaluator(m, km.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	c, err := inference.NewClient(m, inference.Single, km)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := m.KeySpec(inference.Single)
	t.Logf("plan %+v, %d Galois keys, key set %d bytes", ev.Plan(), len(spec.GaloisElements), km.Evaluation.Size())
	got := make([][]float64, n)
	for s := range n {
		in, err := c.EncryptSingle(test.X[s])
		if err != nil {
			t.Fatal(err)
		}
		out, err := ev.Evaluate(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got[s], err = c.DecryptSingle(out); err != nil {
			t.Fatal(err)
		}
	}
	agree, maxErr := compare(got, want)
	t.Logf("agreement %.4f, max |logit error| %.3g", agree, maxErr)
	if agree < 1 || maxErr > 0.01 {
		t.Errorf("agreement %.4f, max logit error %.3g", agree, maxErr)
	}
}

// TestSinglePrunedDiagonals keeps only a band of the first layer's weights
// (W[r][c] ≠ 0 only for c − r mod 64 < 8): the single packing must leave
// the other diagonals out, need fewer Galois keys, and still agree with
// the reference.
func TestSinglePrunedDiagonals(t *testing.T) {
	m, test := digits(t)
	full, err := m.KeySpec(inference.Single)
	if err != nil {
		t.Fatal(err)
	}
	l0 := &m.Layers[0]
	l0.W = append([]int8(nil), l0.W...)
	for r := range l0.Out {
		for c := range l0.In {
			if (c-r+64)%64 >= 8 {
				l0.W[r*l0.In+c] = 0
			} else if l0.W[r*l0.In+c] == 0 {
				l0.W[r*l0.In+c] = 1
			}
		}
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta.Bounds, err = ref.Trace(test.X); err != nil {
		t.Fatal(err)
	}
	banded, err := m.KeySpec(inference.Single)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Galois keys: %d for the full model, %d with a banded first layer", len(full.GaloisElements), len(banded.GaloisElements))
	if len(banded.GaloisElements) >= len(full.GaloisElements) {
		t.Fatalf("banded first layer needs %d Galois keys, the full one %d", len(banded.GaloisElements), len(full.GaloisElements))
	}
	km := keysFor(t, m, inference.Single)
	ev, err := inference.NewSingleEvaluator(m, km.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	n := 3
	want, _ := ref.Predict(test.X[:n])
	got := evaluateSingle(t, m, km, ev, test.X[:n])
	if agree, maxErr := compare(got, want); agree < 1 || maxErr > 0.01 {
		t.Fatalf("agreement %.3f, max logit error %.3g", agree, maxErr)
	}
}

// TestDigitsPlans pins the plans of the bundled model (BENCHMARKS.md
// describes them).
func TestDigitsPlans(t *testing.T) {
	m, _ := digits(t)
	b, err := m.Plan(inference.Batch)
	if err != nil {
		t.Fatal(err)
	}
	if b.Preset != "n13" || b.InputLevel != 1 || b.LogInputScale != 27 || b.OutputLevel != 0 || b.OutputRescales != 1 {
		t.Errorf("batch plan %+v", b)
	}
	s, err := m.Plan(inference.Single)
	if err != nil {
		t.Fatal(err)
	}
	if s.InputLevel != 3 || s.LogInputScale != 34 || s.OutputLevel != 0 || len(s.Period) != 3 || s.Period[0] != 64 {
		t.Errorf("single plan %+v", s)
	}
	spec, err := m.KeySpec(inference.Batch)
	if err != nil || !spec.Relinearization || len(spec.GaloisElements) != 0 {
		t.Errorf("batch key spec %+v %v", spec, err)
	}
}
