package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// ErrBlobNotFound is returned for an unknown blob ID.
var ErrBlobNotFound = errors.New("store: blob not found")

// ErrBlobTooLarge is returned when a blob exceeds the caller's limit.
var ErrBlobTooLarge = errors.New("store: blob too large")

// Blobs is a content-addressed file store: a blob's ID is the hex SHA-256 of
// its bytes and it lives at DIR/blobs/ab/cdef…. Writes go to a temporary
// file that is synced and renamed into place, so a reader never sees a
// half-written blob, even after a crash.
type Blobs struct {
	dir string
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
// upload goes to disk, not to memory); nothing is stored until Commit.
func (b *Blobs) Stage() (*StagedBlob, error) {
	dir := filepath.Join(b.dir, "staging")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
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

// Open returns a reader of the blob's bytes, at most limit of them, that
// checks them against the ID as it reaches the end: a corrupt blob reads
// as an error at its end, never as a clean EOF.
func (b *Blobs) Open(id string, limit int64) (io.ReadCloser, error) {
	p, err := b.path(id)
	if err != nil {
		return nil, err
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

// Get returns the blob's bytes, at most limit of them, and checks them
// against the ID.
func (b *Blobs) Get(id string, limit int64) ([]byte, error) {
	p, err := b.path(id)
	if err != nil {
		return nil, err
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
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != id {
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
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: blob: %w", err)
	}
	return nil
}
