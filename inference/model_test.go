package inference

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/aios-edge/aios/he"
)

// tinyModel is a hand-built 3→2→2 model.
func tinyModel() *Model {
	return &Model{
		Meta: Metadata{Name: "tiny", Features: 3, Classes: []string{"a", "b"}, Depth: 1, InputLevel: 1, Preset: "n12"},
		Layers: []Layer{
			{In: 3, Out: 2, W: []int8{1, -2, 127, 0, 5, -127}, Scale: []float64{0.5, 0.25}, Bias: []float64{0.1, -1}, Act: Poly(0.25, 0.5, 0.125)},
			{In: 2, Out: 2, W: []int8{3, -1, 0, 7}, Scale: []float64{0.01, 0.02}, Bias: []float64{0, 2}},
		},
	}
}

// reseal recomputes the checksum of a model file after a test edits it.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	sum := sha256.Sum256(b[:len(b)-sha256.Size])
	copy(b[len(b)-sha256.Size:], sum[:])
	return b
}

func TestReferenceArithmetic(t *testing.T) {
	m := tinyModel()
	ev, err := NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{1, 2, 3}
	got, err := ev.Predict([][]float64{x})
	if err != nil {
		t.Fatal(err)
	}
	// By hand: u = W·x, t = (u + (b + δ)/s)², δ = 0.5/(2·0.125) = 2.
	u0 := 1*1 - 2*2 + 127*3.0
	u1 := 0*1 + 5*2 - 127*3.0
	t0 := math.Pow(u0+(0.1+2)/0.5, 2)
	t1 := math.Pow(u1+(-1+2)/0.25, 2)
	want := []float64{0.01 * (3*t0 - 1*t1 + 0/0.01), 0.02 * (7*t1 + 2/0.02)}
	for j := range want {
		if math.Abs(got[0][j]-want[j]) > 1e-9*math.Abs(want[j]) {
			t.Fatalf("logit %d = %v, want %v", j, got[0][j], want[j])
		}
	}
	// The real-valued view agrees: a(z) = g·s²·t + k, so z' = s'·Σ W'·t + b'.
	z0 := 0.5*u0 + 0.1
	g, _, k := m.Layers[0].Act.Completed()
	if a := m.Layers[0].Act.Eval(z0); math.Abs(a-(g*0.25*t0+k)) > 1e-9*math.Abs(a) {
		t.Fatalf("completed square: a(z) = %v, g·s²·t + k = %v", a, g*0.25*t0+k)
	}
	if _, err := ev.Predict([][]float64{{1, 2}}); !errors.Is(err, ErrFeatureCount) {
		t.Fatalf("short sample: %v", err)
	}
	var fe *FeatureCountError
	if _, err := ev.Predict([][]float64{x, {1, 2, 3, 4}}); !errors.As(err, &fe) || fe.Sample != 1 || fe.Want != 3 || fe.Got != 4 {
		t.Fatalf("want FeatureCountError{1, 3, 4}, got %v", err)
	}
	if m.Depth() != 1 {
		t.Fatalf("depth %d", m.Depth())
	}
}

func TestEncodeDecode(t *testing.T) {
	m := tinyModel()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Encode(m2)
	if !bytes.Equal(b, b2) {
		t.Fatal("encode(decode(b)) != b")
	}
	if m2.Layers[0].W[5] != -127 || m2.Layers[0].Act != m.Layers[0].Act || m2.Meta.Classes[1] != "b" {
		t.Fatalf("round trip lost data: %+v", m2)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := Encode(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	metaLen := int(binary.BigEndian.Uint32(good[12:]))
	layer0 := headerSize + metaLen + 2 // first layer's in field
	edit := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return reseal(b)
	}
	f64 := func(v float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(v)) }
	w0 := layer0 + 8 + 1 + 24 // first weight
	scale0 := w0 + 6
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"bad magic", append([]byte("NOTMODEL"), good[8:]...), ErrMalformed},
		{"truncated", good[:len(good)-10], ErrChecksum},
		{"flipped bit", func() []byte { b := bytes.Clone(good); b[w0] ^= 1; return b }(), ErrChecksum},
		{"version 2", edit(8, 0, 2), ErrVersion},
		{"flags", edit(10, 0, 1), ErrMalformed},
		{"huge metadata", edit(12, 0x7f, 0, 0, 0), ErrTooLarge},
		{"metadata beyond end", edit(12, 0, 0, 0xff, 0), ErrMalformed},
		{"zero layers", edit(layer0-2, 0, 0), ErrTooLarge},
		{"many layers", edit(layer0-2, 0xff, 0xff), ErrTooLarge},
		{"huge layer", edit(layer0, 0, 1, 0, 0, 0, 1, 0, 0), ErrTooLarge},
		{"layer beyond end", edit(layer0, 0, 0, 0x10, 0), ErrMalformed},
		{"shape chain", func() []byte {
			m := tinyModel()
			m.Layers[1].In, m.Layers[1].W = 3, make([]int8, 6)
			b, _ := encode(m)
			return b
		}(), ErrShape},
		{"features mismatch", func() []byte { m := tinyModel(); m.Meta.Features = 4; b, _ := encode(m); return b }(), ErrShape},
		{"weight -128", edit(w0, 0x80), ErrMalformed},
		{"negative scale", edit(scale0, f64(-0.5)...), ErrMalformed},
		{"zero scale", edit(scale0, f64(0)...), ErrMalformed},
		{"nan scale", edit(scale0, f64(math.NaN())...), ErrMalformed},
		{"inf bias", edit(scale0+16, f64(math.Inf(1))...), ErrMalformed},
		{"unknown activation", edit(layer0+8, 9), ErrMalformed},
		{"output activation", edit(layer0+8, 0), ErrMalformed},
		{"poly without square", edit(layer0+8+1+16, f64(0)...), ErrMalformed},
		{"trailing bytes", reseal(append(append(bytes.Clone(good[:len(good)-32]), 0), good[len(good)-32:]...)), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (model %v), want %v", err, m != nil, tc.want)
			}
		})
	}
	// Shape errors are typed.
	m := tinyModel()
	m.Layers[1].In = 3
	m.Layers[1].W = make([]int8, 6)
	var se *ShapeError
	if err := m.Validate(); !errors.As(err, &se) || se.Layer != 1 || se.Want != 2 || se.Got != 3 {
		t.Fatalf("want ShapeError{1, 2, 3}, got %v", err)
	}
	m = tinyModel()
	m.Meta.Classes = []string{"a", "b", "c"}
	if err := m.Validate(); !errors.Is(err, ErrShape) {
		t.Fatalf("classes mismatch: %v", err)
	}
	m = tinyModel()
	m.Meta.Depth = 2
	if err := m.Validate(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("depth mismatch: %v", err)
	}
	// Training ranges: one per feature, min ≤ max; none is fine (JSON has
	// no NaN or infinity, which Validate refuses in a hand-built model).
	for _, rs := range [][]FeatureRange{
		{{0, 1}},
		make([]FeatureRange, tinyModel().Features()+1),
		append(make([]FeatureRange, tinyModel().Features()-1), FeatureRange{2, 1}),
	} {
		m = tinyModel()
		m.Meta.Bounds.Features = rs
		b, _ := encode(m)
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ranges %v: %v", rs, err)
		}
	}
	m = tinyModel()
	m.Meta.Bounds.Features = make([]FeatureRange, m.Features())
	if err := m.Validate(); err != nil {
		t.Fatalf("zero ranges: %v", err)
	}
}

func TestChoosePreset(t *testing.T) {
	// The choice is minimal: the preset fits at the returned level, and
	// neither one level lower nor any smaller preset of enough depth fits.
	check := func(name string, b Bounds) (string, int) {
		t.Helper()
		p, lvl, err := ChoosePreset(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		logQ, logScale := presetLogs(t, p)
		if !fits(b, logQ, logScale, lvl) {
			t.Fatalf("%s: %s level %d does not fit", name, p, lvl)
		}
		if lvl > len(b.Layers)-1 && fits(b, logQ, logScale, lvl-1) {
			t.Fatalf("%s: %s level %d also fits", name, p, lvl-1)
		}
		for _, q := range he.PresetNames() {
			if q == p {
				break
			}
			lq, ls := presetLogs(t, q)
			for l := len(b.Layers) - 1; l < len(lq); l++ {
				if fits(b, lq, ls, l) {
					t.Fatalf("%s: smaller preset %s fits at level %d", name, q, l)
				}
			}
		}
		return p, lvl
	}
	check("zero", Bounds{Layers: []LayerBounds{{}, {}}})
	check("digits-like", Bounds{Layers: []LayerBounds{{MaxAbsSum: 1e4, MaxAbsMsg: 1e4}, {MaxAbsSum: 4e9, MaxAbsMsg: 4e9}}})
	if p, _ := check("depth 2", Bounds{Layers: make([]LayerBounds, 3)}); p == "n12" {
		t.Fatalf("depth 2 got %s", p)
	}
	huge := Bounds{Layers: []LayerBounds{{MaxAbsMsg: 1e300}, {}}}
	if _, _, err := ChoosePreset(huge); !errors.Is(err, ErrNoPreset) {
		t.Fatalf("huge: %v", err)
	}
}

func presetLogs(t *testing.T, name string) ([]float64, float64) {
	p, err := he.PresetByName(name)
	if err != nil {
		t.Fatal(err)
	}
	var logQ []float64
	acc := 0.0
	for _, q := range p.Q() {
		acc += math.Log2(float64(q))
		logQ = append(logQ, acc)
	}
	return logQ, math.Log2(p.DefaultScale().Float64())
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(tinyModel())
	f.Add(good)
	f.Add(good[:40])
	m := tinyModel()
	m.Layers[0].Act = Square
	sq, _ := Encode(m)
	f.Add(sq)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Fuzz both the raw bytes and the bytes with a valid checksum, so
		// that the parser behind the checksum is reached.
		for _, in := range [][]byte{b, resealIfLong(b)} {
			m, err := Decode(in)
			if err != nil {
				if m != nil {
					t.Fatal("model returned with an error")
				}
				continue
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded model fails validation: %v", err)
			}
			ev, err := NewEvaluator(m)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float64, m.Features())
			if _, err := ev.Predict([][]float64{x}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func resealIfLong(b []byte) []byte {
	if len(b) < sha256.Size {
		return b
	}
	return reseal(b)
}
