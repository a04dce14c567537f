package inference

import (
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/he"
)

// TestDenseLayerExact checks the dense layer on every registered backend
// that initialises against lattigo's MulThenAdd with the same integer
// constants followed by Add of the unit's constant, residue for residue,
// for degree-1 and degree-2 inputs, long rows and 58-bit moduli.
func TestDenseLayerExact(t *testing.T) {
	wide, err := he.NewParameters("wide", ckks.ParametersLiteral{LogN: 12, LogQ: []int{58}, LogP: []int{40}, LogDefaultScale: 40})
	if err != nil {
		t.Fatal(err)
	}
	n13, _ := he.PresetByName("n13")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, info := range accel.Backends() {
		if !info.Available {
			t.Logf("backend %s skipped: %s", info.Name, info.Reason)
			continue
		}
		be, err := accel.SelectByName(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []he.Parameters{n13, wide} {
			ev := ckks.NewEvaluator(p.Parameters, nil)
			for _, deg := range []int{1, 2} {
				lev := p.MaxLevel()
				const inputs, outs = 300, 3
				in := make([]*rlwe.Ciphertext, inputs)
				for i := range in {
					in[i] = ckks.NewCiphertext(p.Parameters, deg, lev)
					for _, poly := range in[i].Value {
						for j, limb := range poly.Coeffs {
							q := p.Q()[j]
							for k := range limb {
								limb[k] = rng.Uint64N(q)
							}
						}
					}
				}
				w := make([]int64, outs*inputs)
				add := []float64{0.5, -1234.25, 1e-3}
				for i := range w {
					w[i] = int64(rng.IntN(255)) - 127
					if i%7 == 0 {
						w[i] = []int64{127, -127, 0}[i%3]
					}
				}
				got, err := denseLayer(be, p, outs, w, add, in)
				if err != nil {
					t.Fatal(err)
				}
				for o := range outs {
					want := ckks.NewCiphertext(p.Parameters, deg, lev)
					*want.MetaData = *in[0].MetaData
					for i, wi := range w[o*inputs : (o+1)*inputs] {
						if wi != 0 {
							if err := ev.MulThenAdd(in[i], wi, want); err != nil {
								t.Fatal(err)
							}
						}
					}
					if err := ev.Add(want, add[o], want); err != nil {
						t.Fatal(err)
					}
					for k := range want.Value {
						if !got[o].Value[k].Equal(&want.Value[k]) {
							t.Fatalf("%s on %s, degree %d, unit %d: polynomial %d differs from lattigo's MulThenAdd + Add", info.Name, p.Name(), deg, o, k)
						}
					}
				}
			}
		}
	}
}
