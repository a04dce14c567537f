//go:build !linux

package cuda

import (
	"errors"
	"runtime"
)

var driverLibs, nvrtcLibs []string

// openWith: the backend loads the CUDA driver of Linux only.
func openWith(_, _ []string) (*backend, error) {
	return nil, errors.New("the CUDA backend runs on Linux only, not " + runtime.GOOS)
}
