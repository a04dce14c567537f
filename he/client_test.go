package he

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// testPresets is every preset, or only the small ones under -short.
func testPresets(t testing.TB) []string {
	if testing.Short() {
		return []string{"n12", "n13"}
	}
	return PresetNames()
}

func mustPreset(t testing.TB, name string) Parameters {
	t.Helper()
	p, err := PresetByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKeys(t testing.TB, p Parameters, spec KeySpec) *KeyMaterial {
	t.Helper()
	km, err := GenerateKeys(p, spec)
	if err != nil {
		t.Fatal(err)
	}
	return km
}

func randomVector(rng *rand.Rand, n int, bound float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = (2*rng.Float64() - 1) * bound
	}
	return v
}

func maxAbsDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestRoundTrip: encrypt then decrypt returns the input within 2^-20 at every
// preset, for a full vector of values in [-16, 16].
func TestRoundTrip(t *testing.T) {
	for _, name := range testPresets(t) {
		t.Run(name, func(t *testing.T) {
			p := mustPreset(t, name)
			c := NewClient(mustKeys(t, p, KeySpec{}))
			rng := rand.New(rand.NewPCG(1, 2))
			in := randomVector(rng, p.MaxSlots(), 16)
			ct, err := c.Encrypt(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Decrypt(ct, len(in))
			if err != nil {
				t.Fatal(err)
			}
			d := maxAbsDiff(in, out)
			t.Logf("%s: max |error| = 2^%.1f over %d slots", name, math.Log2(d), len(in))
			if d > math.Exp2(-20) {
				t.Fatalf("max |error| %g > 2^-20", d)
			}
		})
	}
}

func TestEncryptAt(t *testing.T) {
	p := mustPreset(t, "n13")
	c := NewClient(mustKeys(t, p, KeySpec{}))
	in := []float64{1.5, -2, 1000}
	ct, err := c.EncryptAt(in, 1, math.Exp2(27))
	if err != nil {
		t.Fatal(err)
	}
	if ct.Level() != 1 || ct.Scale.Float64() != math.Exp2(27) {
		t.Fatalf("level %d scale 2^%.2f", ct.Level(), math.Log2(ct.Scale.Float64()))
	}
	out, err := c.Decrypt(ct, len(in))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(in, out); d > 1e-3 {
		t.Fatalf("error %g", d)
	}
	for _, bad := range []struct {
		level int
		scale float64
	}{{-1, 1 << 20}, {p.MaxLevel() + 1, 1 << 20}, {1, 0}, {1, math.NaN()}, {1, math.Inf(1)}} {
		if _, err := c.EncryptAt(in, bad.level, bad.scale); !errors.Is(err, ErrInvalidParameters) {
			t.Errorf("level %d scale %g: err = %v", bad.level, bad.scale, err)
		}
	}
}
