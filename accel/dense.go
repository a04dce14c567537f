package accel

import (
	"math/bits"
	"runtime"
)

// Blocking of the CPU dense layer. A task is one row r, one block of
// denseCoeffBlock coefficients and up to denseOutBlock outputs: it streams
// every input's block once and keeps the outputs' 128-bit accumulators
// (denseOutBlock·denseCoeffBlock·16 bytes = 16 KiB) in L1.
const (
	denseCoeffBlock = 256
	denseOutBlock   = 4
)

// rowConsts are the per-modulus constants of the final reduction.
type rowConsts struct {
	q    uint64
	u    uint64 // floor(2^64/q), Barrett
	qInv uint64 // q^-1 mod 2^64, Montgomery
	r2   uint64 // 2^128 mod q
}

func newRowConsts(q uint64) rowConsts {
	u, _ := bits.Div64(1, 0, q)
	_, r1 := bits.Div64(1, 0, q) // 2^64 mod q
	_, r2 := bits.Div64(r1, 0, q)
	return rowConsts{q: q, u: u, qInv: mredConstant(q), r2: r2}
}

// reduce returns the signed 128-bit value hi·2^64+lo modulo q, in [0, q).
func (k *rowConsts) reduce(hi, lo uint64) uint64 {
	q := k.q
	neg := int64(hi) < 0
	if neg {
		var b uint64
		lo, b = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(0, hi, b)
	}
	// hi mod q by Barrett: the quotient estimate is short by at most 1.
	qt, _ := bits.Mul64(hi, k.u)
	h := hi - qt*q
	if h >= q {
		h -= q
	}
	// T = h·2^64 + lo < q·2^64; Montgomery reduction gives T·2^-64 mod q
	// (lattigo's MRed with its +q^-1 convention) …
	mh, _ := bits.Mul64(lo*k.qInv, q)
	t := h - mh + q
	if t >= q {
		t -= q
	}
	// … and a Montgomery product with 2^128 mod q restores T mod q.
	v := mred(t, k.r2, q, k.qInv)
	if neg && v != 0 {
		v = q - v
	}
	return v
}

// axpy adds w·x to the signed 128-bit accumulators (hi, lo), where w is the
// two's complement of a weight and m its sign mask (all ones if negative):
// the unsigned product x·w exceeds the signed one by x·2^64 when w < 0.
func axpy(lo, hi, x []uint64, w, m uint64) {
	lo, hi = lo[:len(x)], hi[:len(x)]
	for c, xv := range x {
		ph, pl := bits.Mul64(xv, w)
		ph -= xv & m
		var cy uint64
		lo[c], cy = bits.Add64(lo[c], pl, 0)
		hi[c] += ph + cy
	}
}

func (*cpuBackend) DenseLayer(a *DenseLayerArgs) error {
	if err := CheckDenseLayer(a); err != nil {
		return err
	}
	denseLayerCPU(a)
	return nil
}

func denseLayerCPU(a *DenseLayerArgs) {
	n, rows := a.N, a.Rows()
	nIn, nOut := len(a.In), len(a.Out)
	cb := min(n, denseCoeffBlock)
	cBlocks := n / cb
	kBlocks := (nOut + denseOutBlock - 1) / denseOutBlock
	consts := make([]rowConsts, rows)
	for r, q := range a.Moduli {
		consts[r] = newRowConsts(q)
	}
	type scratch struct{ lo, hi []uint64 }
	workers := make([]scratch, runtime.GOMAXPROCS(0))
	tasks := rows * cBlocks * kBlocks
	parallel(tasks, func(wk, t int) {
		s := &workers[wk]
		if s.lo == nil {
			s.lo = make([]uint64, denseOutBlock*cb)
			s.hi = make([]uint64, denseOutBlock*cb)
		}
		// Task order: outputs fastest, so that consecutive tasks on the
		// cores share the same input blocks in cache.
		kb := t % kBlocks
		cblk := (t / kBlocks) % cBlocks
		r := t / (kBlocks * cBlocks)
		k0 := kb * denseOutBlock
		kn := min(denseOutBlock, nOut-k0)
		c0 := cblk * cb
		lo, hi := s.lo[:kn*cb], s.hi[:kn*cb]
		clear(lo)
		clear(hi)
		for i := range nIn {
			x := a.In[i][r][c0 : c0+cb]
			for kk := range kn {
				w := a.Weights[(k0+kk)*nIn+i]
				if w == 0 {
					continue
				}
				axpy(lo[kk*cb:(kk+1)*cb], hi[kk*cb:(kk+1)*cb], x, uint64(w), uint64(w>>63))
			}
		}
		rc := &consts[r]
		for kk := range kn {
			y := a.Out[k0+kk][r][c0 : c0+cb]
			l, h := lo[kk*cb:(kk+1)*cb], hi[kk*cb:(kk+1)*cb]
			var bias uint64
			if a.Bias != nil {
				bias = a.Bias[k0+kk][r]
			}
			for c := range y {
				v := rc.reduce(h[c], l[c]) + bias
				if v >= rc.q {
					v -= rc.q
				}
				y[c] = v
			}
		}
	})
}
