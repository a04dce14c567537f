//go:build linux

package cuda

import "fmt"

// openWith loads the driver and NVRTC from the first loadable of the given
// library names and starts the device goroutine.
func openWith(driverNames, nvrtcNames []string) (*backend, error) {
	d, err := loadDriver(driverNames)
	if err != nil {
		return nil, err
	}
	nv, err := loadNVRTC(nvrtcNames)
	if err != nil {
		return nil, err
	}
	var major, minor int32
	if nv.nvrtcVersion(&major, &minor) != 0 {
		major, minor = 0, 0
	}
	var g *device
	w, err := startWorker(func() error {
		var err error
		g, err = newDevice(d, nv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &backend{
		device:     fmt.Sprintf("%s (%s, %d MiB, NVRTC %d.%d)", g.name, g.arch, g.totalMem>>20, major, minor),
		batchWords: batchBytes / 8,
		maxWords:   int(g.totalMem / 8 / 8),
		do:         func(f func(gpu) error) error { return w.call(func() error { return f(g) }) },
	}, nil
}
