package train

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

func load(t testing.TB, name string) (train, test *dataset.Dataset) {
	t.Helper()
	d, err := dataset.LoadCSVFile(filepath.Join("..", "..", "testvectors", "datasets", name), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, test, err = dataset.Split(d, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

func quick(seed uint64) Options {
	return Options{Hidden: []int{16}, Epochs: 8, FineTune: 3, Prune: 0.5, Seed: seed}
}

func TestDeterministic(t *testing.T) {
	tr, te := load(t, "breast_cancer.csv")
	enc := func(seed uint64, distill bool) []byte {
		o := quick(seed)
		o.Distill, o.TeacherHidden = distill, []int{32}
		r, err := Run(context.Background(), tr, te, o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := inference.Encode(r.Model)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := enc(1, true), enc(1, true), enc(2, true)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different models")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same model")
	}
}

func TestPruneSparsity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sp := range []float64{0, 0.3, 0.5, 0.9} {
		n := NewNet([]int{20, 13, 7}, inference.Square, false, rng)
		if err := Prune(n, sp); err != nil {
			t.Fatal(err)
		}
		for l, w := range n.W {
			r, c := w.Dims()
			zeros := 0
			for _, v := range w.RawMatrix().Data {
				if v == 0 {
					zeros++
				}
			}
			if want := int(math.Round(sp * float64(r*c))); zeros < want {
				t.Fatalf("sparsity %v layer %d: %d zeros, want ≥ %d", sp, l, zeros, want)
			}
		}
	}
	if err := Prune(NewNet([]int{2, 2}, inference.Square, false, rng), 1); err == nil {
		t.Fatal("sparsity 1 accepted")
	}
	// Through Run, fine-tuning keeps the pruned weights zero.
	tr, te := load(t, "breast_cancer.csv")
	r, err := Run(context.Background(), tr, te, quick(1))
	if err != nil {
		t.Fatal(err)
	}
	if nz, all := r.Model.NonZero(), r.Model.Weights(); float64(nz) > 0.5*float64(all) {
		t.Fatalf("%d of %d weights non-zero after 50%% pruning", nz, all)
	}
}

// TestQuantizationError: every folded float weight E is within s/2 of its
// int8 value times the channel scale s.
func TestQuantizationError(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, act := range []inference.Activation{inference.Square, inference.Poly(0.25, 0.5, 0.125)} {
		n := NewNet([]int{10, 8, 6, 3}, act, false, rng)
		std := Standardizer{Mean: make([]float64, 10), Std: make([]float64, 10)}
		for i := range std.Std {
			std.Std[i] = 0.1 + rng.Float64()*5
		}
		for _, bits := range []int{8, 4} {
			qz := quantize(n, std, bits)
			g, _, _ := act.Completed()
			for l, w := range n.W {
				r, c := w.Dims()
				for o := range r {
					s := qz.scale[l][o]
					for i := range c {
						fold := 1 / std.Std[i]
						if l > 0 {
							fold = g * qz.scale[l-1][i] * qz.scale[l-1][i]
						}
						e := w.At(o, i) * fold
						q := float64(qz.q[l][o*c+i])
						if math.Abs(e-q*s) > s/2*(1+1e-12) {
							t.Fatalf("bits %d layer %d (%d,%d): |%v − %v·%v| > s/2", bits, l, o, i, e, q, s)
						}
						if math.Abs(q) > float64(int(1)<<(bits-1)-1) {
							t.Fatalf("bits %d: q = %v out of range", bits, q)
						}
					}
				}
			}
		}
	}
}

// TestFoldingExact: the int8 model on raw features computes what the float
// net with the dequantized weights computes on standardised features.
func TestFoldingExact(t *testing.T) {
	for _, name := range []string{"breast_cancer.csv", "digits.csv.gz"} {
		tr, te := load(t, name)
		o := quick(1)
		o.Hidden = []int{12, 8}
		o.Activation = inference.Poly(0.25, 0.5, 0.125)
		r, err := Run(context.Background(), tr, te, o)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := inference.NewEvaluator(r.Model)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.Predict(te.X)
		if err != nil {
			t.Fatal(err)
		}
		want := r.Net.Logits(r.Std.Apply(te.X))
		for i := range got {
			for j := range got[i] {
				if d := math.Abs(got[i][j] - want[i][j]); d > 1e-7*(1+math.Abs(want[i][j])) {
					t.Fatalf("%s sample %d logit %d: folded %v, unfolded %v", name, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
}

// TestTargets trains the digits and breast-cancer models with the CLI's
// defaults and checks the accuracy targets of issue 3. Under -short it uses
// fewer epochs and looser floors.
func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name          string
		hidden        []int
		float, quant  float64
		shortF, short float64
	}{
		{"digits.csv.gz", []int{32}, 0.96, 0.95, 0.90, 0.90},
		{"breast_cancer.csv", []int{16}, 0.94, 0.94, 0.90, 0.90},
	} {
		tr, te := load(t, tc.name)
		o := Options{Hidden: tc.hidden, Prune: 0.5, Seed: 1}
		wantF, wantQ := tc.float, tc.quant
		if testing.Short() {
			o.Epochs, o.FineTune = 15, 5
			wantF, wantQ = tc.shortF, tc.short
		}
		r, err := Run(context.Background(), tr, te, o)
		if err != nil {
			t.Fatal(err)
		}
		a := r.Model.Meta.Accuracy
		t.Logf("%s: float %.4f pruned %.4f quantized %.4f; bounds %+v; preset %s level %d",
			tc.name, a.Float, a.Pruned, a.Quantized, r.Model.Meta.Bounds.MaxAbsPreActivation, r.Model.Meta.Preset, r.Model.Meta.InputLevel)
		if a.Float < wantF || a.Quantized < wantQ {
			t.Errorf("%s: float %.4f (want ≥ %.2f), quantized+pruned %.4f (want ≥ %.2f)", tc.name, a.Float, wantF, a.Quantized, wantQ)
		}
		if r.Model.Meta.Depth != len(tc.hidden) || r.Model.Meta.Preset == "" {
			t.Errorf("%s: depth %d preset %q", tc.name, r.Model.Meta.Depth, r.Model.Meta.Preset)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	tr, te := load(t, "breast_cancer.csv")
	for _, o := range []Options{
		{},
		{Hidden: []int{0}},
		{Hidden: []int{8}, Prune: 1},
		{Hidden: []int{8}, Bits: 9},
		{Hidden: []int{8}, Activation: inference.Activation{Kind: 9}},
		{Hidden: []int{8}, Activation: inference.Poly(1, 1, 0)},
	} {
		if _, err := Run(context.Background(), tr, te, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, tr, te, quick(1)); err == nil {
		t.Error("cancelled context ignored")
	}
}

func BenchmarkTrainDigits(b *testing.B) {
	tr, te := load(b, "digits.csv.gz")
	for b.Loop() {
		if _, err := Run(context.Background(), tr, te, Options{Hidden: []int{32}, Prune: 0.5, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
