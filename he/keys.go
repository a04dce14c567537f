package he

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// ErrKeySpec is returned for a key request that cannot be honoured.
var ErrKeySpec = errors.New("he: invalid key specification")

// KeySpec says which evaluation keys a client generates: a relinearization
// key (needed to multiply two ciphertexts) and Galois keys for the listed
// automorphisms (needed to rotate slots). A model says which it needs.
type KeySpec struct {
	Relinearization bool
	GaloisElements  []uint64
}

// GaloisElementsForRotations returns the Galois elements of the slot
// rotations by each k (positive: to the left), deduplicated and sorted.
func GaloisElementsForRotations(p Parameters, rotations []int) []uint64 {
	els := make([]uint64, 0, len(rotations))
	for _, k := range rotations {
		if el := p.GaloisElementForRotation(k); el != 1 {
			els = append(els, el)
		}
	}
	slices.Sort(els)
	return slices.Compact(els)
}

// normalize validates the spec against p and l and returns its Galois
// elements deduplicated and sorted.
func (s KeySpec) normalize(p Parameters, l Limits) ([]uint64, error) {
	els := slices.Clone(s.GaloisElements)
	slices.Sort(els)
	els = slices.Compact(els)
	nthRoot := p.RingQ().NthRoot()
	for _, el := range els {
		if el&1 == 0 || el <= 1 || el >= nthRoot {
			return nil, fmt.Errorf("%w: Galois element %d is not an odd residue in (1, %d)", ErrKeySpec, el, nthRoot)
		}
	}
	if len(els) > l.MaxGaloisKeys {
		return nil, fmt.Errorf("%w: %d Galois keys requested, the limit is %d", ErrKeySpec, len(els), l.MaxGaloisKeys)
	}
	return els, nil
}

// KeyMaterial is everything a client holds. The secret key never leaves the
// client; Evaluation is what it uploads.
type KeyMaterial struct {
	Params     Parameters
	SecretKey  *rlwe.SecretKey
	PublicKey  *rlwe.PublicKey
	Evaluation *EvaluationKeySet
}

// FingerprintSize is the length of a [KeyMaterial.Fingerprint].
const FingerprintSize = 16

// Fingerprint identifies the key material without revealing anything
// secret: the first 16 bytes of SHA-256 of "aios/key-fingerprint/v1", a zero
// byte and the public key's lattigo encoding (the public key is derived from
// the secret key, so both name the same keys). Key material without a
// public key has the zero fingerprint.
func (km *KeyMaterial) Fingerprint() [FingerprintSize]byte {
	var fp [FingerprintSize]byte
	if km == nil || km.PublicKey == nil {
		return fp
	}
	b, err := km.PublicKey.MarshalBinary()
	if err != nil {
		return fp
	}
	h := sha256.New()
	h.Write([]byte("aios/key-fingerprint/v1\x00"))
	h.Write(b)
	copy(fp[:], h.Sum(nil))
	return fp
}

// EvaluationKeySet is the public evaluation keys a node needs to compute on a
// client's ciphertexts, with the content identifier under which a node
// stores it.
type EvaluationKeySet struct {
	Params Parameters
	Keys   *rlwe.MemEvaluationKeySet
	id     string
	size   int
	seeds  *keySeeds // nil unless generated or received seeded
}

// ID is the hex SHA-256 of the set's canonical encoding (lattigo's
// MemEvaluationKeySet binary encoding, Galois keys in increasing order).
func (s *EvaluationKeySet) ID() string { return s.id }

// Size is the length in bytes of the canonical encoding.
func (s *EvaluationKeySet) Size() int { return s.size }

// GaloisElements lists the Galois elements the set holds, sorted.
func (s *EvaluationKeySet) GaloisElements() []uint64 {
	els := s.Keys.GetGaloisKeysList()
	slices.Sort(els)
	return els
}

// HasRelinearizationKey reports whether the set can relinearize.
func (s *EvaluationKeySet) HasRelinearizationKey() bool { return s.Keys.RelinearizationKey != nil }

// Spec is what the set holds, as a [KeySpec].
func (s *EvaluationKeySet) Spec() KeySpec {
	return KeySpec{Relinearization: s.HasRelinearizationKey(), GaloisElements: s.GaloisElements()}
}

// Covers reports whether the set holds every key spec asks for, and if not,
// which Galois elements are missing (see [KeySpec.Missing]).
func (s *EvaluationKeySet) Covers(spec KeySpec) (ok bool, missing []uint64) {
	m := spec.Missing(s.Spec())
	return m.Empty(), m.GaloisElements
}

// Missing returns what s asks for that have lacks: Relinearization is set
// when s needs the relinearization key and have has none, GaloisElements
// lists s's elements that have does not hold. It is the one check of a key
// set against a need, whether the set is at hand or only its description
// (the metadata of an uploaded set).
func (s KeySpec) Missing(have KeySpec) KeySpec {
	var m KeySpec
	m.Relinearization = s.Relinearization && !have.Relinearization
	for _, el := range s.GaloisElements {
		if !slices.Contains(have.GaloisElements, el) {
			m.GaloisElements = append(m.GaloisElements, el)
		}
	}
	return m
}

// Empty reports whether s asks for no key at all.
func (s KeySpec) Empty() bool { return !s.Relinearization && len(s.GaloisElements) == 0 }

// MarshalBinary returns the canonical encoding.
func (s *EvaluationKeySet) MarshalBinary() ([]byte, error) { return s.Keys.MarshalBinary() }

// newEvaluationKeySet wraps keys whose canonical encoding is b.
func newEvaluationKeySet(p Parameters, keys *rlwe.MemEvaluationKeySet, b []byte) *EvaluationKeySet {
	sum := sha256.Sum256(b)
	return &EvaluationKeySet{Params: p, Keys: keys, id: hex.EncodeToString(sum[:]), size: len(b)}
}

// ParseEvaluationKeySet decodes and validates an uploaded evaluation key set
// (see [DecodeEvaluationKeySet]) and computes its ID.
func ParseEvaluationKeySet(p Parameters, l Limits, b []byte) (*EvaluationKeySet, error) {
	keys, err := DecodeEvaluationKeySet(p, l, b)
	if err != nil {
		return nil, err
	}
	// The walk admits only the canonical form, so b is what MarshalBinary
	// would write and its hash is the set's ID.
	return newEvaluationKeySet(p, keys, b), nil
}

// GenerateKeys creates a client's key material for p: a secret key (uniform
// ternary), a public key, and the evaluation keys spec asks for.
// Randomness comes from crypto/rand through lattigo's PRNG.
func GenerateKeys(p Parameters, spec KeySpec) (*KeyMaterial, error) {
	return generateKeys(p, spec, false, SeedAESCTR)
}

// GenerateSeededKeys is [GenerateKeys] with the evaluation keys generated
// from seeds, so that they can travel in the seeded encoding
// ([EvaluationKeySet.MarshalSeeded]) at about half the size. The keys have
// the distribution GenerateKeys gives them: see the package documentation,
// "Seeded evaluation keys".
func GenerateSeededKeys(p Parameters, spec KeySpec) (*KeyMaterial, error) {
	return generateKeys(p, spec, true, SeedAESCTR)
}

// generateKeys makes key material for p, its evaluation keys seeded or
// not, the seeds of seeded keys expanded by kind (blake2b, version 1 of the
// seeded set, only in tests of the older framing).
func generateKeys(p Parameters, spec KeySpec, seeded bool, kind SeedPRNG) (*KeyMaterial, error) {
	els, err := spec.normalize(p, DefaultLimits)
	if err != nil {
		return nil, err
	}
	kgen := rlwe.NewKeyGenerator(p.Parameters)
	sk, pk := kgen.GenKeyPairNew()
	km := &KeyMaterial{Params: p, SecretKey: sk, PublicKey: pk}
	if seeded {
		if km.Evaluation, err = genSeededEvaluationKeys(p, sk, spec.Relinearization, els, kind); err != nil {
			return nil, err
		}
		return km, nil
	}
	var rlk *rlwe.RelinearizationKey
	if spec.Relinearization {
		rlk = kgen.GenRelinearizationKeyNew(sk)
	}
	gks := kgen.GenGaloisKeysNew(els, sk)
	keys := rlwe.NewMemEvaluationKeySet(rlk, gks...)
	b, err := keys.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("he: encode evaluation keys: %w", err)
	}
	km.Evaluation = newEvaluationKeySet(p, keys, b)
	return km, nil
}
