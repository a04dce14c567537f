package he

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{3})})
	var buf bytes.Buffer
	if err := WriteKeyFile(&buf, km, false); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeyFile(bytes.NewReader(buf.Bytes()), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Params.Equal(p) || got.Params.Name() != "n12" || !got.SecretKey.Equal(km.SecretKey) ||
		!got.PublicKey.Equal(km.PublicKey) || got.Evaluation.ID() != km.Evaluation.ID() {
		t.Fatal("key file round trip changed the key material")
	}
	var pub bytes.Buffer
	if err := WriteKeyFile(&pub, km, true); err != nil {
		t.Fatal(err)
	}
	gotPub, err := ReadKeyFile(&pub, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if gotPub.SecretKey != nil || gotPub.PublicKey == nil {
		t.Fatal("public bundle carries a secret key or lost the public key")
	}

	b := buf.Bytes()
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"magic":          append([]byte("NOTAKEYS"), b[8:]...),
		"version":        append(append([]byte("AIOSKEYS"), 9, 0), b[10:]...),
		"truncated":      b[:len(b)-10],
		"no params":      append(append([]byte{}, b[:10]...), 2),
		"huge section":   append(append([]byte{}, b[:10]...), 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"trailing tag":   append(bytes.Clone(b), 9),
		"repeated param": append(bytes.Clone(b), b[10:11]...),
	} {
		if _, err := ReadKeyFile(bytes.NewReader(bad), DefaultLimits); !errors.Is(err, ErrFileFormat) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestCiphertextFileRoundTrip(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{})
	c := NewClient(km)
	in := [][]float64{{1, 2, 3}, {-4.5}}
	var cts []EncryptedVector
	for _, v := range in {
		ct, err := c.Encrypt(v)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, EncryptedVector{Values: len(v), Ciphertext: ct})
	}
	var buf bytes.Buffer
	if err := WriteCiphertextFile(&buf, p, cts); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCiphertextFile(bytes.NewReader(buf.Bytes()), p, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got {
		out, err := c.Decrypt(ev.Ciphertext, ev.Values)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(in[i]) || maxAbsDiff(out, in[i]) > 1e-6 {
			t.Fatalf("vector %d: %v, want %v", i, out, in[i])
		}
	}
	other := mustPreset(t, "n13")
	if _, err := ReadCiphertextFile(bytes.NewReader(buf.Bytes()), other, DefaultLimits); !errors.Is(err, ErrParamsMismatch) {
		t.Fatalf("other parameters: err = %v", err)
	}
	b := buf.Bytes()
	if _, err := ReadCiphertextFile(bytes.NewReader(b[:len(b)-1]), p, DefaultLimits); err == nil {
		t.Fatal("truncated file accepted")
	}
	if _, err := ReadCiphertextFile(bytes.NewReader(append(bytes.Clone(b), 0)), p, DefaultLimits); !errors.Is(err, ErrFileFormat) {
		t.Fatalf("trailing byte: err = %v", err)
	}
}

func FuzzReadKeyFile(f *testing.F) {
	p := tinyParamsForTesting(f)
	km := mustKeys(f, p, KeySpec{Relinearization: true})
	var buf bytes.Buffer
	// A key file names its parameters, which must be secure: fuzz the
	// framing with a real preset's parameters section and tiny bodies.
	if err := WriteKeyFile(&buf, km, false); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	n12 := mustPreset(f, "n12")
	js, _ := n12.MarshalJSON()
	head := append([]byte("AIOSKEYS\x01\x00\x01"), le64(len(js))...)
	f.Add(append(head, js...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadKeyFile(bytes.NewReader(b), DefaultLimits)
	})
}

func FuzzReadCiphertextFile(f *testing.F) {
	p := tinyParamsForTesting(f)
	km := mustKeys(f, p, KeySpec{})
	ct, err := NewClient(km).Encrypt([]float64{1})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCiphertextFile(&buf, p, []EncryptedVector{{Values: 1, Ciphertext: ct}}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		// Scanning accepts exactly the files that reading does.
		got, rerr := ReadCiphertextFile(bytes.NewReader(b), p, DefaultLimits)
		n := 0
		serr := ScanCiphertextFile(bytes.NewReader(b), p, DefaultLimits, func(EncryptedVector) error { n++; return nil })
		if (rerr == nil) != (serr == nil) || (rerr == nil && n != len(got)) {
			t.Fatalf("read: %d, %v; scan: %d, %v", len(got), rerr, n, serr)
		}
		checkAnnouncedCount(t, b, got, rerr)
		checkReadAgain(t, p, b, got, rerr)
	})
}

func le64(n int) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	return b
}

// TestKeyFileClaimsHugeSection: a key file announcing an evaluation key set
// of gigabytes but holding a few bytes fails as truncated, without
// allocating what it announced.
func TestKeyFileClaimsHugeSection(t *testing.T) {
	p := mustPreset(t, "n15")
	js, _ := p.MarshalJSON()
	var b bytes.Buffer
	b.WriteString("AIOSKEYS\x01\x00\x01")
	b.Write(le64(len(js)))
	b.Write(js)
	b.WriteByte(4)
	b.Write(le64(MaxEvaluationKeySetBytes(p, DefaultLimits)))
	b.WriteString("short")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadKeyFile(&b, DefaultLimits)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFileFormat) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("allocated %d MiB for a file of a few kilobytes", grew>>20)
	}
}
