//go:build linux

package cuda

import (
	_ "embed"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"strings"
	"unsafe"
)

//go:embed kernels.cu
var kernelSource string

// CUDA constants used here (cuda.h).
const (
	attrComputeMajor   = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	attrComputeMinor   = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
	streamNonBlocking  = 1  // CU_STREAM_NON_BLOCKING
	eventDisableTiming = 2  // CU_EVENT_DISABLE_TIMING
	errOutOfMemory     = 2  // CUDA_ERROR_OUT_OF_MEMORY
)

// stagingWords is the size of each page-locked staging buffer (16 MiB).
const stagingWords = 2 << 20

// minPoolBytes is the smallest pooled allocation; sizes round up to powers
// of two from there.
const minPoolBytes = 64 << 10

// staging is a page-locked host buffer and the event of its last copy.
type staging struct {
	host []uint64
	ev   uintptr
}

// device is the gpu of a CUDA context. Every method runs on the worker
// goroutine that created the context, locked to its OS thread.
type device struct {
	d        *driverAPI
	name     string
	arch     string // compute_XY
	totalMem uint64
	ctx      uintptr
	fns      [numKernels]uintptr
	streams  [2]uintptr
	up, down [2]staging
	upNext   int
	pool     map[int][]uint64 // size class (bytes) → free buffers
	sizes    map[uint64]int   // buffer → size class
}

// newDevice creates the context on device 0, compiles kernels.cu with
// NVRTC for its compute capability and loads the module.
func newDevice(d *driverAPI, nv *nvrtcAPI) (*device, error) {
	if err := d.check("cuInit", d.cuInit(0)); err != nil {
		return nil, err
	}
	var count int32
	if err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&count)); err != nil {
		return nil, err
	}
	if count < 1 {
		return nil, errors.New("no CUDA device")
	}
	var dev int32
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&dev, 0)); err != nil {
		return nil, err
	}
	g := &device{d: d, pool: map[int][]uint64{}, sizes: map[uint64]int{}}
	name := make([]byte, 256)
	if err := d.check("cuDeviceGetName", d.cuDeviceGetName(&name[0], int32(len(name)), dev)); err != nil {
		return nil, err
	}
	g.name = strings.TrimRight(string(name), "\x00")
	var major, minor int32
	if err := d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&major, attrComputeMajor, dev)); err != nil {
		return nil, err
	}
	if err := d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&minor, attrComputeMinor, dev)); err != nil {
		return nil, err
	}
	g.arch = fmt.Sprintf("compute_%d%d", major, minor)
	if err := d.check("cuDeviceTotalMem", d.cuDeviceTotalMem(&g.totalMem, dev)); err != nil {
		return nil, err
	}
	ptx, err := compile(nv, kernelSource, g.arch)
	if err != nil {
		return nil, err
	}
	if err := d.check("cuCtxCreate", d.cuCtxCreate(&g.ctx, 0, dev)); err != nil {
		return nil, err
	}
	var mod uintptr
	if err := d.check("cuModuleLoadData", d.cuModuleLoadData(&mod, &ptx[0])); err != nil {
		return nil, err
	}
	for k, n := range kernelNames {
		if err := d.check("cuModuleGetFunction "+n, d.cuModuleGetFunction(&g.fns[k], mod, cstr(n))); err != nil {
			return nil, err
		}
	}
	for i := range g.streams {
		if err := d.check("cuStreamCreate", d.cuStreamCreate(&g.streams[i], streamNonBlocking)); err != nil {
			return nil, err
		}
	}
	for _, st := range []*staging{&g.up[0], &g.up[1], &g.down[0], &g.down[1]} {
		var p *uint64
		if err := d.check("cuMemHostAlloc", d.cuMemHostAlloc(&p, stagingWords*8, 0)); err != nil {
			return nil, err
		}
		st.host = unsafe.Slice(p, stagingWords)
		if err := d.check("cuEventCreate", d.cuEventCreate(&st.ev, eventDisableTiming)); err != nil {
			return nil, err
		}
		if err := d.check("cuEventRecord", d.cuEventRecord(st.ev, g.streams[0])); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// compile runs NVRTC on src for arch and returns the PTX (NUL-terminated).
func compile(nv *nvrtcAPI, src, arch string) ([]byte, error) {
	var prog uintptr
	if r := nv.nvrtcCreateProgram(&prog, cstr(src), cstr("kernels.cu"), 0, nil, nil); r != 0 {
		return nil, fmt.Errorf("nvrtcCreateProgram: error %d", r)
	}
	defer nv.nvrtcDestroyProgram(&prog)
	opts := []*byte{cstr("--gpu-architecture=" + arch), cstr("--std=c++17")}
	if r := nv.nvrtcCompileProgram(prog, int32(len(opts)), &opts[0]); r != 0 {
		var n uint64
		nv.nvrtcGetProgramLogSize(prog, &n)
		log := make([]byte, n+1)
		nv.nvrtcGetProgramLog(prog, &log[0])
		return nil, fmt.Errorf("NVRTC compiling kernels.cu for %s: error %d: %s", arch, r, strings.TrimRight(string(log), "\x00\n"))
	}
	var n uint64
	if r := nv.nvrtcGetPTXSize(prog, &n); r != 0 || n == 0 {
		return nil, fmt.Errorf("nvrtcGetPTXSize: error %d", r)
	}
	ptx := make([]byte, n)
	if r := nv.nvrtcGetPTX(prog, &ptx[0]); r != 0 {
		return nil, fmt.Errorf("nvrtcGetPTX: error %d", r)
	}
	return ptx, nil
}

func sizeClass(words int) int {
	b := max(words*8, minPoolBytes)
	return 1 << bits.Len(uint(b-1))
}

func (g *device) alloc(words int) (uint64, error) {
	c := sizeClass(words)
	if free := g.pool[c]; len(free) > 0 {
		p := free[len(free)-1]
		g.pool[c] = free[:len(free)-1]
		return p, nil
	}
	var p uint64
	err := g.d.check("cuMemAlloc", g.d.cuMemAlloc(&p, uint64(c)))
	var ce *CUDAError
	if errors.As(err, &ce) && ce.Code == errOutOfMemory {
		g.trim() // give the pool back to the driver and retry once
		err = g.d.check("cuMemAlloc", g.d.cuMemAlloc(&p, uint64(c)))
	}
	if err != nil {
		return 0, fmt.Errorf("%d bytes: %w", c, err)
	}
	g.sizes[p] = c
	return p, nil
}

func (g *device) free(p uint64) {
	c := g.sizes[p]
	g.pool[c] = append(g.pool[c], p)
}

// trim frees every pooled buffer.
func (g *device) trim() {
	for c, free := range g.pool {
		for _, p := range free {
			g.d.cuMemFree(p)
			delete(g.sizes, p)
		}
		delete(g.pool, c)
	}
}

// upload packs rows through the two staging buffers in turn: while one is
// being copied to the device, the next chunk is packed into the other.
func (g *device) upload(s int, dst uint64, rows [][]uint64) error {
	cur := &rowCursor{rows: rows}
	for off := uint64(0); ; {
		st := &g.up[g.upNext]
		if err := g.d.check("cuEventSynchronize", g.d.cuEventSynchronize(st.ev)); err != nil {
			return err
		}
		n := cur.fill(st.host)
		if n == 0 {
			return nil
		}
		if err := g.d.check("cuMemcpyHtoDAsync", g.d.cuMemcpyHtoDAsync(dst+off, &st.host[0], uint64(n)*8, g.streams[s])); err != nil {
			return err
		}
		if err := g.d.check("cuEventRecord", g.d.cuEventRecord(st.ev, g.streams[s])); err != nil {
			return err
		}
		g.upNext ^= 1
		off += uint64(n) * 8
	}
}

// download copies the buffer at src out through the two staging buffers,
// unpacking one chunk while the next is copied.
func (g *device) download(s int, rows [][]uint64, src uint64) error {
	total := words(rows)
	cur := &rowCursor{rows: rows}
	var pending [2]int // words in flight in each staging buffer
	unpack := func(i int) error {
		if pending[i] == 0 {
			return nil
		}
		if err := g.d.check("cuEventSynchronize", g.d.cuEventSynchronize(g.down[i].ev)); err != nil {
			return err
		}
		cur.drain(g.down[i].host[:pending[i]])
		pending[i] = 0
		return nil
	}
	i := 0
	for off := 0; off < total; off += stagingWords {
		n := min(stagingWords, total-off)
		if err := unpack(i); err != nil {
			return err
		}
		if err := g.d.check("cuMemcpyDtoHAsync", g.d.cuMemcpyDtoHAsync(&g.down[i].host[0], src+uint64(off)*8, uint64(n)*8, g.streams[s])); err != nil {
			return err
		}
		if err := g.d.check("cuEventRecord", g.d.cuEventRecord(g.down[i].ev, g.streams[s])); err != nil {
			return err
		}
		pending[i] = n
		i ^= 1
		if err := unpack(i); err != nil { // the previous chunk, in order
			return err
		}
	}
	return unpack(i ^ 1)
}

func (g *device) sync(s int) error {
	return g.d.check("cuStreamSynchronize", g.d.cuStreamSynchronize(g.streams[s]))
}

// launch queues l. The parameter block and the pointer array that the
// driver reads are pinned for the call; cuLaunchKernel copies them.
func (g *device) launch(s int, l launch) error {
	var p unsafe.Pointer
	switch v := l.params.(type) {
	case *denseParams:
		p = unsafe.Pointer(v)
	case *nttParams:
		p = unsafe.Pointer(v)
	case *mulParams:
		p = unsafe.Pointer(v)
	default:
		return fmt.Errorf("launch %s: parameters %T", l.k, l.params)
	}
	args := []unsafe.Pointer{p}
	var pin runtime.Pinner
	pin.Pin(p)
	pin.Pin(&args[0])
	defer pin.Unpin()
	r := g.d.cuLaunchKernel(g.fns[l.k], l.grid.x, l.grid.y, l.grid.z, l.block.x, l.block.y, l.block.z, 0, g.streams[s], &args[0], nil)
	return g.d.check("cuLaunchKernel "+l.k.String(), r)
}
