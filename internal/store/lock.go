package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFileName is the name of the lock file inside the data directory.
const LockFileName = "aios.lock"

// ErrLocked reports a data directory whose lock another process holds; the
// error is a *LockedError.
var ErrLocked = errors.New("store: data directory is locked")

// LockedError is the ErrLocked error: which directory, and the process id
// its holder wrote into the lock file (0 if it could not be read).
type LockedError struct {
	Dir string
	PID int
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("another process (pid %d)", e.PID)
	}
	return fmt.Sprintf("store: data directory %s is locked by %s", e.Dir, holder)
}

// Unwrap makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Unwrap() error { return ErrLocked }

// DirLock is the exclusive lock of a data directory, taken by [LockDir].
type DirLock struct {
	f *os.File
}

// LockDir takes the exclusive lock of dataDir, creating the directory (mode
// 0700) if it does not exist, and writes this process's id into its lock
// file, [LockFileName]. It fails with a *LockedError while another process
// holds the lock. The lock is held until [DirLock.Unlock] or the end of the
// process, however it ends.
//
// The lock is advisory: it keeps two holders apart, and nothing else.
// Opening the database ([Open]) does not take it, so that a tool may read
// or update a node's database while the node runs (SQLite serialises the
// writers); a process that must be the directory's only server, `aios
// serve`, takes it.
func LockDir(dataDir string) (*DirLock, error) {
	if dataDir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &LockedError{Dir: dataDir, PID: pid}
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	return &DirLock{f: f}, nil
}

// readPID returns the process id in a lock file, 0 if there is none.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// Unlock releases the lock. The lock file stays: removing it could let two
// processes lock two different files of the same name.
func (l *DirLock) Unlock() error {
	return l.f.Close()
}
