package accel_test

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/accel/acceltest"
	_ "github.com/aios-edge/aios/accel/cuda" // registers itself; skipped where unavailable
	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestAllBackends runs the kernel suite against every registered backend,
// as the standard library's cryptotest.TestAllImplementations does: known
// answers from lattigo on random data, edge values, and whole ciphertexts.
func TestAllBackends(t *testing.T) {
	for _, in := range accel.Backends() {
		t.Run(in.Name, func(t *testing.T) {
			if !in.Available {
				t.Skipf("backend %s unavailable: %s", in.Name, in.Reason)
			}
			b, err := accel.SelectByName(in.Name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("device: %s", b.Device())
			t.Run("NTT", func(t *testing.T) { testNTT(t, b) })
			t.Run("MulCoeffsMontgomeryThenAdd", func(t *testing.T) { testMulCoeffs(t, b) })
			t.Run("DenseLayer", func(t *testing.T) { testDenseLayer(t, b) })
			t.Run("DenseLayerEdges", func(t *testing.T) { testDenseLayerEdges(t, b) })
			t.Run("Ciphertexts", func(t *testing.T) { testCiphertexts(t, b) })
			t.Run("Validation", func(t *testing.T) { testValidation(t, b) })
		})
	}
}

// sizes are the ring degrees of the known-answer tests with the number of
// limbs and polynomials at each: large degrees get few, so that the suite
// takes seconds; -short stops at 2^14.
type size struct{ logN, limbs, polys int }

func sizes() []size {
	s := []size{{12, 4, 3}, {13, 3, 3}, {14, 3, 2}, {15, 2, 1}, {16, 1, 1}}
	if testing.Short() {
		s = s[:3]
	}
	return s
}

// primes returns k distinct NTT-friendly primes for degree 2^logN, of
// mixed sizes up to lattigo's 61-bit bound.
func primes(t testing.TB, logN, k int) []uint64 {
	t.Helper()
	var out []uint64
	for i := range k {
		bitsz := []uint64{61, 50, 40, 55, 36}[i%5]
		g := ring.NewNTTFriendlyPrimesGenerator(bitsz, 2<<logN)
		for {
			q, err := g.NextAlternatingPrime()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(out, q) {
				out = append(out, q)
				break
			}
		}
	}
	return out
}

// polyLayout is `polys` polynomials of `limbs` limbs each, as rows.
func polyLayout(t testing.TB, sz size) accel.Layout {
	q := primes(t, sz.logN, sz.limbs)
	var m []uint64
	for range sz.polys {
		m = append(m, q...)
	}
	return accel.Layout{N: 1 << sz.logN, Moduli: m}
}

func testNTT(t *testing.T, b accel.Backend) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range sizes() {
		t.Run(fmt.Sprintf("N=2^%d", sz.logN), func(t *testing.T) {
			l := polyLayout(t, sz)
			subs := acceltest.SubRings(t, l)
			in := acceltest.RandRows(rng, l)
			want := acceltest.CloneRows(in)
			for r, s := range subs {
				s.NTT(want[r], want[r])
			}
			got := make([][]uint64, l.Rows())
			for r := range got {
				got[r] = make([]uint64, l.N)
			}
			if err := b.NTT(l, in, got); err != nil {
				t.Fatal(err)
			}
			acceltest.EqualRows(t, "NTT", got, want)

			// INTT, in place, back to the input; and equal to lattigo's.
			for r, s := range subs {
				s.INTT(want[r], want[r])
			}
			if err := b.INTT(l, got, got); err != nil {
				t.Fatal(err)
			}
			acceltest.EqualRows(t, "INTT", got, want)
			acceltest.EqualRows(t, "INTT(NTT(x))", got, in)
		})
	}
}

func testMulCoeffs(t *testing.T, b accel.Backend) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range sizes() {
		t.Run(fmt.Sprintf("N=2^%d", sz.logN), func(t *testing.T) {
			l := polyLayout(t, sz)
			subs := acceltest.SubRings(t, l)
			x, y, z := acceltest.RandRows(rng, l), acceltest.RandRows(rng, l), acceltest.RandRows(rng, l)
			want := acceltest.CloneRows(z)
			for r, s := range subs {
				s.MulCoeffsMontgomeryThenAdd(x[r], y[r], want[r])
			}
			if err := b.MulCoeffsMontgomeryThenAdd(l, x, y, z); err != nil {
				t.Fatal(err)
			}
			acceltest.EqualRows(t, "MulCoeffsMontgomeryThenAdd", z, want)
		})
	}
}

func newOutputs(l accel.Layout, k int) [][][]uint64 {
	out := make([][][]uint64, k)
	for i := range out {
		out[i] = make([][]uint64, l.Rows())
		for r := range out[i] {
			out[i][r] = make([]uint64, l.N)
		}
	}
	return out
}

func testDenseLayer(t *testing.T, b accel.Backend) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sz := range sizes() {
		// Moduli of up to 61 bits (the 128-bit product path) and of up to
		// 55 bits as in the presets (int8 products fit in 64 bits).
		t.Run(fmt.Sprintf("N=2^%d", sz.logN), func(t *testing.T) { denseKAT(t, b, rng, polyLayout(t, sz)) })
		t.Run(fmt.Sprintf("N=2^%d/small-moduli", sz.logN), func(t *testing.T) {
			q := primes(t, sz.logN, sz.limbs+1)[1:] // skip the 61-bit one
			denseKAT(t, b, rng, accel.Layout{N: 1 << sz.logN, Moduli: append(q, q...)})
		})
	}
}

func denseKAT(t *testing.T, b accel.Backend, rng *rand.Rand, l accel.Layout) {
	subs := acceltest.SubRings(t, l)
	nIn, nOut := 7, 5
	in := make([][][]uint64, nIn)
	for i := range in {
		in[i] = acceltest.RandRows(rng, l)
	}
	w := make([]int64, nOut*nIn)
	for j := range w {
		w[j] = rng.Int64N(256) - 128 // int8: −128 … 127
	}
	w[0], w[1], w[2] = -128, 127, 0
	bias := make([][]uint64, nOut)
	for k := range bias {
		bias[k] = make([]uint64, l.Rows())
		for r, q := range l.Moduli {
			bias[k][r] = rng.Uint64N(q)
		}
	}
	bias[0][0] = l.Moduli[0] - 1
	want := acceltest.DenseReference(subs, w, in, bias, nOut)
	got := newOutputs(l, nOut)
	if err := b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: w, In: in, Out: got, Bias: bias}); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		acceltest.EqualRows(t, fmt.Sprintf("DenseLayer output %d", k), got[k], want[k])
	}
}

// testDenseLayerEdges: every int8 weight against the extreme coefficients,
// the int32 weight bounds, and many inputs at the extremes (accumulator
// magnitude), without bias.
func testDenseLayerEdges(t *testing.T, b accel.Backend) {
	const logN = 12
	gen := ring.NewNTTFriendlyPrimesGenerator(62, 2<<logN)
	top, err := gen.NextDownstreamPrime() // just below 2^62
	if err != nil {
		t.Fatal(err)
	}
	gen56 := ring.NewNTTFriendlyPrimesGenerator(56, 2<<logN)
	top56, err := gen56.NextDownstreamPrime() // just below 2^56: int8 products just fit in 64 bits
	if err != nil {
		t.Fatal(err)
	}
	l := accel.Layout{N: 1 << logN, Moduli: []uint64{top, (1 << 61) - 1, 3, 65537, 0x1fffffffffe00001}}
	// Rows whose int8 products have 64, 62 and 61 bits: one product, 4 or 8
	// products per 64-bit word in the cpu backend's inner loop.
	var mid []uint64
	for _, bits := range []uint64{54, 53} {
		g := ring.NewNTTFriendlyPrimesGenerator(bits, 2<<logN)
		q, err := g.NextDownstreamPrime()
		if err != nil {
			t.Fatal(err)
		}
		mid = append(mid, q)
	}
	lShort := accel.Layout{N: 1 << logN, Moduli: []uint64{top56, mid[0], mid[1], 3, 65537, 0xffffee001}}
	subRingsOf := func(l accel.Layout) []*ring.SubRing {
		subs := make([]*ring.SubRing, len(l.Moduli))
		for r, q := range l.Moduli {
			s, err := ring.NewSubRing(l.N, q)
			if err != nil {
				t.Fatal(err)
			}
			s.MRedConstant = ring.MRedConstant(q)
			subs[r] = s
		}
		return subs
	}
	subs := subRingsOf(l)
	for _, l := range []accel.Layout{l, lShort} {
		t.Run(fmt.Sprintf("int8/q<2^%d", bits.Len64(l.Moduli[0])), func(t *testing.T) { denseInt8Edges(t, b, l, subRingsOf(l)) })
	}
	t.Run("sparse", func(t *testing.T) {
		// Pruned rows: all zero, a single weight, half zero, none zero.
		rng := rand.New(rand.NewPCG(13, 14))
		for _, l := range []accel.Layout{l, lShort} {
			nIn, nOut := 64, 4
			in := make([][][]uint64, nIn)
			for i := range in {
				in[i] = acceltest.RandRows(rng, l)
			}
			w := make([]int64, nOut*nIn)
			w[nIn+17] = -128
			for i := range nIn {
				if rng.IntN(2) == 0 {
					w[2*nIn+i] = rng.Int64N(255) - 127
				}
				w[3*nIn+i] = []int64{-128, 127, -1, 1}[i%4]
			}
			check(t, b, subRingsOf(l), l, w, in, nOut)
		}
	})
	t.Run("int32 bounds", func(t *testing.T) {
		nIn, nOut := 64, 3
		in := make([][][]uint64, nIn)
		for i := range in {
			in[i] = make([][]uint64, l.Rows())
			for r, q := range l.Moduli {
				row := make([]uint64, l.N)
				for j := range row {
					row[j] = q - 1 - uint64(j%2)
				}
				in[i][r] = row
			}
		}
		w := make([]int64, nOut*nIn)
		for i := range nIn {
			w[i] = accel.MinWeight
			w[nIn+i] = accel.MaxWeight
			w[2*nIn+i] = []int64{accel.MinWeight, accel.MaxWeight}[i%2]
		}
		check(t, b, subs, l, w, in, nOut)
	})
}

// denseInt8Edges: 256 inputs, one per int8 weight, against coefficients
// q−1, 0, 1 and random ones.
func denseInt8Edges(t *testing.T, b accel.Backend, l accel.Layout, subs []*ring.SubRing) {
	{
		rng := rand.New(rand.NewPCG(7, 8))
		nIn, nOut := 256, 2
		in := make([][][]uint64, nIn)
		for i := range in {
			in[i] = make([][]uint64, l.Rows())
			for r, q := range l.Moduli {
				row := make([]uint64, l.N)
				for j := range row {
					switch j % 4 {
					case 0:
						row[j] = q - 1
					case 1:
						row[j] = 0
					case 2:
						row[j] = 1
					default:
						row[j] = rng.Uint64N(q)
					}
				}
				in[i][r] = row
			}
		}
		w := make([]int64, nOut*nIn)
		for i := range nIn {
			w[i] = int64(i) - 128       // −128 … 127
			w[nIn+i] = 127 - int64(i)%2 // all large positive: 127, 126, …
		}
		check(t, b, subs, l, w, in, nOut)
	}
}

func check(t *testing.T, b accel.Backend, subs []*ring.SubRing, l accel.Layout, w []int64, in [][][]uint64, nOut int) {
	t.Helper()
	want := acceltest.DenseReference(subs, w, in, nil, nOut)
	got := newOutputs(l, nOut)
	if err := b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: w, In: in, Out: got}); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		acceltest.EqualRows(t, fmt.Sprintf("output %d", k), got[k], want[k])
	}
}

func testValidation(t *testing.T, b accel.Backend) {
	l := accel.Layout{N: 16, Moduli: []uint64{97}}
	row := func() [][]uint64 { return [][]uint64{make([]uint64, 16)} }
	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"N not power of two", accel.ErrDegree, func() error {
			return b.NTT(accel.Layout{N: 24, Moduli: []uint64{97}}, row(), row())
		}},
		{"N too small", accel.ErrDegree, func() error { return b.NTT(accel.Layout{N: 8, Moduli: []uint64{97}}, row(), row()) }},
		{"even modulus", accel.ErrModulus, func() error {
			return b.MulCoeffsMontgomeryThenAdd(accel.Layout{N: 16, Moduli: []uint64{96}}, row(), row(), row())
		}},
		{"modulus 2^62", accel.ErrModulus, func() error {
			return b.MulCoeffsMontgomeryThenAdd(accel.Layout{N: 16, Moduli: []uint64{1<<62 + 1}}, row(), row(), row())
		}},
		{"NTT modulus not 1 mod 2N", accel.ErrModulus, func() error { return b.NTT(accel.Layout{N: 16, Moduli: []uint64{101}}, row(), row()) }},
		{"NTT modulus not prime", accel.ErrModulus, func() error { return b.NTT(accel.Layout{N: 16, Moduli: []uint64{97 * 129}}, row(), row()) }},
		{"short row", accel.ErrShape, func() error { return b.INTT(l, [][]uint64{make([]uint64, 15)}, row()) }},
		{"missing row", accel.ErrShape, func() error { return b.INTT(l, nil, row()) }},
		{"no inputs", accel.ErrShape, func() error {
			return b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Out: [][][]uint64{row()}})
		}},
		{"weights count", accel.ErrShape, func() error {
			return b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{1, 2}, In: [][][]uint64{row()}, Out: [][][]uint64{row()}})
		}},
		{"weight range", accel.ErrWeight, func() error {
			return b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{1 << 31}, In: [][][]uint64{row()}, Out: [][][]uint64{row()}})
		}},
		{"bias residue", accel.ErrWeight, func() error {
			return b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{1}, In: [][][]uint64{row()}, Out: [][][]uint64{row()}, Bias: [][]uint64{{97}}})
		}},
		{"output aliases input", accel.ErrShape, func() error {
			x := row()
			return b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{1}, In: [][][]uint64{x}, Out: [][][]uint64{x}})
		}},
		{"nil args", accel.ErrShape, func() error { return b.DenseLayer(nil) }},
	} {
		if err := tc.call(); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}
