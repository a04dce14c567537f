package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// ErrBlobNotFound is returned for an unknown blob ID.
var ErrBlobNotFound = errors.New("store: blob not found")

// ErrBlobTooLarge is returned when a blob exceeds the caller's limit.
var ErrBlobTooLarge = errors.New("store: blob too large")

// Blobs is a content-addressed store of large objects: a blob's ID is the
// hex SHA-256 of its bytes.
//
// A node on SQLite keeps its blobs as files ([OpenBlobs]), at
// DIR/blobs/ab/cdef…; writes go to a temporary file that is synced and
// renamed into place, so a reader never sees a half-written blob, even after
// a crash.
//
// A node whose replicas share a PostgreSQL database keeps them in it
// ([OpenBlobsIn]), so that a key set or job input uploaded through one
// replica is read through any other: one row per blob in store_blobs and its
// bytes in rows of at most [BlobChunkSize] bytes in store_blob_chunks,
// written in one transaction (a reader sees a blob whole or not at all).
// Chunked rows rather than one bytea value or a large object: a bytea value
// travels whole in one protocol message and is capped at 1 GB, which job
// inputs reach, while a chunk bounds what one message and the server hold;
// large objects live outside the tables (a deleted row leaves its object
// behind until lo_unlink), need their own privileges and exist on
// PostgreSQL alone, whereas chunked rows are plain rows that migrations,
// backups and DELETE treat like any other.
type Blobs struct {
	dir string
	db  *DB // blobs in the database when set
}

// BlobChunkSize is the size of the rows that hold a blob in the database.
const BlobChunkSize = 1 << 20

// blobTimeout bounds one blob operation on the database (Blobs' methods
// take no context).
const blobTimeout = 10 * time.Minute

func blobMigrations() []Migration {
	return []Migration{{Version: 1, Name: "blobs", SQL: `
CREATE TABLE store_blobs (
	id         TEXT    PRIMARY KEY,
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE store_blob_chunks (
	id   TEXT    NOT NULL REFERENCES store_blobs (id),
	n    INTEGER NOT NULL,
	data BLOB    NOT NULL,
	PRIMARY KEY (id, n)
);`}}
}

// OpenBlobsIn opens the blob store in db, applying its migrations
// (component "blobs").
func OpenBlobsIn(ctx context.Context, db *DB) (*Blobs, error) {
	if err := db.Migrate(ctx, "blobs", blobMigrations()); err != nil {
		return nil, err
	}
	return &Blobs{db: db}, nil
}

func blobID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// putRows stores the size bytes that r yields as blob id, in chunks.
func (b *Blobs) putRows(id string, size int64, r io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	tx, err := b.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stored, err := putRowsIn(ctx, tx, id, size, r)
	if err != nil || !stored {
		return id, err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	return id, nil
}

// putRowsIn writes blob id's rows in tx; false: it was stored already.
func putRowsIn(ctx context.Context, tx *sql.Tx, id string, size int64, r io.Reader) (bool, error) {
	// The blob's row first: a concurrent Put of the same bytes waits on its
	// key and then finds it, and inserts nothing.
	res, err := tx.ExecContext(ctx, `INSERT INTO store_blobs (id, size, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		id, size, time.Now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("store: blob: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // stored already
	}
	chunk := make([]byte, BlobChunkSize)
	for n, left := 0, size; left > 0 || n == 0; n++ {
		c := chunk[:min(int64(BlobChunkSize), left)]
		if _, err := io.ReadFull(r, c); err != nil {
			return false, fmt.Errorf("store: blob: %w", err)
		}
		left -= int64(len(c))
		if _, err := tx.ExecContext(ctx, `INSERT INTO store_blob_chunks (id, n, data) VALUES (?, ?, ?)`, id, n, c); err != nil {
			return false, fmt.Errorf("store: blob: %w", err)
		}
	}
	return true, nil
}

func (b *Blobs) getRows(id string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	tx, err := b.db.BeginSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT size FROM store_blobs WHERE id = ?`, id).Scan(&size); errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, id)
	} else if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %s exceeds %d bytes", ErrBlobTooLarge, id, limit)
	}
	rows, err := tx.QueryContext(ctx, `SELECT data FROM store_blob_chunks WHERE id = ? ORDER BY n`, id)
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	defer rows.Close()
	data := make([]byte, 0, size)
	for rows.Next() {
		var chunk []byte
		if err := rows.Scan(&chunk); err != nil {
			return nil, fmt.Errorf("store: blob: %w", err)
		}
		if int64(len(data)+len(chunk)) > size {
			return nil, fmt.Errorf("store: blob %s is corrupt (longer than its size)", id)
		}
		data = append(data, chunk...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	if blobID(data) != id {
		return nil, fmt.Errorf("store: blob %s is corrupt (hash mismatch)", id)
	}
	return data, nil
}

func (b *Blobs) deleteRows(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	tx, err := b.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: blob: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := deleteRowsIn(ctx, tx, id); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: blob: %w", err)
	}
	return nil
}

// deleteRowsIn deletes blob id's rows in tx and reports whether its row
// went. The blob's row goes only if no chunk is left: a Put of the same
// bytes that committed between the two statements (after the chunks
// before it were deleted) leaves its blob whole rather than half deleted.
func deleteRowsIn(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM store_blob_chunks WHERE id = ?`, id); err != nil {
		return false, fmt.Errorf("store: blob: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM store_blobs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM store_blob_chunks WHERE id = ?)`, id, id)
	if err != nil {
		return false, fmt.Errorf("store: blob: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: blob: %w", err)
	}
	return n > 0, nil
}

var blobIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// OpenBlobs opens (creating) the blob store under dataDir.
func OpenBlobs(dataDir string) (*Blobs, error) {
	dir := filepath.Join(dataDir, "blobs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: blobs: %w", err)
	}
	// Leftovers of writes interrupted by a crash.
	tmps, _ := filepath.Glob(filepath.Join(dir, "*", ".tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
	return &Blobs{dir: dir}, nil
}

func (b *Blobs) path(id string) (string, error) {
	if !blobIDRE.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not a blob ID", ErrBlobNotFound, id)
	}
	return filepath.Join(b.dir, id[:2], id[2:]), nil
}

// Put stores data and returns its ID.
func (b *Blobs) Put(data []byte) (string, error) {
	if b.db != nil {
		return b.putRows(blobID(data), int64(len(data)), bytes.NewReader(data))
	}
	w, err := b.Stage()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return "", err
	}
	return w.Commit()
}

// Stage starts a blob whose bytes are written as they come (a large
// upload goes to disk, not to memory); nothing is stored until Commit. A
// blob store in the database stages in the system's temporary directory
// and copies the file into its rows, chunk by chunk, on Commit.
func (b *Blobs) Stage() (*StagedBlob, error) {
	dir := "" // os.TempDir
	if b.db == nil {
		dir = filepath.Join(b.dir, "staging")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: blob: %w", err)
		}
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	return &StagedBlob{b: b, tmp: tmp, hash: sha256.New()}, nil
}

// StagedBlob is a blob being written: [Blobs.Stage]. Exactly one of Commit
// and Abort must be called.
type StagedBlob struct {
	b    *Blobs
	tmp  *os.File
	hash hash.Hash
	n    int64
}

// Write appends p to the blob.
func (w *StagedBlob) Write(p []byte) (int, error) {
	n, err := w.tmp.Write(p)
	w.hash.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("store: blob: %w", err)
	}
	return n, nil
}

// Size is the number of bytes written so far.
func (w *StagedBlob) Size() int64 { return w.n }

// Commit makes the blob durable under its ID (synced, then renamed into
// place: a reader never sees it half-written, even after a crash) and
// returns the ID. A blob with the same bytes already stored is kept and
// this one dropped.
func (w *StagedBlob) Commit() (string, error) {
	defer os.Remove(w.tmp.Name())
	id := hex.EncodeToString(w.hash.Sum(nil))
	if w.b.db != nil {
		defer w.tmp.Close()
		if _, err := w.tmp.Seek(0, io.SeekStart); err != nil {
			return "", fmt.Errorf("store: blob: %w", err)
		}
		return w.b.putRows(id, w.n, w.tmp)
	}
	p, _ := w.b.path(id)
	if _, err := os.Stat(p); err == nil {
		w.tmp.Close()
		return id, nil
	}
	if err := w.tmp.Sync(); err != nil {
		w.tmp.Close()
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if err := w.tmp.Close(); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if err := os.Rename(w.tmp.Name(), p); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		d.Sync()
		d.Close()
	}
	return id, nil
}

// Abort drops the blob.
func (w *StagedBlob) Abort() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// Get returns the blob's bytes, at most limit of them, and checks them
// against the ID.
func (b *Blobs) Get(id string, limit int64) ([]byte, error) {
	p, err := b.path(id)
	if err != nil {
		return nil, err
	}
	if b.db != nil {
		return b.getRows(id, limit)
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s exceeds %d bytes", ErrBlobTooLarge, id, limit)
	}
	if blobID(data) != id {
		return nil, fmt.Errorf("store: blob %s is corrupt (hash mismatch)", id)
	}
	return data, nil
}

// Delete removes a blob; deleting a missing blob is not an error.
func (b *Blobs) Delete(id string) error {
	p, err := b.path(id)
	if err != nil {
		return err
	}
	if b.db != nil {
		return b.deleteRows(id)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: blob: %w", err)
	}
	return nil
}

// Open returns a reader of the blob's bytes, at most limit of them, that
// checks them against the ID as it reaches the end: a corrupt blob reads
// as an error at its end, never as a clean EOF. In the database, it reads
// a chunk row at a time, in one snapshot (a blob deleted meanwhile still
// reads whole), and holds a connection of the pool until Close.
func (b *Blobs) Open(id string, limit int64) (io.ReadCloser, error) {
	p, err := b.path(id)
	if err != nil {
		return nil, err
	}
	if b.db != nil {
		return b.openRows(id, limit)
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		f.Close()
		return nil, fmt.Errorf("%w: %s exceeds %d bytes", ErrBlobTooLarge, id, limit)
	}
	return &blobReader{f: f, id: id, hash: sha256.New()}, nil
}

// blobReader reads a blob and checks its hash at the end.
type blobReader struct {
	f    *os.File
	id   string
	hash hash.Hash
}

func (r *blobReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.hash.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(r.hash.Sum(nil)) != r.id {
		return n, fmt.Errorf("store: blob %s is corrupt (hash mismatch)", r.id)
	}
	return n, err
}

func (r *blobReader) Close() error { return r.f.Close() }

// openRows opens blob id's rows for reading, one chunk at a time (a job
// input of up to 1 GiB is not held in memory whole), in a snapshot
// transaction that holds one of the pool's connections until Close.
func (b *Blobs) openRows(id string, limit int64) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(context.Background())
	qctx, qcancel := context.WithTimeout(ctx, blobTimeout)
	defer qcancel()
	tx, err := b.db.BeginSnapshot(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	fail := func(err error) (io.ReadCloser, error) {
		tx.Rollback() //nolint:errcheck // read-only
		cancel()
		return nil, err
	}
	var size int64
	if err := tx.QueryRowContext(qctx, `SELECT size FROM store_blobs WHERE id = ?`, id).Scan(&size); errors.Is(err, sql.ErrNoRows) {
		return fail(fmt.Errorf("%w: %s", ErrBlobNotFound, id))
	} else if err != nil {
		return fail(fmt.Errorf("store: blob: %w", err))
	}
	if size > limit {
		return fail(fmt.Errorf("%w: %s exceeds %d bytes", ErrBlobTooLarge, id, limit))
	}
	return &rowsReader{ctx: ctx, cancel: cancel, tx: tx, id: id, size: size, hash: sha256.New()}, nil
}

// rowsReader reads a blob from its chunk rows, a row at a time, and checks
// its size and hash at the end.
type rowsReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	tx     *sql.Tx
	id     string
	size   int64 // from the blob's row
	read   int64 // the bytes of the chunks read so far
	n      int   // the next chunk
	buf    []byte
	hash   hash.Hash
	err    error // once set, every Read returns it
}

func (r *rowsReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 && r.err == nil {
		r.err = r.next()
	}
	if len(r.buf) == 0 {
		return 0, r.err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// next reads the next chunk into r.buf, or reports the end (io.EOF, once
// the hash is checked) or an error.
func (r *rowsReader) next() error {
	if r.read == r.size {
		if hex.EncodeToString(r.hash.Sum(nil)) != r.id {
			return fmt.Errorf("store: blob %s is corrupt (hash mismatch)", r.id)
		}
		return io.EOF
	}
	ctx, cancel := context.WithTimeout(r.ctx, blobTimeout)
	defer cancel()
	var chunk []byte
	err := r.tx.QueryRowContext(ctx, `SELECT data FROM store_blob_chunks WHERE id = ? AND n = ?`, r.id, r.n).Scan(&chunk)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: blob %s is corrupt (chunk %d missing)", r.id, r.n)
	case err != nil:
		return fmt.Errorf("store: blob: %w", err)
	case len(chunk) == 0 || r.read+int64(len(chunk)) > r.size:
		return fmt.Errorf("store: blob %s is corrupt (chunk %d of %d bytes at %d of %d)", r.id, r.n, len(chunk), r.read, r.size)
	}
	r.n++
	r.read += int64(len(chunk))
	r.hash.Write(chunk)
	r.buf = chunk
	return nil
}

// Close ends the reader's transaction.
func (r *rowsReader) Close() error {
	err := r.tx.Rollback()
	r.cancel()
	if errors.Is(err, sql.ErrTxDone) {
		err = nil
	}
	return err
}
