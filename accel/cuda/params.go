package cuda

import (
	"fmt"
	"math/bits"

	"github.com/aios-edge/aios/accel"
)

// The parameter blocks of the kernels, passed by value as each kernel's
// single argument. Their layouts must equal the C structs of kernels.cu,
// which fixes them with static_asserts; TestParamLayout checks these
// against those. Pointers are device addresses.

// modConsts is kernels.cu's ModConsts: one modulus's constants, 64 bytes.
type modConsts struct {
	q    uint64 // modulus
	qInv uint64 // q^-1 mod 2^64, lattigo's MRedConstant
	bred uint64 // floor(2^64/q), lattigo's BRedConstant[0]
	r2   uint64 // 2^128 mod q
	nInv uint64 // N^-1·2^64 mod q (NTT tables only)
	_    [3]uint64
}

const modConstsWords = 8

// words appends m as the 8 little-endian words the device reads.
func (m *modConsts) words(dst []uint64) []uint64 {
	return append(dst, m.q, m.qInv, m.bred, m.r2, m.nInv, 0, 0, 0)
}

// newModConsts computes the constants of q (and N^-1 when t is not nil,
// from lattigo's tables).
func newModConsts(q uint64, t *accel.NTTTable) modConsts {
	bred, _ := bits.Div64(1, 0, q)
	_, r1 := bits.Div64(1, 0, q) // 2^64 mod q
	_, r2 := bits.Div64(r1, 0, q)
	m := modConsts{q: q, qInv: qInverse(q), bred: bred, r2: r2}
	if t != nil {
		m.nInv = t.NInv
	}
	return m
}

// qInverse is q^-1 mod 2^64 for odd q (Newton's iteration; lattigo's
// MRedConstant).
func qInverse(q uint64) uint64 {
	x := q
	for range 5 {
		x *= 2 - q*x
	}
	return x
}

// denseParams is kernels.cu's DenseParams (56 bytes).
type denseParams struct {
	in, out, w, bias, mc uint64
	n, rows, nIn, nOut   uint32
}

// nttParams is kernels.cu's NttParams (48 bytes).
type nttParams struct {
	data, roots, mc, table uint64
	n, rows, t, last       uint32
}

// mulParams is kernels.cu's MulParams (40 bytes).
type mulParams struct {
	a, b, c, mc uint64
	n, rows     uint32
}

// Launch geometry, equal to the #defines of kernels.cu (TestGeometry).
const (
	denseThreads = 256  // DENSE_THREADS
	denseKT      = 8    // DENSE_KT: outputs per thread
	denseIT      = 64   // DENSE_IT
	nttTile      = 2048 // NTT_TILE
	nttThreads   = 256  // NTT_THREADS
	mulThreads   = 256  // MUL_THREADS
)

// kernel names a kernel of kernels.cu.
type kernel int

const (
	kDense kernel = iota
	kNTTStage
	kINTTStage
	kNTTTile
	kINTTTile
	kMulThenAdd
	numKernels
)

// kernelNames are the extern "C" entry points, indexed by kernel.
var kernelNames = [numKernels]string{
	kDense:      "aios_dense",
	kNTTStage:   "aios_ntt_stage",
	kINTTStage:  "aios_intt_stage",
	kNTTTile:    "aios_ntt_tile",
	kINTTTile:   "aios_intt_tile",
	kMulThenAdd: "aios_mul_then_add",
}

func (k kernel) String() string {
	if k < 0 || k >= numKernels {
		return fmt.Sprintf("kernel(%d)", int(k))
	}
	return kernelNames[k]
}

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z uint32 }

// launch is one kernel launch: which kernel, its shape and its parameter
// block (a pointer to one of the param structs above).
type launch struct {
	k           kernel
	grid, block dim3
	params      any // *denseParams, *nttParams or *mulParams
}

// denseLaunch is the launch of aios_dense over n coefficients, rows rows
// and nOut outputs.
func denseLaunch(p *denseParams) launch {
	threads := min(uint32(denseThreads), p.n)
	return launch{k: kDense, params: p,
		grid:  dim3{(p.n + threads - 1) / threads, p.rows, (p.nOut + denseKT - 1) / denseKT},
		block: dim3{threads, 1, 1}}
}

// nttLaunches is the sequence of launches of a forward (or inverse)
// transform of every row of p.data: lattigo's stages, those whose pairs lie
// more than a tile apart one launch each, the others in one launch of the
// tile kernel; the final reduction (forward) or the scaling by N^-1
// (inverse) fused into the last launch. base is copied for each launch.
func nttLaunches(base nttParams, inverse bool) []launch {
	n := base.n
	tile := min(n, uint32(nttTile))
	tileLaunch := func(last bool) launch {
		p := base
		p.t, p.last = tile, b2u(last)
		k := kNTTTile
		if inverse {
			k = kINTTTile
		}
		return launch{k: k, params: &p, grid: dim3{n / tile, p.rows, 1}, block: dim3{tile / 2, 1, 1}}
	}
	stageLaunch := func(t uint32, last bool) launch {
		p := base
		p.t, p.last = t, b2u(last)
		k := kNTTStage
		if inverse {
			k = kINTTStage
		}
		threads := min(uint32(nttThreads), n/2)
		return launch{k: k, params: &p, grid: dim3{(n/2 + threads - 1) / threads, p.rows, 1}, block: dim3{threads, 1, 1}}
	}
	var out []launch
	if !inverse {
		// t = n/2, n/4, …, tile: one launch each; then t = tile/2 … 1.
		for t := n / 2; t >= tile; t /= 2 {
			out = append(out, stageLaunch(t, false))
		}
		return append(out, tileLaunch(true))
	}
	// t = 1 … tile/2 in the tile; then t = tile, …, n/2.
	out = append(out, tileLaunch(tile == n))
	for t := tile; t < n; t *= 2 {
		out = append(out, stageLaunch(t, t == n/2))
	}
	return out
}

// mulLaunch is the launch of aios_mul_then_add.
func mulLaunch(p *mulParams) launch {
	threads := min(uint32(mulThreads), p.n)
	return launch{k: kMulThenAdd, params: p,
		grid: dim3{(p.n + threads - 1) / threads, p.rows, 1}, block: dim3{threads, 1, 1}}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
