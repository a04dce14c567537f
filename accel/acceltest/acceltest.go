// Package acceltest holds what the tests of every accel backend share:
// random operands with edge values, row comparison, and lattigo's own
// computation of each kernel as the reference. It is for tests only.
package acceltest

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/aios-edge/aios/accel"
)

// RandRows returns rows of uniform coefficients below each modulus, with
// the edge values 0, 1 and q−1 planted at the start and the end.
func RandRows(rng *rand.Rand, l accel.Layout) [][]uint64 {
	rows := make([][]uint64, l.Rows())
	for r, q := range l.Moduli {
		row := make([]uint64, l.N)
		for j := range row {
			row[j] = rng.Uint64N(q)
		}
		row[0], row[1], row[2] = 0, q-1, 1
		row[l.N-1], row[l.N-2] = q-1, q-1
		rows[r] = row
	}
	return rows
}

// CloneRows returns a deep copy of rows.
func CloneRows(rows [][]uint64) [][]uint64 {
	out := make([][]uint64, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	return out
}

// ZeroRows returns l.Rows() rows of l.N zeros.
func ZeroRows(l accel.Layout) [][]uint64 {
	out := make([][]uint64, l.Rows())
	for i := range out {
		out[i] = make([]uint64, l.N)
	}
	return out
}

// EqualRows fails t at the first coefficient where got differs from want.
func EqualRows(t testing.TB, what string, got, want [][]uint64) {
	t.Helper()
	for r := range want {
		for j := range want[r] {
			if got[r][j] != want[r][j] {
				t.Fatalf("%s: row %d coefficient %d: got %d, want %d", what, r, j, got[r][j], want[r][j])
			}
		}
	}
}

// SubRings returns lattigo's ring for each row of l.
func SubRings(t testing.TB, l accel.Layout) []*ring.SubRing {
	t.Helper()
	out := make([]*ring.SubRing, l.Rows())
	for r, q := range l.Moduli {
		rq, err := ring.NewRing(l.N, []uint64{q})
		if err != nil {
			t.Fatal(err)
		}
		out[r] = rq.SubRings[0]
	}
	return out
}

// ScalarSubRings returns lattigo's ring for each row of l with only the
// constants of its scalar operations (MulScalarMontgomeryThenAdd,
// AddScalar): unlike SubRings it accepts moduli that are not NTT-friendly,
// which DenseReference does not need.
func ScalarSubRings(t testing.TB, l accel.Layout) []*ring.SubRing {
	t.Helper()
	out := make([]*ring.SubRing, l.Rows())
	for r, q := range l.Moduli {
		s, err := ring.NewSubRing(l.N, q)
		if err != nil {
			t.Fatal(err)
		}
		s.MRedConstant, s.BRedConstant = ring.MRedConstant(q), ring.BRedConstant(q)
		out[r] = s
	}
	return out
}

// DenseReference is what lattigo's ckks evaluator does for a dense layer
// with integer constants: per limb, MulScalarMontgomeryThenAdd of
// MForm(w mod q) (Evaluator.Mul/MulThenAdd), then AddScalar of the bias
// (Evaluator.Add). in[i][r] is row r of input i; bias may be nil.
func DenseReference(subs []*ring.SubRing, w []int64, in [][][]uint64, bias [][]uint64, nOut int) [][][]uint64 {
	nIn := len(in)
	out := make([][][]uint64, nOut)
	for k := range out {
		out[k] = make([][]uint64, len(subs))
		for r, s := range subs {
			acc := make([]uint64, s.N)
			for i := range nIn {
				wq := uint64(w[k*nIn+i])
				if w[k*nIn+i] < 0 {
					wq = s.Modulus - uint64(-w[k*nIn+i])%s.Modulus
				}
				s.MulScalarMontgomeryThenAdd(in[i][r], ring.MForm(wq%s.Modulus, s.Modulus, s.BRedConstant), acc)
			}
			if bias != nil {
				s.AddScalar(acc, bias[k][r], acc)
			}
			out[k][r] = acc
		}
	}
	return out
}
