package he

import (
	"fmt"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// Preset is a named parameter literal. Presets go through the same
// validation as user literals.
type Preset struct {
	Name    string
	Summary string
	Literal ckks.ParametersLiteral
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// presets, smallest first. Q0 sits 6 (n12) or 10 bits above the scale: room
// for messages up to ±2^5 or ±2^9 at the last level. Rescaling primes equal
// the scale, and the P primes are about as large as the largest Q prime so
// key-switching noise stays far below the scale. n12's scale of 2^32 keeps a
// fresh encryption within 2^-20 of its message.
var presets = []Preset{
	{
		Name:    "n12",
		Summary: "N=2^12, depth 1, scale 2^32: small and fast, for tests and toy models",
		Literal: ckks.ParametersLiteral{LogN: 12, LogQ: []int{38, 32}, LogP: []int{38}, LogDefaultScale: 32},
	},
	{
		Name:    "n13",
		Summary: "N=2^13, depth 3, scale 2^40: batch inference of one-hidden-layer models",
		Literal: ckks.ParametersLiteral{LogN: 13, LogQ: []int{50, 40, 40, 40}, LogP: []int{45}, LogDefaultScale: 40},
	},
	{
		Name:    "n14",
		Summary: "N=2^14, depth 7, scale 2^45: deeper models",
		Literal: ckks.ParametersLiteral{LogN: 14, LogQ: append([]int{55}, repeat(45, 7)...), LogP: []int{55}, LogDefaultScale: 45},
	},
	{
		Name:    "n15",
		Summary: "N=2^15, depth 15, scale 2^45: deep circuits and large batches",
		Literal: ckks.ParametersLiteral{LogN: 15, LogQ: append([]int{55}, repeat(45, 15)...), LogP: []int{55, 55}, LogDefaultScale: 45},
	},
}

// built holds each preset's parameters, built on first use and shared from
// then on: generating the primes takes milliseconds (tens at n15), and a
// request asks for its preset several times. A Parameters value is
// immutable, and lattigo only reads the rings it points to, so one value
// serves every goroutine.
var built = make([]struct {
	once sync.Once
	p    Parameters
	err  error
}, len(presets))

// preset returns the parameters of presets[i], building them once.
func preset(i int) (Parameters, error) {
	b := &built[i]
	b.once.Do(func() { b.p, b.err = NewParameters(presets[i].Name, presets[i].Literal) })
	return b.p, b.err
}

// Presets returns copies of the built-in presets, smallest first.
func Presets() []Preset {
	out := slices.Clone(presets)
	for i := range out {
		l := &out[i].Literal
		l.Q, l.P = slices.Clone(l.Q), slices.Clone(l.P)
		l.LogQ, l.LogP = slices.Clone(l.LogQ), slices.Clone(l.LogP)
	}
	return out
}

// PresetNames returns the names of the built-in presets, smallest first.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return names
}

// PresetByName returns a built-in preset's parameters. Every call for a
// name returns the same value, validated and built on the first.
func PresetByName(name string) (Parameters, error) {
	for i, p := range presets {
		if p.Name == name {
			return preset(i)
		}
	}
	return Parameters{}, fmt.Errorf("%w %q (have %v)", ErrUnknownPreset, name, PresetNames())
}

// PresetForDepth returns the smallest built-in preset whose multiplicative
// depth (number of rescalings) is at least depth.
func PresetForDepth(depth int) (Parameters, error) {
	if depth < 0 {
		return Parameters{}, fmt.Errorf("%w: negative depth %d", ErrInvalidParameters, depth)
	}
	for i, p := range presets {
		if len(p.Literal.LogQ)-1 >= depth {
			return preset(i)
		}
	}
	return Parameters{}, fmt.Errorf("%w: no preset has depth %d (the deepest has %d)",
		ErrInvalidParameters, depth, len(presets[len(presets)-1].Literal.LogQ)-1)
}
