package he

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// The seeded evaluation key set encoding ([EvaluationKeySet.MarshalSeeded],
// [ParseSeededEvaluationKeySet]), all integers little-endian:
//
//	seeded key set: "AIOSSEVK" | u16 version (1 or 2) | u8 relinearization (0 or 1) |
//	                u32 Galois key count | [relinearization key] |
//	                count × (u64 Galois element | key)
//	key:            32-byte seed | rows × (packed Q polynomial | packed P polynomial)
//
// Galois elements are in increasing order. Every key is at the full levels
// of the parameters with no base-two decomposition, so rows is the RNS
// decomposition size ⌈#Q / #P⌉; the polynomials are the b halves
// (Value[row][0][0]) of the key's gadget ciphertext, all limbs at their
// moduli's bit widths (see tight limbs in pack.go). The a halves are the
// common reference polynomial that mhe's SampleCRP draws from the seed's
// PRNG: mhe.EvaluationKeyGenProtocol's for the relinearization key,
// mhe.GaloisKeyGenProtocol's for a Galois key. The version names the PRNG:
// 2 (what [GenerateSeededKeys] makes) the AES-256-CTR keystream of the
// seed from the counter block [CTRIVKeys] ([NewCTRPRNG]), 1 lattigo's
// blake2b XOF sampling.NewKeyedPRNG(seed), still read.
const (
	seededKeysMagic = "AIOSSEVK"
	seededKeysHead  = len(seededKeysMagic) + 2 + 1 + 4
)

// seededKeysVersion is the version of the seeded key set whose seeds kind
// expands.
func seededKeysVersion(kind SeedPRNG) uint16 {
	if kind == SeedBlake2b {
		return 1
	}
	return 2
}

// ErrNotSeeded is returned when the seeded encoding is asked of a key set
// that was not generated seeded.
var ErrNotSeeded = errors.New("he: evaluation keys were not generated from seeds")

// keySeeds are the seeds of a seeded key set's common reference
// polynomials.
type keySeeds struct {
	prng   SeedPRNG          // what expands them
	relin  []byte            // nil without a relinearization key
	galois map[uint64][]byte // by Galois element
}

// Seeded reports whether the set was generated (or received) seeded, so
// that [EvaluationKeySet.MarshalSeeded] can encode it.
func (s *EvaluationKeySet) Seeded() bool { return s.seeds != nil }

// MarshalSeeded returns the seeded encoding of the set: the b half of every
// key and the seed of its a half, about half the canonical encoding's size.
// It fails with [ErrNotSeeded] for a set that [GenerateKeys] made.
func (s *EvaluationKeySet) MarshalSeeded() ([]byte, error) {
	if s.seeds == nil {
		return nil, ErrNotSeeded
	}
	p := s.Params
	els := s.GaloisElements()
	b := make([]byte, 0, seededKeysHead+(1+len(els))*(8+seededKeyBytes(p)))
	b = append(b, seededKeysMagic...)
	b = binary.LittleEndian.AppendUint16(b, seededKeysVersion(s.seeds.prng))
	relin := s.Keys.RelinearizationKey
	if relin != nil {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(els)))
	if relin != nil {
		b = appendSeededKey(b, p, s.seeds.relin, relin.GadgetCiphertext)
	}
	for _, el := range els {
		gk, err := s.Keys.GetGaloisKey(el)
		if err != nil {
			return nil, fmt.Errorf("he: encode evaluation keys: %w", err)
		}
		b = binary.LittleEndian.AppendUint64(b, el)
		b = appendSeededKey(b, p, s.seeds.galois[el], gk.GadgetCiphertext)
	}
	return b, nil
}

func appendSeededKey(b []byte, p Parameters, seed []byte, g rlwe.GadgetCiphertext) []byte {
	b = append(b, seed...)
	for _, row := range g.Value {
		b = packPoly(b, row[0][0].Q, p.Q())
		b = packPoly(b, row[0][0].P, p.P())
	}
	return b
}

// seededMarshaler lets a key file section write a set's seeded encoding.
type seededMarshaler struct{ s *EvaluationKeySet }

func (m seededMarshaler) MarshalBinary() ([]byte, error) { return m.s.MarshalSeeded() }

// seededKeyBytes is the size of one key in the seeded encoding.
func seededKeyBytes(p Parameters) int {
	rows := p.BaseRNSDecompositionVectorSize(p.MaxLevelQ(), p.MaxLevelP())
	return SeedSize + rows*(packedPolyBytes(p.Q(), p.N())+packedPolyBytes(p.P(), p.N()))
}

// MaxSeededEvaluationKeySetBytes is the size of the largest seeded
// evaluation key set the decoder accepts for p under l.
func MaxSeededEvaluationKeySetBytes(p Parameters, l Limits) int {
	return seededKeysHead + seededKeyBytes(p) + l.MaxGaloisKeys*(8+seededKeyBytes(p))
}

// keyedCRS returns the common reference string of seed, expanded by kind.
func keyedCRS(kind SeedPRNG, seed []byte) mhe.CRS {
	prng, err := seedPRNG(kind, seed, CTRIVKeys)
	if err != nil {
		panic(err) // only a seed that is not SeedSize bytes or an unknown kind, which the callers rule out
	}
	return prng
}

// genSeededEvaluationKeys generates the relinearization key (if relin) and
// the Galois keys for els under sk, each as a single party's share of
// lattigo's mhe key generation on a common reference polynomial drawn from
// a fresh seed (expanded by kind), and returns the set with its seeds. See the package
// documentation, "Seeded evaluation keys", for why these keys are
// distributed as rlwe.KeyGenerator's.
func genSeededEvaluationKeys(p Parameters, sk *rlwe.SecretKey, relin bool, els []uint64, kind SeedPRNG) (*EvaluationKeySet, error) {
	seeds := &keySeeds{prng: kind, galois: make(map[uint64][]byte, len(els))}
	var rlk *rlwe.RelinearizationKey
	if relin {
		// The relinearization key is rlwe's evaluation key from s² to s
		// (rlwe.KeyGenerator.GenRelinearizationKey): the one-round
		// EvaluationKeyGenProtocol with skIn = s², skOut = s.
		evkg := mhe.NewEvaluationKeyGenProtocol(p.Parameters)
		s2 := rlwe.NewSecretKey(p.Parameters)
		p.RingQP().MulCoeffsMontgomery(sk.Value, sk.Value, s2.Value)
		seeds.relin = newSeed()
		crp := evkg.SampleCRP(keyedCRS(kind, seeds.relin))
		share := evkg.AllocateShare()
		if err := evkg.GenShare(s2, sk, crp, &share); err != nil {
			return nil, fmt.Errorf("he: relinearization key: %w", err)
		}
		rlk = rlwe.NewRelinearizationKey(p.Parameters)
		if err := evkg.GenEvaluationKey(share, crp, &rlk.EvaluationKey); err != nil {
			return nil, fmt.Errorf("he: relinearization key: %w", err)
		}
	}
	gkg := mhe.NewGaloisKeyGenProtocol(p.Parameters)
	share := gkg.AllocateShare()
	gks := make([]*rlwe.GaloisKey, len(els))
	for i, el := range els {
		seed := newSeed()
		seeds.galois[el] = seed
		crp := gkg.SampleCRP(keyedCRS(kind, seed))
		if err := gkg.GenShare(sk, el, crp, &share); err != nil {
			return nil, fmt.Errorf("he: Galois key %d: %w", el, err)
		}
		gks[i] = rlwe.NewGaloisKey(p.Parameters)
		if err := gkg.GenGaloisKey(share, crp, gks[i]); err != nil {
			return nil, fmt.Errorf("he: Galois key %d: %w", el, err)
		}
	}
	return seededKeySet(p, rlk, gks, seeds)
}

// seededKeySet wraps expanded keys with their seeds; its ID is that of the
// canonical encoding, as for any set.
func seededKeySet(p Parameters, rlk *rlwe.RelinearizationKey, gks []*rlwe.GaloisKey, seeds *keySeeds) (*EvaluationKeySet, error) {
	keys := rlwe.NewMemEvaluationKeySet(rlk, gks...)
	b, err := keys.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("he: encode evaluation keys: %w", err)
	}
	set := newEvaluationKeySet(p, keys, b)
	set.seeds = seeds
	return set, nil
}

// ParseSeededEvaluationKeySet decodes and validates a seeded evaluation key
// set (see [EvaluationKeySet.MarshalSeeded]) and expands it: the a halves
// are sampled from the seeds with mhe's SampleCRP (on the PRNG the
// version names) and each key is finalized
// with mhe's GenEvaluationKey or GenGaloisKey, giving the same keys as the
// client holds. The encoding's size is checked against what its header
// announces, and the header against p and l, before anything is allocated;
// every coefficient is checked against its modulus. The set's ID is that of
// its canonical (expanded) encoding, so a set has one ID whichever way it
// travelled.
func ParseSeededEvaluationKeySet(p Parameters, l Limits, b []byte) (*EvaluationKeySet, error) {
	bad := func(sentinel error, at int, format string, args ...any) error {
		return &DecodeError{What: "seeded evaluation key set", Offset: at, Reason: fmt.Sprintf(format, args...), Err: sentinel}
	}
	if max := MaxSeededEvaluationKeySetBytes(p, l); len(b) > max {
		return nil, bad(ErrTooLarge, 0, "%d bytes, the limit for these parameters is %d", len(b), max)
	}
	if len(b) < seededKeysHead {
		return nil, bad(ErrMalformed, 0, "truncated: %d bytes, the header is %d", len(b), seededKeysHead)
	}
	if string(b[:len(seededKeysMagic)]) != seededKeysMagic {
		return nil, bad(ErrMalformed, 0, "not a seeded evaluation key set")
	}
	off := len(seededKeysMagic)
	kind := SeedAESCTR
	switch v := binary.LittleEndian.Uint16(b[off:]); v {
	case 1:
		kind = SeedBlake2b
	case 2:
	default:
		return nil, bad(ErrMalformed, off, "version %d, this build reads versions 1 and 2", v)
	}
	off += 2
	relin := b[off]
	if relin > 1 {
		return nil, bad(ErrMalformed, off, "relinearization flag is %d, want 0 or 1", relin)
	}
	off++
	count := binary.LittleEndian.Uint32(b[off:])
	if int64(count) > int64(l.MaxGaloisKeys) {
		return nil, bad(ErrTooLarge, off, "%d Galois keys, the limit is %d", count, l.MaxGaloisKeys)
	}
	// The keys start at seededKeysHead, which the header check above accounts for.
	keyBytes := seededKeyBytes(p)
	if want := seededKeysHead + int(relin)*keyBytes + int(count)*(8+keyBytes); len(b) != want {
		return nil, bad(ErrMalformed, len(b), "%d bytes, the header announces %d", len(b), want)
	}
	// The Galois elements, before any key is expanded.
	nthRoot := p.RingQ().NthRoot()
	var prev uint64
	for i := range int(count) {
		at := seededKeysHead + int(relin)*keyBytes + i*(8+keyBytes)
		el := binary.LittleEndian.Uint64(b[at:])
		if el&1 == 0 || el <= 1 || el >= nthRoot {
			return nil, bad(ErrMalformed, at, "Galois element %d is not an odd residue in (1, %d)", el, nthRoot)
		}
		if el <= prev {
			return nil, bad(ErrMalformed, at, "Galois keys out of order or repeated (element %d after %d)", el, prev)
		}
		prev = el
	}

	seeds := &keySeeds{prng: kind, galois: make(map[uint64][]byte, count)}
	evkg := mhe.NewEvaluationKeyGenProtocol(p.Parameters)
	share := evkg.AllocateShare()
	// readShare unpacks the key at off into share and returns its seed.
	readShare := func(off int, field string) ([]byte, error) {
		seed := append([]byte(nil), b[off:off+SeedSize]...)
		off += SeedSize
		for r, row := range share.Value {
			for _, part := range [2]struct {
				name   string
				pol    ring.Poly
				moduli []uint64
			}{{"Q", row[0][0].Q, p.Q()}, {"P", row[0][0].P, p.P()}} {
				size := packedPolyBytes(part.moduli, p.N())
				if limb, j := unpackPoly(part.pol, b[off:off+size], part.moduli); limb >= 0 {
					return nil, bad(ErrMalformed, off, "%s row %d (%s) limb %d coefficient %d is not below its modulus %d", field, r, part.name, limb, j, part.moduli[limb])
				}
				off += size
			}
		}
		return seed, nil
	}

	var rlk *rlwe.RelinearizationKey
	off = seededKeysHead
	if relin == 1 {
		seed, err := readShare(off, "relinearization key")
		if err != nil {
			return nil, err
		}
		seeds.relin = seed
		rlk = rlwe.NewRelinearizationKey(p.Parameters)
		if err := evkg.GenEvaluationKey(share, evkg.SampleCRP(keyedCRS(kind, seed)), &rlk.EvaluationKey); err != nil {
			return nil, bad(ErrMalformed, off, "relinearization key: %v", err)
		}
		off += keyBytes
	}
	gkg := mhe.NewGaloisKeyGenProtocol(p.Parameters)
	gks := make([]*rlwe.GaloisKey, count)
	for i := range gks {
		el := binary.LittleEndian.Uint64(b[off:])
		seed, err := readShare(off+8, fmt.Sprintf("Galois key %d", el))
		if err != nil {
			return nil, err
		}
		seeds.galois[el] = seed
		gks[i] = rlwe.NewGaloisKey(p.Parameters)
		gshare := mhe.GaloisKeyGenShare{GaloisElement: el, EvaluationKeyGenShare: share}
		if err := gkg.GenGaloisKey(gshare, gkg.SampleCRP(keyedCRS(kind, seed)), gks[i]); err != nil {
			return nil, bad(ErrMalformed, off, "Galois key %d: %v", el, err)
		}
		off += 8 + keyBytes
	}
	return seededKeySet(p, rlk, gks, seeds)
}

// ParseUploadedEvaluationKeySet parses an evaluation key set in either
// encoding a client may send: the seeded one ([ParseSeededEvaluationKeySet];
// it starts with "AIOSSEVK") or lattigo's own ([ParseEvaluationKeySet];
// it starts with a flag byte, 0 or 1, so the two cannot be confused).
func ParseUploadedEvaluationKeySet(p Parameters, l Limits, b []byte) (*EvaluationKeySet, error) {
	if bytes.HasPrefix(b, []byte(seededKeysMagic)) {
		return ParseSeededEvaluationKeySet(p, l, b)
	}
	return ParseEvaluationKeySet(p, l, b)
}
