package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aios-edge/aios/internal/store/storetest"
)

// TestBlobReferences: holders of one blob add and drop their rows
// concurrently (Reference, then a delete of the row and Unreference);
// after every drop, a blob still named by a row is stored, and the last
// drop removes it. Files on SQLite, rows on PostgreSQL.
func TestBlobReferences(t *testing.T) {
	storetest.Each(t, func(t *testing.T, loc storetest.DB) {
		ctx := context.Background()
		db := openOn(t, loc)
		var b *Blobs
		var err error
		if loc.URL == "" {
			b, err = OpenBlobs(loc.Dir)
		} else {
			b, err = OpenBlobsIn(ctx, db)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE holders (holder TEXT PRIMARY KEY, blob TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		data := []byte("shared by every holder")
		id := blobID(data)
		count := func(tx *sql.Tx) (int, error) {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM holders WHERE blob = ?`, id).Scan(&n)
			return n, err
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for h := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holder := fmt.Sprint(h)
				for range 20 {
					if _, err := b.Reference(ctx, db, data, func(tx *sql.Tx, id string) error {
						_, err := tx.ExecContext(ctx, `INSERT INTO holders (holder, blob) VALUES (?, ?)`, holder, id)
						return err
					}); err != nil {
						errs <- err
						return
					}
					if _, err := b.Get(id, 1<<10); err != nil {
						errs <- fmt.Errorf("holder %s holds the blob: %w", holder, err)
						return
					}
					if _, err := db.SQL().ExecContext(ctx, `DELETE FROM holders WHERE holder = ?`, holder); err != nil {
						errs <- err
						return
					}
					if _, err := b.Unreference(ctx, db, id, count); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := b.Get(id, 1<<10); !errors.Is(err, ErrBlobNotFound) {
			t.Fatalf("after the last holder dropped it: %v", err)
		}
		// One holder left: the blob stays.
		for _, holder := range []string{"x", "y"} {
			if _, err := b.Reference(ctx, db, data, func(tx *sql.Tx, id string) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO holders (holder, blob) VALUES (?, ?)`, holder, id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		db.SQL().ExecContext(ctx, `DELETE FROM holders WHERE holder = 'x'`)
		if removed, err := b.Unreference(ctx, db, id, count); err != nil || removed {
			t.Fatalf("with y still holding it: removed %v, %v", removed, err)
		}
		if _, err := b.Get(id, 1<<10); err != nil {
			t.Fatalf("y's blob: %v", err)
		}
		// ReferenceStored: a stored blob takes the row; once the last
		// holder's Unreference removed it, it refuses, and adds nothing.
		addZ := func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO holders (holder, blob) VALUES ('z', ?)`, id)
			return err
		}
		if err := b.ReferenceStored(ctx, db, id, addZ); err != nil {
			t.Fatal(err)
		}
		db.SQL().ExecContext(ctx, `DELETE FROM holders`)
		if removed, err := b.Unreference(ctx, db, id, count); err != nil || !removed {
			t.Fatalf("with no holder left: removed %v, %v", removed, err)
		}
		if err := b.ReferenceStored(ctx, db, id, addZ); !errors.Is(err, ErrBlobNotFound) {
			t.Fatalf("a removed blob referenced: %v", err)
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM holders`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d rows name the removed blob (%v)", n, err)
		}
	})
}
