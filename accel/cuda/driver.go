//go:build linux

package cuda

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// The CUDA driver API and NVRTC, bound at run time with purego (no cgo):
// each field is set to the library symbol of its tag. Where cuda.h maps a
// name to a _v2 symbol (cuMemAlloc to cuMemAlloc_v2, …) the tag names that
// symbol: the unversioned one is the legacy ABI with 32-bit sizes.

// cuResult is a CUresult; 0 is CUDA_SUCCESS.
type cuResult int32

type driverAPI struct {
	cuInit               func(flags uint32) cuResult                                                                                              `sym:"cuInit"`
	cuDeviceGetCount     func(count *int32) cuResult                                                                                              `sym:"cuDeviceGetCount"`
	cuDeviceGet          func(dev *int32, ordinal int32) cuResult                                                                                 `sym:"cuDeviceGet"`
	cuDeviceGetName      func(name *byte, n int32, dev int32) cuResult                                                                            `sym:"cuDeviceGetName"`
	cuDeviceGetAttribute func(v *int32, attr int32, dev int32) cuResult                                                                           `sym:"cuDeviceGetAttribute"`
	cuDeviceTotalMem     func(bytes *uint64, dev int32) cuResult                                                                                  `sym:"cuDeviceTotalMem_v2"`
	cuCtxCreate          func(ctx *uintptr, flags uint32, dev int32) cuResult                                                                     `sym:"cuCtxCreate_v2"`
	cuModuleLoadData     func(mod *uintptr, image *byte) cuResult                                                                                 `sym:"cuModuleLoadData"`
	cuModuleGetFunction  func(fn *uintptr, mod uintptr, name *byte) cuResult                                                                      `sym:"cuModuleGetFunction"`
	cuMemAlloc           func(p *uint64, bytes uint64) cuResult                                                                                   `sym:"cuMemAlloc_v2"`
	cuMemFree            func(p uint64) cuResult                                                                                                  `sym:"cuMemFree_v2"`
	cuMemHostAlloc       func(p **uint64, bytes uint64, flags uint32) cuResult                                                                    `sym:"cuMemHostAlloc"`
	cuMemcpyHtoDAsync    func(dst uint64, src *uint64, n uint64, s uintptr) cuResult                                                              `sym:"cuMemcpyHtoDAsync_v2"`
	cuMemcpyDtoHAsync    func(dst *uint64, src uint64, n uint64, s uintptr) cuResult                                                              `sym:"cuMemcpyDtoHAsync_v2"`
	cuMemcpyDtoDAsync    func(dst uint64, src uint64, n uint64, s uintptr) cuResult                                                               `sym:"cuMemcpyDtoDAsync_v2"`
	cuStreamCreate       func(s *uintptr, flags uint32) cuResult                                                                                  `sym:"cuStreamCreate"`
	cuStreamSynchronize  func(s uintptr) cuResult                                                                                                 `sym:"cuStreamSynchronize"`
	cuEventCreate        func(e *uintptr, flags uint32) cuResult                                                                                  `sym:"cuEventCreate"`
	cuEventRecord        func(e uintptr, s uintptr) cuResult                                                                                      `sym:"cuEventRecord"`
	cuEventSynchronize   func(e uintptr) cuResult                                                                                                 `sym:"cuEventSynchronize"`
	cuEventElapsedTime   func(ms *float32, start, end uintptr) cuResult                                                                           `sym:"cuEventElapsedTime"`
	cuGetErrorName       func(r cuResult, s **byte) cuResult                                                                                      `sym:"cuGetErrorName"`
	cuLaunchKernel       func(f uintptr, gx, gy, gz, bx, by, bz, shmem uint32, s uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) cuResult `sym:"cuLaunchKernel"`
}

// nvrtcResult is an nvrtcResult; 0 is NVRTC_SUCCESS.
type nvrtcResult int32

type nvrtcAPI struct {
	nvrtcVersion           func(major, minor *int32) nvrtcResult                                                            `sym:"nvrtcVersion"`
	nvrtcCreateProgram     func(prog *uintptr, src, name *byte, numHeaders int32, headers, includeNames **byte) nvrtcResult `sym:"nvrtcCreateProgram"`
	nvrtcCompileProgram    func(prog uintptr, numOptions int32, options **byte) nvrtcResult                                 `sym:"nvrtcCompileProgram"`
	nvrtcGetProgramLogSize func(prog uintptr, n *uint64) nvrtcResult                                                        `sym:"nvrtcGetProgramLogSize"`
	nvrtcGetProgramLog     func(prog uintptr, log *byte) nvrtcResult                                                        `sym:"nvrtcGetProgramLog"`
	nvrtcGetPTXSize        func(prog uintptr, n *uint64) nvrtcResult                                                        `sym:"nvrtcGetPTXSize"`
	nvrtcGetPTX            func(prog uintptr, ptx *byte) nvrtcResult                                                        `sym:"nvrtcGetPTX"`
	nvrtcDestroyProgram    func(prog *uintptr) nvrtcResult                                                                  `sym:"nvrtcDestroyProgram"`
}

// Library names tried in order.
var (
	driverLibs = []string{"libcuda.so.1", "libcuda.so"}
	nvrtcLibs  = []string{"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11"}
)

// errNoLibrary: none of a library's names loads (no driver or toolkit on
// this machine).
var errNoLibrary = errors.New("library not found")

// dlopen opens the first of names that loads.
func dlopen(names []string) (uintptr, string, error) {
	var reasons []string
	for _, n := range names {
		h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, n, nil
		}
		reasons = append(reasons, err.Error())
	}
	return 0, "", fmt.Errorf("%w: %s (%s)", errNoLibrary, strings.Join(names, ", "), strings.Join(reasons, "; "))
}

// bind sets every func field of the struct *api to the symbol its sym tag
// names in the library h. A missing symbol is an error, never a panic.
func bind(h uintptr, lib string, api any) error {
	v := reflect.ValueOf(api).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name := f.Tag.Get("sym")
		sym, err := purego.Dlsym(h, name)
		if err != nil || sym == 0 {
			return fmt.Errorf("%s: symbol %s: %w", lib, name, err)
		}
		fp := reflect.NewAt(f.Type, unsafe.Pointer(v.Field(i).UnsafeAddr())).Interface()
		purego.RegisterFunc(fp, sym)
	}
	return nil
}

// loadDriver opens and binds the CUDA driver.
func loadDriver(names []string) (*driverAPI, error) {
	h, lib, err := dlopen(names)
	if err != nil {
		return nil, fmt.Errorf("no CUDA driver: %w", err)
	}
	d := new(driverAPI)
	if err := bind(h, lib, d); err != nil {
		return nil, err
	}
	return d, nil
}

// loadNVRTC opens and binds NVRTC.
func loadNVRTC(names []string) (*nvrtcAPI, error) {
	h, lib, err := dlopen(names)
	if err != nil {
		return nil, fmt.Errorf("no NVRTC: %w", err)
	}
	n := new(nvrtcAPI)
	if err := bind(h, lib, n); err != nil {
		return nil, err
	}
	return n, nil
}

// cstr is s as a NUL-terminated C string.
func cstr(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

// gostr copies the NUL-terminated C string at p (C memory).
func gostr(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for i := 0; i < 1<<12; i++ {
		c := *(*byte)(unsafe.Add(unsafe.Pointer(p), i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// CUDAError is a failed driver call: the function and its CUresult.
type CUDAError struct {
	Func string
	Code int32
	Name string // e.g. CUDA_ERROR_INVALID_CONTEXT
}

func (e *CUDAError) Error() string {
	return fmt.Sprintf("cuda: %s: %s (%d)", e.Func, e.Name, e.Code)
}

// check turns a CUresult into an error.
func (d *driverAPI) check(fn string, r cuResult) error {
	if r == 0 {
		return nil
	}
	var p *byte
	name := "unknown error"
	if d.cuGetErrorName != nil && d.cuGetErrorName(r, &p) == 0 && p != nil {
		name = gostr(p)
	}
	return &CUDAError{Func: fn, Code: int32(r), Name: name}
}
