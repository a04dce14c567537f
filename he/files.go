package he

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// File formats for key material and ciphertexts at rest. Both are a short
// header followed by lattigo encodings, all integers little-endian:
//
//	key file:        "AIOSKEYS" | u16 version (1) | sections…
//	section:         u8 tag | u64 length | bytes
//	tags:            1 parameters (lattigo JSON), 2 secret key, 3 public key,
//	                 4 evaluation key set (lattigo MemEvaluationKeySet)
//
// Tags appear once each, in increasing order; 1 is required, 2–4 optional
// (a file without tag 2 is a public bundle).
//
//	ciphertext file: "AIOSCTXT" | u16 version (1) | 32-byte parameters ID |
//	                 u32 count | count × (u32 values | u64 length | ciphertext)
//
// "values" is how many leading slots of that ciphertext hold data.
const (
	keyFileMagic = "AIOSKEYS"
	ctFileMagic  = "AIOSCTXT"
	fileVersion  = 1

	tagParams    = 1
	tagSecretKey = 2
	tagPublicKey = 3
	tagEvalKeys  = 4
)

// ErrFileFormat is wrapped by every error about a key or ciphertext file's
// framing (as opposed to its lattigo content, see [DecodeError]).
var ErrFileFormat = errors.New("he: bad file")

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
	if km.Evaluation != nil {
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
	if err := readMagic(br, keyFileMagic); err != nil {
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
		if tag <= last || tag > tagEvalKeys {
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

func readMagic(r io.Reader, magic string) error {
	head := make([]byte, len(magic)+2)
	if _, err := io.ReadFull(r, head); err != nil {
		return fileErr("read header: %v", err)
	}
	if string(head[:len(magic)]) != magic {
		return fileErr("not an aios %s file", magic)
	}
	if v := binary.LittleEndian.Uint16(head[len(magic):]); v != fileVersion {
		return fileErr("version %d, this build reads version %d", v, fileVersion)
	}
	return nil
}

// readSized64 reads a u64 length and that many bytes, refusing lengths above
// limit.
func readSized64(r io.Reader, limit int, what string) ([]byte, error) {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, fileErr("read %s length: %v", what, err)
	}
	if n > uint64(limit) {
		return nil, &DecodeError{What: what, Reason: fmt.Sprintf("%d bytes, the limit is %d", n, limit), Err: ErrTooLarge}
	}
	// Up to 16 MiB (any ciphertext of the built-in presets: a degree-2 one
	// at n15 is 12.6 MB) is read into one allocation of the announced size; beyond, bytes are read as they arrive, so a short file
	// that claims gigabytes fails without the allocation.
	const direct = 16 << 20
	var b []byte
	var err error
	if n <= direct {
		b = make([]byte, n)
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
}

// MaxCiphertextsPerFile bounds the count field of a ciphertext file.
const MaxCiphertextsPerFile = 1 << 20

// WriteCiphertextFile writes cts, made under p, to w.
func WriteCiphertextFile(w io.Writer, p Parameters, cts []EncryptedVector) error {
	if len(cts) > MaxCiphertextsPerFile {
		return fileErr("%d ciphertexts, at most %d per file", len(cts), MaxCiphertextsPerFile)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(ctFileMagic)
	binary.Write(bw, binary.LittleEndian, uint16(fileVersion))
	id, _ := hex.DecodeString(p.ID())
	bw.Write(id)
	binary.Write(bw, binary.LittleEndian, uint32(len(cts)))
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

// ReadCiphertextFile reads a ciphertext file and checks that it was made
// under p and that every ciphertext is valid for p under l.
func ReadCiphertextFile(r io.Reader, p Parameters, l Limits) ([]EncryptedVector, error) {
	br := bufio.NewReader(r)
	if err := readMagic(br, ctFileMagic); err != nil {
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
	var count uint32
	if err := binary.Read(br, binary.LittleEndian, &count); err != nil {
		return nil, fileErr("read count: %v", err)
	}
	if count > MaxCiphertextsPerFile {
		return nil, fileErr("%d ciphertexts, at most %d per file", count, MaxCiphertextsPerFile)
	}
	var out []EncryptedVector
	for i := range int(count) {
		var values uint32
		if err := binary.Read(br, binary.LittleEndian, &values); err != nil {
			return nil, fileErr("read ciphertext %d: %v", i, err)
		}
		if values < 1 || int(values) > p.MaxSlots() {
			return nil, fileErr("ciphertext %d claims %d values, want 1…%d", i, values, p.MaxSlots())
		}
		b, err := readSized64(br, MaxCiphertextBytes(p, l), fmt.Sprintf("ciphertext %d", i))
		if err != nil {
			return nil, err
		}
		ct, err := DecodeCiphertext(p, l, b)
		if err != nil {
			return nil, fmt.Errorf("ciphertext %d: %w", i, err)
		}
		out = append(out, EncryptedVector{Values: int(values), Ciphertext: ct})
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fileErr("trailing data after %d ciphertexts", count)
	}
	return out, nil
}
