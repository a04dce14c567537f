package inference

import (
	"errors"
	"testing"

	"github.com/aios-edge/aios/he"
)

// TestChooseModelPreset: with the bundled model's bounds the choice is
// ChoosePreset's; with its message bounds 256 times larger they still fit
// n13, but no plan there meets the logit error bound, and the choice moves
// to n14, where both packings have a plan.
func TestChooseModelPreset(t *testing.T) {
	m, err := ReadFile("../testvectors/models/digits.aios")
	if err != nil {
		t.Fatal(err)
	}
	scaled := func(f float64) *Model {
		c := *m
		b := m.Meta.Bounds
		b.Layers = append([]LayerBounds(nil), b.Layers...)
		for i := range b.Layers {
			l := &b.Layers[i]
			l.MaxAbsPre, l.MaxAbsSum, l.MaxAbsMsg, l.MaxAbsNext = f*l.MaxAbsPre, f*l.MaxAbsSum, f*l.MaxAbsMsg, f*l.MaxAbsNext
		}
		c.Meta.Bounds = b
		return &c
	}
	for _, tc := range []struct {
		f          float64
		bounds, of string // ChoosePreset's choice, ChooseModelPreset's
	}{{1, "n13", "n13"}, {256, "n13", "n14"}} {
		c := scaled(tc.f)
		p, _, err := ChoosePreset(c.Meta.Bounds)
		if err != nil || p != tc.bounds {
			t.Fatalf("×%g: ChoosePreset %s, %v; want %s", tc.f, p, err, tc.bounds)
		}
		got, lvl, err := ChooseModelPreset(c)
		if err != nil || got != tc.of {
			t.Fatalf("×%g: ChooseModelPreset %s, %v; want %s", tc.f, got, err, tc.of)
		}
		params, err := he.PresetByName(got)
		if err != nil {
			t.Fatal(err)
		}
		c.Meta.Preset, c.Meta.InputLevel = got, lvl
		for _, pk := range []Packing{Single, Batch} {
			if _, err := c.PlanFor(pk, params); err != nil {
				t.Fatalf("×%g: no %v plan in the chosen %s: %v", tc.f, pk, got, err)
			}
		}
		if got != p {
			first, err := he.PresetByName(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.PlanFor(Single, first); !errors.Is(err, ErrNoPreset) {
				t.Fatalf("×%g: %s has a single plan (%v), yet was passed over", tc.f, p, err)
			}
		}
	}
	if m.Meta.Preset != "n13" || len(m.Meta.Bounds.Layers) == 0 {
		t.Fatal("the bundled model was modified")
	}
}
