package he

import (
	"errors"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

func TestPresetsAreSecure(t *testing.T) {
	for _, pr := range Presets() {
		p, err := PresetByName(pr.Name)
		if err != nil {
			t.Fatalf("%s: %v", pr.Name, err)
		}
		info := p.Info()
		if info.SecurityBits < 128 || info.LogQP > info.MaxLogQP {
			t.Errorf("%s: log2 QP %.2f, bound %.0f, security %d", pr.Name, info.LogQP, info.MaxLogQP, info.SecurityBits)
		}
		if info.Levels != len(pr.Literal.LogQ)-1 || info.Slots != p.N()/2 {
			t.Errorf("%s: levels %d slots %d", pr.Name, info.Levels, info.Slots)
		}
		if p.Name() != pr.Name || len(p.ID()) != 64 {
			t.Errorf("%s: name %q id %q", pr.Name, p.Name(), p.ID())
		}
	}
	for _, n := range []int{13, 14, 15} {
		found := false
		for _, pr := range Presets() {
			found = found || pr.Literal.LogN == n
		}
		if !found {
			t.Errorf("no preset at N = 2^%d", n)
		}
	}
}

func TestInsecureLiteralsRefused(t *testing.T) {
	cases := []struct {
		name string
		lit  ckks.ParametersLiteral
		want string
	}{
		{"N13 log QP 300", ckks.ParametersLiteral{LogN: 13, LogQ: []int{60, 60, 60, 60}, LogP: []int{60}, LogDefaultScale: 40}, "log2(QP) = 300.0 exceeds 218"},
		{"N14 log QP 440", ckks.ParametersLiteral{LogN: 14, LogQ: []int{60, 60, 60, 60, 60, 60, 60}, LogP: []int{20}, LogDefaultScale: 40}, "exceeds 438"},
		{"N15 log QP 900", ckks.ParametersLiteral{LogN: 15, LogQ: []int{60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60}, LogP: []int{60}, LogDefaultScale: 40}, "exceeds 881"},
		{"sparse secret", ckks.ParametersLiteral{LogN: 13, LogQ: []int{50, 40}, LogP: []int{45}, Xs: ring.Ternary{H: 64}, LogDefaultScale: 40}, "sparse secret"},
		{"small sigma", ckks.ParametersLiteral{LogN: 13, LogQ: []int{50, 40}, LogP: []int{45}, Xe: ring.DiscreteGaussian{Sigma: 1, Bound: 6}, LogDefaultScale: 40}, "below the standard's σ = 3.2"},
		{"unknown degree", ckks.ParametersLiteral{LogN: 17, LogQ: []int{50}, LogP: []int{50}, LogDefaultScale: 40}, "no 128-bit bound"},
		{"conjugate invariant", ckks.ParametersLiteral{LogN: 13, LogQ: []int{50}, LogP: []int{50}, RingType: ring.ConjugateInvariant, LogDefaultScale: 40}, "only the standard ring"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewParameters("", c.lit)
			var se *SecurityError
			if !errors.Is(err, ErrInsecureParameters) || !errors.As(err, &se) {
				t.Fatalf("err = %v, want a SecurityError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestExactModuliChecked(t *testing.T) {
	// Nominal 218 bits is at the bound, but explicit primes above 2^k can
	// push the exact log2(QP) over it: the exact value is what counts.
	lit := ckks.ParametersLiteral{LogN: 13, LogQ: []int{58, 40, 40, 40}, LogP: []int{40}, LogDefaultScale: 40}
	p, err := NewParameters("", lit)
	if err == nil && p.LogQP() > 218 {
		t.Fatalf("accepted log2 QP %.3f > 218", p.LogQP())
	}
	if err != nil && !errors.Is(err, ErrInsecureParameters) {
		t.Fatalf("unexpected error %v", err)
	}
}

func TestPresetForDepth(t *testing.T) {
	for depth, want := range map[int]string{0: "n12", 1: "n12", 2: "n13", 3: "n13", 4: "n14", 7: "n14", 8: "n15", 15: "n15"} {
		p, err := PresetForDepth(depth)
		if err != nil || p.Name() != want {
			t.Errorf("depth %d: got %q, %v; want %s", depth, p.Name(), err, want)
		}
	}
	if _, err := PresetForDepth(16); !errors.Is(err, ErrInvalidParameters) {
		t.Errorf("depth 16: err = %v", err)
	}
	if _, err := PresetByName("n99"); !errors.Is(err, ErrUnknownPreset) {
		t.Errorf("n99: err = %v", err)
	}
}

func TestDecodeParametersRoundTrip(t *testing.T) {
	for _, name := range PresetNames() {
		p := mustPreset(t, name)
		b, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodeParameters(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !q.Equal(p) || q.Name() != name || q.ID() != p.ID() {
			t.Fatalf("%s: decoded %s (%s)", name, q.Name(), q.ID())
		}
	}
	// lattigo's JSON of an insecure set is refused by the same check.
	insecure, err := ckks.NewParametersFromLiteral(ckks.ParametersLiteral{LogN: 13, LogQ: []int{60, 60, 60, 60}, LogP: []int{60}, LogDefaultScale: 40})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := insecure.MarshalJSON()
	if _, err := DecodeParameters(b); !errors.Is(err, ErrInsecureParameters) {
		t.Fatalf("insecure JSON: err = %v", err)
	}
}
