package he

import (
	"sync"
	"testing"
)

func TestPresetByNameBuildsOnce(t *testing.T) {
	const name = "n12"
	var wg sync.WaitGroup
	got := make([]Parameters, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := PresetByName(name)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		}()
	}
	wg.Wait()
	for i, p := range got {
		if p.RingQ() != got[0].RingQ() || p.ID() != got[0].ID() || p.Name() != name {
			t.Fatalf("call %d returned another parameter set (ID %s, want %s)", i, p.ID(), got[0].ID())
		}
	}
	fresh, err := NewParameters(name, presets[0].Literal)
	if err != nil {
		t.Fatal(err)
	}
	if !fresh.Equal(got[0]) || fresh.ID() != got[0].ID() {
		t.Fatalf("cached %s differs from a fresh build", name)
	}
	if d, err := PresetForDepth(1); err != nil || d.RingQ() != got[0].RingQ() {
		t.Fatalf("PresetForDepth(1) = %s, %v; want the cached %s", d.Name(), err, name)
	}
}

func TestPresetsReturnsCopies(t *testing.T) {
	ps := Presets()
	ps[0].Literal.LogQ[0] = 60
	ps[0].Name = "changed"
	if presets[0].Literal.LogQ[0] == 60 || presets[0].Name == "changed" {
		t.Fatal("changing Presets()'s result changed the built-in table")
	}
}

// BenchmarkPresetByName measures what a caller pays for a preset: "lookup"
// is PresetByName, "build" validates the literal and generates the primes
// from scratch (NewParameters), the work a lookup does at most once.
func BenchmarkPresetByName(b *testing.B) {
	for _, pr := range presets {
		b.Run(pr.Name+"/lookup", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := PresetByName(pr.Name); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pr.Name+"/build", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := NewParameters(pr.Name, pr.Literal); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
