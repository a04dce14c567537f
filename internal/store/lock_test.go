//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLockDir: a second lock of a locked data directory fails with a
// *LockedError naming the holder's pid, and succeeds once it is released.
// flock(2) locks belong to an open file, so two locks in one process
// conflict as two processes' do (cmd/aios tests the two processes).
func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.PID != os.Getpid() || le.Dir != dir {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l, err = LockDir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l.Unlock()
}
