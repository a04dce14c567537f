package mpc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"io"
	"math/rand/v2"

	"go.dedis.ch/kyber/v3"
	"go.dedis.ch/kyber/v3/group/edwards25519"

	"github.com/aios-edge/aios/mpc/internal/field"
)

var (
	group = edwards25519.NewBlakeSHA256Ed25519()
	// pedersenH is the second Pedersen generator: a point picked by kyber's
	// Point.Pick (decode random bytes as a point, multiply by the cofactor)
	// from the XOF seeded with a fixed public string, so nobody knows its
	// discrete logarithm to the base point.
	pedersenH = group.Point().Pick(group.XOF([]byte("aios/mpc/pedersen-h/v1")))
)

const (
	pointSize = 32
	tagSize   = 16
)

func scalarOf(e field.Element) kyber.Scalar {
	s := group.Scalar()
	_ = s.UnmarshalBinary(e.Bytes()) // canonical by construction
	return s
}

// newStream returns a CSPRNG for bulk coefficients: ChaCha8 keyed with 32
// bytes from rnd.
func newStream(rnd io.Reader) (*rand.ChaCha8, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return nil, err
	}
	return rand.NewChaCha8(seed), nil
}

func randElement(s *rand.ChaCha8) field.Element {
	var b [64]byte
	_, _ = s.Read(b[:]) // never fails
	return field.FromWide(&b)
}

// randCoeff is a cheaper draw for polynomial coefficients (within 2^-127
// of uniform; see field.Random252).
func randCoeff(s *rand.ChaCha8) field.Element {
	var b [32]byte
	_, _ = s.Read(b[:])
	return field.Random252(&b)
}

// pairKey derives the AES-256-GCM key for one message from sender to
// recipient: HKDF-SHA256 (RFC 5869) over their X25519 (RFC 7748) session
// keys' shared secret, salted with the session id and bound to kind, phase
// and both indices, so that each key encrypts exactly one message.
func pairKey(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, session [32]byte, kind Kind, phase uint8, from, to uint16) (cipher.AEAD, error) {
	secret, err := priv.ECDH(pub)
	if err != nil {
		return nil, err
	}
	info := []byte("aios/mpc/aead/v1")
	info = append(info, byte(kind), phase)
	info = binary.BigEndian.AppendUint16(info, from)
	info = binary.BigEndian.AppendUint16(info, to)
	key, err := hkdf.Key(sha256.New, secret, session[:], string(info), 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// challenge is the batching challenge γ for one dealing, derived by the
// Fiat–Shamir heuristic (Fiat, Shamir, CRYPTO 1986): a hash of the dealer's
// binding to every recipient's ciphertext.
func challenge(session [32]byte, phase uint8, dealer uint16, hashes []byte) field.Element {
	h := sha512.New()
	h.Write([]byte("aios/mpc/batch/v1\x00"))
	h.Write(session[:])
	h.Write([]byte{phase})
	_ = binary.Write(h, binary.BigEndian, dealer)
	h.Write(hashes)
	var w [64]byte
	h.Sum(w[:0])
	return field.FromWide(&w)
}

// combine returns Σ_j γ^j v[j] (Horner).
func combine(v []field.Element, gamma field.Element) field.Element {
	var acc field.Element
	for j := len(v) - 1; j >= 0; j-- {
		acc = field.Add(field.Mul(acc, gamma), v[j])
	}
	return acc
}

// dealing is a dealer's output for one phase: for each recipient (in the
// phase's member order) its share vector and blinding share, plus the public
// part every recipient receives.
type dealing struct {
	shares [][]field.Element // [recipient][coordinate]
	blind  []field.Element   // [recipient]
}

// share deals Shamir shares (Shamir, "How to share a secret", CACM 1979):
// for every coordinate j it draws a polynomial f_j of degree t−1 with
// f_j(0) = values[j] and evaluates it at every member's x; and it draws the
// blinding polynomial B of degree t−1 of Pedersen's VSS (Pedersen, CRYPTO
// 1991). It returns the shares and the coefficients
// (coeffs[k][j] is coefficient k of f_j) for the commitments.
func share(values []field.Element, xs []field.Element, t int, s *rand.ChaCha8) (*dealing, [][]field.Element, []field.Element) {
	d := len(values)
	coeffs := make([][]field.Element, t)
	coeffs[0] = values
	for k := 1; k < t; k++ {
		coeffs[k] = make([]field.Element, d)
		for j := range coeffs[k] {
			coeffs[k][j] = randCoeff(s)
		}
	}
	bcoef := make([]field.Element, t)
	for k := range bcoef {
		bcoef[k] = randElement(s)
	}
	dl := &dealing{shares: make([][]field.Element, len(xs)), blind: make([]field.Element, len(xs))}
	for i, x := range xs {
		sh := make([]field.Element, d)
		xi := uint32(x.Big().Uint64()) // members' points are 1..n
		for j := range d {
			var acc field.Element
			for k := t - 1; k >= 0; k-- {
				acc = field.Add(field.MulSmall(acc, xi), coeffs[k][j])
			}
			sh[j] = acc
		}
		dl.shares[i] = sh
		dl.blind[i] = field.EvalPoly(bcoef, x)
	}
	return dl, coeffs, bcoef
}

// commit returns D_k = g^{A_k}·h^{B_k} with A_k = Σ_j γ^j a_{j,k}: Pedersen
// commitments to the coefficients of the combined polynomial Σ_j γ^j f_j and
// of the blinding polynomial B.
func commit(coeffs [][]field.Element, bcoef []field.Element, gamma field.Element) []byte {
	out := make([]byte, 0, len(coeffs)*pointSize)
	for k := range coeffs {
		a := combine(coeffs[k], gamma)
		p := group.Point().Mul(scalarOf(a), nil)
		p.Add(p, group.Point().Mul(scalarOf(bcoef[k]), pedersenH))
		b, _ := p.MarshalBinary()
		out = append(out, b...)
	}
	return out
}

// verifyShare is Pedersen's share check (Pedersen, CRYPTO 1991) on the
// γ-combined share: g^{Σ_j γ^j s_j}·h^ρ = Π_k D_k^{x^k}, d field
// multiplications and t+2 group exponentiations.
func verifyShare(shares []field.Element, blind field.Element, x field.Element, gamma field.Element, comms []kyber.Point) bool {
	sigma := combine(shares, gamma)
	lhs := group.Point().Mul(scalarOf(sigma), nil)
	lhs.Add(lhs, group.Point().Mul(scalarOf(blind), pedersenH))
	rhs := group.Point().Null()
	xk := field.One()
	for _, c := range comms {
		rhs.Add(rhs, group.Point().Mul(scalarOf(xk), c))
		xk = field.Mul(xk, x)
	}
	return lhs.Equal(rhs)
}

// decodePoints parses t commitments, refusing non-canonical encodings and
// points outside the prime-order subgroup.
func decodePoints(b []byte, kind string) ([]kyber.Point, error) {
	type checkable interface {
		IsCanonical(b []byte) bool
		HasSmallOrder() bool
	}
	pts := make([]kyber.Point, len(b)/pointSize)
	for k := range pts {
		p := group.Point()
		raw := b[k*pointSize : (k+1)*pointSize]
		c, ok := p.(checkable)
		if !ok || !c.IsCanonical(raw) {
			return nil, malformed(kind, "commitment %d is not a canonical point", k)
		}
		if err := p.UnmarshalBinary(raw); err != nil {
			return nil, malformed(kind, "commitment %d is not a curve point", k)
		}
		// The prime-order subgroup: q·P = 0, computed as (q−1)·P + P.
		qp := group.Point().Mul(minusOne, p)
		if !qp.Add(qp, p).Equal(group.Point().Null()) {
			return nil, malformed(kind, "commitment %d is outside the prime-order subgroup", k)
		}
		pts[k] = p
	}
	return pts, nil
}

var minusOne = group.Scalar().Neg(group.Scalar().One())

func appendElems(b []byte, v []field.Element) []byte {
	for _, e := range v {
		b = e.AppendBytes(b)
	}
	return b
}

func parseElems(b []byte, n int, kind string) ([]field.Element, error) {
	if len(b) != n*field.Size {
		return nil, malformed(kind, "want %d field elements", n)
	}
	v := make([]field.Element, n)
	for i := range v {
		if err := v[i].SetCanonicalBytes(b[i*field.Size : (i+1)*field.Size]); err != nil {
			return nil, malformed(kind, "element %d is not a canonical scalar", i)
		}
	}
	return v, nil
}
