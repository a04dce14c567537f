package cuda

import "github.com/aios-edge/aios/accel"

// Priority is the cuda backend's rank for AIOS_ACCEL=auto (cpu is 0).
const Priority = 100

// Batch sizes: a batch of rows targets batchBytes of device memory (so
// that a large call is several batches whose copies and kernels overlap);
// one row may take up to an eighth of the device's memory.
const batchBytes = 256 << 20

func init() {
	accel.Register(accel.Registration{Name: "cuda", Priority: Priority, Open: open})
}

func open() (accel.Backend, error) {
	b, err := openWith(driverLibs, nvrtcLibs)
	if err != nil {
		return nil, err
	}
	return b, nil
}
