package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestBlobs: a blob written whole or staged piece by piece gets the same
// content ID; an aborted one leaves nothing; reading checks the hash.
func TestBlobs(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("ciphertext "), 10000)
	id, err := b.Put(data)
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Stage()
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; rest = rest[min(4096, len(rest)):] {
		if _, err := w.Write(rest[:min(4096, len(rest))]); err != nil {
			t.Fatal(err)
		}
	}
	if w.Size() != int64(len(data)) {
		t.Errorf("staged %d bytes, wrote %d", w.Size(), len(data))
	}
	if id2, err := w.Commit(); err != nil || id2 != id {
		t.Fatalf("staged blob %s (%v), put %s", id2, err, id)
	}
	w, _ = b.Stage()
	w.Write([]byte("dropped"))
	w.Abort()
	if left, _ := filepath.Glob(filepath.Join(dir, "blobs", "staging", "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	r, err := b.Open(id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
	if _, err := b.Open(id, int64(len(data))-1); !errors.Is(err, ErrBlobTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := b.Open(string(bytes.Repeat([]byte("0"), 64)), 1<<20); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("unknown blob: %v", err)
	}

	// One flipped byte on disk: Get and Open both refuse it.
	p, _ := b.path(id)
	raw, _ := os.ReadFile(p)
	raw[100] ^= 1
	os.WriteFile(p, raw, 0o600)
	if _, err := b.Get(id, 1<<20); err == nil {
		t.Error("Get returned a corrupt blob")
	}
	r, _ = b.Open(id, 1<<20)
	if _, err := io.ReadAll(r); err == nil {
		t.Error("Open read a corrupt blob to a clean end")
	}
	r.Close()
}
