package he

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// SeedSize is the length of the seed from which the uniform half of a
// seeded ciphertext or evaluation key is expanded, 256 bits: the AES-256
// key of [NewCTRPRNG], or the key of lattigo's blake2b-XOF PRNG
// (sampling.NewKeyedPRNG) in the older forms.
const SeedSize = 32

// ErrSeedMismatch is returned when a ciphertext to be written seeded no
// longer holds the c1 its seed expands to (it was changed after
// encryption).
var ErrSeedMismatch = errors.New("he: ciphertext does not match its seed")

// newSeed draws a fresh seed from crypto/rand.
func newSeed() []byte {
	seed := make([]byte, SeedSize)
	rand.Read(seed) // never fails (crypto/rand crashes the program instead)
	return seed
}

// EncryptSeeded encrypts values like [Client.Encrypt], with c1 sampled from
// a fresh seed that the result carries (expanded by AES-256-CTR,
// [SeedAESCTR]), so that
// [WriteCompactCiphertextFile] can send the seed instead of c1 (half the
// bytes). It needs the secret key: see the package documentation, "Seeded
// ciphertexts".
func (c *Client) EncryptSeeded(values []float64) (EncryptedVector, error) {
	return c.EncryptSeededAt(values, c.params.MaxLevel(), c.params.DefaultScale().Float64())
}

// EncryptSeededAt is [Client.EncryptSeeded] at the given level and scale.
func (c *Client) EncryptSeededAt(values []float64, level int, scale float64) (EncryptedVector, error) {
	return c.encryptSeeded(values, level, scale, SeedAESCTR)
}

// encryptSeeded is EncryptSeededAt with c1 expanded by kind (the blake2b
// form is kept for tests of the older framing).
func (c *Client) encryptSeeded(values []float64, level int, scale float64, kind SeedPRNG) (EncryptedVector, error) {
	if c.decryptor == nil {
		return EncryptedVector{}, fmt.Errorf("%w: seeded encryption is symmetric", ErrNoSecretKey)
	}
	pt, err := c.EncodeAt(values, level, scale)
	if err != nil {
		return EncryptedVector{}, err
	}
	seed := newSeed()
	prng, err := seedPRNG(kind, seed, CTRIVCiphertext)
	if err != nil {
		return EncryptedVector{}, fmt.Errorf("he: encrypt: %w", err)
	}
	// lattigo's symmetric encryption of zero (rlwe.Encryptor.encryptZeroSk)
	// samples c1 from the uniform sampler, which WithPRNG points at prng,
	// and the error from the encryptor's own PRNG keyed from crypto/rand.
	ct, err := c.encryptor.WithPRNG(prng).EncryptNew(pt)
	if err != nil {
		return EncryptedVector{}, fmt.Errorf("he: encrypt: %w", err)
	}
	ev := EncryptedVector{Values: len(values), Ciphertext: ct, Seed: seed, SeedPRNG: kind}
	ev.seal = sealOf(kind, seed, ct.Value[1], ct.Level())
	return ev, nil
}

// sealKey keys the hash with which EncryptSeededAt seals each vector it
// makes: random per process, unknown to callers.
var sealKey = maphash.MakeSeed()

// sealOf returns the keyed hash (hash/maphash under sealKey) of kind, seed,
// level and c1's limbs 0…level: what [checkSeed] compares instead of expanding
// the seed again. The hash is not cryptographic, and needs not be: it
// guards the caller against writing a seed for a c1 changed after
// encryption (a stale seed would make the node decrypt something else),
// and a change not made with knowledge of sealKey matches the seal with
// probability about 2^-64. A caller who wants a wrong seed on the wire can
// write one anyway; the node never trusts the seal, it has only the seed.
func sealOf(kind SeedPRNG, seed []byte, c1 ring.Poly, level int) uint64 {
	var h maphash.Hash
	h.SetSeed(sealKey)
	h.WriteByte(byte(kind))
	h.Write(seed)
	var buf [4096]byte
	h.Write(binary.LittleEndian.AppendUint32(buf[:0], uint32(level)))
	for _, limb := range c1.Coeffs[:level+1] {
		for len(limb) > 0 {
			n := min(len(limb), len(buf)/8)
			b := buf[:0]
			for _, x := range limb[:n] {
				b = binary.LittleEndian.AppendUint64(b, x)
			}
			h.Write(b)
			limb = limb[n:]
		}
	}
	return h.Sum64()
}

// expandC1 writes into c1 (at level) the polynomial that lattigo's
// symmetric encryptor samples as c1 when its uniform sampler is driven by
// the PRNG of kind keyed by seed (for AES-CTR from the counter block
// [CTRIVCiphertext]): ringqp.NewUniformSampler(prng, RingQP) at levels
// (level, −1), read once from a fresh sampler, the values taken as they
// come as the NTT-domain c1 (rlwe.Encryptor.encryptZeroSk for an NTT
// ciphertext). See files.go for the byte stream this consumes; readUniform
// is that sampler.
func expandC1(p Parameters, kind SeedPRNG, seed []byte, level int, c1 ring.Poly) {
	prng, err := seedPRNG(kind, seed, CTRIVCiphertext)
	if err != nil {
		panic(err) // only a seed that is not SeedSize bytes or an unknown kind, which the callers check
	}
	readUniform(prng, p.Q()[:level+1], p.N(), c1)
}

// uniformBuffers holds readUniform's byte buffers (*[]byte).
var uniformBuffers sync.Pool

// readUniform writes into pol's limbs, one per modulus, the polynomial of
// ring degree n that a fresh ring.UniformSampler of lattigo v5 on prng
// reads (UniformSampler.Read at the level of moduli), consuming the same
// bytes: a buffer of max(1024, n) bytes filled from prng at the start and
// whenever its first n bytes are used up; for each limb in turn and each
// coefficient, big-endian 8-byte words masked to the bit length of q − 1
// and drawn again while not below q. It is lattigo's loop without its
// per-coefficient function call, with its buffer reused and without a
// branch on a rejection, about 1.7 times as fast (BenchmarkExpandC1);
// TestReadUniformIsLattigos checks the two are equal.
func readUniform(prng sampling.PRNG, moduli []uint64, n int, pol ring.Poly) {
	bp, _ := uniformBuffers.Get().(*[]byte)
	if bp == nil || len(*bp) != max(1024, n) {
		b := make([]byte, max(1024, n))
		bp = &b
	}
	defer uniformBuffers.Put(bp)
	buf := *bp
	fill := func() {
		if _, err := prng.Read(buf); err != nil {
			panic(err) // as lattigo's sampler: the PRNGs here do not fail
		}
	}
	fill()
	words := buf[:n]
	ptr := 0
	for j, q := range moduli {
		mask := uint64(1)<<bits.Len64(q-1) - 1
		coeffs := pol.Coeffs[j][:n]
		// Every draw is stored and the index moves on only past one below
		// q, so that a rejection (up to half the draws, at random) costs no
		// mispredicted branch: x − q wraps to a number with bit 63 set
		// exactly when x < q (both are below 2^62).
		for i := 0; i < n; {
			if ptr == n {
				fill()
				ptr = 0
			}
			x := binary.BigEndian.Uint64(words[ptr:]) & mask
			ptr += 8
			coeffs[i] = x
			i += int((x - q) >> 63)
		}
	}
}

// WriteCompactCiphertextFile writes cts, made under p, to w in version 2 of
// the ciphertext file (see files.go): every limb at its modulus' bit width,
// and c1 replaced by its seed for each vector that carries one. It returns
// an error wrapping [ErrSeedMismatch] for a seeded vector whose c1 is not
// its seed's expansion.
func WriteCompactCiphertextFile(w io.Writer, p Parameters, cts []EncryptedVector) error {
	return writeCompact(w, p, ctFileCompact, nil, cts)
}

// WriteKeyedCiphertextFile writes cts, made with km, as
// [WriteCompactCiphertextFile] does, in version 3 of the file: with km's
// fingerprint, which [ReadCiphertextFileFor] checks.
func WriteKeyedCiphertextFile(w io.Writer, km *KeyMaterial, cts []EncryptedVector) error {
	fp := km.Fingerprint()
	return writeCompact(w, km.Params, ctFileKeyed, fp[:], cts)
}

func writeCompact(w io.Writer, p Parameters, version uint16, fingerprint []byte, cts []EncryptedVector) error {
	bw, err := writeCiphertextHeader(w, p, version, fingerprint, len(cts))
	if err != nil {
		return err
	}
	// Every seed is checked before anything is written (expanding one costs
	// about as much as encoding a vector; a vector still sealed by the
	// encryptor that made it is checked by its seal, far cheaper). Then the
	// entries are encoded on all cores, two per core at a time, and
	// written in order.
	err = parallel(len(cts), func(i int) error {
		if err := checkSeed(p, cts[i]); err != nil {
			return fmt.Errorf("he: encode ciphertext %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	bufs := make([][]byte, min(len(cts), 2*runtime.GOMAXPROCS(0)))
	for start := 0; start < len(cts); start += len(bufs) {
		chunk := cts[start:min(start+len(bufs), len(cts))]
		err := parallel(len(chunk), func(i int) error {
			var err error
			if bufs[i], err = appendCompactCiphertext(bufs[i][:0], p, chunk[i]); err != nil {
				return fmt.Errorf("he: encode ciphertext %d: %w", start+i, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, b := range bufs[:len(chunk)] {
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// Entry forms of the compact ciphertext file.
const (
	formFull      = 0
	formSeeded    = 1 // c1 from its seed by blake2b (SeedBlake2b)
	formSeededCTR = 2 // c1 from its seed by AES-256-CTR (SeedAESCTR)
)

// seededForm is the entry form of a seeded vector expanded by kind.
func seededForm(kind SeedPRNG) int {
	if kind == SeedBlake2b {
		return formSeeded
	}
	return formSeededCTR
}

// compactEntryHead is the size of an entry's fixed fields: values, form,
// degree, limbs and metadata.
var compactEntryHead = 4 + 3 + metaDataSize

// compactBodyBytes is the size of an entry's body.
func compactBodyBytes(p Parameters, form, degree, limbs int) int {
	poly := packedPolyBytes(p.Q()[:limbs], p.N())
	if form != formFull {
		return poly + SeedSize
	}
	return (degree + 1) * poly
}

// checkSeed checks that a seeded vector's c1 is still its seed's expansion:
// by the seal EncryptSeededAt put on it where it matches (the c1 and seed
// the encryptor made, unchanged), by expanding the seed otherwise (a
// vector read from a file, or one whose c1, seed or level changed).
func checkSeed(p Parameters, c EncryptedVector) error {
	if c.Seed == nil {
		return nil
	}
	ct := c.Ciphertext
	if len(c.Seed) != SeedSize || ct.Degree() != 1 || c.SeedPRNG > SeedBlake2b {
		return fmt.Errorf("%w: a %d-byte %v seed on a degree-%d ciphertext", ErrSeedMismatch, len(c.Seed), c.SeedPRNG, ct.Degree())
	}
	level := ct.Level()
	if c.seal != 0 && sealOf(c.SeedPRNG, c.Seed, ct.Value[1], level) == c.seal {
		return nil
	}
	c1 := p.RingQ().AtLevel(level).NewPoly()
	expandC1(p, c.SeedPRNG, c.Seed, level, c1)
	for i := range level + 1 {
		if !slices.Equal(c1.Coeffs[i], ct.Value[1].Coeffs[i]) {
			return ErrSeedMismatch
		}
	}
	return nil
}

// parallel calls fn(i) for i in [0, n) on up to GOMAXPROCS goroutines and
// returns the error of the lowest i that failed.
func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// appendCompactCiphertext appends c's entry (c checked by checkSeed).
func appendCompactCiphertext(dst []byte, p Parameters, c EncryptedVector) ([]byte, error) {
	ct := c.Ciphertext
	level := ct.Level()
	form := formFull
	if c.Seed != nil {
		form = seededForm(c.SeedPRNG)
	}
	meta, err := ct.MetaData.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(meta) != metaDataSize {
		return nil, fmt.Errorf("he: metadata of %d bytes, want %d", len(meta), metaDataSize)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(c.Values))
	dst = append(dst, byte(form), byte(ct.Degree()), byte(level+1))
	dst = append(dst, meta...)
	moduli := p.Q()[:level+1]
	if form != formFull {
		dst = packPoly(dst, ct.Value[0], moduli)
		return append(dst, c.Seed...), nil
	}
	for _, pol := range ct.Value {
		dst = packPoly(dst, pol, moduli)
	}
	return dst, nil
}

// compactEntry is an entry of a compact file whose fixed fields have been
// checked against the parameters and limits and whose body has been read,
// not yet decoded.
type compactEntry struct {
	index                       int
	values, form, degree, limbs int
	meta                        *rlwe.MetaData
	body                        []byte // compactBodyBytes long
}

// readCompactCiphertextEntries reads count entries of a version-2 file.
// Each entry's fixed fields are checked against p and l before its body is
// read (the body's size follows from them) and before the ciphertext is
// allocated. Each entry goes to yield as it is read, its body not yet
// decoded (see compactEntry.decode), in a buffer from newBody.
func readCompactCiphertextEntries(br *bufio.Reader, p Parameters, l Limits, count int, newBody func(size int) []byte, yield func(compactEntry) error) error {
	head := make([]byte, compactEntryHead)
	for i := range count {
		what := fmt.Sprintf("ciphertext %d", i)
		bad := func(sentinel error, at int, format string, args ...any) error {
			return &DecodeError{What: what, Offset: at, Reason: fmt.Sprintf(format, args...), Err: sentinel}
		}
		if _, err := io.ReadFull(br, head); err != nil {
			return fileErr("read %s: %v", what, err)
		}
		values := binary.LittleEndian.Uint32(head)
		form, degree, limbs := int(head[4]), int(head[5]), int(head[6])
		switch {
		case values < 1 || int(values) > p.MaxSlots():
			return fileErr("%s claims %d values, want 1…%d", what, values, p.MaxSlots())
		case form != formFull && form != formSeeded && form != formSeededCTR:
			return bad(ErrMalformed, 4, "form %d, want %d (full), %d (seeded, blake2b) or %d (seeded, AES-CTR)", form, formFull, formSeeded, formSeededCTR)
		case degree < 1 || degree > l.MaxCiphertextDegree:
			return bad(ErrMalformed, 5, "ciphertext degree %d outside 1…%d", degree, l.MaxCiphertextDegree)
		case form != formFull && degree != 1:
			return bad(ErrMalformed, 5, "a seeded ciphertext of degree %d, want 1", degree)
		case limbs < 1 || limbs > p.QCount():
			return bad(ErrParamsMismatch, 6, "level %d outside 0…%d", limbs-1, p.MaxLevel())
		}
		meta, err := unmarshalMetaData(head[7:])
		if err != nil {
			return bad(ErrMalformed, 7, "metadata: %v", err)
		}
		if err := checkMetaData(p, meta); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		body := newBody(compactBodyBytes(p, form, degree, limbs))
		if _, err := io.ReadFull(br, body); err != nil {
			return fileErr("read %s: truncated: %v", what, err)
		}
		e := compactEntry{index: i, values: int(values), form: form, degree: degree, limbs: limbs, meta: meta, body: body}
		if err := yield(e); err != nil {
			return err
		}
	}
	return nil
}

// decode takes a ciphertext for the entry (reusedCiphertext) and unpacks
// its body into it, every coefficient checked against its modulus; a
// seeded entry comes back with its seed and c1 not yet expanded (c1 holds
// whatever its memory held before: the caller expands it or zeroes it).
func (e compactEntry) decode(p Parameters) (EncryptedVector, error) {
	level := e.limbs - 1
	moduli := p.Q()[:e.limbs]
	polyBytes := packedPolyBytes(moduli, p.N())
	ct := reusedCiphertext(p, e.degree, level) // every limb is written below
	*ct.MetaData = *e.meta
	packed := e.degree + 1
	if e.form != formFull {
		packed = 1
	}
	for k := range packed {
		if limb, j := unpackPoly(ct.Value[k], e.body[k*polyBytes:], moduli); limb >= 0 {
			ReleaseCiphertexts(p, ct)
			return EncryptedVector{}, &DecodeError{What: fmt.Sprintf("ciphertext %d", e.index), Offset: compactEntryHead + k*polyBytes,
				Reason: fmt.Sprintf("ciphertext[%d] limb %d coefficient %d is not below its modulus %d", k, limb, j, moduli[limb]), Err: ErrMalformed}
		}
	}
	ev := EncryptedVector{Values: e.values, Ciphertext: ct}
	if e.form != formFull {
		ev.Seed = append([]byte(nil), e.body[polyBytes:]...)
		if e.form == formSeeded {
			ev.SeedPRNG = SeedBlake2b // else the zero value, SeedAESCTR
		}
	}
	return ev, nil
}
