package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/accel/acceltest"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// The cuda backend's host code on the kernel emulation, against lattigo
// and the cpu backend: the algorithms of kernels.cu, their parameter
// blocks, packing, batching and launch sequences are bit-exact before the
// kernels ever run on a device.

func nttPrimes(t testing.TB, logN int, sizes ...uint64) []uint64 {
	t.Helper()
	var out []uint64
	for _, sz := range sizes {
		g := ring.NewNTTFriendlyPrimesGenerator(sz, 2<<logN)
		var q uint64
		var err error
		if sz == 62 {
			q, err = g.NextDownstreamPrime() // just below 2^62
		} else {
			q, err = g.NextAlternatingPrime()
		}
		if err != nil {
			t.Fatal(err)
		}
		for slices.Contains(out, q) {
			if q, err = g.NextAlternatingPrime(); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, q)
	}
	return out
}

func TestEmulatedNTT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, logN := range []int{4, 5, 10, 11, 12, 13, 14} {
		for _, batch := range []int{1 << 30, 1 << logN} { // one batch; one row per batch
			t.Run(fmt.Sprintf("N=2^%d/batch=%d", logN, batch), func(t *testing.T) {
				q := nttPrimes(t, logN, 61, 50, 36, 60)
				// Two polynomials sharing moduli, as a ciphertext's rows.
				l := accel.Layout{N: 1 << logN, Moduli: append(slices.Clone(q), q...)}
				b, e := newEmulatedBackend(batch)
				in := acceltest.RandRows(rng, l)
				want := acceltest.CloneRows(in)
				for r, qr := range l.Moduli {
					rq, err := ring.NewRing(l.N, []uint64{qr})
					if err != nil {
						t.Fatal(err)
					}
					rq.SubRings[0].NTT(want[r], want[r])
				}
				got := acceltest.ZeroRows(l)
				if err := b.NTT(l, in, got); err != nil {
					t.Fatal(err)
				}
				acceltest.EqualRows(t, "NTT", got, want)
				back := acceltest.CloneRows(got)
				if err := b.INTT(l, back, back); err != nil { // in place
					t.Fatal(err)
				}
				acceltest.EqualRows(t, "INTT(NTT(x))", back, in)
				cpuBack := acceltest.ZeroRows(l)
				if err := accel.CPU().INTT(l, got, cpuBack); err != nil {
					t.Fatal(err)
				}
				acceltest.EqualRows(t, "INTT against the cpu backend", back, cpuBack)
				if e.live != 3 { // the cached forward, backward and constants tables
					t.Errorf("%d device buffers live after the calls, want the 3 cached tables", e.live)
				}
				tile := min(l.N, nttTile)
				stages := bits.TrailingZeros(uint(l.N / tile))
				batches := (l.Rows()*l.N + batch - 1) / batch
				if want := 2 * batches * (1 + stages); len(e.launches) != want {
					t.Errorf("%d launches, want %d", len(e.launches), want)
				}
			})
		}
	}
}

// TestEmulatedNTT62 compares the transform with lattigo's for moduli just
// below 2^62, where lattigo's lazy values may wrap 2^64: the kernels
// transcribe lattigo's butterflies, so they wrap alike.
func TestEmulatedNTT62(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, logN := range []int{4, 12, 13} {
		q := nttPrimes(t, logN, 62)
		l := accel.Layout{N: 1 << logN, Moduli: q}
		b, _ := newEmulatedBackend(1 << 30)
		in := acceltest.RandRows(rng, l)
		want, got := acceltest.ZeroRows(l), acceltest.ZeroRows(l)
		if err := accel.CPU().NTT(l, in, want); err != nil {
			t.Fatal(err)
		}
		if err := b.NTT(l, in, got); err != nil {
			t.Fatal(err)
		}
		acceltest.EqualRows(t, fmt.Sprintf("NTT N=2^%d q=%d (%d bits)", logN, q[0], bits.Len64(q[0])), got, want)
		if err := accel.CPU().INTT(l, in, want); err != nil {
			t.Fatal(err)
		}
		if err := b.INTT(l, in, got); err != nil {
			t.Fatal(err)
		}
		acceltest.EqualRows(t, fmt.Sprintf("INTT N=2^%d q=%d", logN, q[0]), got, want)
	}
}

func TestEmulatedMulCoeffs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, logN := range []int{4, 12} {
		q := nttPrimes(t, logN, 62, 61, 50, 36)
		l := accel.Layout{N: 1 << logN, Moduli: append(q, 3, 65537, (1<<61)-1)}
		for _, batch := range []int{1 << 30, 3 << logN} {
			b, e := newEmulatedBackend(batch)
			x, y, z := acceltest.RandRows(rng, l), acceltest.RandRows(rng, l), acceltest.RandRows(rng, l)
			want := acceltest.CloneRows(z)
			if err := accel.CPU().MulCoeffsMontgomeryThenAdd(l, x, y, want); err != nil {
				t.Fatal(err)
			}
			for r, qr := range l.Moduli { // and lattigo's own op, row by row
				s, err := ring.NewSubRing(l.N, qr)
				if err != nil {
					t.Fatal(err)
				}
				zz := slices.Clone(z[r])
				s.MulCoeffsMontgomeryThenAdd(x[r], y[r], zz)
				if !slices.Equal(zz, want[r]) {
					t.Fatalf("cpu backend differs from lattigo at row %d", r)
				}
			}
			if err := b.MulCoeffsMontgomeryThenAdd(l, x, y, z); err != nil {
				t.Fatal(err)
			}
			acceltest.EqualRows(t, "MulCoeffsMontgomeryThenAdd", z, want)
			if e.live != 0 {
				t.Errorf("%d device buffers live after the call", e.live)
			}
		}
	}
}

func TestEmulatedDenseLayer(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const logN = 6
	q := nttPrimes(t, 12, 62, 61, 55, 50, 36)
	l := accel.Layout{N: 1 << logN, Moduli: append(q, 3, 65537)}
	for _, tc := range []struct {
		name       string
		nIn, nOut  int
		weight     func(k, i int) int64
		bias       bool
		batchWords int
	}{
		{"int8", 70, 11, func(int, int) int64 { return rng.Int64N(256) - 128 }, true, 1 << 30},
		{"int8/batched", 70, 11, func(int, int) int64 { return rng.Int64N(256) - 128 }, true, 81 << logN},
		{"int32 bounds", 130, 9, func(k, i int) int64 {
			return []int64{accel.MinWeight, accel.MaxWeight, -1, 0}[(k+i)%4]
		}, false, 1 << 30},
		{"all MinWeight", 129, 3, func(int, int) int64 { return accel.MinWeight }, false, 1 << 30},
		{"all MaxWeight", 129, 3, func(int, int) int64 { return accel.MaxWeight }, true, 1 << 30},
		{"sparse", 64, 8, func(k, i int) int64 {
			if (k*7+i)%5 != 0 {
				return 0
			}
			return int64(i) - 32
		}, true, 1 << 30},
		{"one input", 1, 1, func(int, int) int64 { return -128 }, true, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := make([][][]uint64, tc.nIn)
			for i := range in {
				in[i] = acceltest.RandRows(rng, l)
				if i%3 == 0 { // extremes: every coefficient q−1
					for r, qr := range l.Moduli {
						for j := range in[i][r] {
							in[i][r][j] = qr - 1
						}
					}
				}
			}
			w := make([]int64, tc.nOut*tc.nIn)
			for j := range w {
				w[j] = tc.weight(j/tc.nIn, j%tc.nIn)
			}
			var bias [][]uint64
			if tc.bias {
				bias = make([][]uint64, tc.nOut)
				for k := range bias {
					bias[k] = make([]uint64, l.Rows())
					for r, qr := range l.Moduli {
						bias[k][r] = rng.Uint64N(qr)
					}
				}
			}
			want := acceltest.DenseReference(acceltest.ScalarSubRings(t, l), w, in, bias, tc.nOut)
			out := make([][][]uint64, tc.nOut)
			cpuOut := make([][][]uint64, tc.nOut)
			for k := range out {
				out[k], cpuOut[k] = acceltest.ZeroRows(l), acceltest.ZeroRows(l)
			}
			b, e := newEmulatedBackend(tc.batchWords)
			if err := b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: w, In: in, Out: out, Bias: bias}); err != nil {
				t.Fatal(err)
			}
			if err := accel.CPU().DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: w, In: in, Out: cpuOut, Bias: bias}); err != nil {
				t.Fatal(err)
			}
			for k := range want {
				acceltest.EqualRows(t, fmt.Sprintf("output %d against lattigo", k), out[k], want[k])
				acceltest.EqualRows(t, fmt.Sprintf("output %d against the cpu backend", k), out[k], cpuOut[k])
			}
			if e.live != 0 {
				t.Errorf("%d device buffers live after the call", e.live)
			}
			perRow := (tc.nIn + tc.nOut) * l.N
			batches := (l.Rows() + tc.batchWords/perRow - 1) / (tc.batchWords / perRow)
			if len(e.launches) != batches {
				t.Errorf("%d launches, want %d", len(e.launches), batches)
			}
		})
	}
}

// TestEmulatedErrors: validation before any device work, an error of the
// device wrapped with %w and every buffer back in the pool, and a layer too
// large for a device batch served by the cpu backend.
func TestEmulatedErrors(t *testing.T) {
	b, e := newEmulatedBackend(1 << 30)
	l := accel.Layout{N: 16, Moduli: []uint64{97}}
	if err := b.NTT(accel.Layout{N: 16, Moduli: []uint64{101}}, acceltest.ZeroRows(l), acceltest.ZeroRows(l)); !errors.Is(err, accel.ErrModulus) {
		t.Errorf("NTT with a modulus not 1 mod 2N: %v", err)
	}
	if err := b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{1 << 40}, In: [][][]uint64{acceltest.ZeroRows(l)}, Out: [][][]uint64{acceltest.ZeroRows(l)}}); !errors.Is(err, accel.ErrWeight) {
		t.Errorf("DenseLayer with a weight out of range: %v", err)
	}
	if len(e.launches) != 0 || e.live != 0 {
		t.Errorf("invalid calls reached the device: %d launches, %d buffers", len(e.launches), e.live)
	}
	e.failOn = kDense
	err := b.DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{1}, In: [][][]uint64{acceltest.ZeroRows(l)}, Out: [][][]uint64{acceltest.ZeroRows(l)}})
	if err == nil || e.live != 0 {
		t.Errorf("failing launch: err %v, %d buffers live", err, e.live)
	}
	e.failOn = -1
	small, e2 := newEmulatedBackend(16)
	rng := rand.New(rand.NewPCG(7, 7))
	x := acceltest.RandRows(rng, l)
	got, want := [][][]uint64{acceltest.ZeroRows(l)}, [][][]uint64{acceltest.ZeroRows(l)}
	args := &accel.DenseLayerArgs{Layout: l, Weights: []int64{5}, In: [][][]uint64{x}, Out: got}
	if err := small.DenseLayer(args); err != nil {
		t.Fatal(err)
	}
	if err := accel.CPU().DenseLayer(&accel.DenseLayerArgs{Layout: l, Weights: []int64{5}, In: [][][]uint64{x}, Out: want}); err != nil {
		t.Fatal(err)
	}
	acceltest.EqualRows(t, "cpu fallback", got[0], want[0])
	if len(e2.launches) != 0 {
		t.Error("a layer larger than a device batch was launched")
	}
}
