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

// terms is one output's nonzero weights: input indices and the weights as
// two's complement words.
type terms struct {
	idx []int32
	w   []uint64
}

// denseLayerCPU computes the layer in tasks of one row r, one block of
// coefficients and (for small layers) one block of outputs, on all cores.
// A task gathers the block of every input into a contiguous buffer laid out
// by groups of denseGroup coefficients (buf[g·I + i][t] =
// In[i][r][c0 + g·G + t]); then for every output k and group it sums
// W_ki·x over the nonzero weights in registers, exactly, as a signed
// 128-bit value (each product is below 2^93 in magnitude, the sum below
// 2^125 for I ≤ 2^32), and reduces it once: one reduction per output
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
	var maxAbs uint64
	ts := make([]terms, nOut)
	for k := range nOut {
		for i, w := range a.Weights[k*nIn : (k+1)*nIn] {
			if w != 0 {
				ts[k].idx, ts[k].w = append(ts[k].idx, int32(i)), append(ts[k].w, uint64(w))
				maxAbs = max(maxAbs, uint64(max(w, -w)))
			}
		}
	}
	wBits := bits.Len64(maxAbs)
	type scratch struct{ buf [][denseGroup]uint64 }
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
		}
		kb, t := t%kBlocks, t/kBlocks
		r, c0 := t/cBlocks, (t%cBlocks)*cb
		k0, k1 := kb*kPer, min((kb+1)*kPer, nOut)
		buf := s.buf
		for i, in := range a.In {
			x := in[r][c0 : c0+cb]
			for g := range cb / denseGroup {
				buf[g*nIn+i] = [denseGroup]uint64(x[g*denseGroup:])
			}
		}
		rc := &consts[r]
		// Products w·x are below 2^pBits in magnitude: 2^(63−pBits) of them
		// add up exactly in a signed 64-bit word.
		pBits := bits.Len64(rc.q-1) + wBits
		chunk := 0
		if pBits <= 61 {
			chunk = 1 << min(63-pBits, 30)
		}
		for k := k0; k < k1; k++ {
			y := a.Out[k][r][c0 : c0+cb]
			var bias uint64
			if a.Bias != nil {
				bias = a.Bias[k][r]
			}
			for g := 0; g < cb; g += denseGroup {
				x := buf[g/denseGroup*nIn : (g/denseGroup+1)*nIn]
				var acc [8]uint64
				if chunk > 0 {
					acc = mac4Chunked(x, &ts[k], chunk)
				} else {
					acc = mac4(x, &ts[k])
				}
				for u := range denseGroup {
					v := rc.reduce(acc[2*u], acc[2*u+1]) + bias
					if v >= rc.q {
						v -= rc.q
					}
					y[g+u] = v
				}
			}
		}
	})
}

// mac4 returns Σ_j x[idx_j][t]·w_j for t < 4 as signed 128-bit {hi, lo}
// pairs, with one 64×64→128-bit multiply per product: the unsigned product
// of x and a negative w's two's complement exceeds the signed one by x·2^64.
func mac4(x [][4]uint64, t *terms) [8]uint64 {
	var h0, l0, h1, l1, h2, l2, h3, l3, ph, pl, c uint64
	idx := t.idx[:len(t.w)]
	for j, wj := range t.w {
		v := &x[idx[j]]
		m := uint64(int64(wj) >> 63)
		ph, pl = bits.Mul64(v[0], wj)
		l0, c = bits.Add64(l0, pl, 0)
		h0, _ = bits.Add64(h0, ph-v[0]&m, c)
		ph, pl = bits.Mul64(v[1], wj)
		l1, c = bits.Add64(l1, pl, 0)
		h1, _ = bits.Add64(h1, ph-v[1]&m, c)
		ph, pl = bits.Mul64(v[2], wj)
		l2, c = bits.Add64(l2, pl, 0)
		h2, _ = bits.Add64(h2, ph-v[2]&m, c)
		ph, pl = bits.Mul64(v[3], wj)
		l3, c = bits.Add64(l3, pl, 0)
		h3, _ = bits.Add64(h3, ph-v[3]&m, c)
	}
	return [8]uint64{h0, l0, h1, l1, h2, l2, h3, l3}
}

// mac4Chunked is mac4 where chunk products at a time add up in a signed
// 64-bit word without overflow (the caller derives chunk from the modulus
// and the weights): one 64-bit multiply and one add per product, the
// chunk's sum then sign-extended into the 128-bit accumulators. With int8
// weights this applies to every modulus below 2^53 (all but the first of
// an aios preset's primes).
func mac4Chunked(x [][4]uint64, t *terms, chunk int) (acc [8]uint64) {
	idx, w := t.idx[:len(t.w)], t.w
	dense := len(w) == len(x) // no zero weight: idx_j = j
	for len(w) > 0 {
		n := min(chunk, len(w))
		var s0, s1, s2, s3 uint64
		if dense {
			s0, s1, s2, s3 = sum4Dense(x[:n], w[:n])
			x = x[n:]
		} else {
			s0, s1, s2, s3 = sum4(x, idx[:n], w[:n])
		}
		var c uint64
		acc[1], c = bits.Add64(acc[1], s0, 0)
		acc[0] += uint64(int64(s0)>>63) + c
		acc[3], c = bits.Add64(acc[3], s1, 0)
		acc[2] += uint64(int64(s1)>>63) + c
		acc[5], c = bits.Add64(acc[5], s2, 0)
		acc[4] += uint64(int64(s2)>>63) + c
		acc[7], c = bits.Add64(acc[7], s3, 0)
		acc[6] += uint64(int64(s3)>>63) + c
		idx, w = idx[n:], w[n:]
	}
	return acc
}

// sum4 is mac4Chunked's inner loop: Σ_j x[idx_j][t]·w_j mod 2^64, t < 4.
// It is a function of its own so that the compiler keeps its sums in
// registers.
//
//go:noinline
func sum4(x [][4]uint64, idx []int32, w []uint64) (s0, s1, s2, s3 uint64) {
	idx = idx[:len(w)]
	for j, wj := range w {
		v := &x[idx[j]]
		s0 += v[0] * wj
		s1 += v[1] * wj
		s2 += v[2] * wj
		s3 += v[3] * wj
	}
	return
}

// sum4Dense is sum4 with idx_j = j.
//
//go:noinline
func sum4Dense(x [][4]uint64, w []uint64) (s0, s1, s2, s3 uint64) {
	x = x[:len(w)]
	for j, wj := range w {
		v := &x[j]
		s0 += v[0] * wj
		s1 += v[1] * wj
		s2 += v[2] * wj
		s3 += v[3] * wj
	}
	return
}
