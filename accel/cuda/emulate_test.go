package cuda

import (
	"fmt"
	"math/bits"
	"sort"
)

// A Go transcription of kernels.cu, line for line: the same reductions, the
// same 128-bit accumulation, the same lazy butterflies, the same stage and
// tile split, run thread by thread over the launch geometry the host code
// computes. emuGPU implements gpu with it, so that the backend's plans
// (packing, batching, parameter blocks, launch sequences) run unchanged
// and are checked against lattigo and the cpu backend on a machine without
// a GPU. __umul64hi(a, b) is bits.Mul64's high word; u64 arithmetic wraps
// as Go's uint64 does.

func umul64hi(a, b uint64) uint64 { h, _ := bits.Mul64(a, b); return h }

func emuMred(x, y, q, qinv uint64) uint64 {
	mhi := umul64hi(x, y)
	mlo := x * y
	hhi := umul64hi(mlo*qinv, q)
	r := mhi - hhi + q
	if r >= q {
		r -= q
	}
	return r
}

func emuMredLazy(x, y, q, qinv uint64) uint64 {
	ahi := umul64hi(x, y)
	alo := x * y
	h := umul64hi(alo*qinv, q)
	return ahi - h + q
}

func emuBredAdd(a, q, bred uint64) uint64 {
	mhi := umul64hi(a, bred)
	r := a - mhi*q
	if r >= q {
		r -= q
	}
	return r
}

func emuReduce128(hi, lo uint64, k *modConsts) uint64 {
	q := k.q
	neg := int64(hi) < 0
	if neg {
		nlo := 0 - lo
		var borrow uint64
		if lo != 0 {
			borrow = 1
		}
		hi = 0 - hi - borrow
		lo = nlo
	}
	qt := umul64hi(hi, k.bred)
	h := hi - qt*q
	if h >= q {
		h -= q
	}
	mh := umul64hi(lo*k.qInv, q)
	t := h - mh + q
	if t >= q {
		t -= q
	}
	v := emuMred(t, k.r2, q, k.qInv)
	if neg && v != 0 {
		v = q - v
	}
	return v
}

func emuButterfly(x, y *uint64, psi, q, qinv uint64) {
	twoq, fourq := q<<1, q<<2
	u := *x
	if u >= fourq {
		u -= fourq
	}
	v := emuMredLazy(*y, psi, q, qinv)
	*x = u + v
	*y = u + twoq - v
}

func emuInvButterfly(x, y *uint64, psi, q, qinv uint64) {
	twoq, fourq := q<<1, q<<2
	u, v := *x, *y
	s := u + v
	if s >= twoq {
		s -= twoq
	}
	*x = s
	*y = emuMredLazy(u+fourq-v, psi, q, qinv)
}

func emuFinish(x uint64, k *modConsts, inverse bool) uint64 {
	if inverse {
		return emuMred(x, k.nInv, k.q, k.qInv)
	}
	return emuBredAdd(x, k.q, k.bred)
}

func ffs(x uint32) uint32 { return uint32(bits.TrailingZeros32(x)) + 1 }

// emuGPU is a gpu whose memory is Go slices at fake device addresses and
// whose launches run the transcribed kernels. It records every launch.
type emuGPU struct {
	next     uint64
	bufs     map[uint64][]uint64 // base address → words
	live     int                 // buffers allocated and not freed
	launches []launch
	failOn   kernel // a launch of this kernel fails (−1: none)
}

func newEmuGPU() *emuGPU { return &emuGPU{next: 1 << 20, bufs: map[uint64][]uint64{}, failOn: -1} }

func (e *emuGPU) alloc(words int) (uint64, error) {
	p := e.next
	e.bufs[p] = make([]uint64, words)
	e.next += uint64(words*8+4095) &^ 4095
	e.next += 4096
	e.live++
	return p, nil
}

func (e *emuGPU) free(p uint64) {
	if _, ok := e.bufs[p]; !ok {
		panic(fmt.Sprintf("emu: free of unknown buffer %#x", p))
	}
	delete(e.bufs, p)
	e.live--
}

// mem returns the words from device address p (8-byte aligned) to the end
// of its buffer.
func (e *emuGPU) mem(p uint64) []uint64 {
	bases := make([]uint64, 0, len(e.bufs))
	for b := range e.bufs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	i := sort.Search(len(bases), func(i int) bool { return bases[i] > p }) - 1
	if i < 0 || p%8 != 0 {
		panic(fmt.Sprintf("emu: bad device address %#x", p))
	}
	b := e.bufs[bases[i]]
	off := (p - bases[i]) / 8
	if off > uint64(len(b)) {
		panic(fmt.Sprintf("emu: address %#x beyond its buffer", p))
	}
	return b[off:]
}

func (e *emuGPU) upload(_ int, dst uint64, rows [][]uint64) error {
	packRows(e.mem(dst), rows)
	return nil
}

func (e *emuGPU) download(_ int, rows [][]uint64, src uint64) error {
	unpackRows(rows, e.mem(src))
	return nil
}

func (e *emuGPU) sync(int) error { return nil }

func (e *emuGPU) consts(p uint64, i uint32) *modConsts {
	w := e.mem(p)[i*modConstsWords:]
	return &modConsts{q: w[0], qInv: w[1], bred: w[2], r2: w[3], nInv: w[4]}
}

func (e *emuGPU) launch(_ int, l launch) error {
	e.launches = append(e.launches, l)
	if l.k == e.failOn {
		return fmt.Errorf("emu: launch of %s failed", l.k)
	}
	switch p := l.params.(type) {
	case *denseParams:
		e.dense(l, p)
	case *nttParams:
		if l.k == kNTTTile || l.k == kINTTTile {
			e.nttTile(l, p, l.k == kINTTTile)
		} else {
			e.nttStage(l, p, l.k == kINTTStage)
		}
	case *mulParams:
		e.mul(l, p)
	default:
		return fmt.Errorf("emu: parameters %T", l.params)
	}
	return nil
}

// dense is aios_dense: per block (x, y, z) the shared weight tiles, then per
// thread the accumulation and the reduction.
func (e *emuGPU) dense(l launch, p *denseParams) {
	in, out, w := e.mem(p.in), e.mem(p.out), e.mem(p.w)
	var bias []uint64
	if p.bias != 0 {
		bias = e.mem(p.bias)
	}
	for bz := range l.grid.z {
		for by := range l.grid.y {
			for bx := range l.grid.x {
				r, k0 := by, bz*denseKT
				kt := min(uint32(denseKT), p.nOut-k0)
				var hi, lo [denseThreads][denseKT]uint64
				for i0 := uint32(0); i0 < p.nIn; i0 += denseIT {
					it := min(uint32(denseIT), p.nIn-i0)
					var ws [denseKT][denseIT]int64
					for s := uint32(0); s < denseKT*denseIT; s++ {
						kk, ii := s/denseIT, s%denseIT
						if kk < kt && ii < it {
							ws[kk][ii] = int64(w[uint64(k0+kk)*uint64(p.nIn)+uint64(i0+ii)])
						}
					}
					for tid := range l.block.x {
						c := bx*l.block.x + tid
						if c >= p.n {
							continue
						}
						for ii := range it {
							x := in[(uint64(i0+ii)*uint64(p.rows)+uint64(r))*uint64(p.n)+uint64(c)]
							for kk := range denseKT {
								wv := ws[kk][ii]
								if wv != 0 {
									wu := uint64(wv)
									pl := x * wu
									ph := umul64hi(x, wu)
									if wv < 0 {
										ph -= x
									}
									lo[tid][kk] += pl
									var carry uint64
									if lo[tid][kk] < pl {
										carry = 1
									}
									hi[tid][kk] += ph + carry
								}
							}
						}
					}
				}
				k := e.consts(p.mc, r)
				for tid := range l.block.x {
					c := bx*l.block.x + tid
					if c >= p.n {
						continue
					}
					for kk := range uint32(denseKT) {
						if kk < kt {
							v := emuReduce128(hi[tid][kk], lo[tid][kk], k)
							if bias != nil {
								v += bias[uint64(k0+kk)*uint64(p.rows)+uint64(r)]
								if v >= k.q {
									v -= k.q
								}
							}
							out[(uint64(k0+kk)*uint64(p.rows)+uint64(r))*uint64(p.n)+uint64(c)] = v
						}
					}
				}
			}
		}
	}
}

func (e *emuGPU) nttStage(l launch, p *nttParams, inverse bool) {
	data, roots, table := e.mem(p.data), e.mem(p.roots), e.mem(p.table)
	for by := range l.grid.y {
		for bx := range l.grid.x {
			for tid := range l.block.x {
				b := bx*l.block.x + tid
				r := by
				if b >= p.n/2 {
					continue
				}
				tb := unpackU32(table, int(r))
				k := e.consts(p.mc, tb)
				logt := ffs(p.t) - 1
				i, j := b>>logt, 2*(b>>logt)*p.t+(b&(p.t-1))
				m := p.n / (2 * p.t) // h for the inverse
				x := data[uint64(r)*uint64(p.n):]
				u, v := x[j], x[j+p.t]
				psi := roots[uint64(tb)*uint64(p.n)+uint64(m+i)]
				if inverse {
					emuInvButterfly(&u, &v, psi, k.q, k.qInv)
				} else {
					emuButterfly(&u, &v, psi, k.q, k.qInv)
				}
				if p.last != 0 {
					u, v = emuFinish(u, k, inverse), emuFinish(v, k, inverse)
				}
				x[j], x[j+p.t] = u, v
			}
		}
	}
}

// nttTile is aios_ntt_tile / aios_intt_tile; a stage's threads run one
// after the other between the barriers.
func (e *emuGPU) nttTile(l launch, p *nttParams, inverse bool) {
	data, roots, table := e.mem(p.data), e.mem(p.roots), e.mem(p.table)
	S := p.t
	if l.block.x != S/2 || S > nttTile {
		panic("emu: tile launch shape")
	}
	for by := range l.grid.y {
		for bx := range l.grid.x {
			r := by
			tb := unpackU32(table, int(r))
			k := e.consts(p.mc, tb)
			rt := roots[uint64(tb)*uint64(p.n):]
			x := data[uint64(r)*uint64(p.n)+uint64(bx)*uint64(S):]
			var s [nttTile]uint64
			for tid := range S / 2 {
				s[tid], s[tid+S/2] = x[tid], x[tid+S/2]
			}
			stage := func(t uint32) {
				for tid := range S / 2 {
					logt := ffs(t) - 1
					il, j := tid>>logt, 2*(tid>>logt)*t+(tid&(t-1))
					m := p.n / (2 * t)
					i := bx*(S/(2*t)) + il
					u, v := s[j], s[j+t]
					if inverse {
						emuInvButterfly(&u, &v, rt[m+i], k.q, k.qInv)
					} else {
						emuButterfly(&u, &v, rt[m+i], k.q, k.qInv)
					}
					s[j], s[j+t] = u, v
				}
			}
			if inverse {
				for t := uint32(1); t <= S/2; t <<= 1 {
					stage(t)
				}
			} else {
				for t := S / 2; t >= 1; t >>= 1 {
					stage(t)
				}
			}
			for tid := range S / 2 {
				a, b := s[tid], s[tid+S/2]
				if p.last != 0 {
					a, b = emuFinish(a, k, inverse), emuFinish(b, k, inverse)
				}
				x[tid], x[tid+S/2] = a, b
			}
		}
	}
}

func (e *emuGPU) mul(l launch, p *mulParams) {
	a, b, c := e.mem(p.a), e.mem(p.b), e.mem(p.c)
	for by := range l.grid.y {
		for bx := range l.grid.x {
			for tid := range l.block.x {
				cc, r := bx*l.block.x+tid, by
				if cc >= p.n {
					continue
				}
				k := e.consts(p.mc, r)
				o := uint64(r)*uint64(p.n) + uint64(cc)
				v := c[o] + emuMred(a[o], b[o], k.q, k.qInv)
				if v >= k.q {
					v -= k.q
				}
				c[o] = v
			}
		}
	}
}

// newEmulatedBackend is the cuda backend's host code on the emulator, with
// batches of at most batchWords device words.
func newEmulatedBackend(batchWords int) (*backend, *emuGPU) {
	e := newEmuGPU()
	return &backend{device: "emulated", batchWords: batchWords, maxWords: batchWords,
		do: func(f func(g gpu) error) error { return f(e) }}, e
}
