package he

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// SeedPRNG names the generator that expands a seed into the uniform half of
// a seeded ciphertext (see [EncryptedVector.SeedPRNG] and the framing in
// files.go).
type SeedPRNG uint8

const (
	// SeedAESCTR is the keystream of AES-256 in counter mode keyed by the
	// seed (see [NewCTRPRNG]): entry form 2 of the compact ciphertext
	// file, what [Client.EncryptSeeded] makes. It is the zero value.
	SeedAESCTR SeedPRNG = 0
	// SeedBlake2b is lattigo's keyed blake2b XOF
	// (sampling.NewKeyedPRNG(seed)): entry form 1, what builds before the
	// AES form wrote. It is still read, and written back as it came.
	SeedBlake2b SeedPRNG = 1
)

func (s SeedPRNG) String() string {
	switch s {
	case SeedAESCTR:
		return "aes-256-ctr"
	case SeedBlake2b:
		return "blake2b"
	}
	return fmt.Sprintf("SeedPRNG(%d)", uint8(s))
}

// CTRIVCiphertext is the initial counter block of the AES-CTR stream that
// expands the seed of a seeded ciphertext's c1: the 8 ASCII bytes
// "AIOS-CT1" followed by 8 zero bytes. The label separates this use of a
// seed from any other a later form may give an AES key (a different label,
// hence a different stream); the zero low half is the block counter.
var CTRIVCiphertext = [aes.BlockSize]byte{'A', 'I', 'O', 'S', '-', 'C', 'T', '1'}

// CTRIVKeys is the initial counter block of the AES-CTR stream that
// expands the seed of a key in version 2 of the seeded evaluation key set
// (the common reference polynomial of mhe's SampleCRP): "AIOS-EK1" and 8
// zero bytes.
var CTRIVKeys = [aes.BlockSize]byte{'A', 'I', 'O', 'S', '-', 'E', 'K', '1'}

// ctrPRNG is a sampling.PRNG whose bytes are the AES-CTR keystream.
type ctrPRNG struct{ stream cipher.Stream }

// NewCTRPRNG returns a lattigo sampling.PRNG whose byte stream is the
// keystream of AES-256 in counter mode (NIST SP 800-38A) under the 32-byte
// key seed, starting from the counter block iv: block i of the stream is
// AES-256_seed(iv + i), iv read as a 128-bit big-endian integer and
// incremented modulo 2^128 (Go's cipher.NewCTR, OpenSSL's EVP_aes_256_ctr,
// and any CTR implementation that increments the whole block). Read fills
// its buffer with the next bytes of that stream, whatever the sizes of the
// reads. The stream is the encryption of zeros, so it is also what
// XORing a zero buffer with any such implementation gives.
func NewCTRPRNG(seed []byte, iv [aes.BlockSize]byte) (sampling.PRNG, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("he: an AES-256 seed is %d bytes, not %d", SeedSize, len(seed))
	}
	block, err := aes.NewCipher(seed)
	if err != nil {
		return nil, err
	}
	return &ctrPRNG{stream: cipher.NewCTR(block, iv[:])}, nil
}

// Read writes the next len(b) bytes of the keystream to b.
func (r *ctrPRNG) Read(b []byte) (int, error) {
	clear(b)
	r.stream.XORKeyStream(b, b)
	return len(b), nil
}

// seedPRNG returns the PRNG of kind for seed (iv for the AES form).
func seedPRNG(kind SeedPRNG, seed []byte, iv [aes.BlockSize]byte) (sampling.PRNG, error) {
	switch kind {
	case SeedAESCTR:
		return NewCTRPRNG(seed, iv)
	case SeedBlake2b:
		return sampling.NewKeyedPRNG(seed)
	}
	return nil, fmt.Errorf("he: unknown seed PRNG %d", kind)
}
