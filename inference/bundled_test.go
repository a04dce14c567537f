package inference_test

import (
	"fmt"
	"testing"

	"github.com/aios-edge/aios/inference"
)

func TestBundledDigitsModel(t *testing.T) {
	m, train, test := digitsSplit(t)
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := ev.Score(test.X, test.Y)
	if err != nil {
		t.Fatal(err)
	}
	if acc != m.Meta.Accuracy.Quantized || test.Len() != m.Meta.Accuracy.TestSize {
		t.Fatalf("test accuracy %.4f on %d samples, metadata says %.4f on %d", acc, test.Len(), m.Meta.Accuracy.Quantized, m.Meta.Accuracy.TestSize)
	}
	if acc < 0.95 {
		t.Fatalf("test accuracy %.4f below the 95%% target", acc)
	}
	b, err := ev.Trace(train.X)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(b) != fmt.Sprint(m.Meta.Bounds) {
		t.Fatalf("bounds %+v, metadata says %+v", b, m.Meta.Bounds)
	}
	p, lvl, err := inference.ChoosePreset(b)
	if err != nil || p != m.Meta.Preset || lvl != m.Meta.InputLevel {
		t.Fatalf("ChoosePreset gives %s level %d (%v), the model records %s level %d: regenerate it (testvectors/models/README.md)",
			p, lvl, err, m.Meta.Preset, m.Meta.InputLevel)
	}
	if _, err := ev.Predict([][]float64{make([]float64, 30)}); err == nil {
		t.Fatal("30 features accepted by a 64-feature model")
	}
}

func Example() {
	m, err := inference.ReadFile("../testvectors/models/digits.aios")
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	// A blank 8×8 image with a vertical bar: raw grey levels 0–16.
	x := make([]float64, 64)
	for r := range 8 {
		x[r*8+4] = 16
	}
	logits, err := ev.Predict([][]float64{x})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Meta.Preset, m.Meta.Depth, len(logits[0]))
	// Output: n13 1 10
}

// TestEnvelope: the data-free bounds hold for every training sample and
// for the corners of the input box, and are attained in layer 0's sums by
// the worst-case corner of each output.
func TestEnvelope(t *testing.T) {
	m, train, _ := digitsSplit(t)
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	env := ev.Envelope(16)
	corners := [][]float64{make([]float64, 64), make([]float64, 64)}
	for i := range 64 {
		corners[0][i], corners[1][i] = 16, -16
	}
	// The corner that makes output 0's sum largest: x_i = 16·sign(W_0i).
	c := m.Circuit()[0]
	worst, want := make([]float64, 64), 0.0
	for i, w := range c.W[:c.In] {
		if w < 0 {
			worst[i] = -16
		} else {
			worst[i] = 16
		}
		want += 16 * float64(max(w, -w))
	}
	for name, x := range map[string][][]float64{"training split": train.X, "corners": append(corners, worst)} {
		b, err := ev.Trace(x)
		if err != nil {
			t.Fatal(err)
		}
		if b.MaxAbsInput > env.MaxAbsInput || b.MaxAbsPreActivation > env.MaxAbsPreActivation || b.MaxAbsLogit > env.MaxAbsLogit {
			t.Fatalf("%s: traced %+v above the envelope %+v", name, b, env)
		}
		for l, lb := range b.Layers {
			e := env.Layers[l]
			if lb.MaxAbsPre > e.MaxAbsPre || lb.MaxAbsSum > e.MaxAbsSum || lb.MaxAbsMsg > e.MaxAbsMsg || lb.MaxAbsNext > e.MaxAbsNext {
				t.Fatalf("%s: layer %d traced %+v above the envelope %+v", name, l, lb, e)
			}
		}
	}
	if env.Layers[0].MaxAbsSum < want {
		t.Fatalf("layer 0 envelope %g below output 0's worst corner %g", env.Layers[0].MaxAbsSum, want)
	}
	if _, _, err := inference.ChoosePreset(env); err != nil {
		t.Logf("no preset fits the digits model's envelope: %v", err)
	}
}
