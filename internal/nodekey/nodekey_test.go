package nodekey

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGenerateSignVerify(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	k, err := Generate(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	// Interoperability: the same seed gives the same key and signatures as
	// crypto/ed25519 (RFC 8032).
	std := ed25519.NewKeyFromSeed(seed)
	if pub := k.Public(); !bytes.Equal(pub[:], std.Public().(ed25519.PublicKey)) {
		t.Fatal("public key differs from crypto/ed25519")
	}
	msg := []byte("checkpoint")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig, ed25519.Sign(std, msg)) {
		t.Error("signature differs from crypto/ed25519")
	}
	if err := k.Public().Verify(msg, sig); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(sig)
	bad[5] ^= 1
	if err := k.Public().Verify(msg, bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("flipped bit: %v", err)
	}
	if err := k.Public().Verify([]byte("other"), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other message: %v", err)
	}
	if err := k.Public().Verify(msg, sig[:10]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("short signature: %v", err)
	}
	p, err := ParsePublicKey(k.ID())
	if err != nil || p != k.Public() {
		t.Fatalf("ParsePublicKey(ID) = %v, %v", p, err)
	}
	// The identity point (small order) encodes as 01 00…00.
	for _, s := range []string{"", "zz", strings.Repeat("g", 64), k.ID()[:62], "01" + strings.Repeat("0", 62), strings.Repeat("f", 64)} {
		if _, err := ParsePublicKey(s); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("ParsePublicKey(%q) = %v", s, err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID() != k2.ID() {
		t.Error("second LoadOrCreate made a new key")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrInsecurePermissions) {
		t.Errorf("world-readable key: %v, want ErrInsecurePermissions", err)
	}
}

func TestLoadOrCreateRace(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreate(dir, nil)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatal("concurrent creators ended with different keys")
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the key file", len(entries))
	}
}

func TestParseRejects(t *testing.T) {
	k, _ := Generate(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	good := k.Marshal()
	if len(good) != 82 {
		t.Fatalf("marshalled key is %d bytes, documented 82", len(good))
	}
	if k2, err := Parse("k", good); err != nil || k2.ID() != k.ID() {
		t.Fatalf("round trip: %v", err)
	}
	cases := map[string][]byte{
		"empty":        nil,
		"huge":         bytes.Repeat([]byte{'a'}, MaxFileSize+1),
		"header":       bytes.Replace(good, []byte("v1"), []byte("v2"), 1),
		"upper hex":    bytes.ToUpper(good),
		"no newline":   append(bytes.Clone(good[:81]), ' '),
		"crlf":         append(bytes.Clone(good[:81]), '\r', '\n'),
		"non hex":      append(append([]byte(header+"\n"), bytes.Repeat([]byte{'x'}, 64)...), '\n'),
		"trailing":     append(bytes.Clone(good), '\n'),
		"short seed":   append([]byte(header+"\n"), good[17:79]...),
		"seed and pub": append(append([]byte(header+"\n"), bytes.Repeat([]byte{'a'}, 128)...), '\n'),
	}
	for name, data := range cases {
		_, err := Parse("k", data)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want *FormatError", name, err)
			continue
		}
		if strings.Contains(err.Error(), string(good[17:81])) {
			t.Errorf("%s: error leaks the seed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	k, _ := Generate(bytes.NewReader(bytes.Repeat([]byte{3}, 32)))
	f.Add(k.Marshal())
	f.Add([]byte(header + "\n"))
	f.Add([]byte{})
	f.Add(bytes.ToUpper(k.Marshal()))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		// Anything accepted re-encodes to exactly the input (one encoding per key).
		if !bytes.Equal(k.Marshal(), data) {
			t.Fatalf("accepted non-canonical key file %q", data)
		}
	})
}
