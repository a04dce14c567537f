// Package cuda is the place of aios's CUDA backend for package accel
// (issue 8): kernels loaded at run time through the CUDA driver API and
// NVRTC with purego, no cgo, registered as "cuda" with a priority above the
// cpu backend so that AIOS_ACCEL=auto picks it when a GPU initialises.
//
// A binary links it in with a blank import:
//
//	import _ "github.com/aios-edge/aios/accel/cuda"
//
// This build registers the name only: Open reports that the backend is not
// built yet, so AIOS_ACCEL=auto falls back to the cpu backend and
// AIOS_ACCEL=cuda fails with that reason. The implementation must satisfy
// the accel.Backend contract bit for bit (accel.TestAllBackends runs
// against it), compute the NTT from accel.Tables, and validate its
// arguments with accel.CheckDenseLayer and accel.CheckRowOp.
package cuda

import (
	"errors"

	"github.com/aios-edge/aios/accel"
)

// Priority is the cuda backend's rank for AIOS_ACCEL=auto (cpu is 0).
const Priority = 100

// errNotBuilt is Open's reason until the backend exists.
var errNotBuilt = errors.New("not built into this binary yet (issue 8)")

func init() {
	accel.Register(accel.Registration{Name: "cuda", Priority: Priority, Open: open})
}

func open() (accel.Backend, error) { return nil, errNotBuilt }
