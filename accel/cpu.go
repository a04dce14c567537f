package accel

import (
	"bufio"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// CPU is the pure-Go backend: all cores (GOMAXPROCS goroutines), no
// assembly. It is always available; [CPU] returns it directly for callers
// that want no registry.
type cpuBackend struct{ device string }

var _ Backend = (*cpuBackend)(nil)

// CPU returns the pure-Go backend.
func CPU() Backend { return cpuSingleton }

var cpuSingleton = &cpuBackend{device: cpuDevice()}

func init() {
	Register(Registration{Name: "cpu", Priority: 0, Open: func() (Backend, error) { return cpuSingleton, nil }})
}

func cpuDevice() string {
	name := cpuModel()
	if name == "" {
		name = runtime.GOARCH
	}
	return fmt.Sprintf("%s, %d logical CPUs (GOMAXPROCS=%d)", strings.TrimSpace(name), runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

func (*cpuBackend) Name() string     { return "cpu" }
func (c *cpuBackend) Device() string { return c.device }

// parallel runs fn(t) for t in [0, tasks) on up to GOMAXPROCS goroutines,
// handing out task indices in order.
func parallel(tasks int, fn func(worker, t int)) {
	workers := min(runtime.GOMAXPROCS(0), tasks)
	if workers <= 1 {
		for t := range tasks {
			fn(0, t)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				t := int(next.Add(1) - 1)
				if t >= tasks {
					return
				}
				fn(w, t)
			}
		})
	}
	wg.Wait()
}

func (*cpuBackend) NTT(l Layout, in, out [][]uint64) error {
	return rowTransform(l, in, out, false)
}

func (*cpuBackend) INTT(l Layout, in, out [][]uint64) error {
	return rowTransform(l, in, out, true)
}

// rowTransform delegates each row to lattigo's SubRing.NTT or INTT (Longa,
// Naehrig, CANS 2016, Algorithms 1 and 2), one row per task.
func rowTransform(l Layout, in, out [][]uint64, inverse bool) error {
	if err := CheckRowOp(l, in, out); err != nil {
		return err
	}
	subs := make([]*ring.SubRing, l.Rows())
	for r, q := range l.Moduli {
		s, err := subRing(l.N, q)
		if err != nil {
			return fmt.Errorf("row %d: %w", r, err)
		}
		subs[r] = s
	}
	parallel(l.Rows(), func(_, r int) {
		if inverse {
			subs[r].INTT(in[r], out[r])
		} else {
			subs[r].NTT(in[r], out[r])
		}
	})
	return nil
}

func (*cpuBackend) MulCoeffsMontgomeryThenAdd(l Layout, a, b, c [][]uint64) error {
	if err := CheckRowOp(l, a, b, c); err != nil {
		return err
	}
	const block = 4096
	per := (l.N + block - 1) / block
	parallel(l.Rows()*per, func(_, t int) {
		r, lo := t/per, (t%per)*block
		hi := min(lo+block, l.N)
		q := l.Moduli[r]
		qInv := mredConstant(q)
		x, y, z := a[r][lo:hi], b[r][lo:hi], c[r][lo:hi]
		y, z = y[:len(x)], z[:len(x)]
		for j := range x {
			// lattigo: CRed(z + MRed(x, y)).
			v := z[j] + mred(x[j], y[j], q, qInv)
			if v >= q {
				v -= q
			}
			z[j] = v
		}
	})
	return nil
}

// mredConstant is q^-1 mod 2^64 by Newton iteration (lattigo's MRedConstant
// computes the same value by repeated squaring).
func mredConstant(q uint64) uint64 {
	x := q // correct to 3 bits for odd q
	for range 5 {
		x *= 2 - q*x
	}
	return x
}

// mred is lattigo's MRed: x·y·2^-64 mod q for x·y < q·2^64.
func mred(x, y, q, qInv uint64) uint64 {
	mhi, mlo := bits.Mul64(x, y)
	hhi, _ := bits.Mul64(mlo*qInv, q)
	r := mhi - hhi + q
	if r >= q {
		r -= q
	}
	return r
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "" elsewhere.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
