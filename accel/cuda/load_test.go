package cuda

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aios-edge/aios/accel"
)

// TestUnavailableHere: on a machine without the CUDA driver (this one, in
// CI), opening the backend fails with the reason, AIOS_ACCEL=auto picks
// the cpu backend and AIOS_ACCEL=cuda is an ErrUnavailable error. Where a
// GPU is present it checks the opposite.
func TestUnavailableHere(t *testing.T) {
	b, err := open()
	auto, aerr := accel.SelectByName("auto")
	if aerr != nil {
		t.Fatal(aerr)
	}
	if err == nil {
		t.Logf("cuda backend available: %s", b.Device())
		if auto.Name() != "cuda" {
			t.Errorf("auto picked %s with a GPU present", auto.Name())
		}
		return
	}
	t.Logf("unavailable: %v", err)
	if auto.Name() != "cpu" {
		t.Errorf("auto picked %s without a GPU", auto.Name())
	}
	if _, err := accel.SelectByName("cuda"); !errors.Is(err, accel.ErrUnavailable) {
		t.Errorf("AIOS_ACCEL=cuda without a GPU: %v, want ErrUnavailable", err)
	}
	for _, in := range accel.Backends() {
		if in.Name == "cuda" && (in.Available || in.Reason == "") {
			t.Errorf("Backends reports cuda as %+v", in)
		}
	}
}

// TestLoadFailsCleanly: missing libraries and missing symbols are errors
// that name them, never a panic.
func TestLoadFailsCleanly(t *testing.T) {
	_, err := openWith([]string{"libaios-no-such-driver.so.1"}, nvrtcLibs)
	if !errors.Is(err, errNoLibrary) || !strings.Contains(err.Error(), "libaios-no-such-driver.so.1") || !strings.Contains(err.Error(), "no CUDA driver") {
		t.Errorf("missing driver: %v", err)
	}
	if _, err := loadNVRTC([]string{"libaios-no-such-nvrtc.so"}); !errors.Is(err, errNoLibrary) || !strings.Contains(err.Error(), "no NVRTC") {
		t.Errorf("missing NVRTC: %v", err)
	}
	// A library that loads but is not the driver: the C library.
	_, err = loadDriver([]string{"libc.so.6"})
	if err == nil || !strings.Contains(err.Error(), "symbol cuInit") {
		t.Errorf("libc as the driver: %v, want a missing-symbol error", err)
	}
	if !slices.Contains(nvrtcLibs, "libnvrtc.so") || driverLibs[0] != "libcuda.so.1" {
		t.Errorf("library names: %v, %v", driverLibs, nvrtcLibs)
	}
}

func TestCUDAError(t *testing.T) {
	d := &driverAPI{}
	if err := d.check("cuMemAlloc", 0); err != nil {
		t.Fatal(err)
	}
	err := d.check("cuMemAlloc", 2)
	var ce *CUDAError
	if !errors.As(err, &ce) || ce.Code != 2 || !strings.Contains(err.Error(), "cuMemAlloc") {
		t.Errorf("check(2) = %v", err)
	}
}
