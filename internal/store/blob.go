package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	p, _ := b.path(id)
	if _, err := os.Stat(p); err == nil {
		return id, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("store: blob: %w", err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		d.Sync()
		d.Close()
	}
	return id, nil
}

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
