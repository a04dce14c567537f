package store

import (
	"bytes"
	"context"
	"errors"
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
	if _, err := db.SQL().ExecContext(ctx, `UPDATE store_blob_chunks SET data = ? WHERE id = ? AND n = 1`, []byte("tampered"), id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(id, int64(len(data))); err == nil {
		t.Error("tampered blob read back")
	}
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
