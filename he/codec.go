package he

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"sync/atomic"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// Sentinel errors wrapped by every [*DecodeError].
var (
	// ErrMalformed: the bytes are not a valid lattigo encoding of the object.
	ErrMalformed = errors.New("he: malformed encoding")
	// ErrTooLarge: the encoding is larger than the limit for its kind.
	ErrTooLarge = errors.New("he: encoding too large")
	// ErrParamsMismatch: a well-formed object made for other parameters
	// (ring degree, moduli, level, decomposition).
	ErrParamsMismatch = errors.New("he: encoding does not match the parameters")
)

// DecodeError describes why an encoded object was refused.
type DecodeError struct {
	What   string // "ciphertext", "evaluation key set", …
	Offset int    // byte offset where the problem was found
	Reason string
	Err    error // ErrMalformed, ErrTooLarge or ErrParamsMismatch
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("he: decode %s: %s (at byte %d)", e.What, e.Reason, e.Offset)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Limits bounds what the decoders accept beyond what the parameters imply.
type Limits struct {
	// MaxGaloisKeys is the most Galois keys an evaluation key set may hold.
	MaxGaloisKeys int
	// MaxCiphertextDegree is the largest ciphertext degree accepted (1 for
	// fresh or relinearized ciphertexts, 2 before relinearization).
	MaxCiphertextDegree int
}

// DefaultLimits: enough Galois keys for every power-of-two rotation in both
// directions plus conjugation at N = 2^16, and degree-2 ciphertexts.
var DefaultLimits = Limits{MaxGaloisKeys: 64, MaxCiphertextDegree: 2}

// walker checks a lattigo binary encoding against the grammar of the
// expected object without allocating: every length is compared with what the
// parameters allow before anything is read past it, and every coefficient
// with its modulus. The first failure sticks; later calls are no-ops.
type walker struct {
	b    []byte
	off  int
	what string
	err  error
}

func (w *walker) fail(sentinel error, format string, args ...any) {
	if w.err == nil {
		w.err = &DecodeError{What: w.what, Offset: w.off, Reason: fmt.Sprintf(format, args...), Err: sentinel}
	}
}

func (w *walker) need(n int, field string) bool {
	if w.err != nil {
		return false
	}
	if n < 0 || len(w.b)-w.off < n {
		w.fail(ErrMalformed, "truncated: %s needs %d bytes, %d left", field, n, len(w.b)-w.off)
		return false
	}
	return true
}

func (w *walker) u8(field string) uint8 {
	if !w.need(1, field) {
		return 0
	}
	v := w.b[w.off]
	w.off++
	return v
}

func (w *walker) u32(field string) uint32 {
	if !w.need(4, field) {
		return 0
	}
	v := binary.LittleEndian.Uint32(w.b[w.off:])
	w.off += 4
	return v
}

func (w *walker) u64(field string) uint64 {
	if !w.need(8, field) {
		return 0
	}
	v := binary.LittleEndian.Uint64(w.b[w.off:])
	w.off += 8
	return v
}

func (w *walker) peekU64() uint64 {
	if w.err != nil || len(w.b)-w.off < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(w.b[w.off:])
}

// expect reads a length or tag and checks it equals want.
func (w *walker) expect(want uint64, field string) {
	at := w.off
	if got := w.u64(field); w.err == nil && got != want {
		w.off = at
		w.fail(ErrParamsMismatch, "%s is %d, want %d", field, got, want)
	}
}

func (w *walker) flag(field string) bool {
	at := w.off
	v := w.u8(field)
	if v > 1 {
		w.off = at
		w.fail(ErrMalformed, "%s flag is %d, want 0 or 1", field, v)
	}
	return v == 1
}

func (w *walker) skip(n int, field string) {
	if w.need(n, field) {
		w.off += n
	}
}

// poly walks a ring.Poly: a row count, then per row (one per modulus) a
// length equal to the ring degree and that many coefficients below the
// row's modulus.
func (w *walker) poly(moduli []uint64, n int, field string) {
	w.polyInto(moduli, n, field, nil)
}

// polyInto is poly copying each row's coefficients, as it checks them,
// into row i of dst's Coeffs where dst is not nil (which must have a row of
// n coefficients per modulus).
func (w *walker) polyInto(moduli []uint64, n int, field string, dst [][]uint64) {
	w.expect(uint64(len(moduli)), field+" RNS limb count")
	for i, q := range moduli {
		w.expect(uint64(n), field+" ring degree")
		if !w.need(8*n, field+" coefficients") {
			return
		}
		row := w.b[w.off : w.off+8*n]
		var out []uint64
		if dst != nil {
			out = dst[i][:n]
		}
		for j := 0; j < n; j++ {
			c := binary.LittleEndian.Uint64(row[8*j:])
			if c >= q {
				w.off += 8 * j
				w.fail(ErrMalformed, "%s limb %d coefficient %d is %d, not below its modulus %d", field, i, j, c, q)
				return
			}
			if out != nil {
				out[j] = c
			}
		}
		w.off += 8 * n
	}
}

// polyQP walks a ringqp.Poly at the full Q and P levels.
func (w *walker) polyQP(p Parameters, field string) {
	w.poly(p.Q(), p.N(), field+" (Q)")
	w.poly(p.P(), p.N(), field+" (P)")
}

// vectorQP walks a structs.Vector of count ringqp.Poly.
func (w *walker) vectorQP(p Parameters, count int, field string) {
	w.expect(uint64(count), field+" length")
	for i := 0; i < count && w.err == nil; i++ {
		w.polyQP(p, fmt.Sprintf("%s[%d]", field, i))
	}
}

// gadget walks an rlwe.GadgetCiphertext of degree 1 at the full levels with
// no base-two decomposition: the only shape GenerateKeys produces.
func (w *walker) gadget(p Parameters, field string) {
	w.expect(0, field+" base-two decomposition")
	rows := p.BaseRNSDecompositionVectorSize(p.MaxLevelQ(), p.MaxLevelP())
	w.expect(uint64(rows), field+" RNS decomposition size")
	for i := 0; i < rows && w.err == nil; i++ {
		w.expect(1, field+" base-two decomposition size")
		w.vectorQP(p, 2, fmt.Sprintf("%s[%d]", field, i))
	}
}

func (w *walker) galoisKey(p Parameters, field string) uint64 {
	at := w.off
	galEl := w.u64(field + " Galois element")
	nthRoot := p.RingQ().NthRoot()
	if w.err == nil && (galEl&1 == 0 || galEl >= nthRoot || galEl == 1) {
		w.off = at
		w.fail(ErrMalformed, "%s Galois element %d is not an odd residue in (1, %d)", field, galEl, nthRoot)
	}
	w.expect(nthRoot, field+" NthRoot")
	w.gadget(p, field)
	return galEl
}

func (w *walker) end() {
	if w.err == nil && w.off != len(w.b) {
		w.fail(ErrMalformed, "%d trailing bytes", len(w.b)-w.off)
	}
}

func (w *walker) checkSize(max int) bool {
	if len(w.b) > max {
		w.fail(ErrTooLarge, "%d bytes, the limit for these parameters is %d", len(w.b), max)
		return false
	}
	return true
}

func polyBytes(levels, n int) int { return 8 + levels*(8+8*n) }

func polyQPBytes(p Parameters) int {
	return polyBytes(p.QCount(), p.N()) + polyBytes(p.PCount(), p.N())
}

func gadgetBytes(p Parameters) int {
	rows := p.BaseRNSDecompositionVectorSize(p.MaxLevelQ(), p.MaxLevelP())
	return 16 + rows*(8+8+2*polyQPBytes(p))
}

var metaDataSize = (&rlwe.MetaData{}).BinarySize()

// MaxCiphertextBytes is the size of the largest ciphertext the decoders
// accept for p under l.
func MaxCiphertextBytes(p Parameters, l Limits) int {
	return 1 + metaDataSize + 8 + (l.MaxCiphertextDegree+1)*polyBytes(p.QCount(), p.N())
}

// MaxEvaluationKeySetBytes is the size of the largest evaluation key set the
// decoders accept for p under l.
func MaxEvaluationKeySetBytes(p Parameters, l Limits) int {
	return 1 + gadgetBytes(p) + 1 + 4 + l.MaxGaloisKeys*(8+16+gadgetBytes(p))
}

// DecodeCiphertext checks b against p and l and returns the ciphertext.
// It accepts degree 1 … l.MaxCiphertextDegree at any level, in the NTT
// domain and not in Montgomery form, with a positive finite scale.
func DecodeCiphertext(p Parameters, l Limits, b []byte) (*rlwe.Ciphertext, error) {
	return decodeCiphertext(p, l, b, false)
}

// decodeCiphertext is DecodeCiphertext, taking the ciphertext from the
// released ones (reusedCiphertext) when reuse is set. It reads lattigo's
// encoding itself, copying each coefficient as it checks it, instead of
// checking the bytes and then having lattigo decode them again.
func decodeCiphertext(p Parameters, l Limits, b []byte, reuse bool) (*rlwe.Ciphertext, error) {
	w := &walker{b: b, what: "ciphertext"}
	if !w.checkSize(MaxCiphertextBytes(p, l)) {
		return nil, w.err
	}
	if !w.flag("metadata") && w.err == nil {
		w.fail(ErrMalformed, "ciphertext has no metadata (scale, domain)")
	}
	w.skip(metaDataSize, "metadata")
	at := w.off
	polys := w.u64("polynomial count")
	if w.err == nil && (polys < 2 || polys > uint64(l.MaxCiphertextDegree)+1) {
		w.off = at
		w.fail(ErrMalformed, "ciphertext degree %d outside 1…%d", int64(polys)-1, l.MaxCiphertextDegree)
	}
	limbs := w.peekU64()
	if w.err == nil && (limbs < 1 || limbs > uint64(p.QCount())) {
		w.fail(ErrParamsMismatch, "level %d outside 0…%d", int64(limbs)-1, p.MaxLevel())
	}
	// The ciphertext is taken only for bytes of exactly its size: a short
	// body claiming the largest shape fails below without it.
	var ct *rlwe.Ciphertext
	if w.err == nil && len(b) == w.off+int(polys)*polyBytes(int(limbs), p.N()) {
		if reuse {
			ct = reusedCiphertext(p, int(polys)-1, int(limbs)-1)
		} else {
			ct = rlwe.NewCiphertext(p.Parameters, int(polys)-1, int(limbs)-1)
		}
	}
	for i := 0; i < int(polys) && w.err == nil; i++ {
		var dst [][]uint64
		if ct != nil {
			dst = ct.Value[i].Coeffs
		}
		w.polyInto(p.Q()[:limbs], p.N(), fmt.Sprintf("ciphertext[%d]", i), dst)
	}
	w.end()
	var meta *rlwe.MetaData
	var err error
	if w.err != nil {
		err = w.err
	} else if meta, err = unmarshalMetaData(b[1 : 1+metaDataSize]); err != nil {
		err = &DecodeError{What: "ciphertext", Offset: 1, Reason: err.Error(), Err: ErrMalformed}
	} else if err = checkMetaData(p, meta); err == nil && ct == nil {
		// Unreachable: bytes that walk whole are exactly the size above.
		err = &DecodeError{What: "ciphertext", Reason: "size does not match its shape", Err: ErrMalformed}
	}
	if err != nil {
		if reuse {
			ReleaseCiphertexts(p, ct)
		}
		return nil, err
	}
	*ct.MetaData = *meta
	return ct, nil
}

// unmarshalMetaData decodes lattigo's metadata encoding. lattigo's decoder
// dereferences the parse of the scale's modulus without checking it
// (rlwe.Scale.UnmarshalJSON), so metadata whose scale lacks a valid "Mod"
// makes it panic; that panic, and only a panic of that decoder, becomes an
// error here. The entries of a file almost always share their metadata,
// and lattigo's JSON decoder costs tens of microseconds, so the last
// metadata decoded is kept (lastMetaData) and a copy of it returned for
// the same bytes.
func unmarshalMetaData(b []byte) (m *rlwe.MetaData, err error) {
	if last := lastMetaData.Load(); last != nil && bytes.Equal(last.b, b) {
		return copyMetaData(&last.m), nil
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("metadata refused by lattigo's decoder: %v", r)
		}
	}()
	m = new(rlwe.MetaData)
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	lastMetaData.Store(&decodedMetaData{b: bytes.Clone(b), m: *copyMetaData(m)})
	return m, nil
}

// decodedMetaData is metadata's encoding and its decoding.
type decodedMetaData struct {
	b []byte
	m rlwe.MetaData
}

// lastMetaData is the metadata unmarshalMetaData decoded last.
var lastMetaData atomic.Pointer[decodedMetaData]

// copyMetaData copies m and the big numbers of its scale, so that the copy
// shares no memory with m.
func copyMetaData(m *rlwe.MetaData) *rlwe.MetaData {
	c := *m
	c.Scale.Value = *new(big.Float).Copy(&m.Scale.Value)
	if m.Scale.Mod != nil {
		c.Scale.Mod = new(big.Int).Set(m.Scale.Mod)
	}
	return &c
}

func checkMetaData(p Parameters, m *rlwe.MetaData) error {
	bad := func(format string, args ...any) error {
		return &DecodeError{What: "ciphertext", Offset: 1, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
	}
	if m == nil {
		return bad("no metadata")
	}
	if !m.IsNTT || m.IsMontgomery {
		return bad("ciphertext must be in the NTT domain and not in Montgomery form")
	}
	scale := m.Scale.Float64()
	if !(scale >= 1) || math.IsInf(scale, 0) || math.Log2(scale) > p.LogQP() {
		return bad("scale %g outside [1, QP]", scale)
	}
	if want := p.LogMaxDimensions(); m.LogDimensions != want || !m.IsBatched {
		return bad("slot layout %v (batched %v), want %v batched", m.LogDimensions, m.IsBatched, want)
	}
	return nil
}

// DecodeEvaluationKeySet checks b (lattigo's MemEvaluationKeySet encoding)
// against p and l and returns the key set. The relinearization key and the
// Galois keys must be at the full levels of p with no base-two
// decomposition, Galois keys in increasing order of their element.
func DecodeEvaluationKeySet(p Parameters, l Limits, b []byte) (*rlwe.MemEvaluationKeySet, error) {
	w := &walker{b: b, what: "evaluation key set"}
	if !w.checkSize(MaxEvaluationKeySetBytes(p, l)) {
		return nil, w.err
	}
	if w.flag("relinearization key") {
		w.gadget(p, "relinearization key")
	}
	if w.flag("Galois keys") {
		at := w.off
		count := w.u32("Galois key count")
		if w.err == nil && int64(count) > int64(l.MaxGaloisKeys) {
			w.off = at
			w.fail(ErrTooLarge, "%d Galois keys, the limit is %d", count, l.MaxGaloisKeys)
		}
		var prev uint64
		for i := 0; i < int(count) && w.err == nil; i++ {
			at := w.off
			key := w.u64("Galois key index")
			if w.err == nil && key <= prev {
				w.off = at
				w.fail(ErrMalformed, "Galois keys out of order or repeated (element %d after %d)", key, prev)
			}
			field := fmt.Sprintf("Galois key %d", key)
			at = w.off
			if el := w.galoisKey(p, field); w.err == nil && el != key {
				w.off = at
				w.fail(ErrMalformed, "%s holds element %d", field, el)
			}
			prev = key
		}
	}
	w.end()
	if w.err != nil {
		return nil, w.err
	}
	evk := new(rlwe.MemEvaluationKeySet)
	if err := evk.UnmarshalBinary(b); err != nil {
		return nil, &DecodeError{What: "evaluation key set", Reason: err.Error(), Err: ErrMalformed}
	}
	return evk, nil
}

// DecodePublicKey checks b against p and returns the public key.
func DecodePublicKey(p Parameters, b []byte) (*rlwe.PublicKey, error) {
	w := &walker{b: b, what: "public key"}
	if !w.checkSize(8 + 2*polyQPBytes(p)) {
		return nil, w.err
	}
	w.vectorQP(p, 2, "public key")
	w.end()
	if w.err != nil {
		return nil, w.err
	}
	pk := new(rlwe.PublicKey)
	if err := pk.UnmarshalBinary(b); err != nil {
		return nil, &DecodeError{What: "public key", Reason: err.Error(), Err: ErrMalformed}
	}
	return pk, nil
}

// DecodeSecretKey checks b against p and returns the secret key.
func DecodeSecretKey(p Parameters, b []byte) (*rlwe.SecretKey, error) {
	w := &walker{b: b, what: "secret key"}
	if !w.checkSize(polyQPBytes(p)) {
		return nil, w.err
	}
	w.polyQP(p, "secret key")
	w.end()
	if w.err != nil {
		return nil, w.err
	}
	sk := new(rlwe.SecretKey)
	if err := sk.UnmarshalBinary(b); err != nil {
		return nil, &DecodeError{What: "secret key", Reason: err.Error(), Err: ErrMalformed}
	}
	return sk, nil
}

// MaxParametersBytes bounds the JSON encoding of a parameter set.
const MaxParametersBytes = 64 << 10

// DecodeParameters parses a CKKS parameter literal in lattigo's JSON (as
// ckks.Parameters.MarshalJSON writes it, with explicit Q and P primes, or
// with LogQ and LogP bit sizes) and validates it like any literal, security
// first, before any moduli are generated.
func DecodeParameters(b []byte) (Parameters, error) {
	if len(b) > MaxParametersBytes {
		return Parameters{}, &DecodeError{What: "parameters", Reason: fmt.Sprintf("%d bytes, the limit is %d", len(b), MaxParametersBytes), Err: ErrTooLarge}
	}
	var lit ckks.ParametersLiteral
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&lit); err != nil {
		return Parameters{}, &DecodeError{What: "parameters", Reason: err.Error(), Err: ErrMalformed}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Parameters{}, &DecodeError{What: "parameters", Reason: "trailing data after the JSON object", Err: ErrMalformed}
	}
	if (len(lit.Q) == 0) == (len(lit.LogQ) == 0) || (len(lit.P) != 0 && len(lit.LogP) != 0) {
		return Parameters{}, &DecodeError{What: "parameters", Reason: "give the moduli either as Q and P primes or as LogQ and LogP bit sizes", Err: ErrMalformed}
	}
	if n := len(lit.Q) + len(lit.P) + len(lit.LogQ) + len(lit.LogP); n > 64 {
		return Parameters{}, &DecodeError{What: "parameters", Reason: fmt.Sprintf("%d moduli, at most 64", n), Err: ErrMalformed}
	}
	for _, b := range append(slices.Clone(lit.LogQ), lit.LogP...) {
		if b < 1 || b > 61 {
			return Parameters{}, &DecodeError{What: "parameters", Reason: fmt.Sprintf("modulus bit size %d outside 1…61", b), Err: ErrMalformed}
		}
	}
	p, err := NewParameters("", lit)
	if err != nil {
		return Parameters{}, err
	}
	return p.withPresetName(), nil
}

// withPresetName names p after the built-in preset it equals, if any.
func (p Parameters) withPresetName() Parameters {
	for _, name := range PresetNames() {
		if q, err := PresetByName(name); err == nil && q.Equal(p) {
			return q
		}
	}
	return p
}
