package he

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"testing"
)

// ctrByBlocks is the AES-CTR keystream computed block by block with
// crypto/aes alone (no cipher.NewCTR): block i is AES_key(iv + i), the
// counter block a 128-bit big-endian integer. It stands as the independent
// reference for NewCTRPRNG.
type ctrByBlocks struct {
	enc     func(dst, src []byte)
	hi, lo  uint64
	pending []byte
}

func independentCTR(t testing.TB, seed []byte, iv [aes.BlockSize]byte) *ctrByBlocks {
	t.Helper()
	block, err := aes.NewCipher(seed)
	if err != nil {
		t.Fatal(err)
	}
	return &ctrByBlocks{enc: block.Encrypt, hi: binary.BigEndian.Uint64(iv[:8]), lo: binary.BigEndian.Uint64(iv[8:])}
}

func (c *ctrByBlocks) Read(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if len(c.pending) == 0 {
			var ctr, out [aes.BlockSize]byte
			binary.BigEndian.PutUint64(ctr[:8], c.hi)
			binary.BigEndian.PutUint64(ctr[8:], c.lo)
			c.enc(out[:], ctr[:])
			var carry uint64
			c.lo, carry = bits.Add64(c.lo, 1, 0)
			c.hi += carry
			c.pending = out[:]
		}
		k := copy(b, c.pending)
		b, c.pending = b[k:], c.pending[k:]
	}
	return n, nil
}

// TestCTRPRNGKnownAnswer: NewCTRPRNG is AES-256-CTR as NIST SP 800-38A
// defines it (its vector F.5.5, whose counter carries out of the low byte),
// its stream for the seed 00 01 … 1f and CTRIVCiphertext is the one
// recorded here (computed with another AES-256-CTR implementation) and the
// one crypto/aes gives block by block, whatever the sizes of the reads; and
// the first coefficients of the c1 expanded from that seed at n12, level 0,
// are the stream's big-endian 8-byte words masked to the modulus' bit width,
// those not below the modulus skipped — the byte stream a client in another
// language must produce.
func TestCTRPRNGKnownAnswer(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// SP 800-38A F.5.5, CTR-AES256.Encrypt, blocks 1 and 2.
	var iv [aes.BlockSize]byte
	copy(iv[:], unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))
	r, err := NewCTRPRNG(unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"), iv)
	if err != nil {
		t.Fatal(err)
	}
	ks := make([]byte, 32)
	r.Read(ks)
	pt := unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
	for i := range ks {
		ks[i] ^= pt[i]
	}
	if want := unhex("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"); !bytes.Equal(ks, want) {
		t.Fatalf("SP 800-38A F.5.5: %x, want %x", ks, want)
	}

	seed := make([]byte, SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	if string(CTRIVCiphertext[:8]) != "AIOS-CT1" || !bytes.Equal(CTRIVCiphertext[8:], make([]byte, 8)) {
		t.Fatalf("CTRIVCiphertext is %x", CTRIVCiphertext)
	}
	const recorded = "114106479068aaced122dace9c2a81d9acf6e792a1cee849d819d178a0155887" +
		"960ec86290f64f7e36020038b29bb705b2a29fcbcca3028ef7c23a537b3a9065"
	const size = 1 << 16
	ref := make([]byte, size)
	independentCTR(t, seed, CTRIVCiphertext).Read(ref)
	if got := hex.EncodeToString(ref[:64]); got != recorded {
		t.Fatalf("crypto/aes block by block: %s, recorded %s", got, recorded)
	}
	r, err = NewCTRPRNG(seed, CTRIVCiphertext)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, size)
	for i := 1; len(got) < size; i = i*3 + 1 { // reads of 1, 4, 13, 40, … bytes
		b := make([]byte, min(i, size-len(got)))
		r.Read(b)
		got = append(got, b...)
	}
	if !bytes.Equal(got, ref) {
		t.Fatal("NewCTRPRNG's stream differs from AES-CTR computed block by block")
	}
	if _, err := NewCTRPRNG(seed[:16], CTRIVCiphertext); err == nil {
		t.Fatal("a 16-byte seed accepted")
	}

	// c1 at n12, level 0, from the same seed.
	p := mustPreset(t, "n12")
	q := p.Q()[0]
	c1 := p.RingQ().AtLevel(0).NewPoly()
	expandC1(p, SeedAESCTR, seed, 0, c1)
	mask := uint64(1)<<bits.Len64(q-1) - 1
	words := independentCTR(t, seed, CTRIVCiphertext)
	for i := range p.N() {
		var w [8]byte
		var x uint64
		for x = q; x >= q; x = binary.BigEndian.Uint64(w[:]) & mask {
			words.Read(w[:])
		}
		if c1.Coeffs[0][i] != x {
			t.Fatalf("c1 coefficient %d is %d, the stream gives %d", i, c1.Coeffs[0][i], x)
		}
	}
	t.Logf("q0 = %d, c1[0][0:4] = %v", q, c1.Coeffs[0][:4])
	if want := [4]uint64(c1KAT); [4]uint64(c1.Coeffs[0][:4]) != want {
		t.Fatalf("c1[0][0:4] = %v, recorded %v", c1.Coeffs[0][:4], want)
	}
}

// c1KAT are the first coefficients of TestCTRPRNGKnownAnswer's c1,
// computed from the recorded stream outside Go.
var c1KAT = []uint64{32487549646, 62749573593, 80024102985, 243203922055}
