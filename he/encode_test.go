package he

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// TestFixedPointCRTMatchesLattigo: fixedPointCRT gives every coefficient
// the residues ckks.SingleFloat64ToFixedPointCRT gives it, for random
// values of every magnitude and the edges of lattigo's branches (zero and
// −0, values that round to 0, ±q_j, 2^61, 2^64 and beyond, halves).
func TestFixedPointCRTMatchesLattigo(t *testing.T) {
	p := mustPreset(t, "n13")
	r := p.RingQ()
	moduli := r.ModuliChain()
	brc := r.BRedConstants()
	rng := rand.New(rand.NewPCG(13, 1))
	var scaled []float64 // value·scale, before the sign
	for _, q := range moduli {
		qf := float64(q)
		scaled = append(scaled, qf, math.Nextafter(qf, 0), math.Nextafter(qf, math.Inf(1)), qf/2, 2*qf, 3*qf+0.5)
	}
	for _, e := range []float64{0x1fffffffffffffff, 1 << 61, 1 << 62, 1 << 63, fixedPointLimit} {
		scaled = append(scaled, e, math.Nextafter(e, 0), math.Nextafter(e, math.Inf(1)))
	}
	scaled = append(scaled, 0, 1e-300, 0.25, 0.5, math.Nextafter(0.5, 0), 1.5, 2.5, 1, 1e30, 1e300)
	for range 2000 {
		scaled = append(scaled, math.Exp2(rng.Float64()*80-10)*rng.Float64())
	}
	scales := []float64{1, math.Exp2(27), math.Exp2(40), math.Exp2(60)}
	n := len(scaled) * 2 * len(scales)
	want := make([][]uint64, len(moduli))
	got := make([][]uint64, len(moduli))
	for j := range moduli {
		want[j], got[j] = make([]uint64, n), make([]uint64, n)
	}
	values := make([]float64, 0, n)
	i := 0
	for _, s := range scales {
		for _, x := range scaled {
			for _, v := range []float64{x / s, -x / s} {
				ckks.SingleFloat64ToFixedPointCRT(r, i, v, s, want)
				fixedPointCRT(r, moduli, brc, i, v, s, got)
				values = append(values, v)
				i++
			}
		}
	}
	fixedPointCRT(r, moduli, brc, 0, math.Copysign(0, -1), 1, got)
	ckks.SingleFloat64ToFixedPointCRT(r, 0, math.Copysign(0, -1), 1, want)
	for j := range moduli {
		for k := range n {
			if got[j][k] != want[j][k] {
				t.Fatalf("value %g (coefficient %d) limb %d: %d, lattigo %d", values[k], k, j, got[j][k], want[j][k])
			}
		}
	}
}

// TestEmbedMatchesLattigo: Client.EncodeAt's plaintext is bit-for-bit
// lattigo's ckks.Encoder.Encode of the same values, at every preset, the
// top and bottom level, scales from 1 to where coefficients pass 2^64, and
// vectors full, partial, small, large, constant and with zeros.
func TestEmbedMatchesLattigo(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2))
	for _, name := range testPresets(t) {
		p := mustPreset(t, name)
		c := NewClient(mustKeys(t, p, KeySpec{}))
		enc := ckks.NewEncoder(p.Parameters)
		full := p.MaxSlots()
		vectors := [][]float64{
			randomVector(rng, full, 1),
			randomVector(rng, full, 1e6),
			randomVector(rng, full/3, 8),
			randomVector(rng, 1, 1),
			slices.Repeat([]float64{-1}, full),
			make([]float64, full),
		}
		sparse := randomVector(rng, full, 1e-9)
		for i := range sparse {
			if i%3 != 0 {
				sparse[i] = 0
			}
		}
		vectors = append(vectors, sparse)
		for _, level := range []int{0, p.MaxLevel()} {
			for _, logScale := range []float64{0, 27, 40, 50} {
				scale := math.Exp2(logScale)
				for vi, v := range vectors {
					got, err := c.EncodeAt(v, level, scale)
					if err != nil {
						t.Fatal(err)
					}
					want := ckks.NewPlaintext(p.Parameters, level)
					want.Scale = got.Scale
					if err := enc.Encode(v, want); err != nil {
						t.Fatal(err)
					}
					if !got.Value.Equal(&want.Value) || !got.MetaData.Equal(want.MetaData) {
						t.Fatalf("%s level %d scale 2^%g vector %d: plaintext differs from lattigo's", name, level, logScale, vi)
					}
				}
			}
		}
	}
}
