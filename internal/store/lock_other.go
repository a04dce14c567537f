//go:build !unix

package store

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// lockFile does nothing where flock(2) is missing: there, [LockDir] only
// writes the process id, and two holders are not kept apart.
func lockFile(*os.File) error { return nil }
