package he

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// tinyParamsForTesting is a toy set at N = 2^4, far below any security
// level, built without the security check: it keeps fuzz inputs a few hundred
// bytes long (the fuzzer crawls on inputs of tens of kilobytes) while
// exercising every decoder path with two Q limbs and one P limb.
func tinyParamsForTesting(t testing.TB) Parameters {
	t.Helper()
	cp, err := ckks.NewParametersFromLiteral(ckks.ParametersLiteral{LogN: 4, LogQ: []int{30, 25}, LogP: []int{30}, LogDefaultScale: 20})
	if err != nil {
		t.Fatal(err)
	}
	js, err := cp.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(js)
	return Parameters{Parameters: cp, name: "tiny-insecure", id: hex.EncodeToString(sum[:])}
}

type encodings struct {
	ct, ct2, evk, pk, sk []byte
}

func encodeAll(t testing.TB, km *KeyMaterial) encodings {
	t.Helper()
	c := NewClient(km)
	ct, err := c.Encrypt([]float64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	ev := ckks.NewEvaluator(km.Params.Parameters, nil)
	ct2, err := ev.MulNew(ct, ct) // degree 2, no relinearization
	if err != nil {
		t.Fatal(err)
	}
	var e encodings
	for dst, m := range map[*[]byte]interface{ MarshalBinary() ([]byte, error) }{
		&e.ct: ct, &e.ct2: ct2, &e.evk: km.Evaluation.Keys, &e.pk: km.PublicKey, &e.sk: km.SecretKey,
	} {
		if *dst, err = m.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestDecodersAcceptValid(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1, 2, -1})})
	e := encodeAll(t, km)
	ct, err := DecodeCiphertext(p, DefaultLimits, e.ct)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ct.MarshalBinary(); !bytes.Equal(again, e.ct) {
		t.Fatal("ciphertext does not re-encode to the same bytes")
	}
	if _, err := DecodeCiphertext(p, DefaultLimits, e.ct2); err != nil {
		t.Fatalf("degree-2 ciphertext: %v", err)
	}
	if _, err := DecodeCiphertext(p, Limits{MaxCiphertextDegree: 1, MaxGaloisKeys: 1}, e.ct2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("degree-2 ciphertext under a degree-1 limit: %v", err)
	}
	evk, err := ParseEvaluationKeySet(p, DefaultLimits, e.evk)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(e.evk)
	if evk.ID() != hex.EncodeToString(sum[:]) || evk.ID() != km.Evaluation.ID() {
		t.Fatalf("ID %s, want SHA-256 of the bytes", evk.ID())
	}
	if again, _ := evk.MarshalBinary(); !bytes.Equal(again, e.evk) {
		t.Fatal("evaluation keys do not re-encode to the same bytes")
	}
	if ok, missing := evk.Covers(KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{2})}); !ok {
		t.Fatalf("does not cover rotation 2: missing %v", missing)
	}
	if ok, missing := evk.Covers(KeySpec{GaloisElements: GaloisElementsForRotations(p, []int{4})}); ok || len(missing) != 1 {
		t.Fatalf("claims to cover rotation 4 (missing %v)", missing)
	}
	if _, err := DecodePublicKey(p, e.pk); err != nil {
		t.Fatal(err)
	}
	sk, err := DecodeSecretKey(p, e.sk)
	if err != nil {
		t.Fatal(err)
	}
	if !sk.Equal(km.SecretKey) {
		t.Fatal("secret key changed in the round trip")
	}
}

func TestDecodersRefuse(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1})})
	e := encodeAll(t, km)
	other := mustPreset(t, "n13")
	kmOther := mustKeys(t, other, KeySpec{Relinearization: true})
	eo := encodeAll(t, kmOther)

	flip := func(b []byte, at int, v uint64) []byte {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint64(c[at:], v)
		return c
	}
	// Offset of the first coefficient of the ciphertext: flag, metadata,
	// polynomial count, limb count, degree.
	firstCoeff := 1 + metaDataSize + 8 + 8 + 8
	ctLevel0, _ := DecodeCiphertext(p, DefaultLimits, e.ct)
	ev := ckks.NewEvaluator(p.Parameters, nil)
	ev.DropLevel(ctLevel0, 1)
	low, _ := ctLevel0.MarshalBinary()

	cases := []struct {
		name   string
		decode func([]byte) error
		b      []byte
		want   error
	}{
		{"ct other params", ctDecoder(p), eo.ct, ErrTooLarge},
		{"ct n12 under n13", ctDecoder(other), e.ct, ErrParamsMismatch},
		{"ct coefficient ≥ q", ctDecoder(p), flip(e.ct, firstCoeff, p.Q()[0]), ErrMalformed},
		{"ct coefficient max", ctDecoder(p), flip(e.ct, firstCoeff+8*100, ^uint64(0)), ErrMalformed},
		{"ct truncated", ctDecoder(p), e.ct[:len(e.ct)-1], ErrMalformed},
		{"ct trailing", ctDecoder(p), append(bytes.Clone(e.ct), 0), ErrMalformed},
		{"ct empty", ctDecoder(p), nil, ErrMalformed},
		{"ct huge count", ctDecoder(p), flip(e.ct, 1+metaDataSize, 1<<40), ErrMalformed},
		{"ct degree 0", ctDecoder(p), flip(e.ct, 1+metaDataSize, 1), ErrMalformed},
		{"ct too many limbs", ctDecoder(p), flip(e.ct, 1+metaDataSize+8, 3), ErrParamsMismatch},
		{"ct wrong degree N", ctDecoder(p), flip(e.ct, 1+metaDataSize+16, 2048), ErrParamsMismatch},
		{"ct no metadata", ctDecoder(p), append([]byte{0}, e.ct[1+metaDataSize:]...), ErrMalformed},
		{"ct bad flag", ctDecoder(p), append([]byte{7}, e.ct[1:]...), ErrMalformed},
		{"evk other params", evkDecoder(p), eo.evk, ErrParamsMismatch},
		{"evk n12 under n13", evkDecoder(other), e.evk, ErrParamsMismatch},
		{"evk truncated", evkDecoder(p), e.evk[:len(e.evk)/2], ErrMalformed},
		{"evk base-two decomposition", evkDecoder(p), flip(e.evk, 1, 5), ErrParamsMismatch},
		{"pk under n13", func(b []byte) error { _, err := DecodePublicKey(other, b); return err }, e.pk, ErrParamsMismatch},
		{"sk truncated", func(b []byte) error { _, err := DecodeSecretKey(p, b); return err }, e.sk[:100], ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.decode(c.b)
			var de *DecodeError
			if !errors.Is(err, c.want) || !errors.As(err, &de) {
				t.Fatalf("err = %v, want a DecodeError wrapping %v", err, c.want)
			}
		})
	}
	// A ciphertext at a lower level is valid: levels are read from the blob.
	if ct, err := DecodeCiphertext(p, DefaultLimits, low); err != nil || ct.Level() != 0 {
		t.Fatalf("level-0 ciphertext: %v", err)
	}
}

func ctDecoder(p Parameters) func([]byte) error {
	return func(b []byte) error { _, err := DecodeCiphertext(p, DefaultLimits, b); return err }
}

func evkDecoder(p Parameters) func([]byte) error {
	return func(b []byte) error { _, err := DecodeEvaluationKeySet(p, DefaultLimits, b); return err }
}

// The fuzz targets check that no input makes a decoder panic or accept
// something lattigo would then re-encode differently. Seeds are valid
// encodings at tiny parameters; run one with
//
//	go test ./he -run '^$' -fuzz FuzzDecodeCiphertext -fuzztime 60s

func fuzzSeeds(f *testing.F) (Parameters, encodings) {
	p := tinyParamsForTesting(f)
	km := mustKeys(f, p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1})})
	return p, encodeAll(f, km)
}

func reencodes(t *testing.T, in []byte, m interface{ MarshalBinary() ([]byte, error) }) {
	out, err := m.MarshalBinary()
	if err != nil || !bytes.Equal(in, out) {
		t.Fatalf("accepted input does not re-encode to itself (err %v)", err)
	}
}

func FuzzDecodeCiphertext(f *testing.F) {
	p, e := fuzzSeeds(f)
	f.Add(e.ct)
	f.Add(e.ct2)
	f.Add(e.ct[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		if ct, err := DecodeCiphertext(p, DefaultLimits, b); err == nil {
			reencodes(t, b, ct)
		}
	})
}

func FuzzDecodeEvaluationKeySet(f *testing.F) {
	p, e := fuzzSeeds(f)
	f.Add(e.evk)
	f.Add([]byte{0, 1, 0, 0, 0, 0})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if evk, err := DecodeEvaluationKeySet(p, DefaultLimits, b); err == nil {
			reencodes(t, b, evk)
		}
	})
}

func FuzzDecodePublicKey(f *testing.F) {
	p, e := fuzzSeeds(f)
	f.Add(e.pk)
	f.Fuzz(func(t *testing.T, b []byte) {
		if pk, err := DecodePublicKey(p, b); err == nil {
			reencodes(t, b, pk)
		}
	})
}

func FuzzDecodeSecretKey(f *testing.F) {
	p, e := fuzzSeeds(f)
	f.Add(e.sk)
	f.Fuzz(func(t *testing.T, b []byte) {
		if sk, err := DecodeSecretKey(p, b); err == nil {
			reencodes(t, b, sk)
		}
	})
}

func FuzzDecodeParameters(f *testing.F) {
	for _, name := range []string{"n12", "n13"} {
		b, _ := mustPreset(f, name).MarshalJSON()
		f.Add(b)
	}
	f.Add([]byte(`{"LogN":13,"Q":[1125899906826241],"P":[35184372121601],"LogDefaultScale":40}`))
	f.Add([]byte(`{"LogN":16,"Q":[3],"P":[5]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeParameters(b)
		if err != nil {
			return
		}
		if info := p.Info(); info.LogQP > info.MaxLogQP {
			t.Fatalf("accepted insecure parameters: %+v", info)
		}
	})
}
