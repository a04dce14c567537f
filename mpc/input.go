package mpc

import (
	"fmt"
	"math"
	"math/big"

	"github.com/aios-edge/aios/mpc/internal/field"
)

// Input is one party's private contribution to a session.
type Input struct {
	// Values: Dimension coordinates (sum, mean, weighted mean, variance, dot
	// product), or up to MaxItems raw values (histogram).
	Values []float64
	// Weight is this party's weight (weighted mean only), clamped to
	// [0, MaxWeight].
	Weight float64
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

// fixed returns round(v·2^f) for a finite, already clamped v.
func fixed(v float64, f int) int64 { return int64(math.Round(math.Ldexp(v, f))) }

// encodeInput clamps and fixed-point encodes an input into the field
// elements this party deals (package doc, "Fixed point").
func encodeInput(s *Session, in Input) ([]field.Element, error) {
	l := &s.lit
	for i, v := range in.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: value %d is not finite", ErrInput, i)
		}
	}
	d, f := l.Dimension, l.FracBits
	out := make([]field.Element, s.width)
	if l.Operation == OpHistogram {
		if len(in.Values) > l.MaxItems {
			return nil, fmt.Errorf("%w: %d values, the session allows %d", ErrInput, len(in.Values), l.MaxItems)
		}
		counts := make([]uint64, d)
		for _, v := range in.Values {
			b := int(math.Floor((clamp(v, l.Lower, l.Upper) - l.Lower) / (l.Upper - l.Lower) * float64(d)))
			counts[min(max(b, 0), d-1)]++
		}
		for j, c := range counts {
			out[j] = field.FromUint64(c)
		}
		return out, nil
	}
	if len(in.Values) != d {
		return nil, fmt.Errorf("%w: %d values, the session has dimension %d", ErrInput, len(in.Values), d)
	}
	switch l.Operation {
	case OpWeightedMean:
		if math.IsNaN(in.Weight) || math.IsInf(in.Weight, 0) {
			return nil, fmt.Errorf("%w: weight is not finite", ErrInput)
		}
		w := clamp(in.Weight, 0, l.MaxWeight)
		for j, v := range in.Values {
			out[j] = field.FromInt64(fixed(w*clamp(v, l.Lower, l.Upper), f))
		}
		out[d] = field.FromInt64(fixed(w, f))
	case OpVariance:
		for j, v := range in.Values {
			x := field.FromInt64(fixed(clamp(v, l.Lower, l.Upper), f))
			out[j], out[d+j] = x, field.Mul(x, x)
		}
	default:
		for j, v := range in.Values {
			out[j] = field.FromInt64(fixed(clamp(v, l.Lower, l.Upper), f))
		}
	}
	return out, nil
}

// signedBig maps a field element to the integer in (−q/2, q/2) it encodes.
func signedBig(e field.Element) *big.Int {
	x := e.Big()
	if x.Cmp(halfQ) > 0 {
		x.Sub(x, field.Q)
	}
	return x
}

var halfQ = new(big.Int).Rsh(field.Q, 1)

// decodeFixed returns the real number a signed field element encodes with
// the given fraction bits, correctly rounded to float64.
func decodeFixed(e field.Element, bits int) float64 {
	v, _ := new(big.Float).SetMantExp(new(big.Float).SetInt(signedBig(e)), -bits).Float64()
	return v
}
