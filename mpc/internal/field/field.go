// Package field is arithmetic in the scalar field of Ed25519, Z_q with
// q = 2^252 + 27742317777372353535851937790883648493 (RFC 8032, section
// 5.1), the field in which package mpc shares its fixed-point values.
//
// It exists beside kyber's edwards25519 scalars because the protocol
// evaluates and combines hundreds of thousands of sharing polynomials per
// session: a kyber.Scalar is an interface value with its own allocation,
// and share.RecoverSecret recomputes the Lagrange basis (with field
// inversions) on every call. Here an [Element] is a value type of four
// 64-bit limbs in Montgomery form (Montgomery, "Modular multiplication
// without trial division", Math. Comp. 44, 1985; the CIOS variant of Koç,
// Acar and Kaliski, "Analyzing and comparing Montgomery multiplication
// algorithms", IEEE Micro 1996), and vectors are plain slices. The tests
// check every operation against kyber's scalars and math/big, and that
// kyber's share.RecoverSecret recovers secrets shared here.
//
// All operations run in time independent of the values' contents except
// [Element.SetCanonicalBytes]'s range check and [Inverse]'s fixed-length
// exponentiation, which is also constant time.
package field

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/bits"
)

// Size is the length of an element's canonical encoding.
const Size = 32

// ErrNonCanonical reports an encoding of an integer ≥ q.
var ErrNonCanonical = errors.New("field: non-canonical scalar encoding")

// Element is an element of Z_q in Montgomery form (x·2^256 mod q). The zero
// value is 0.
type Element struct{ l [4]uint64 }

var (
	q   = [4]uint64{0x5812631a5cf5d3ed, 0x14def9dea2f79cd6, 0, 0x1000000000000000}
	q0  uint64  // -q^{-1} mod 2^64
	r2  Element // 2^512 mod q (Montgomery form of 2^256)
	r3  Element // 2^768 mod q
	one Element

	// Q is the field order.
	Q *big.Int
)

func init() {
	// Newton iteration for q^{-1} mod 2^64.
	inv := uint64(1)
	for range 6 {
		inv *= 2 - q[0]*inv
	}
	q0 = -inv
	Q = limbsToBig(q)
	r := new(big.Int).Lsh(big.NewInt(1), 256)
	r2.l = bigToLimbs(new(big.Int).Mod(new(big.Int).Mul(r, r), Q))
	r3.l = bigToLimbs(new(big.Int).Mod(new(big.Int).Exp(r, big.NewInt(3), nil), Q))
	one.l = bigToLimbs(new(big.Int).Mod(r, Q))
}

func limbsToBig(l [4]uint64) *big.Int {
	var b [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(b[24-8*i:], l[i])
	}
	return new(big.Int).SetBytes(b[:])
}

func bigToLimbs(x *big.Int) [4]uint64 {
	var b [32]byte
	x.FillBytes(b[:])
	var l [4]uint64
	for i := range 4 {
		l[i] = binary.BigEndian.Uint64(b[24-8*i:])
	}
	return l
}

// One returns 1.
func One() Element { return one }

// subQ returns x-q if x ≥ q, else x (x < 2q).
func subQ(x [4]uint64) [4]uint64 {
	var d [4]uint64
	var b uint64
	d[0], b = bits.Sub64(x[0], q[0], 0)
	d[1], b = bits.Sub64(x[1], q[1], b)
	d[2], b = bits.Sub64(x[2], q[2], b)
	d[3], b = bits.Sub64(x[3], q[3], b)
	m := -(b ^ 1) // all ones when no borrow (x ≥ q)
	for i := range 4 {
		x[i] ^= (x[i] ^ d[i]) & m
	}
	return x
}

// Add returns a+b.
func Add(a, b Element) Element {
	var s [4]uint64
	var c uint64
	s[0], c = bits.Add64(a.l[0], b.l[0], 0)
	s[1], c = bits.Add64(a.l[1], b.l[1], c)
	s[2], c = bits.Add64(a.l[2], b.l[2], c)
	s[3], _ = bits.Add64(a.l[3], b.l[3], c) // a+b < 2q < 2^254
	return Element{subQ(s)}
}

// Sub returns a-b.
func Sub(a, b Element) Element {
	var d [4]uint64
	var br uint64
	d[0], br = bits.Sub64(a.l[0], b.l[0], 0)
	d[1], br = bits.Sub64(a.l[1], b.l[1], br)
	d[2], br = bits.Sub64(a.l[2], b.l[2], br)
	d[3], br = bits.Sub64(a.l[3], b.l[3], br)
	m := -br
	var c uint64
	d[0], c = bits.Add64(d[0], q[0]&m, 0)
	d[1], c = bits.Add64(d[1], q[1]&m, c)
	d[2], c = bits.Add64(d[2], q[2]&m, c)
	d[3], _ = bits.Add64(d[3], q[3]&m, c)
	return Element{d}
}

// Neg returns -a.
func Neg(a Element) Element { return Sub(Element{}, a) }

// Mul returns a·b (Montgomery product, CIOS).
func Mul(a, b Element) Element {
	var t [6]uint64
	for i := range 4 {
		var c, hi, lo uint64
		for j := range 4 {
			hi, lo = bits.Mul64(a.l[j], b.l[i])
			var cc uint64
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j], c = lo, hi
		}
		var cc uint64
		t[4], cc = bits.Add64(t[4], c, 0)
		t[5] = cc
		m := t[0] * q0
		hi, lo = bits.Mul64(m, q[0])
		_, cc = bits.Add64(lo, t[0], 0)
		c = hi + cc
		for j := 1; j < 4; j++ {
			hi, lo = bits.Mul64(m, q[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j-1], c = lo, hi
		}
		t[3], cc = bits.Add64(t[4], c, 0)
		t[4] = t[5] + cc
	}
	// t < 2q fits in four limbs since q < 2^253.
	return Element{subQ([4]uint64{t[0], t[1], t[2], t[3]})}
}

// c252 is q − 2^252.
var c252 = [2]uint64{0x5812631a5cf5d3ed, 0x14def9dea2f79cd6}

// MulSmall returns a·k for k < 2^32, much faster than Mul: the Montgomery
// representation of a times the integer k is that of a·k, and the product
// (below 2^285) reduces with 2^252 ≡ −(q − 2^252) (mod q).
func MulSmall(a Element, k uint32) Element {
	var x [5]uint64
	var c, hi, lo uint64
	for i := range 4 {
		hi, lo = bits.Mul64(a.l[i], uint64(k))
		var cc uint64
		x[i], cc = bits.Add64(lo, c, 0)
		c = hi + cc
	}
	x[4] = c
	// h = x >> 252 (< 2^33), l = x mod 2^252.
	h := x[3]>>60 | x[4]<<4
	l := [4]uint64{x[0], x[1], x[2], x[3] & (1<<60 - 1)}
	// l − h·c252 with h·c252 < 2^158.
	h0hi, h0lo := bits.Mul64(h, c252[0])
	h1hi, h1lo := bits.Mul64(h, c252[1])
	m1, cc := bits.Add64(h1lo, h0hi, 0)
	m2 := h1hi + cc
	var d [4]uint64
	var br uint64
	d[0], br = bits.Sub64(l[0], h0lo, 0)
	d[1], br = bits.Sub64(l[1], m1, br)
	d[2], br = bits.Sub64(l[2], m2, br)
	d[3], br = bits.Sub64(l[3], 0, br)
	m := -br
	var cr uint64
	d[0], cr = bits.Add64(d[0], q[0]&m, 0)
	d[1], cr = bits.Add64(d[1], q[1]&m, cr)
	d[2], cr = bits.Add64(d[2], q[2]&m, cr)
	d[3], _ = bits.Add64(d[3], q[3]&m, cr)
	return Element{d}
}

// Random252 maps 32 random bytes to an element: the low 252 bits, taken
// directly as a Montgomery representation (every integer below 2^252 < q is
// one). The result is within statistical distance (q − 2^252)/q < 2^-127
// of uniform, and costs no multiplication.
func Random252(b *[32]byte) Element {
	var e Element
	for i := range 4 {
		e.l[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	e.l[3] &= 1<<60 - 1
	return e
}

// Equal reports whether a == b.
func Equal(a, b Element) bool {
	return (a.l[0]^b.l[0])|(a.l[1]^b.l[1])|(a.l[2]^b.l[2])|(a.l[3]^b.l[3]) == 0
}

// IsZero reports whether a == 0.
func (a Element) IsZero() bool { return Equal(a, Element{}) }

// FromUint64 returns x mod q.
func FromUint64(x uint64) Element { return Mul(Element{[4]uint64{x}}, r2) }

// FromInt64 returns x mod q (a negative x maps to q - |x|).
func FromInt64(x int64) Element {
	if x < 0 {
		return Neg(FromUint64(uint64(-x)))
	}
	return FromUint64(uint64(x))
}

// FromWide reduces a 64-byte little-endian integer mod q. With uniform
// input the result is within statistical distance 2^-259 of uniform.
func FromWide(b *[64]byte) Element {
	var lo, hi Element
	for i := range 4 {
		lo.l[i] = binary.LittleEndian.Uint64(b[8*i:])
		hi.l[i] = binary.LittleEndian.Uint64(b[32+8*i:])
	}
	// Montgomery: Mul(x, r2) = x·2^256 mod q for any x < 2^256 (x·r2 < 2^256·q).
	return Add(Mul(lo, r2), Mul(hi, r3))
}

// SetCanonicalBytes decodes a 32-byte little-endian integer, which must be
// below q (the encoding kyber's edwards25519 scalars use).
func (a *Element) SetCanonicalBytes(b []byte) error {
	if len(b) != Size {
		return ErrNonCanonical
	}
	var x [4]uint64
	for i := range 4 {
		x[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	var br uint64
	_, br = bits.Sub64(x[0], q[0], 0)
	_, br = bits.Sub64(x[1], q[1], br)
	_, br = bits.Sub64(x[2], q[2], br)
	_, br = bits.Sub64(x[3], q[3], br)
	if br == 0 {
		return ErrNonCanonical
	}
	a.l = Mul(Element{x}, r2).l
	return nil
}

// AppendBytes appends the 32-byte little-endian canonical encoding.
func (a Element) AppendBytes(dst []byte) []byte {
	x := Mul(a, Element{[4]uint64{1}}) // out of Montgomery form
	for i := range 4 {
		dst = binary.LittleEndian.AppendUint64(dst, x.l[i])
	}
	return dst
}

// Bytes returns the canonical encoding.
func (a Element) Bytes() []byte { return a.AppendBytes(make([]byte, 0, Size)) }

// Big returns a as an integer in [0, q).
func (a Element) Big() *big.Int {
	b := a.Bytes()
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return new(big.Int).SetBytes(b)
}

// Inverse returns a^{-1} (0 for 0), by Fermat: a^{q-2}.
func Inverse(a Element) Element {
	e := limbsToBig(q)
	e.Sub(e, big.NewInt(2))
	r := one
	for i := e.BitLen() - 1; i >= 0; i-- {
		r = Mul(r, r)
		if e.Bit(i) == 1 {
			r = Mul(r, a)
		}
	}
	return r
}

// EvalPoly returns Σ_k c[k]·x^k (Horner).
func EvalPoly(c []Element, x Element) Element {
	var r Element
	for k := len(c) - 1; k >= 0; k-- {
		r = Add(Mul(r, x), c[k])
	}
	return r
}

// LagrangeAtZero returns the coefficients λ_i with f(0) = Σ λ_i f(x_i) for
// every polynomial f of degree < len(xs). The points must be distinct and
// non-zero; ok is false otherwise.
func LagrangeAtZero(xs []Element) (lambda []Element, ok bool) {
	return LagrangeAt(xs, Element{})
}

// LagrangeAt returns λ_i with f(z) = Σ λ_i f(x_i) for deg f < len(xs).
// ok is false if two points coincide.
func LagrangeAt(xs []Element, z Element) (lambda []Element, ok bool) {
	lambda = make([]Element, len(xs))
	for i, xi := range xs {
		num, den := one, one
		for j, xj := range xs {
			if i == j {
				continue
			}
			d := Sub(xj, xi)
			if d.IsZero() {
				return nil, false
			}
			num = Mul(num, Sub(xj, z))
			den = Mul(den, d)
		}
		lambda[i] = Mul(num, Inverse(den))
	}
	return lambda, true
}
