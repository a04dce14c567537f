package accel

import (
	"math/bits"
	"runtime"
)

// Blocking of the CPU dense layer (see denseLayerCPU).
const (
	// denseGroup coefficients are accumulated together in registers.
	denseGroup = 4
	// denseBlockBytes bounds a task's gathered input block so that it stays
	// in the core's L2 cache while every output is computed from it.
	denseBlockBytes = 192 << 10
	// denseMaxBlock bounds a task's coefficient count.
	denseMaxBlock = 512
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

func (*cpuBackend) DenseLayer(a *DenseLayerArgs) error {
	if err := CheckDenseLayer(a); err != nil {
		return err
	}
	denseLayerCPU(a)
	return nil
}

// denseLayerCPU computes the layer in tasks of one row r, one block of
// coefficients and (for small layers) one block of outputs, on all cores. A task gathers the block of every input into
// a contiguous buffer laid out by groups of denseGroup coefficients
// (buf[g·I + i][t] = In[i][r][c0 + g·G + t]) together with the 128-bit
// column sums Σ_i x, then for every output k and group accumulates
// Σ_i x·(W_ki + o) in registers, o = −min(W) ≥ 0 (exact: each term is
// below 2^94, the sum below 2^126 for I ≤ 2^32), subtracts o·Σ x and
// reduces the signed 128-bit result once: one reduction per output
// coefficient, where lattigo reduces after every multiply-add.
func denseLayerCPU(a *DenseLayerArgs) {
	n, rows := a.N, a.Rows()
	nIn, nOut := len(a.In), len(a.Out)
	cb := denseMaxBlock
	for cb > denseGroup && cb*nIn*8 > denseBlockBytes {
		cb /= 2
	}
	cb = min(cb, n)
	cBlocks := n / cb
	consts := make([]rowConsts, rows)
	for r, q := range a.Moduli {
		consts[r] = newRowConsts(q)
	}
	// The offset −min(W) makes every weight non-negative (below 2^32), so
	// the inner loop is a plain unsigned multiply-add; Σ x, shared by all
	// outputs, takes it out again. The fewer bits x·(w + offset) has, the
	// cheaper the inner loop (mac4 → mac4Short → mac4Chunked, per row).
	minW, maxW := int64(0), int64(0)
	for _, w := range a.Weights {
		minW, maxW = min(minW, w), max(maxW, w)
	}
	offset := uint64(-minW)
	wBits := bits.Len64(uint64(maxW - minW))
	wOff := make([]uint64, len(a.Weights))
	for j, w := range a.Weights {
		wOff[j] = uint64(w) + offset
	}
	type scratch struct {
		buf          [][denseGroup]uint64
		sumHi, sumLo []uint64
	}
	procs := runtime.GOMAXPROCS(0)
	workers := make([]scratch, procs)
	// Tasks are rows × coefficient blocks, all outputs at once; when that
	// leaves cores idle (small N, few rows), outputs are split too, at the
	// price of gathering the block once per output block.
	kBlocks := 1
	if rows*cBlocks < 4*procs {
		kBlocks = min(nOut, (4*procs+rows*cBlocks-1)/(rows*cBlocks))
	}
	kPer := (nOut + kBlocks - 1) / kBlocks
	parallel(rows*cBlocks*kBlocks, func(wk, t int) {
		s := &workers[wk]
		if s.buf == nil {
			s.buf = make([][denseGroup]uint64, cb/denseGroup*nIn)
			s.sumHi = make([]uint64, cb)
			s.sumLo = make([]uint64, cb)
		}
		kb, t := t%kBlocks, t/kBlocks
		r, c0 := t/cBlocks, (t%cBlocks)*cb
		k0, k1 := kb*kPer, min((kb+1)*kPer, nOut)
		buf, sumHi, sumLo := s.buf, s.sumHi, s.sumLo
		clear(sumHi)
		clear(sumLo)
		for i, in := range a.In {
			x := in[r][c0 : c0+cb]
			for g := range cb / denseGroup {
				buf[g*nIn+i] = [denseGroup]uint64(x[g*denseGroup:])
			}
			sumLo, sumHi := sumLo[:len(x)], sumHi[:len(x)]
			for c, v := range x {
				var cy uint64
				sumLo[c], cy = bits.Add64(sumLo[c], v, 0)
				sumHi[c] += cy
			}
		}
		rc := &consts[r]
		// Products x·(w+o) have at most pBits bits. Below 64, 2^(64−pBits)
		// of them can be summed in one word before a carry is possible.
		pBits := bits.Len64(rc.q-1) + wBits
		chunk := 0
		if pBits <= 62 {
			chunk = 1 << min(64-pBits, 30)
		}
		for k := k0; k < k1; k++ {
			wk := wOff[k*nIn : (k+1)*nIn]
			y := a.Out[k][r][c0 : c0+cb]
			var bias uint64
			if a.Bias != nil {
				bias = a.Bias[k][r]
			}
			for g := 0; g < cb; g += denseGroup {
				x := buf[g/denseGroup*nIn : (g/denseGroup+1)*nIn]
				var acc [2 * denseGroup]uint64
				switch {
				case chunk > 0:
					acc = mac4Chunked(x, wk, chunk)
				case pBits <= 64:
					acc = mac4Short(x, wk)
				default:
					acc = mac4(x, wk)
				}
				for u := range denseGroup {
					c := g + u
					// Σ x·w = acc − offset·Σ x, as a signed 128-bit value.
					oHi, oLo := bits.Mul64(sumLo[c], offset)
					oHi += sumHi[c] * offset
					lo, b := bits.Sub64(acc[2*u+1], oLo, 0)
					hi, _ := bits.Sub64(acc[2*u], oHi, b)
					v := rc.reduce(hi, lo) + bias
					if v >= rc.q {
						v -= rc.q
					}
					y[c] = v
				}
			}
		}
	})
}

// mac4 returns Σ_i x_i,t·w_i for t < 4 as 128-bit {hi, lo} pairs, with
// one 64×64→128-bit multiply per product.
func mac4(x [][4]uint64, w []uint64) [8]uint64 {
	var h0, l0, h1, l1, h2, l2, h3, l3, ph, pl, c uint64
	x = x[:len(w)]
	for i, wi := range w {
		v := &x[i]
		ph, pl = bits.Mul64(v[0], wi)
		l0, c = bits.Add64(l0, pl, 0)
		h0, _ = bits.Add64(h0, ph, c)
		ph, pl = bits.Mul64(v[1], wi)
		l1, c = bits.Add64(l1, pl, 0)
		h1, _ = bits.Add64(h1, ph, c)
		ph, pl = bits.Mul64(v[2], wi)
		l2, c = bits.Add64(l2, pl, 0)
		h2, _ = bits.Add64(h2, ph, c)
		ph, pl = bits.Mul64(v[3], wi)
		l3, c = bits.Add64(l3, pl, 0)
		h3, _ = bits.Add64(h3, ph, c)
	}
	return [8]uint64{h0, l0, h1, l1, h2, l2, h3, l3}
}

// mac4Chunked is mac4 where every product is below 2^(64−log2(chunk)):
// chunk products at a time are summed in plain 64-bit words (one multiply
// and one add each), then folded into the 128-bit accumulators. With int8
// weights this applies to every modulus below 2^54 (all but the first of
// an aios preset's primes).
func mac4Chunked(x [][4]uint64, w []uint64, chunk int) (acc [8]uint64) {
	x = x[:len(w)]
	for len(w) > 0 {
		n := min(chunk, len(w))
		xs, ws := x[:n], w[:n]
		var s0, s1, s2, s3 uint64
		for i, wi := range ws {
			v := &xs[i]
			s0 += v[0] * wi
			s1 += v[1] * wi
			s2 += v[2] * wi
			s3 += v[3] * wi
		}
		var c uint64
		acc[1], c = bits.Add64(acc[1], s0, 0)
		acc[0] += c
		acc[3], c = bits.Add64(acc[3], s1, 0)
		acc[2] += c
		acc[5], c = bits.Add64(acc[5], s2, 0)
		acc[4] += c
		acc[7], c = bits.Add64(acc[7], s3, 0)
		acc[6] += c
		x, w = x[n:], w[n:]
	}
	return acc
}

// mac4Short is mac4 where every product x·w is below 2^64 (the caller
// checks it from the moduli and weights): one 64-bit multiply per product,
// its carries counted into the high words. With int8 weights and moduli
// below 2^56 (every aios preset) this is the path taken.
func mac4Short(x [][4]uint64, w []uint64) [8]uint64 {
	var h0, l0, h1, l1, h2, l2, h3, l3, c uint64
	x = x[:len(w)]
	for i, wi := range w {
		v := &x[i]
		l0, c = bits.Add64(l0, v[0]*wi, 0)
		h0, _ = bits.Add64(h0, 0, c)
		l1, c = bits.Add64(l1, v[1]*wi, 0)
		h1, _ = bits.Add64(h1, 0, c)
		l2, c = bits.Add64(l2, v[2]*wi, 0)
		h2, _ = bits.Add64(h2, 0, c)
		l3, c = bits.Add64(l3, v[3]*wi, 0)
		h3, _ = bits.Add64(h3, 0, c)
	}
	return [8]uint64{h0, l0, h1, l1, h2, l2, h3, l3}
}
