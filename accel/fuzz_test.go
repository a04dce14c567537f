package accel_test

import (
	"encoding/binary"
	"errors"
	"math/big"
	"testing"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/accel/acceltest"
)

// fuzzReader hands out fuzz bytes, zeros once they run out.
type fuzzReader struct{ b []byte }

func (f *fuzzReader) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	v := f.b[0]
	f.b = f.b[1:]
	return v
}

func (f *fuzzReader) u64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = f.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

// NTT-friendly primes for N ≤ 64 (≡ 1 mod 128), of 17 to 61 bits.
var fuzzPrimes = []uint64{65537, 786433, 0x1fffffffffe00001, 0xffffee001, 0x3fffffffffffe801}

func (f *fuzzReader) layout() accel.Layout {
	n := []int{16, 32, 64, 8, 24, 0, -16, 1 << 18}[f.byte()%8]
	rows := int(f.byte() % 5)
	m := make([]uint64, rows)
	for r := range m {
		switch f.byte() % 4 {
		case 0:
			m[r] = f.u64() // mostly invalid: even or ≥ 2^62
		case 1:
			m[r] = f.u64()&(1<<61-1) | 1
		default:
			m[r] = fuzzPrimes[int(f.byte())%len(fuzzPrimes)]
		}
	}
	return accel.Layout{N: n, Moduli: m}
}

// operand makes rows shaped like l, with now and then a wrong length or a
// missing row, and coefficients reduced below their moduli.
func (f *fuzzReader) operand(l accel.Layout) [][]uint64 {
	rows := len(l.Moduli)
	if f.byte()%16 == 0 {
		rows = int(f.byte() % 5)
	}
	op := make([][]uint64, rows)
	for r := range op {
		n := max(0, min(l.N, 1<<7))
		if f.byte()%16 == 0 {
			n = int(f.byte() % 80)
		}
		op[r] = make([]uint64, n)
		q := uint64(1)
		if r < len(l.Moduli) && l.Moduli[r] != 0 {
			q = l.Moduli[r]
		}
		for j := range op[r] {
			op[r][j] = f.u64() % q
		}
	}
	return op
}

var sentinels = []error{accel.ErrShape, accel.ErrModulus, accel.ErrDegree, accel.ErrWeight}

func checkTyped(t *testing.T, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no accel sentinel: %v", err)
}

// FuzzDenseLayer feeds the cpu backend malformed and well-formed layers:
// it must never panic, must reject with a typed error, and whatever it
// accepts must equal Σ w·x + b mod q computed with math/big.
func FuzzDenseLayer(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 1, 2, 3})
	f.Add([]byte{1, 2, 2, 1, 2, 2, 2, 5, 3, 0, 0, 0, 0, 0, 0, 0, 0x80, 1, 255})
	f.Add([]byte{3, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 2, 2})
	f.Add([]byte{0, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 2, 1, 16, 0, 9, 7})
	b := accel.CPU()
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := &fuzzReader{data}
		l := fr.layout()
		nIn, nOut := int(fr.byte()%4), int(fr.byte()%3)
		a := &accel.DenseLayerArgs{Layout: l}
		for range nIn {
			a.In = append(a.In, fr.operand(l))
		}
		for range nOut {
			a.Out = append(a.Out, fr.operand(l))
		}
		nw := nIn * nOut
		if fr.byte()%16 == 0 {
			nw = int(fr.byte() % 10)
		}
		for range nw {
			w := int64(int8(fr.byte()))
			switch fr.byte() % 8 {
			case 0:
				w = int64(fr.u64()) // mostly out of range
			case 1:
				w = []int64{accel.MinWeight, accel.MaxWeight}[fr.byte()%2]
			}
			a.Weights = append(a.Weights, w)
		}
		if fr.byte()%2 == 0 {
			for range nOut {
				bias := make([]uint64, len(l.Moduli))
				for r := range bias {
					bias[r] = fr.u64()
					if fr.byte()%8 != 0 && l.Moduli[r] != 0 {
						bias[r] %= l.Moduli[r]
					}
				}
				a.Bias = append(a.Bias, bias)
			}
		}
		if err := b.DenseLayer(a); err != nil {
			checkTyped(t, err)
			return
		}
		for k := range a.Out {
			for r, q := range l.Moduli {
				bq := new(big.Int).SetUint64(q)
				for c := range l.N {
					want := new(big.Int)
					for i := range a.In {
						want.Add(want, new(big.Int).Mul(big.NewInt(a.Weights[k*nIn+i]), new(big.Int).SetUint64(a.In[i][r][c])))
					}
					if a.Bias != nil {
						want.Add(want, new(big.Int).SetUint64(a.Bias[k][r]))
					}
					want.Mod(want, bq)
					if got := a.Out[k][r][c]; got != want.Uint64() {
						t.Fatalf("out[%d][%d][%d] = %d, want %d", k, r, c, got, want)
					}
				}
			}
		}
	})
}

// FuzzRowOps checks that NTT, INTT and MulCoeffsMontgomeryThenAdd reject
// malformed layouts and operands with typed errors, never panicking, and
// that INTT undoes NTT on what they accept.
func FuzzRowOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0})
	f.Add([]byte{2, 2, 3, 2, 2, 2})
	f.Add([]byte{4, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{7, 3, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	b := accel.CPU()
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := &fuzzReader{data}
		l := fr.layout()
		x, y, z := fr.operand(l), fr.operand(l), fr.operand(l)
		if err := b.MulCoeffsMontgomeryThenAdd(l, x, y, z); err != nil {
			checkTyped(t, err)
		}
		orig := acceltest.CloneRows(x)
		if err := b.NTT(l, x, y); err != nil {
			checkTyped(t, err)
			return
		}
		if err := b.INTT(l, y, y); err != nil {
			t.Fatalf("INTT rejected what NTT accepted: %v", err)
		}
		acceltest.EqualRows(t, "INTT(NTT(x))", y, orig)
	})
}
