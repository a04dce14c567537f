package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// fixedPointLimit is the bound below which lattigo's float-to-RNS
// conversion (ckks.SingleFloat64ToFixedPointCRT) rounds a scaled value to a
// uint64 instead of going through big.Int: 2^64.
const fixedPointLimit = 1.8446744073709552e+19

// embed encodes values into the slots of pt, at pt's level, scale and
// dimensions: what lattigo's ckks.Encoder.Encode does for a batched
// plaintext with float64 arithmetic (the encoder's IFFT, then the
// conversion of every coefficient to RNS, then
// rlwe.NTTSparseAndMontgomery), with the conversion done by fixedPointCRT
// instead of ckks.Complex128ToFixedPointCRT, which allocates for every
// coefficient and limb. The result is bit-exact with lattigo's
// (TestEmbedMatchesLattigo).
func (c *Client) embed(values []float64, pt *rlwe.Plaintext) error {
	slots := 1 << pt.LogDimensions.Cols
	if len(values) > slots {
		return fmt.Errorf("he: encode: %d values, %d slots", len(values), slots)
	}
	if cap(c.fft) < slots {
		c.fft = make([]complex128, slots)
	}
	buf := c.fft[:slots]
	for i, v := range values {
		buf[i] = complex(v, 0)
	}
	clear(buf[len(values):])
	if err := c.encoder.IFFT(buf, pt.LogDimensions.Cols); err != nil {
		return fmt.Errorf("he: encode: %w", err)
	}
	r := c.params.RingQ().AtLevel(pt.Level())
	coeffs := pt.Value.Coeffs[:pt.Level()+1]
	scale := pt.Scale.Float64()
	moduli := r.ModuliChain()[:pt.Level()+1]
	brc := r.BRedConstants()
	// Complex128ToFixedPointCRT's layout: the real parts first, then (in a
	// standard ring) the imaginary parts, then zeros.
	for i, v := range buf {
		fixedPointCRT(r, moduli, brc, i, real(v), scale, coeffs)
	}
	next := slots
	if r.Type() == ring.Standard {
		for i, v := range buf {
			fixedPointCRT(r, moduli, brc, slots+i, imag(v), scale, coeffs)
		}
		next = 2 * slots
	}
	for _, limb := range coeffs {
		clear(limb[next:])
	}
	rlwe.NTTSparseAndMontgomery(r, pt.MetaData, pt.Value)
	return nil
}

// fixedPointCRT sets coefficient i of coeffs to round(value·scale) in RNS
// exactly as ckks.SingleFloat64ToFixedPointCRT(r, i, value, scale, coeffs)
// does, quirks included (a negative value that rounds to 0 gives q_j, not
// 0; a rounded magnitude between q_j and 2^61 is left unreduced, which the
// NTT that follows tolerates), without its allocations: moduli and brc are
// r's moduli and Barrett constants at r's level. A magnitude of 2^64 or
// more, where lattigo goes through big.Int, is handed to lattigo.
func fixedPointCRT(r *ring.Ring, moduli []uint64, brc [][]uint64, i int, value, scale float64, coeffs [][]uint64) {
	if value == 0 {
		for j := range moduli {
			coeffs[j][i] = 0
		}
		return
	}
	negative := value < 0
	scaled := value * scale
	if negative {
		scaled = value * -scale
	}
	if !(scaled < fixedPointLimit) {
		ckks.SingleFloat64ToFixedPointCRT(r, i, value, scale, coeffs)
		return
	}
	c := uint64(scaled + 0.5)
	for j, q := range moduli {
		switch {
		case negative && c > q:
			coeffs[j][i] = q - ring.BRedAdd(c, q, brc[j])
		case negative:
			coeffs[j][i] = q - c
		case c > 0x1fffffffffffffff:
			coeffs[j][i] = ring.BRedAdd(c, q, brc[j])
		default:
			coeffs[j][i] = c
		}
	}
}
