package accel

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/utils/bignum"
)

// Backend runs the kernels on one kind of hardware. Every method validates
// its arguments and returns an error wrapping an ErrX sentinel instead of
// panicking. A Backend is safe for concurrent use.
type Backend interface {
	// Name is the registry name: "cpu", "cuda".
	Name() string
	// Device describes the hardware, e.g. "2 × AMD EPYC (GOMAXPROCS=2)".
	Device() string

	// DenseLayer computes, for every output k, row r and coefficient c,
	//
	//	a.Out[k][r][c] = (Σ_i a.Weights[k·I+i]·a.In[i][r][c] + a.Bias[k][r]) mod q_r
	//
	// exactly, with I = len(a.In) and K = len(a.Out). Outputs must not
	// overlap inputs.
	DenseLayer(a *DenseLayerArgs) error

	// NTT writes the forward negacyclic NTT of in[r] to out[r] for every row,
	// equal to lattigo's ring.SubRing.NTT. in and out may be the same rows.
	NTT(l Layout, in, out [][]uint64) error
	// INTT writes the inverse of NTT, equal to lattigo's ring.SubRing.INTT.
	INTT(l Layout, in, out [][]uint64) error

	// MulCoeffsMontgomeryThenAdd sets c[r][j] = c[r][j] + a[r][j]·b[r][j]·2^-64
	// mod q_r for every row, equal to lattigo's ring op of that name.
	MulCoeffsMontgomeryThenAdd(l Layout, a, b, c [][]uint64) error
}

// Layout is the shape shared by every operand of a kernel call: each operand
// has len(Moduli) rows of N coefficients, row r reduced modulo Moduli[r].
type Layout struct {
	N      int
	Moduli []uint64
}

// Rows is the number of rows of an operand.
func (l Layout) Rows() int { return len(l.Moduli) }

// CiphertextLayout returns the layout of a degree-`degree` ciphertext whose
// limbs have the given moduli: (degree+1)·len(moduli) rows, component by
// component (Value[0].Coeffs[0..L], Value[1].Coeffs[0..L], …).
func CiphertextLayout(n int, moduli []uint64, degree int) Layout {
	m := make([]uint64, 0, (degree+1)*len(moduli))
	for range degree + 1 {
		m = append(m, moduli...)
	}
	return Layout{N: n, Moduli: m}
}

// DenseLayerArgs are the operands of [Backend.DenseLayer].
type DenseLayerArgs struct {
	Layout
	// Weights is the K×I matrix, row-major: W_ki = Weights[k·I+i], each in
	// [MinWeight, MaxWeight].
	Weights []int64
	// In[i] is input i (I ≥ 1): Layout.Rows() rows of N coefficients.
	In [][][]uint64
	// Out[k] is output k (K ≥ 1), overwritten; same shape as an input.
	Out [][][]uint64
	// Bias, if not nil, is K × Rows() residues, Bias[k][r] in [0, q_r),
	// added to every coefficient of row r of output k.
	Bias [][]uint64
}

// Limits of the kernels' arguments.
const (
	MinLogN = 4  // smallest ring degree 2^MinLogN (lattigo's unrolled loops need N ≥ 16)
	MaxLogN = 17 // largest ring degree
	// MaxModulusBits: every modulus is odd and below 2^MaxModulusBits. This
	// is the bound lattigo enforces on Q moduli (it refuses
	// bits.Len64(q)−1 > rlwe.MaxModuliSize+1 = 61, that is q ≥ 2^62), and
	// the one its lazy NTT needs (values below 4q < 2^64).
	MaxModulusBits = 62
	// MinWeight and MaxWeight bound DenseLayer's weights (int32). With
	// coefficients below 2^62 each product is below 2^93 in magnitude, so a
	// signed 128-bit accumulator is exact for up to MaxInputs inputs.
	MinWeight = -1 << 31
	MaxWeight = 1<<31 - 1
	MaxInputs = 1 << 32
)

// Errors wrapped by every validation failure, so that callers can use
// errors.Is.
var (
	// ErrShape: an operand has the wrong number of rows, inputs, outputs,
	// weights or coefficients, or outputs overlap inputs.
	ErrShape = errors.New("accel: operand shape mismatch")
	// ErrModulus: a modulus is even, below 3, at least 2^62 (2^MaxModulusBits),
	// or (for the NTT) not a prime ≡ 1 mod 2N.
	ErrModulus = errors.New("accel: invalid modulus")
	// ErrDegree: N is not a power of two in [2^MinLogN, 2^MaxLogN].
	ErrDegree = errors.New("accel: invalid ring degree")
	// ErrWeight: a DenseLayer weight is outside [MinWeight, MaxWeight], or a
	// bias residue is not below its modulus.
	ErrWeight = errors.New("accel: weight out of range")
	// ErrUnavailable: a backend did not initialise on this machine.
	ErrUnavailable = errors.New("accel: backend unavailable")
	// ErrUnknownBackend: no backend of that name is registered.
	ErrUnknownBackend = errors.New("accel: unknown backend")
)

// ScaledConstant returns the integer that lattigo's ckks Evaluator.Add adds
// to a ciphertext of the given scale for the real constant b: round(b·scale)
// with ties away from zero, computed as schemes/ckks does it (b as a
// big.Float of precision prec — ckks.Parameters.EncodingPrecision() —
// times the scale, ± 1/2, truncated), so that the rounding of the product
// to that precision is reproduced too. Pass the result to [BiasResidues].
func ScaledConstant(b float64, scale rlwe.Scale, prec uint) *big.Int {
	c := bignum.ToComplex(b, prec)
	r := new(big.Float).Mul(c[0], &scale.Value)
	switch c[0].Sign() {
	case 1:
		r.Add(r, new(big.Float).SetFloat64(0.5))
	case -1:
		r.Sub(r, new(big.Float).SetFloat64(0.5))
	}
	v, _ := r.Int(nil)
	return v
}

// BiasResidues returns v mod q for every modulus in l: the bias row vector of
// a ciphertext output whose constant is v, for [DenseLayerArgs.Bias]. Only the
// first `limbs` rows (component c0 of a ciphertext with that many limbs)
// receive v; the others are zero. v is the already-rounded integer
// round(b·scale), as lattigo's Evaluator.Add computes it.
func BiasResidues(l Layout, limbs int, v *big.Int) ([]uint64, error) {
	if err := checkLayout(l); err != nil {
		return nil, err
	}
	if limbs < 0 || limbs > l.Rows() {
		return nil, fmt.Errorf("%w: %d limbs of %d rows", ErrShape, limbs, l.Rows())
	}
	out := make([]uint64, l.Rows())
	t := new(big.Int)
	for r := range limbs {
		out[r] = t.Mod(v, new(big.Int).SetUint64(l.Moduli[r])).Uint64()
	}
	return out, nil
}
