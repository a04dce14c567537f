package inference_test

import (
	"strings"
	"testing"

	"github.com/aios-edge/aios/inference"
)

func TestCheckRanges(t *testing.T) {
	ranges := []inference.FeatureRange{{Min: 0, Max: 16}, {Min: 0, Max: 0}, {Min: -1, Max: 1}}
	cases := []struct {
		name            string
		rows            [][]float64
		outside, first  int
		feature         int
		shrunk          bool
		warningContains string
	}{
		{"inside", [][]float64{{0, 0, -1}, {16, 0, 1}, {8, 0, 0}}, 0, -1, -1, false, ""},
		// tol = span/2 + widest/20 = 8 + 0.8 for feature 0.
		{"within tolerance", [][]float64{{24.7, 0, 0}, {-8.7, 0.7, 0}}, 0, -1, -1, false, ""},
		{"above", [][]float64{{3, 0, 0}, {24.9, 0, 0}, {1, 0.9, 5}}, 2, 1, 0, false, "row 2, feature 1 = 24.9"},
		{"zero-span feature", [][]float64{{16, 3, 0}}, 1, 0, 1, false, "row 1, feature 2 = 3"},
		// Digits divided by 16: inside every range, but a sixteenth of the span.
		{"rescaled", [][]float64{{0, 0, 0.5}, {1, 0, 0}, {0.5, 0, 0.25}}, 0, -1, -1, true, "units of its training data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := inference.CheckRanges(ranges, c.rows)
			if r.Outside != c.outside || r.First != c.first || r.Feature != c.feature || r.Shrunk() != c.shrunk {
				t.Fatalf("got outside %d first %d feature %d shrunk %v, want %d %d %d %v", r.Outside, r.First, r.Feature, r.Shrunk(), c.outside, c.first, c.feature, c.shrunk)
			}
			w := strings.Join(r.Warnings(), "\n")
			if (c.warningContains == "") != (w == "") || !strings.Contains(w, c.warningContains) {
				t.Fatalf("warnings %q, want one containing %q", w, c.warningContains)
			}
		})
	}
	if r := inference.CheckRanges(nil, [][]float64{{100}}); len(r.Warnings()) != 0 {
		t.Fatalf("a model without ranges warned: %v", r.Warnings())
	}
}
