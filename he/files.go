package he

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// File formats for key material and ciphertexts at rest. Both are a short
// header followed by lattigo encodings, all integers little-endian:
//
//	key file:        "AIOSKEYS" | u16 version (1) | sections…
//	section:         u8 tag | u64 length | bytes
//	tags:            1 parameters (lattigo JSON), 2 secret key, 3 public key,
//	                 4 evaluation key set (lattigo MemEvaluationKeySet),
//	                 5 seeded evaluation key set ([EvaluationKeySet.MarshalSeeded])
//
// Tags appear once each, in increasing order; 1 is required, 2–5 optional,
// 4 and 5 exclusive (a file without tag 2 is a public bundle). A build
// before tag 5 refuses a file that has it.
//
//	ciphertext file: "AIOSCTXT" | u16 version (1) | 32-byte parameters ID |
//	                 u32 count | count × (u32 values | u64 length | ciphertext)
//
// "values" is how many leading slots of that ciphertext hold data. Version 2
// of the ciphertext file (written by [WriteCompactCiphertextFile]; the
// readers accept both) replaces each lattigo ciphertext encoding by a
// compact one:
//
//	ciphertext file: "AIOSCTXT" | u16 version (2) | 32-byte parameters ID |
//	                 u32 count | count × entry
//	entry:           u32 values | u8 form | u8 degree | u8 limbs |
//	                 metadata | body
//	form 0 (full):   (degree+1) × packed polynomial
//	form 1 (seeded, blake2b): packed polynomial (c0) | 32-byte seed (degree is 1)
//	form 2 (seeded, AES-CTR): packed polynomial (c0) | 32-byte seed (degree is 1)
//
// "limbs" is the ciphertext's level plus one; "metadata" is lattigo's
// rlwe.MetaData binary encoding (its fixed size); a packed polynomial is
// its limbs 0 … limbs−1 at the bit width of their moduli (see tight limbs
// in pack.go). In the seeded forms c1 is not sent: it is the uniform
// polynomial that lattigo's ringqp.UniformSampler, at level limbs−1 and
// driven by the seed's PRNG, writes, read as it comes in the NTT domain
// (see [Client.EncryptSeeded]). Form 2, which [Client.EncryptSeeded]
// makes, drives it with the AES-256-CTR keystream of [NewCTRPRNG] keyed
// by the seed from the counter block [CTRIVCiphertext] ("AIOS-CT1" and 8
// zero bytes); form 1, which builds before form 2 wrote, with lattigo's
// blake2b XOF sampling.NewKeyedPRNG(seed). For N ≥ 1024 (every preset)
// the sampler consumes the stream as consecutive 8-byte big-endian words:
// for limb i and coefficient j in turn, the next word's low
// w = bitlen(q_i − 1) bits, the word skipped when they are not below q_i.
//
// Version 3 (written by [WriteKeyedCiphertextFile], for ciphertexts at rest
// such as `aios encrypt`'s files) is version 2 with the 16-byte fingerprint
// of the key material the ciphertexts were made for
// ([KeyMaterial.Fingerprint]) after the parameters ID:
//
//	ciphertext file: "AIOSCTXT" | u16 version (3) | 32-byte parameters ID |
//	                 16-byte key fingerprint | u32 count | count × entry
//
// [ReadCiphertextFileFor] refuses a version-3 file made for other keys
// ([ErrWrongKeys]), so that decrypting with the wrong secret key is an error
// instead of noise. Nodes take versions 1 and 2 in requests.
const (
	keyFileMagic = "AIOSKEYS"
	ctFileMagic  = "AIOSCTXT"
	fileVersion  = 1

	// ctFileCompact is the version of the compact ciphertext file,
	// ctFileKeyed the compact file with its key fingerprint.
	ctFileCompact = 2
	ctFileKeyed   = 3

	tagParams         = 1
	tagSecretKey      = 2
	tagPublicKey      = 3
	tagEvalKeys       = 4
	tagSeededEvalKeys = 5
)

// ErrFileFormat is wrapped by every error about a key or ciphertext file's
// framing (as opposed to its lattigo content, see [DecodeError]).
var ErrFileFormat = errors.New("he: bad file")

// ErrWrongKeys reports a ciphertext file made for other key material than
// the keys it is read with.
var ErrWrongKeys = errors.New("he: ciphertexts made for other keys")

func fileErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFileFormat, fmt.Sprintf(format, args...))
}

// WriteKeyFile writes km to w. With public set the secret key is left out.
func WriteKeyFile(w io.Writer, km *KeyMaterial, public bool) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(keyFileMagic)
	binary.Write(bw, binary.LittleEndian, uint16(fileVersion))
	section := func(tag uint8, m interface{ MarshalBinary() ([]byte, error) }) error {
		b, err := m.MarshalBinary()
		if err != nil {
			return fmt.Errorf("he: encode key file section %d: %w", tag, err)
		}
		bw.WriteByte(tag)
		binary.Write(bw, binary.LittleEndian, uint64(len(b)))
		_, err = bw.Write(b)
		return err
	}
	if err := section(tagParams, km.Params.Parameters); err != nil {
		return err
	}
	if !public && km.SecretKey != nil {
		if err := section(tagSecretKey, km.SecretKey); err != nil {
			return err
		}
	}
	if km.PublicKey != nil {
		if err := section(tagPublicKey, km.PublicKey); err != nil {
			return err
		}
	}
	if km.Evaluation != nil && km.Evaluation.Seeded() {
		if err := section(tagSeededEvalKeys, seededMarshaler{km.Evaluation}); err != nil {
			return err
		}
	} else if km.Evaluation != nil {
		if err := section(tagEvalKeys, km.Evaluation.Keys); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadKeyFile reads and validates a key file. Every section is decoded with
// the validating decoders of this package against the file's own (validated)
// parameters; l bounds the evaluation key set.
func ReadKeyFile(r io.Reader, l Limits) (*KeyMaterial, error) {
	br := bufio.NewReader(r)
	if _, err := readMagic(br, keyFileMagic, fileVersion); err != nil {
		return nil, err
	}
	km := &KeyMaterial{}
	last := uint8(0)
	for {
		tag, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fileErr("read section tag: %v", err)
		}
		if tag <= last || tag > tagSeededEvalKeys || (tag == tagSeededEvalKeys && last == tagEvalKeys) {
			return nil, fileErr("section %d out of order or unknown", tag)
		}
		if tag != tagParams && last == 0 {
			return nil, fileErr("parameters section missing")
		}
		last = tag
		var limit int
		switch tag {
		case tagParams:
			limit = MaxParametersBytes
		case tagSecretKey:
			limit = polyQPBytes(km.Params)
		case tagPublicKey:
			limit = 8 + 2*polyQPBytes(km.Params)
		case tagEvalKeys:
			limit = MaxEvaluationKeySetBytes(km.Params, l)
		case tagSeededEvalKeys:
			limit = MaxSeededEvaluationKeySetBytes(km.Params, l)
		}
		b, err := readSized64(br, limit, fmt.Sprintf("section %d", tag))
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagParams:
			if km.Params, err = DecodeParameters(b); err != nil {
				return nil, err
			}
		case tagSecretKey:
			km.SecretKey, err = DecodeSecretKey(km.Params, b)
		case tagPublicKey:
			km.PublicKey, err = DecodePublicKey(km.Params, b)
		case tagEvalKeys:
			km.Evaluation, err = ParseEvaluationKeySet(km.Params, l, b)
		case tagSeededEvalKeys:
			km.Evaluation, err = ParseSeededEvaluationKeySet(km.Params, l, b)
		}
		if err != nil {
			return nil, err
		}
	}
	if last == 0 {
		return nil, fileErr("parameters section missing")
	}
	return km, nil
}

// readMagic reads a file's magic and version and returns the version, which
// must be 1 … maxVersion.
func readMagic(r io.Reader, magic string, maxVersion uint16) (uint16, error) {
	head := make([]byte, len(magic)+2)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, fileErr("read header: %v", err)
	}
	if string(head[:len(magic)]) != magic {
		return 0, fileErr("not an aios %s file", magic)
	}
	v := binary.LittleEndian.Uint16(head[len(magic):])
	if v < 1 || v > maxVersion {
		return 0, fileErr("version %d, this build reads versions 1 to %d", v, maxVersion)
	}
	return v, nil
}

// readSized64 reads a u64 length and that many bytes, refusing lengths above
// limit.
func readSized64(r io.Reader, limit int, what string) ([]byte, error) {
	return readSized64Into(r, func(n int) []byte { return make([]byte, n) }, limit, what)
}

// readSized64Into is readSized64 reading into a buffer of the announced
// size from buf, so that a reader of many entries can reuse buffers.
func readSized64Into(r io.Reader, buf func(n int) []byte, limit int, what string) ([]byte, error) {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, fileErr("read %s length: %v", what, err)
	}
	if n > uint64(limit) {
		return nil, &DecodeError{What: what, Reason: fmt.Sprintf("%d bytes, the limit is %d", n, limit), Err: ErrTooLarge}
	}
	// Up to 16 MiB (any ciphertext of the built-in presets: a degree-2 one
	// at n15 is 12.6 MB) is read into buf or one allocation of the
	// announced size; beyond, bytes are read as they arrive, so a short
	// file that claims gigabytes fails without the allocation.
	const direct = 16 << 20
	var b []byte
	var err error
	if n <= direct {
		b = buf(int(n))
		var got int
		got, err = io.ReadFull(r, b)
		b = b[:got]
	} else {
		b, err = io.ReadAll(io.LimitReader(r, int64(n)))
	}
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fileErr("read %s: %v", what, err)
	}
	if uint64(len(b)) != n {
		return nil, fileErr("read %s: truncated: %d of %d bytes", what, len(b), n)
	}
	return b, nil
}

// EncryptedVector is a ciphertext and how many of its leading slots hold
// data.
type EncryptedVector struct {
	Values     int
	Ciphertext *rlwe.Ciphertext
	// Seed is set on a fresh seeded encryption ([Client.EncryptSeeded]):
	// the [SeedSize]-byte key from which its c1 was sampled, which
	// [WriteCompactCiphertextFile] sends in place of c1. It is nil
	// otherwise.
	Seed []byte
	// SeedPRNG is the generator that expands Seed into c1: AES-256-CTR
	// (the zero value, what EncryptSeeded uses) or, for a vector read
	// from an entry of the older seeded form, blake2b.
	SeedPRNG SeedPRNG
	// seal is set by the encryption that made the vector (sealOf its
	// seed and c1), so that writing it need not expand the seed to check
	// it; zero otherwise.
	seal uint64
}

// MaxCiphertextsPerFile bounds the count field of a ciphertext file.
const MaxCiphertextsPerFile = 1 << 20

// WriteCiphertextFile writes cts, made under p, to w (version 1: lattigo's
// encoding of each ciphertext).
func WriteCiphertextFile(w io.Writer, p Parameters, cts []EncryptedVector) error {
	bw, err := writeCiphertextHeader(w, p, fileVersion, nil, len(cts))
	if err != nil {
		return err
	}
	for i, c := range cts {
		b, err := c.Ciphertext.MarshalBinary()
		if err != nil {
			return fmt.Errorf("he: encode ciphertext %d: %w", i, err)
		}
		binary.Write(bw, binary.LittleEndian, uint32(c.Values))
		binary.Write(bw, binary.LittleEndian, uint64(len(b)))
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeCiphertextHeader writes the header of a ciphertext file of the given
// version and count and returns the buffered writer for the entries.
func writeCiphertextHeader(w io.Writer, p Parameters, version uint16, fingerprint []byte, count int) (*bufio.Writer, error) {
	if count > MaxCiphertextsPerFile {
		return nil, fileErr("%d ciphertexts, at most %d per file", count, MaxCiphertextsPerFile)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(ctFileMagic)
	binary.Write(bw, binary.LittleEndian, version)
	id, _ := hex.DecodeString(p.ID())
	bw.Write(id)
	bw.Write(fingerprint) // version 3 only
	binary.Write(bw, binary.LittleEndian, uint32(count))
	return bw, nil
}

// ReadCiphertextFile reads a ciphertext file of any version and checks
// that it was made under p and that every ciphertext is valid for p under
// l. Seeded ciphertexts of a version-2 or -3 file come back with c1
// expanded from their seed, and the seed in [EncryptedVector.Seed]. A
// version-3 file's key fingerprint is not checked: see
// [ReadCiphertextFileFor].
func ReadCiphertextFile(r io.Reader, p Parameters, l Limits) ([]EncryptedVector, error) {
	out, _, err := collectCiphertextFile(r, p, l)
	return out, err
}

// ScanCiphertextFile reads a ciphertext file as [ReadCiphertextFile] does,
// with the same checks, but passes each ciphertext to fn as it is read
// instead of keeping them, so that checking a file of any size holds one
// ciphertext at a time. The c1 of a seeded ciphertext is not expanded (it
// reads as zero; its seed is in [EncryptedVector.Seed]): scanning is for
// checking a file, and a seed is valid whatever its bytes. fn may not keep
// the vector's ciphertext, whose memory the next entry reuses. An error
// from fn ends the scan and is returned.
func ScanCiphertextFile(r io.Reader, p Parameters, l Limits, fn func(EncryptedVector) error) error {
	pass := func(ev EncryptedVector, err error) error {
		if err != nil {
			return err
		}
		if ev.Seed != nil {
			ev.Ciphertext.Value[1].Zero()
		}
		err = fn(ev)
		ReleaseCiphertexts(p, ev.Ciphertext)
		return err
	}
	_, err := readCiphertextFile(r, p, l, entrySink{
		full:    func(e fullEntry) error { return pass(e.decode(p, l, true)) },
		compact: func(e compactEntry) error { return pass(e.decode(p)) },
	})
	return err
}

// collectCiphertextFile reads a whole ciphertext file and returns its
// ciphertexts with the file's key fingerprint. The entries are decoded
// (checked, unpacked, and the c1 of a seeded one expanded from its seed)
// on GOMAXPROCS goroutines while the rest of the file is still being read:
// a request body arrives over the network as it is decoded, and the reader
// only frames the entries. The error is the one the first bad entry in
// file order gives, as if they were decoded in turn; reading stops at the
// first bad entry found.
func collectCiphertextFile(r io.Reader, p Parameters, l Limits) ([]EncryptedVector, []byte, error) {
	var slots []*EncryptedVector
	type job struct {
		index  int
		decode func() (EncryptedVector, error)
		slot   *EncryptedVector
	}
	var work chan job
	var wg sync.WaitGroup
	var mu sync.Mutex
	firstBad, badErr := -1, error(nil)
	fail := func(i int, err error) {
		mu.Lock()
		if firstBad < 0 || i < firstBad {
			firstBad, badErr = i, err
		}
		mu.Unlock()
	}
	queue := func(index int, decode func() (EncryptedVector, error)) error {
		mu.Lock()
		bad := badErr
		mu.Unlock()
		if bad != nil {
			return bad // stops the reader; the first bad entry's error is returned below
		}
		if work == nil { // the first entry starts the decoders
			work = make(chan job, 2*runtime.GOMAXPROCS(0))
			for range runtime.GOMAXPROCS(0) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range work {
						ev, err := j.decode()
						if err != nil {
							fail(j.index, err)
							continue
						}
						*j.slot = ev
					}
				}()
			}
		}
		slot := new(EncryptedVector)
		slots = append(slots, slot)
		work <- job{index, decode, slot}
		return nil
	}
	fp, err := readCiphertextFile(r, p, l, entrySink{
		body: getBody,
		full: func(e fullEntry) error {
			return queue(e.index, func() (EncryptedVector, error) {
				defer putBody(e.body)
				return e.decode(p, l, true)
			})
		},
		compact: func(e compactEntry) error {
			return queue(e.index, func() (EncryptedVector, error) {
				ev, err := e.decode(p)
				putBody(e.body)
				if err == nil && ev.Seed != nil {
					expandC1(p, ev.SeedPRNG, ev.Seed, ev.Ciphertext.Level(), ev.Ciphertext.Value[1])
				}
				return ev, err
			})
		},
	})
	if work != nil {
		close(work)
		wg.Wait()
	}
	if badErr != nil {
		err = badErr // an entry before the reader's failure, if any, was bad
	}
	if err != nil {
		for _, s := range slots {
			ReleaseCiphertexts(p, s.Ciphertext) // nil for the bad ones
		}
		return nil, nil, err
	}
	out := make([]EncryptedVector, len(slots))
	for i, s := range slots {
		out[i] = *s
	}
	return out, fp, nil
}

// ReadCiphertextFileFor is [ReadCiphertextFile] under km's parameters, and
// it refuses a version-3 file whose key fingerprint is not km's with an
// error wrapping [ErrWrongKeys]. (Files of versions 1 and 2 carry no
// fingerprint.)
func ReadCiphertextFileFor(r io.Reader, km *KeyMaterial, l Limits) ([]EncryptedVector, error) {
	out, fp, err := collectCiphertextFile(r, km.Params, l)
	if err != nil {
		return nil, err
	}
	if want := km.Fingerprint(); fp != nil && !bytes.Equal(fp, want[:]) {
		return nil, fmt.Errorf("%w: the file was made for key material %x, these keys are %x", ErrWrongKeys, fp, want)
	}
	return out, nil
}

// entrySink takes the entries of a ciphertext file as readCiphertextFile
// reads them, framed but not decoded: a version-1 entry (full), a compact
// entry with its fixed fields checked (compact). With body set each body
// comes from it and the sink owns it, else the reader reuses one buffer.
type entrySink struct {
	full    func(fullEntry) error
	compact func(compactEntry) error
	body    func(size int) []byte
}

// bodies holds the buffers of entries that collectCiphertextFile's
// decoders are done with (*[]byte), for the entries of later files.
var bodies sync.Pool

// getBody returns a buffer of size bytes from bodies, or a new one.
func getBody(size int) []byte {
	if b, ok := bodies.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:size]
	}
	return make([]byte, size)
}

// putBody hands b to bodies; its holder must not use it again.
func putBody(b []byte) { bodies.Put(&b) }

// readCiphertextFile reads a ciphertext file, passing its entries to sink
// in order, and returns its key fingerprint (nil where it has none).
func readCiphertextFile(r io.Reader, p Parameters, l Limits, sink entrySink) ([]byte, error) {
	br := bufio.NewReader(r)
	version, err := readMagic(br, ctFileMagic, ctFileKeyed)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := io.ReadFull(br, id); err != nil {
		return nil, fileErr("read parameters ID: %v", err)
	}
	if got := hex.EncodeToString(id); got != p.ID() {
		return nil, &DecodeError{What: "ciphertext file", Offset: 10,
			Reason: fmt.Sprintf("made under parameters %.12s…, the keys are for %s (%.12s…)", got, p.Name(), p.ID()), Err: ErrParamsMismatch}
	}
	var fp []byte
	if version == ctFileKeyed {
		fp = make([]byte, FingerprintSize)
		if _, err := io.ReadFull(br, fp); err != nil {
			return nil, fileErr("read key fingerprint: %v", err)
		}
		if bytes.Equal(fp, make([]byte, FingerprintSize)) {
			fp = nil // made with key material that has no public key: unknown
		}
	}
	var count uint32
	if err := binary.Read(br, binary.LittleEndian, &count); err != nil {
		return nil, fileErr("read count: %v", err)
	}
	if count > MaxCiphertextsPerFile {
		return nil, fileErr("%d ciphertexts, at most %d per file", count, MaxCiphertextsPerFile)
	}
	body := sink.body
	if body == nil { // one buffer serves every entry
		var buf []byte
		body = func(n int) []byte {
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			return buf[:n]
		}
	}
	if version >= ctFileCompact {
		err = readCompactCiphertextEntries(br, p, l, int(count), body, sink.compact)
	} else {
		err = readCiphertextEntries(br, p, l, int(count), body, sink.full)
	}
	if err != nil {
		return nil, err
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fileErr("trailing data after %d ciphertexts", count)
	}
	return fp, nil
}

// CiphertextHeaderBytes is the most a ciphertext file's header (magic,
// version, parameters ID, a version-3 file's fingerprint, count) takes:
// [CiphertextFileCount] needs no more of a file's first bytes.
const CiphertextHeaderBytes = len(ctFileMagic) + 2 + 32 + FingerprintSize + 4

// CiphertextFileCount reads the number of ciphertexts a ciphertext file
// announces from its first bytes (at least CiphertextHeaderBytes of them,
// or the whole file if shorter), so that a reader can size what decoding
// it will hold before it starts. The count is the file's claim, checked
// against MaxCiphertextsPerFile only; the readers check the rest.
func CiphertextFileCount(head []byte) (int, error) {
	r := bytes.NewReader(head)
	version, err := readMagic(r, ctFileMagic, ctFileKeyed)
	if err != nil {
		return 0, err
	}
	skip := int64(32)
	if version == ctFileKeyed {
		skip += FingerprintSize
	}
	if _, err := r.Seek(skip, io.SeekCurrent); err != nil {
		return 0, fileErr("read header: %v", err)
	}
	var count uint32
	if err := binary.Read(r, binary.LittleEndian, &count); err != nil {
		return 0, fileErr("read count: %v", err)
	}
	if count > MaxCiphertextsPerFile {
		return 0, fileErr("%d ciphertexts, at most %d per file", count, MaxCiphertextsPerFile)
	}
	return int(count), nil
}

// fullEntry is an entry of a version-1 file framed, not yet decoded.
type fullEntry struct {
	index, values int
	body          []byte // lattigo's encoding of the ciphertext
}

// decode checks and decodes the entry's ciphertext (decodeCiphertext).
func (e fullEntry) decode(p Parameters, l Limits, reuse bool) (EncryptedVector, error) {
	ct, err := decodeCiphertext(p, l, e.body, reuse)
	if err != nil {
		return EncryptedVector{}, fmt.Errorf("ciphertext %d: %w", e.index, err)
	}
	return EncryptedVector{Values: e.values, Ciphertext: ct}, nil
}

// readCiphertextEntries reads count entries of a version-1 file and
// passes each to yield, framed, in a buffer from newBody.
func readCiphertextEntries(br *bufio.Reader, p Parameters, l Limits, count int, newBody func(size int) []byte, yield func(fullEntry) error) error {
	for i := range count {
		values, err := readValues(br, p, i)
		if err != nil {
			return err
		}
		b, err := readSized64Into(br, newBody, MaxCiphertextBytes(p, l), fmt.Sprintf("ciphertext %d", i))
		if err != nil {
			return err
		}
		if err := yield(fullEntry{index: i, values: values, body: b}); err != nil {
			return err
		}
	}
	return nil
}

// readValues reads and checks the values field of entry i.
func readValues(br *bufio.Reader, p Parameters, i int) (int, error) {
	var values uint32
	if err := binary.Read(br, binary.LittleEndian, &values); err != nil {
		return 0, fileErr("read ciphertext %d: %v", i, err)
	}
	if values < 1 || int(values) > p.MaxSlots() {
		return 0, fileErr("ciphertext %d claims %d values, want 1…%d", i, values, p.MaxSlots())
	}
	return int(values), nil
}
