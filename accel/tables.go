package accel

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// NTTTable holds, for one (N, q), everything a backend needs to reproduce
// lattigo's negacyclic NTT and its Montgomery arithmetic. Values are
// lattigo's own (ring.SubRing and its ring.NTTTable), so a backend that
// computes with them gives lattigo's bits.
//
// Conventions (lattigo v5, ring/modular_reduction.go and ring/ntt.go):
//   - Montgomery form of a is a·2^64 mod q. MRed(x, y) = x·y·2^-64 mod q,
//     computed as hi(x·y) − hi(lo(x·y)·MRedConstant·q) + q, then one
//     conditional subtraction. Note MRedConstant is +q^-1 mod 2^64, not
//     −q^-1 as in most texts.
//   - RootsForward[brv(j)] = ψ^j·2^64 mod q for j < N, where ψ is the
//     primitive 2N-th root ψ = g^((q−1)/2N) for lattigo's primitive root g
//     (the smallest ≥ 3) and brv reverses log2(N) bits; RootsForward[0] is
//     the Montgomery form of 1. RootsBackward likewise with ψ^-1.
//   - The forward transform is Cooley–Tukey, decimation in time, natural
//     order in, bit-reversed order out: for m = 1, 2, …, N/2 and t = N/2m,
//     block i uses F = RootsForward[m+i] on pairs (j, j+t), j in
//     [2it, 2it+t): U, V = x[j], MRed(x[j+t], F); x[j], x[j+t] = U+V, U−V.
//     The inverse is Gentleman–Sande, bit-reversed order in, natural order
//     out: for m = N, N/2, …, 2, h = m/2 and t = N/m, block i uses
//     F = RootsBackward[h+i] on pairs (j, j+t), j in [2it, 2it+t):
//     x[j], x[j+t] = U+V, MRed(U−V, F); then every coefficient is multiplied
//     by NInv with MRed. Both transforms reduce lazily inside (values in
//     [0, 4q)) and fully at the end, so any exact evaluation of the same
//     transform yields the same bits.
type NTTTable struct {
	N       int
	Modulus uint64
	// MRedConstant is q^-1 mod 2^64 (lattigo's Montgomery constant).
	MRedConstant uint64
	// BRedConstant is floor(2^128/q) as {high word, low word}.
	BRedConstant [2]uint64
	// R2 is 2^128 mod q: MRed(a, R2) puts a in Montgomery form.
	R2 uint64
	// PrimitiveRoot g of Z_q^*, and NthRoot = 2N.
	PrimitiveRoot, NthRoot uint64
	// RootsForward and RootsBackward have N entries each (see above).
	RootsForward, RootsBackward []uint64
	// NInv is N^-1·2^64 mod q.
	NInv uint64
}

type tableKey struct {
	n int
	q uint64
}

type tableEntry struct {
	once sync.Once
	s    *ring.SubRing
	err  error
}

var tableCache sync.Map // tableKey → *tableEntry

// subRing returns lattigo's SubRing for (n, q), built once per process.
func subRing(n int, q uint64) (*ring.SubRing, error) {
	v, _ := tableCache.LoadOrStore(tableKey{n, q}, new(tableEntry))
	e := v.(*tableEntry)
	e.once.Do(func() {
		if q&(2*uint64(n)-1) != 1 {
			e.err = fmt.Errorf("%w: %d is not 1 mod 2N = %d", ErrModulus, q, 2*n)
			return
		}
		if !ring.IsPrime(q) {
			e.err = fmt.Errorf("%w: %d is not prime", ErrModulus, q)
			return
		}
		r, err := ring.NewRing(n, []uint64{q})
		if err != nil {
			e.err = fmt.Errorf("%w: %d: %w", ErrModulus, q, err)
			return
		}
		e.s = r.SubRings[0]
	})
	return e.s, e.err
}

// Tables returns lattigo's NTT tables and reduction constants for ring degree
// n and NTT-friendly prime q (q ≡ 1 mod 2n). The result is a fresh copy.
func Tables(n int, q uint64) (*NTTTable, error) {
	if err := checkLayout(Layout{N: n, Moduli: []uint64{q}}); err != nil {
		return nil, err
	}
	s, err := subRing(n, q)
	if err != nil {
		return nil, err
	}
	_, r2 := bits.Div64(1, 0, q) // 2^64 mod q; its Montgomery form is 2^128 mod q
	r2 = ring.MForm(r2, q, s.BRedConstant)
	return &NTTTable{
		N:             n,
		Modulus:       q,
		MRedConstant:  s.MRedConstant,
		BRedConstant:  [2]uint64{s.BRedConstant[0], s.BRedConstant[1]},
		R2:            r2,
		PrimitiveRoot: s.PrimitiveRoot,
		NthRoot:       s.NthRoot,
		RootsForward:  slices.Clone(s.RootsForward),
		RootsBackward: slices.Clone(s.RootsBackward),
		NInv:          s.NInv,
	}, nil
}
