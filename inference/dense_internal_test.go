package inference

import (
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"

	"github.com/aios-edge/aios/he"
)

// TestDenseLayerExact checks denseLayer against lattigo's MulThenAdd with
// the same integer constants, residue for residue, for degree-1 and
// degree-2 inputs, with long rows (lazy-reduction groups) and for 60-bit
// moduli (the path without lazy sums).
func TestDenseLayerExact(t *testing.T) {
	wide, err := he.NewParameters("wide", ckks.ParametersLiteral{LogN: 12, LogQ: []int{58}, LogP: []int{40}, LogDefaultScale: 40})
	if err != nil {
		t.Fatal(err)
	}
	n13, _ := he.PresetByName("n13")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []he.Parameters{n13, wide} {
		ev := ckks.NewEvaluator(p.Parameters, nil)
		for _, deg := range []int{1, 2} {
			lev := p.MaxLevel()
			in := make([]*rlwe.Ciphertext, 300)
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
			var terms []term
			want := ckks.NewCiphertext(p.Parameters, deg, lev)
			*want.MetaData = *in[0].MetaData
			for i := range in {
				w := int64(rng.IntN(255)) - 127
				if i%7 == 0 {
					w = []int64{127, -127}[i%2]
				}
				if w == 0 {
					continue
				}
				terms = append(terms, term{in: i, abs: uint64(max(w, -w)), neg: w < 0})
				if err := ev.MulThenAdd(in[i], w, want); err != nil {
					t.Fatal(err)
				}
			}
			got := ckks.NewCiphertext(p.Parameters, deg, lev)
			denseLayer(p.Q()[:lev+1], terms, in, got)
			for k := range want.Value {
				if !got.Value[k].Equal(&want.Value[k]) {
					t.Fatalf("%s degree %d: polynomial %d differs from lattigo's MulThenAdd", p.Name(), deg, k)
				}
			}
		}
	}
}
