package dp

import (
	"fmt"
	"strconv"
	"strings"
)

// MicroEpsilon is a privacy loss ε in millionths: 1_000_000 is ε = 1. Budgets
// and spends are added and compared as exact integers, never as floats.
type MicroEpsilon int64

// MicroPerEpsilon is the number of MicroEpsilon in ε = 1.
const MicroPerEpsilon MicroEpsilon = 1_000_000

// MaxEpsilon bounds a budget's total and a single release's ε (ε = 1000,
// far beyond any meaningful privacy guarantee, but far from overflow).
const MaxEpsilon MicroEpsilon = 1000 * MicroPerEpsilon

// Float64 returns ε as a float64, for the noise library.
func (m MicroEpsilon) Float64() float64 { return float64(m) / float64(MicroPerEpsilon) }

// String formats ε as an exact decimal ("0.25").
func (m MicroEpsilon) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	s := fmt.Sprintf("%s%d.%06d", sign, m/MicroPerEpsilon, m%MicroPerEpsilon)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// ParseEpsilon parses a positive decimal ε such as "1", "0.5" or "0.000001"
// exactly into micro-ε. At most six fractional digits are accepted (no
// rounding, no exponent), and the value must be in (0, MaxEpsilon].
func ParseEpsilon(s string) (MicroEpsilon, error) {
	bad := func(reason string) (MicroEpsilon, error) {
		return 0, &SpecError{Field: "epsilon", Reason: reason, Err: ErrInvalidSpec}
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return bad("not a decimal number")
	}
	if len(frac) > 6 {
		return bad("more than six fractional digits")
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return bad("not a plain positive decimal number")
			}
		}
	}
	if len(whole) > 6 {
		return bad("too large")
	}
	var w, f int64
	if whole != "" {
		w, _ = strconv.ParseInt(whole, 10, 64)
	}
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	m := MicroEpsilon(w)*MicroPerEpsilon + MicroEpsilon(f)
	if m <= 0 {
		return bad("must be positive")
	}
	if m > MaxEpsilon {
		return bad("exceeds the maximum of " + MaxEpsilon.String())
	}
	return m, nil
}
