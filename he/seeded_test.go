package he

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

func TestPackLimb(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, q := range []uint64{0x3ffffffffffc0001, 1<<40 - 87, 1<<45 - 229, 65537, 97, 1<<61 - 1} {
		for _, n := range []int{16, 1024} {
			coeffs := make([]uint64, n)
			for i := range coeffs {
				coeffs[i] = rng.Uint64N(q)
			}
			coeffs[0], coeffs[n-1] = q-1, q-1
			b := make([]byte, packedLimbBytes(q, n))
			packLimb(b, coeffs, limbWidth(q))
			got := make([]uint64, n)
			if j := unpackLimb(got, b, q); j >= 0 {
				t.Fatalf("q=%d: coefficient %d refused", q, j)
			}
			for i := range got {
				if got[i] != coeffs[i] {
					t.Fatalf("q=%d n=%d: coefficient %d is %d, want %d", q, n, i, got[i], coeffs[i])
				}
			}
			if w := bits.Len64(q - 1); len(b) != n*w/8 {
				t.Fatalf("q=%d: %d bytes for %d coefficients of %d bits", q, len(b), n, w)
			}
			// The largest value of the width is not below q.
			coeffs[n/2] = 1<<limbWidth(q) - 1
			packLimb(b, coeffs, limbWidth(q))
			if j := unpackLimb(got, b, q); j != n/2 {
				t.Fatalf("q=%d: coefficient %d ≥ q reported at %d", q, n/2, j)
			}
		}
	}
}

// TestSeededCiphertextIsLattigos: a ciphertext read back from a seeded
// entry is byte for byte the one lattigo's symmetric encryptor made, and the
// c1 expanded from a seed is the one lattigo's encryptor samples with
// WithPRNG of the seed's PRNG, for both generators (AES-256-CTR from
// CTRIVCiphertext, and blake2b: sampling.NewKeyedPRNG(seed)).
func TestSeededCiphertextIsLattigos(t *testing.T) {
	for _, name := range testPresets(t) {
		t.Run(name, func(t *testing.T) {
			p := mustPreset(t, name)
			km := mustKeys(t, p, KeySpec{})
			seed := bytes.Repeat([]byte{7}, SeedSize)
			for _, kind := range []SeedPRNG{SeedAESCTR, SeedBlake2b} {
				for level := range p.MaxLevel() + 1 {
					var prng sampling.PRNG
					if kind == SeedBlake2b {
						prng, _ = sampling.NewKeyedPRNG(seed)
					} else {
						prng = independentCTR(t, seed, CTRIVCiphertext)
					}
					pt := ckks.NewPlaintext(p.Parameters, level)
					ct, err := rlwe.NewEncryptor(p.Parameters, km.SecretKey).WithPRNG(prng).EncryptNew(pt)
					if err != nil {
						t.Fatal(err)
					}
					c1 := p.RingQ().AtLevel(level).NewPoly()
					expandC1(p, kind, seed, level, c1)
					if !c1.Equal(&ct.Value[1]) {
						t.Fatalf("%v, level %d: expanded c1 differs from lattigo's", kind, level)
					}
				}

				c := NewClient(km)
				ev, err := c.encryptSeeded([]float64{1, -2, 3.5}, 1, math.Exp2(27), kind)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := WriteCompactCiphertextFile(&buf, p, []EncryptedVector{ev}); err != nil {
					t.Fatal(err)
				}
				if form := buf.Bytes()[10+32+4+4]; int(form) != seededForm(kind) {
					t.Fatalf("%v: entry form %d, want %d", kind, form, seededForm(kind))
				}
				got, err := ReadCiphertextFile(&buf, p, DefaultLimits)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ev.Ciphertext.MarshalBinary()
				if b, _ := got[0].Ciphertext.MarshalBinary(); !bytes.Equal(b, want) || !bytes.Equal(got[0].Seed, ev.Seed) || got[0].SeedPRNG != kind {
					t.Fatalf("%v: the ciphertext read back is not the one encrypted", kind)
				}
			}
		})
	}
}

func TestCompactCiphertextFile(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{Relinearization: true})
	c := NewClient(km)
	in := [][]float64{{1, 2, 3}, {-4.5}, {0.25, 8}}
	var cts []EncryptedVector
	for i, v := range in {
		var ev EncryptedVector
		var err error
		if i == 1 { // a full entry among seeded ones
			var ct *rlwe.Ciphertext
			ct, err = c.EncryptAt(v, 0, p.DefaultScale().Float64())
			ev = EncryptedVector{Values: len(v), Ciphertext: ct}
		} else if i == 2 { // the older seeded form (blake2b), still read
			ev, err = c.encryptSeeded(v, p.MaxLevel(), p.DefaultScale().Float64(), SeedBlake2b)
		} else {
			ev, err = c.EncryptSeeded(v)
		}
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ev)
	}
	var v1, v2 bytes.Buffer
	if err := WriteCiphertextFile(&v1, p, cts); err != nil {
		t.Fatal(err)
	}
	if err := WriteCompactCiphertextFile(&v2, p, cts); err != nil {
		t.Fatal(err)
	}
	t.Logf("version 1: %d bytes, version 2: %d bytes", v1.Len(), v2.Len())
	for name, b := range map[string][]byte{"version 1": v1.Bytes(), "version 2": v2.Bytes()} {
		got, err := ReadCiphertextFile(bytes.NewReader(b), p, DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var values []int
		if err := ScanCiphertextFile(bytes.NewReader(b), p, DefaultLimits, func(ev EncryptedVector) error {
			values = append(values, ev.Values)
			return nil
		}); err != nil || len(values) != len(in) || values[0] != len(in[0]) || values[1] != len(in[1]) || values[2] != len(in[2]) {
			t.Fatalf("%s: scan saw values %v (%v), want the lengths of %v", name, values, err, in)
		}
		if err := ScanCiphertextFile(bytes.NewReader(b[:len(b)-1]), p, DefaultLimits, func(EncryptedVector) error { return nil }); err == nil {
			t.Fatalf("%s: a truncated file scans without error", name)
		}
		for i, ev := range got {
			out, err := c.Decrypt(ev.Ciphertext, ev.Values)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(in[i]) || maxAbsDiff(out, in[i]) > 1e-6 {
				t.Fatalf("%s: vector %d: %v, want %v", name, i, out, in[i])
			}
		}
	}

	// A degree-2 product travels in full.
	sq, err := ckks.NewEvaluator(p.Parameters, nil).MulNew(cts[0].Ciphertext, cts[0].Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	var deg2 bytes.Buffer
	if err := WriteCompactCiphertextFile(&deg2, p, []EncryptedVector{{Values: 3, Ciphertext: sq}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCiphertextFile(bytes.NewReader(deg2.Bytes()), p, DefaultLimits)
	if err != nil || got[0].Ciphertext.Degree() != 2 {
		t.Fatalf("degree-2 ciphertext: %v", err)
	}
	if _, err := ReadCiphertextFile(bytes.NewReader(deg2.Bytes()), p, Limits{MaxCiphertextDegree: 1}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("degree 2 under a degree-1 limit: err = %v", err)
	}

	// A seeded vector changed after encryption is not written with a stale
	// seed.
	changed := cts[0]
	changed.Ciphertext = cts[0].Ciphertext.CopyNew()
	changed.Ciphertext.Value[1].Coeffs[0][0] ^= 1
	if err := WriteCompactCiphertextFile(&bytes.Buffer{}, p, []EncryptedVector{changed}); !errors.Is(err, ErrSeedMismatch) {
		t.Fatalf("stale seed: err = %v", err)
	}
	if _, err := NewPublicKeyClient(p, km.PublicKey).EncryptSeeded([]float64{1}); !errors.Is(err, ErrNoSecretKey) {
		t.Fatalf("seeded encryption under a public key: err = %v", err)
	}

	b := v2.Bytes()
	entry := 10 + 32 + 4 // first entry
	set := func(at int, v byte) []byte { c := bytes.Clone(b); c[at] = v; return c }
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"other parameters": {nil, ErrParamsMismatch},
		"truncated":        {b[:len(b)-1], ErrFileFormat},
		"trailing":         {append(bytes.Clone(b), 0), ErrFileFormat},
		"version 3":        {set(8, 3), ErrFileFormat},
		"zero values":      {append(append(bytes.Clone(b[:entry]), 0, 0, 0, 0), b[entry+4:]...), ErrFileFormat},
		"form":             {set(entry+4, 3), ErrMalformed},
		"degree":           {set(entry+5, 0), ErrMalformed},
		"seeded degree 2":  {set(entry+5, 2), ErrMalformed},
		"level":            {set(entry+6, byte(p.QCount()+1)), ErrParamsMismatch},
		"metadata":         {set(entry+7, '!'), ErrMalformed},
		"coefficient":      {set(entry+compactEntryHead, 0xff), ErrMalformed},
	} {
		params := p
		if tc.b == nil {
			params, tc.b = mustPreset(t, "n13"), b
		}
		if name == "coefficient" { // make the first coefficient all ones
			for k := range 5 {
				tc.b[entry+compactEntryHead+k] = 0xff
			}
		}
		if _, err := ReadCiphertextFile(bytes.NewReader(tc.b), params, DefaultLimits); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

// rotationsForTesting are the rotations whose Galois keys the seeded key
// tests generate.
var rotationsForTesting = []int{1, -1, 5}

// TestSeededKeys: keys generated seeded, sent in the seeded encoding and
// expanded by the node relinearize and rotate correctly at every preset, and
// the expanded set is the client's, byte for byte, under the same ID; in
// version 2 (AES-CTR, what GenerateSeededKeys makes) and version 1
// (blake2b, still read).
func TestSeededKeys(t *testing.T) {
	for _, name := range testPresets(t) {
		for _, kind := range []SeedPRNG{SeedAESCTR, SeedBlake2b} {
			t.Run(name+"/"+kind.String(), func(t *testing.T) { testSeededKeys(t, name, kind) })
		}
	}
}

func testSeededKeys(t *testing.T, name string, kind SeedPRNG) {
	p := mustPreset(t, name)
	spec := KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, rotationsForTesting)}
	km, err := generateKeys(p, spec, true, kind)
	if err != nil {
		t.Fatal(err)
	}
	b, err := km.Evaluation.MarshalSeeded()
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != seededKeysVersion(kind) {
		t.Fatalf("%v seeds written as version %d", kind, v)
	}
	// The same bytes under the other version are another (valid) set.
	other := bytes.Clone(b)
	binary.LittleEndian.PutUint16(other[8:], 3-seededKeysVersion(kind))
	if set, err := ParseSeededEvaluationKeySet(p, DefaultLimits, other); err != nil || set.ID() == km.Evaluation.ID() {
		t.Fatalf("the seeds read under the other version: err = %v, or the same set", err)
	}
	t.Logf("%s: canonical %d bytes, seeded %d bytes (%.3f)", name, km.Evaluation.Size(), len(b), float64(len(b))/float64(km.Evaluation.Size()))
	set, err := ParseSeededEvaluationKeySet(p, DefaultLimits, b)
	if err != nil {
		t.Fatal(err)
	}
	if set.ID() != km.Evaluation.ID() || !set.Seeded() {
		t.Fatal("the expanded set is not the client's")
	}
	canon, _ := set.MarshalBinary()
	if _, err := ParseEvaluationKeySet(p, DefaultLimits, canon); err != nil {
		t.Fatalf("the expanded set is not canonical: %v", err)
	}
	if again, _ := set.MarshalSeeded(); !bytes.Equal(again, b) {
		t.Fatal("the expanded set does not re-encode to the same seeded bytes")
	}

	c := NewClient(km)
	rng := rand.New(rand.NewPCG(5, 6))
	in := randomVector(rng, p.MaxSlots(), 2)
	ct, err := c.Encrypt(in)
	if err != nil {
		t.Fatal(err)
	}
	ev := ckks.NewEvaluator(p.Parameters, set.Keys)
	sq, err := ev.MulRelinNew(ct, ct)
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Rescale(sq, sq); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(in))
	for i, v := range in {
		want[i] = v * v
	}
	checkDecrypt(t, c, sq, want, "x²")
	for _, k := range rotationsForTesting {
		rot, err := ev.RotateNew(ct, k)
		if err != nil {
			t.Fatal(err)
		}
		n := len(in)
		for i := range want {
			want[i] = in[((i+k)%n+n)%n]
		}
		checkDecrypt(t, c, rot, want, "rotation")
	}
}

func checkDecrypt(t *testing.T, c *Client, ct *rlwe.Ciphertext, want []float64, what string) {
	t.Helper()
	out, err := c.Decrypt(ct, len(want))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(out, want); d > math.Exp2(-12) {
		t.Fatalf("%s: max |error| %g", what, d)
	}
}

func TestSeededKeysRefused(t *testing.T) {
	p := mustPreset(t, "n12")
	km, err := GenerateSeededKeys(p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1, 2})})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := km.Evaluation.MarshalSeeded()
	if _, err := mustKeys(t, p, KeySpec{}).Evaluation.MarshalSeeded(); !errors.Is(err, ErrNotSeeded) {
		t.Fatalf("unseeded set: err = %v", err)
	}
	keyBytes := seededKeyBytes(p)
	firstGalois := seededKeysHead + keyBytes
	set := func(at int, v ...byte) []byte { c := bytes.Clone(b); copy(c[at:], v); return c }
	for name, tc := range map[string]struct {
		b    []byte
		l    Limits
		want error
	}{
		"empty":          {nil, DefaultLimits, ErrMalformed},
		"magic":          {set(0, 'X'), DefaultLimits, ErrMalformed},
		"version":        {set(8, 3), DefaultLimits, ErrMalformed},
		"version 0":      {set(8, 0), DefaultLimits, ErrMalformed},
		"flag":           {set(10, 2), DefaultLimits, ErrMalformed},
		"count":          {set(11, 3), DefaultLimits, ErrMalformed},
		"count limit":    {b, Limits{MaxGaloisKeys: 1}, ErrTooLarge},
		"truncated":      {b[:len(b)-1], DefaultLimits, ErrMalformed},
		"trailing":       {append(bytes.Clone(b), 0), DefaultLimits, ErrMalformed},
		"huge":           {make([]byte, MaxSeededEvaluationKeySetBytes(p, DefaultLimits)+1), DefaultLimits, ErrTooLarge},
		"even element":   {set(firstGalois, 4), DefaultLimits, ErrMalformed},
		"order":          {set(firstGalois+8+keyBytes, 1, 0, 0, 0, 0, 0, 0, 0), DefaultLimits, ErrMalformed},
		"coefficient":    {set(seededKeysHead+SeedSize, 0xff, 0xff, 0xff, 0xff, 0xff), DefaultLimits, ErrMalformed},
		"P coefficient":  {set(seededKeysHead+SeedSize+packedPolyBytes(p.Q(), p.N()), 0xff, 0xff, 0xff, 0xff, 0xff), DefaultLimits, ErrMalformed},
		"lattigo format": {mustMarshal(t, km.Evaluation), DefaultLimits, ErrMalformed},
	} {
		if _, err := ParseSeededEvaluationKeySet(p, tc.l, tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func mustMarshal(t *testing.T, s *EvaluationKeySet) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSeededKeyFile(t *testing.T) {
	p := mustPreset(t, "n12")
	km, err := GenerateSeededKeys(p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{3})})
	if err != nil {
		t.Fatal(err)
	}
	var seeded, full bytes.Buffer
	if err := WriteKeyFile(&seeded, km, true); err != nil {
		t.Fatal(err)
	}
	plain := mustKeys(t, p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{3})})
	if err := WriteKeyFile(&full, plain, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("public key file: %d bytes seeded, %d bytes with lattigo's encoding", seeded.Len(), full.Len())
	got, err := ReadKeyFile(bytes.NewReader(seeded.Bytes()), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got.Evaluation.ID() != km.Evaluation.ID() || !got.Evaluation.Seeded() {
		t.Fatal("seeded key file round trip changed the evaluation keys")
	}
	// Tag 5 after tag 4 is refused: a file holds one evaluation key set.
	sb, _ := km.Evaluation.MarshalSeeded()
	both := append(bytes.Clone(full.Bytes()), 5)
	both = append(append(both, le64(len(sb))...), sb...)
	if _, err := ReadKeyFile(bytes.NewReader(both), DefaultLimits); !errors.Is(err, ErrFileFormat) {
		t.Fatalf("two evaluation key sets: err = %v", err)
	}
}

func FuzzReadCompactCiphertextFile(f *testing.F) {
	p := tinyParamsForTesting(f)
	km := mustKeys(f, p, KeySpec{})
	c := NewClient(km)
	seeded, err := c.EncryptSeeded([]float64{1})
	if err != nil {
		f.Fatal(err)
	}
	ct, err := c.Encrypt([]float64{2, 3})
	if err != nil {
		f.Fatal(err)
	}
	old, err := c.encryptSeeded([]float64{4}, p.MaxLevel(), p.DefaultScale().Float64(), SeedBlake2b)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	// Both seeded forms (2, AES-CTR, and 1, blake2b) and a full entry.
	if err := WriteCompactCiphertextFile(&buf, p, []EncryptedVector{seeded, old, {Values: 2, Ciphertext: ct}}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	buf.Reset()
	if err := WriteKeyedCiphertextFile(&buf, km, []EncryptedVector{seeded}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()) // version 3, with the key fingerprint
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ReadCiphertextFileFor(bytes.NewReader(b), km, DefaultLimits)
		checkAnnouncedCount(t, b, got, err)
		checkReadAgain(t, p, b, got, err)
	})
}

// checkReadAgain: a file that read reads the same again after what it gave
// was released, however the second read reuses that memory.
func checkReadAgain(t *testing.T, p Parameters, b []byte, got []EncryptedVector, readErr error) {
	t.Helper()
	if readErr != nil {
		return
	}
	var want [][]byte
	for _, ev := range got {
		w, err := ev.Ciphertext.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, w)
		ReleaseCiphertexts(p, ev.Ciphertext)
	}
	again, err := ReadCiphertextFile(bytes.NewReader(b), p, DefaultLimits)
	if err != nil || len(again) != len(want) {
		t.Fatalf("read %d ciphertexts, then %d (%v)", len(want), len(again), err)
	}
	for i, ev := range again {
		if g, _ := ev.Ciphertext.MarshalBinary(); !bytes.Equal(g, want[i]) {
			t.Fatalf("ciphertext %d reads differently after a release", i)
		}
	}
	for _, ev := range again {
		ReleaseCiphertexts(p, ev.Ciphertext)
	}
}

// checkAnnouncedCount: a file that reads announces, in its first
// CiphertextHeaderBytes, the number of ciphertexts it holds.
func checkAnnouncedCount(t *testing.T, b []byte, got []EncryptedVector, readErr error) {
	t.Helper()
	n, err := CiphertextFileCount(b[:min(len(b), CiphertextHeaderBytes)])
	if readErr == nil && (err != nil || n != len(got)) {
		t.Fatalf("read %d ciphertexts; the header announces %d (%v)", len(got), n, err)
	}
}

func FuzzParseSeededEvaluationKeySet(f *testing.F) {
	p := tinyParamsForTesting(f)
	km, err := GenerateSeededKeys(p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1, 2})})
	if err != nil {
		f.Fatal(err)
	}
	b, err := km.Evaluation.MarshalSeeded()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	old, err := generateKeys(p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1})}, true, SeedBlake2b)
	if err != nil {
		f.Fatal(err)
	}
	if b, err = old.Evaluation.MarshalSeeded(); err != nil {
		f.Fatal(err)
	}
	f.Add(b) // version 1, blake2b
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseSeededEvaluationKeySet(p, DefaultLimits, b)
	})
}

// TestMetaDataWithoutScaleModulus: metadata whose scale has no "Mod" (on
// which lattigo's decoder panics) is refused by both ciphertext decoders.
func TestMetaDataWithoutScaleModulus(t *testing.T) {
	p := mustPreset(t, "n12")
	c := NewClient(mustKeys(t, p, KeySpec{}))
	ev, err := c.EncryptSeeded([]float64{1})
	if err != nil {
		t.Fatal(err)
	}
	noMod := func(b []byte) []byte { return bytes.Replace(b, []byte(`"Mod"`), []byte(`"Moe"`), 1) }
	b, _ := ev.Ciphertext.MarshalBinary()
	if _, err := DecodeCiphertext(p, DefaultLimits, noMod(b)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 1: err = %v", err)
	}
	var buf bytes.Buffer
	if err := WriteCompactCiphertextFile(&buf, p, []EncryptedVector{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCiphertextFile(bytes.NewReader(noMod(buf.Bytes())), p, DefaultLimits); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 2: err = %v", err)
	}
}

// TestKeyedCiphertextFile: a version-3 file carries the fingerprint of the
// keys it was made for, and ReadCiphertextFileFor refuses other keys of the
// same parameters (issue 12, item 14).
func TestKeyedCiphertextFile(t *testing.T) {
	p, err := PresetByName("n12")
	if err != nil {
		t.Fatal(err)
	}
	mine, err := GenerateKeys(p, KeySpec{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKeys(p, KeySpec{})
	if err != nil {
		t.Fatal(err)
	}
	if mine.Fingerprint() == other.Fingerprint() || mine.Fingerprint() == ([FingerprintSize]byte{}) {
		t.Fatal("fingerprints do not tell key material apart")
	}
	v, err := NewClient(mine).EncryptSeeded([]float64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteKeyedCiphertextFile(&buf, mine, []EncryptedVector{v}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCiphertextFileFor(bytes.NewReader(buf.Bytes()), mine, DefaultLimits); err != nil {
		t.Fatalf("the keys it was made for: %v", err)
	}
	if _, err := ReadCiphertextFileFor(bytes.NewReader(buf.Bytes()), other, DefaultLimits); !errors.Is(err, ErrWrongKeys) {
		t.Fatalf("other keys: %v", err)
	}
	if got, err := ReadCiphertextFile(bytes.NewReader(buf.Bytes()), p, DefaultLimits); err != nil || len(got) != 1 {
		t.Fatalf("read without a key check: %d, %v", len(got), err)
	}
	// Files of versions 1 and 2 carry no fingerprint and read with any keys.
	buf.Reset()
	if err := WriteCompactCiphertextFile(&buf, p, []EncryptedVector{v}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCiphertextFileFor(&buf, other, DefaultLimits); err != nil {
		t.Fatalf("version 2 with other keys: %v", err)
	}
}

// TestSeedSeal: a fresh seeded vector carries a seal that checkSeed accepts
// without expanding the seed; a change to its c1 (in place or on a copy),
// or its seed is caught as ErrSeedMismatch by the expansion the broken
// seal falls back to, and an unsealed vector (as read from a file)
// is still checked by expansion, both ways.
func TestSeedSeal(t *testing.T) {
	p := mustPreset(t, "n12")
	c := NewClient(mustKeys(t, p, KeySpec{}))
	fresh := func() EncryptedVector {
		t.Helper()
		ev, err := c.EncryptSeededAt([]float64{1, -2, 3}, p.MaxLevel(), math.Exp2(30))
		if err != nil {
			t.Fatal(err)
		}
		if ev.seal == 0 || ev.seal != sealOf(ev.SeedPRNG, ev.Seed, ev.Ciphertext.Value[1], ev.Ciphertext.Level()) {
			t.Fatalf("fresh vector: seal %#x", ev.seal)
		}
		return ev
	}
	if err := checkSeed(p, fresh()); err != nil {
		t.Fatalf("fresh vector: %v", err)
	}
	unsealed := fresh()
	unsealed.seal = 0
	if err := checkSeed(p, unsealed); err != nil {
		t.Fatalf("unsealed valid vector: %v", err)
	}
	// A level dropped breaks the seal; the expansion at the lower level is
	// the truncation of the expansion at the top, so the vector is valid.
	dropped := fresh()
	dropped.Ciphertext.Resize(1, p.MaxLevel()-1)
	if sealOf(dropped.SeedPRNG, dropped.Seed, dropped.Ciphertext.Value[1], dropped.Ciphertext.Level()) == dropped.seal {
		t.Fatal("level dropped: seal still matches")
	}
	if err := checkSeed(p, dropped); err != nil {
		t.Fatalf("level dropped: %v", err)
	}
	for name, change := range map[string]func(*EncryptedVector){
		"c1 in place": func(ev *EncryptedVector) { ev.Ciphertext.Value[1].Coeffs[1][7] ^= 1 },
		"c1 copied": func(ev *EncryptedVector) {
			ev.Ciphertext = ev.Ciphertext.CopyNew()
			ev.Ciphertext.Value[1].Coeffs[0][p.N()-1]++
		},
		"seed":     func(ev *EncryptedVector) { ev.Seed[SeedSize-1] ^= 0x80 },
		"unsealed": func(ev *EncryptedVector) { ev.seal = 0; ev.Ciphertext.Value[1].Coeffs[0][0] ^= 2 },
	} {
		ev := fresh()
		change(&ev)
		if err := checkSeed(p, ev); !errors.Is(err, ErrSeedMismatch) {
			t.Errorf("%s: err = %v, want ErrSeedMismatch", name, err)
		}
	}
}

// TestUnpackLimbWidths: unpackLimb reads what unpackLimbStream reads, and
// what packLimb wrote, at every width from 1 to 63 bits, including the
// last coefficients of a limb and a coefficient not below q.
func TestUnpackLimbWidths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for w := uint(1); w < 64; w++ {
		q := uint64(1)<<w - rng.Uint64N(uint64(1)<<(w-1)) // bitlen(q − 1) = w
		if w == 1 {
			q = 2
		}
		for _, n := range []int{8, 24, 1024} {
			coeffs := make([]uint64, n)
			for i := range coeffs {
				coeffs[i] = rng.Uint64N(q)
			}
			coeffs[n-1] = q - 1
			if n > 8 {
				coeffs[n-3] = 1<<w - 1 // not below q (unless q = 2^w)
			}
			if n == 1024 && w > 1 {
				coeffs[100] = 1<<w - 1 // earlier, among the whole groups of eight
			}
			b := make([]byte, packedLimbBytes(q, n))
			packLimb(b, coeffs, w)
			got, want := make([]uint64, n), make([]uint64, n)
			j, k := unpackLimb(got, b, q), unpackLimbStream(want, b, q)
			if j != k || !slices.Equal(got, want) || !slices.Equal(got, coeffs) {
				t.Fatalf("w=%d n=%d: first bad %d (stream %d); equal to the stream's %v, to what was packed %v",
					w, n, j, k, slices.Equal(got, want), slices.Equal(got, coeffs))
			}
		}
	}
}

// TestReadUniformIsLattigos: readUniform gives what a fresh lattigo
// ring.UniformSampler gives on the same PRNG, at ring degrees below and
// above the sampler's 1024-byte buffer, at every level, for both seed PRNGs,
// and leaves the PRNG where lattigo's sampler leaves it.
func TestReadUniformIsLattigos(t *testing.T) {
	params := []Parameters{tinyParamsForTesting(t), mustPreset(t, "n12")}
	if !testing.Short() {
		params = append(params, mustPreset(t, "n13"))
	}
	for _, p := range params {
		for _, kind := range []SeedPRNG{SeedAESCTR, SeedBlake2b} {
			for level := range p.MaxLevel() + 1 {
				for s := range 3 {
					seed := bytes.Repeat([]byte{byte(s + 1)}, SeedSize)
					ours, _ := seedPRNG(kind, seed, CTRIVCiphertext)
					theirs, _ := seedPRNG(kind, seed, CTRIVCiphertext)
					got := p.RingQ().AtLevel(level).NewPoly()
					want := p.RingQ().AtLevel(level).NewPoly()
					readUniform(ours, p.Q()[:level+1], p.N(), got)
					ring.NewUniformSampler(theirs, p.RingQ().AtLevel(level)).Read(want)
					if !got.Equal(&want) {
						t.Fatalf("%s, %v, level %d, seed %d: readUniform differs from lattigo's sampler", p.Name(), kind, level, s)
					}
					var a, b [16]byte
					ours.Read(a[:])
					theirs.Read(b[:])
					if a != b {
						t.Fatalf("%s, %v, level %d: the PRNGs are left at different places", p.Name(), kind, level)
					}
				}
			}
		}
	}
}
