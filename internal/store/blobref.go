package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// A blob is shared by the rows that name it (two clients' rows for one key
// set, two jobs with the same input), and those rows may be added and
// removed concurrently, through different replicas: one client uploads a
// key set while another, the last holder of the same set, deletes it. A
// row that is added after its blob was stored but before the last other
// holder's delete removes that blob would name a missing blob.
// [Blobs.Reference] and [Blobs.Unreference] exclude that: both run in a
// transaction serialized per blob ([DB.BeginSerial]), Reference checks
// that the blob is stored before it adds its row (storing it again if an
// Unreference removed it since), and Unreference counts the rows left and
// removes the blob when there are none, so that the count and the removal
// see every row added before and no row is added in between.

func blobLock(id string) string { return "blob/" + id }

// Reference stores data (once for its bytes, as Put) and runs add — which
// records a row that names the blob, in tx — in a transaction serialized
// with every Unreference of the same blob, after checking there that the
// blob is still stored (storing it again there if an Unreference removed
// it since the Put). It returns the blob's ID.
func (b *Blobs) Reference(ctx context.Context, db *DB, data []byte, add func(tx *sql.Tx, id string) error) (string, error) {
	// Stored first outside the lock, which is then held only for a check
	// (and the rare second copy).
	id, err := b.Put(data)
	if err != nil {
		return "", err
	}
	tx, err := db.BeginSerial(ctx, blobLock(id))
	if err != nil {
		return "", err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	ok, err := b.stored(ctx, tx, id)
	if err != nil {
		return "", err
	}
	switch {
	case ok:
	case b.db != nil:
		if _, err := putRowsIn(ctx, tx, id, int64(len(data)), bytes.NewReader(data)); err != nil {
			return "", err
		}
	default:
		// A file: no Unreference removes it while tx holds the lock.
		if _, err := b.Put(data); err != nil {
			return "", err
		}
	}
	if err := add(tx, id); err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: blob reference: %w", err)
	}
	return id, nil
}

// ReferenceStored is [Blobs.Reference] for a blob already stored (a
// staged one, committed): it runs add in a transaction serialized with
// every Unreference of blob id, after checking there that the blob is
// still stored, and fails with ErrBlobNotFound when an Unreference removed
// it since it was stored (its bytes are not at hand to store it again).
func (b *Blobs) ReferenceStored(ctx context.Context, db *DB, id string, add func(tx *sql.Tx) error) error {
	tx, err := db.BeginSerial(ctx, blobLock(id))
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	ok, err := b.stored(ctx, tx, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s (removed after it was stored)", ErrBlobNotFound, id)
	}
	if err := add(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: blob reference: %w", err)
	}
	return nil
}

// Unreference is what follows the removal of a row that named blob id: in
// a transaction serialized with every Reference of the same blob, count
// returns the rows that still name it, and the blob is removed when none
// does. It reports whether it was.
func (b *Blobs) Unreference(ctx context.Context, db *DB, id string, count func(tx *sql.Tx) (int, error)) (bool, error) {
	p, err := b.path(id)
	if err != nil {
		return false, err
	}
	tx, err := db.BeginSerial(ctx, blobLock(id))
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	n, err := count(tx)
	if err != nil || n > 0 {
		return false, err
	}
	removed := true
	if b.db != nil {
		// In the transaction: the rows go when it commits.
		if removed, err = deleteRowsIn(ctx, tx, id); err != nil {
			return false, err
		}
	} else if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		// The file goes while the transaction holds the lock (it wrote
		// nothing: a failed commit loses nothing).
		return false, fmt.Errorf("store: blob: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: blob: %w", err)
	}
	return removed, nil
}

// stored reports whether blob id is stored, reading the database store's
// rows through tx.
func (b *Blobs) stored(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	p, err := b.path(id)
	if err != nil {
		return false, err
	}
	if b.db != nil {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM store_blobs WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("store: blob: %w", err)
		}
		return true, nil
	}
	_, err = os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: blob: %w", err)
	}
	return true, nil
}
