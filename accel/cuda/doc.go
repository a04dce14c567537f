// Package cuda is aios's CUDA backend for package accel: the DenseLayer,
// NTT/INTT and MulCoeffsMontgomeryThenAdd kernels on an NVIDIA GPU, driven
// from a cgo-free binary. The CUDA driver API (libcuda.so.1 or libcuda.so,
// the _v2 symbols) and NVRTC (the first of libnvrtc.so, .so.13, .so.12,
// .so.11.2, .so.11 that loads) are loaded at run time with
// github.com/ebitengine/purego; kernels.cu is embedded and compiled once
// per process for the device's compute capability
// (--gpu-architecture=compute_XY), and the module is kept. The backend
// registers as "cuda" with priority 100, so AIOS_ACCEL=auto picks it when a
// GPU opens and the cpu backend otherwise. A binary links it in with a blank
// import:
//
//	import _ "github.com/aios-edge/aios/accel/cuda"
//
// # Design
//
// One goroutine, locked to its OS thread, creates the context and serves
// all GPU work through a channel (a context is current on one thread).
// Device memory is pooled by power-of-two size class; host copies go
// through two page-locked staging buffers each way (cuMemHostAlloc), so
// that packing one chunk overlaps the DMA of the other; a call is split
// into batches of rows (about 256 MiB each) alternating two streams, so
// that the copies of one batch overlap the kernels of the other. Each
// kernel takes one parameter block by value (params.go, mirrored by the C
// structs of kernels.cu with static_asserts), pinned for the launch. NTT
// tables come from accel.Tables (lattigo's own twiddles, Montgomery form,
// bit-reversed) and stay on the device per list of moduli. A DenseLayer
// whose single row does not fit an eighth of the device's memory runs on
// the cpu backend.
//
// The kernels reproduce lattigo v5 bit for bit: DenseLayer accumulates
// each output coefficient exactly as a signed 128-bit value (64×64-bit
// products with __umul64hi, zero weights skipped) and reduces it once, as
// the cpu backend does; the NTTs are lattigo's butterflies (Cooley–Tukey
// forward, Gentleman–Sande inverse, lazy in [0, 4q), final BRedAdd or
// multiplication by N^-1 with MRed), the stages whose pairs lie within
// 2048 coefficients run in shared memory in one launch, the others one
// launch each.
//
// # What was verified, and where
//
// Without a GPU (go test ./accel/cuda): a Go transcription of every kernel
// of kernels.cu, line for line (emulate_test.go), runs the backend's own
// host code — packing, batching over two streams, parameter blocks, launch
// sequences, table upload, pool accounting — and is bit-exact with lattigo
// and the cpu backend (TestEmulated*: NTT/INTT at N = 2^4…2^14 including
// moduli just below 2^62, DenseLayer with int8 and int32-bound weights,
// bias, sparse rows, several batches, MulCoeffsMontgomeryThenAdd);
// TestParamLayout checks the Go parameter blocks against the C structs'
// static_asserts, TestKernelSourceCompilesAsCXX compiles kernels.cu with
// g++ and a shim of the CUDA builtins (testdata/cuda_shim.h), and loading
// fails cleanly with the reason (TestUnavailableHere, TestLoadFailsCleanly).
//
// Never run yet: NVRTC on kernels.cu, the driver calls and the kernels on
// a device. On a machine with a GPU, from the repository root after
// `make gpu-test` on a machine with Go:
//
//	scripts/gpu-check.sh
//
// which runs accel's TestAllBackends (the cuda subtests) and this
// package's tests and benchmarks from the static binaries in .gpu/, writing
// the output to $OUT when set.
package cuda
