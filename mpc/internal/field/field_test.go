package field

import (
	"crypto/rand"
	"math/big"
	"testing"

	"go.dedis.ch/kyber/v3"
	"go.dedis.ch/kyber/v3/group/edwards25519"
	"go.dedis.ch/kyber/v3/share"
)

var suite = edwards25519.NewBlakeSHA256Ed25519()

func randElem(t testing.TB) Element {
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return FromWide(&b)
}

func toKyber(t testing.TB, a Element) kyber.Scalar {
	s := suite.Scalar()
	if err := s.UnmarshalBinary(a.Bytes()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestArithmeticMatchesKyberAndBig(t *testing.T) {
	edge := []Element{{}, one, Neg(one), FromUint64(2), FromBig(new(big.Int).Rsh(Q, 1))}
	for i := range 300 {
		a, b := randElem(t), randElem(t)
		if i < len(edge)*len(edge) {
			a, b = edge[i/len(edge)], edge[i%len(edge)]
		}
		ka, kb := toKyber(t, a), toKyber(t, b)
		check := func(name string, got Element, want kyber.Scalar) {
			t.Helper()
			if !want.Equal(toKyber(t, got)) {
				t.Fatalf("%s mismatch", name)
			}
		}
		check("add", Add(a, b), suite.Scalar().Add(ka, kb))
		check("sub", Sub(a, b), suite.Scalar().Sub(ka, kb))
		check("mul", Mul(a, b), suite.Scalar().Mul(ka, kb))
		check("neg", Neg(a), suite.Scalar().Neg(ka))
		if !a.IsZero() {
			check("inv", Inverse(a), suite.Scalar().Inv(ka))
		}
		k := uint32(i*2654435761) | uint32(i&1)<<31
		if !Equal(MulSmall(a, k), Mul(a, FromUint64(uint64(k)))) {
			t.Fatal("MulSmall differs from Mul")
		}
		wantBig := new(big.Int).Mod(new(big.Int).Mul(a.Big(), b.Big()), Q)
		if Mul(a, b).Big().Cmp(wantBig) != 0 {
			t.Fatal("mul differs from math/big")
		}
	}
}

func TestEncoding(t *testing.T) {
	for range 100 {
		a := randElem(t)
		var b Element
		if err := b.SetCanonicalBytes(a.Bytes()); err != nil || !Equal(a, b) {
			t.Fatal("round trip failed")
		}
	}
	qb := make([]byte, 32)
	qq := Q.Bytes()
	for i := range qq {
		qb[i] = qq[len(qq)-1-i]
	}
	var e Element
	if err := e.SetCanonicalBytes(qb); err == nil {
		t.Fatal("q accepted")
	}
	if err := e.SetCanonicalBytes(make([]byte, 31)); err == nil {
		t.Fatal("short encoding accepted")
	}
	if FromInt64(-5).Big().Cmp(new(big.Int).Sub(Q, big.NewInt(5))) != 0 {
		t.Fatal("FromInt64(-5)")
	}
	var w [64]byte
	for i := range w {
		w[i] = 0xff
	}
	want := new(big.Int).Mod(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 512), big.NewInt(1)), Q)
	if FromWide(&w).Big().Cmp(want) != 0 {
		t.Fatal("FromWide(2^512-1)")
	}
}

// TestKyberRecoversOurShares checks interoperability with kyber's Shamir
// implementation: shares computed with EvalPoly at x = i+1 are kyber
// PriShares with index i, and our Lagrange coefficients agree.
func TestKyberRecoversOurShares(t *testing.T) {
	const n, th = 7, 4
	coeffs := make([]Element, th)
	for k := range coeffs {
		coeffs[k] = randElem(t)
	}
	shares := make([]*share.PriShare, n)
	xs := make([]Element, n)
	ys := make([]Element, n)
	for i := range n {
		xs[i] = FromUint64(uint64(i + 1))
		ys[i] = EvalPoly(coeffs, xs[i])
		shares[i] = &share.PriShare{I: i, V: toKyber(t, ys[i])}
	}
	got, err := share.RecoverSecret(suite, shares[2:], th, n)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(toKyber(t, coeffs[0])) {
		t.Fatal("kyber did not recover the secret")
	}
	lam, ok := LagrangeAtZero(xs[3:])
	if !ok {
		t.Fatal("lagrange")
	}
	var s Element
	for i, l := range lam {
		s = Add(s, Mul(l, ys[3+i]))
	}
	if !Equal(s, coeffs[0]) {
		t.Fatal("our Lagrange did not recover the secret")
	}
	if _, ok := LagrangeAtZero([]Element{xs[0], xs[0]}); ok {
		t.Fatal("duplicate points accepted")
	}
}

func BenchmarkMul(b *testing.B) {
	x, y := randElem(b), randElem(b)
	for b.Loop() {
		x = Mul(x, y)
	}
	_ = x
}

// FromBig returns x mod q.
func FromBig(x *big.Int) Element {
	m := new(big.Int).Mod(x, Q)
	return Mul(Element{bigToLimbs(m)}, r2)
}
