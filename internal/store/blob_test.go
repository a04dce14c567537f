package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aios-edge/aios/internal/store/storetest"
)

// TestBlobsInDatabase runs the chunked-row blob store on both backends: a
// blob of several chunks comes back whole, the limit and unknown IDs are
// errors, concurrent writers of the same bytes store it once, and a deleted
// blob leaves no chunk behind.
func TestBlobsInDatabase(t *testing.T) { storetest.Each(t, testBlobsInDatabase) }

func testBlobsInDatabase(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	db := openOn(t, loc)
	b, err := OpenBlobsIn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2*BlobChunkSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var wg sync.WaitGroup
	ids := make([]string, 4)
	errs := make([]error, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = b.Put(data)
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("Put %d: %q, %v", i, ids[i], errs[i])
		}
	}
	id := ids[0]
	// Staged piece by piece, the same blob and the same ID.
	w, err := b.Stage()
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; rest = rest[min(70000, len(rest)):] {
		w.Write(rest[:min(70000, len(rest))])
	}
	if sid, err := w.Commit(); err != nil || sid != id {
		t.Fatalf("staged: %q, %v; put %q", sid, err, id)
	}
	if r, err := b.Open(id, int64(len(data))); err != nil {
		t.Fatal(err)
	} else if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open: %d bytes, %v", len(got), err)
	} else if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Read in small pieces, a chunk row at a time.
	if r, err := b.Open(id, int64(len(data))); err != nil {
		t.Fatal(err)
	} else {
		var got bytes.Buffer
		if _, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, 1000)); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("Open in pieces: %d bytes, %v", got.Len(), err)
		}
		r.Close()
	}
	if _, err := b.Open(id, int64(len(data))-1); !errors.Is(err, ErrBlobTooLarge) {
		t.Errorf("Open over the limit: %v", err)
	}
	var chunks int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM store_blob_chunks WHERE id = ?`, id).Scan(&chunks); err != nil || chunks != 3 {
		t.Errorf("%d chunks (%v), want 3", chunks, err)
	}
	got, err := b.Get(id, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %d bytes, %v", len(got), err)
	}
	if _, err := b.Get(id, int64(len(data)-1)); !errors.Is(err, ErrBlobTooLarge) {
		t.Errorf("Get over the limit: %v", err)
	}
	empty, err := b.Put(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(empty, 0); err != nil || len(got) != 0 {
		t.Errorf("empty blob: %d bytes, %v", len(got), err)
	}
	if r, err := b.Open(empty, 0); err != nil {
		t.Errorf("Open of the empty blob: %v", err)
	} else if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
		t.Errorf("Open of the empty blob: %d bytes, %v", len(got), err)
	} else {
		r.Close()
	}
	if _, err := db.SQL().ExecContext(ctx, `UPDATE store_blob_chunks SET data = ? WHERE id = ? AND n = 1`, []byte("tampered"), id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(id, int64(len(data))); err == nil {
		t.Error("tampered blob read back")
	}
	if r, err := b.Open(id, int64(len(data))); err != nil {
		t.Fatal(err)
	} else {
		if _, err := io.ReadAll(r); err == nil {
			t.Error("Open read a tampered blob to a clean end")
		}
		r.Close()
	}
	// A reader opened before the blob's removal reads it whole: it reads
	// one snapshot.
	before, err := b.Open(empty, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(empty); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(before); err != nil || len(got) != 0 {
		t.Errorf("reader opened before the delete: %d bytes, %v", len(got), err)
	}
	before.Close()
	if err := b.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(id, int64(len(data))); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("deleted blob: %v", err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM store_blob_chunks WHERE id = ?`, id).Scan(&chunks); err != nil || chunks != 0 {
		t.Errorf("%d chunks left after Delete (%v)", chunks, err)
	}
	if err := b.Delete(id); err != nil {
		t.Errorf("deleting a missing blob: %v", err)
	}
	if _, err := b.Get("not-an-id", 10); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("malformed id: %v", err)
	}
}

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
