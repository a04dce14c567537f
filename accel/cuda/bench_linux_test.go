//go:build linux

package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/aios-edge/aios/accel"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Benchmarks of the device, for scripts/gpu-check.sh; they skip where the
// backend does not open. Each reports the cpu backend on the same machine
// in the same run.

func openForBench(b *testing.B) *backend {
	b.Helper()
	be, err := accel.SelectByName("cuda")
	if err != nil {
		b.Skipf("cuda unavailable: %v", err)
	}
	return be.(*backend)
}

func benchLayout(b *testing.B, logN, limbs, polys int) accel.Layout {
	g := ring.NewNTTFriendlyPrimesGenerator(50, 2<<logN)
	q, err := g.NextAlternatingPrimes(limbs)
	if err != nil {
		b.Fatal(err)
	}
	var m []uint64
	for range polys {
		m = append(m, q...)
	}
	return accel.Layout{N: 1 << logN, Moduli: m}
}

// timeEvents runs f (which queues work on stream 0) reps times between two
// timing events and returns the device milliseconds per repetition.
func (g *device) timeEvents(reps int, f func() error) (float64, error) {
	var start, end uintptr
	if err := g.d.check("cuEventCreate", g.d.cuEventCreate(&start, 0)); err != nil {
		return 0, err
	}
	if err := g.d.check("cuEventCreate", g.d.cuEventCreate(&end, 0)); err != nil {
		return 0, err
	}
	if err := g.d.check("cuEventRecord", g.d.cuEventRecord(start, g.streams[0])); err != nil {
		return 0, err
	}
	for range reps {
		if err := f(); err != nil {
			return 0, err
		}
	}
	if err := g.d.check("cuEventRecord", g.d.cuEventRecord(end, g.streams[0])); err != nil {
		return 0, err
	}
	if err := g.d.check("cuEventSynchronize", g.d.cuEventSynchronize(end)); err != nil {
		return 0, err
	}
	var ms float32
	if err := g.d.check("cuEventElapsedTime", g.d.cuEventElapsedTime(&ms, start, end)); err != nil {
		return 0, err
	}
	return float64(ms) / float64(reps), nil
}

// BenchmarkDenseLayerDevice: a 784→128 int8 layer over degree-1
// ciphertexts of 3 limbs at N = 2^14 (6 rows): the cpu backend, the cuda
// backend end to end (copies included), and the kernel alone on
// device-resident operands (event-timed). x-cpu is the cpu backend's time
// over each.
func BenchmarkDenseLayerDevice(b *testing.B) {
	be := openForBench(b)
	const nIn, nOut = 784, 128
	l := benchLayout(b, 14, 3, 2)
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([][][]uint64, 16) // inputs repeat 16 distinct ciphertexts
	for i := range pool {
		pool[i] = make([][]uint64, l.Rows())
		for r, q := range l.Moduli {
			pool[i][r] = make([]uint64, l.N)
			for j := range pool[i][r] {
				pool[i][r][j] = rng.Uint64N(q)
			}
		}
	}
	in := make([][][]uint64, nIn)
	for i := range in {
		in[i] = pool[i%len(pool)]
	}
	w := make([]int64, nIn*nOut)
	for j := range w {
		w[j] = rng.Int64N(255) - 127
	}
	out := make([][][]uint64, nOut)
	for k := range out {
		out[k] = make([][]uint64, l.Rows())
		for r := range out[k] {
			out[k][r] = make([]uint64, l.N)
		}
	}
	args := &accel.DenseLayerArgs{Layout: l, Weights: w, In: in, Out: out}
	mulAdds := float64(nIn) * nOut * float64(l.Rows()*l.N)
	var cpuMs float64
	b.Run("cpu", func(b *testing.B) {
		for b.Loop() {
			if err := accel.CPU().DenseLayer(args); err != nil {
				b.Fatal(err)
			}
		}
		cpuMs = b.Elapsed().Seconds() * 1000 / float64(b.N)
		b.ReportMetric(mulAdds/cpuMs/1e6, "Gmuladds/s")
	})
	b.Run("cuda-end-to-end", func(b *testing.B) {
		for b.Loop() {
			if err := be.DenseLayer(args); err != nil {
				b.Fatal(err)
			}
		}
		ms := b.Elapsed().Seconds() * 1000 / float64(b.N)
		b.ReportMetric(mulAdds/ms/1e6, "Gmuladds/s")
		if cpuMs > 0 {
			b.ReportMetric(cpuMs/ms, "x-cpu")
		}
	})
	b.Run("cuda-kernel", func(b *testing.B) {
		var ms float64
		err := be.do(func(gg gpu) error {
			g := gg.(*device)
			call := &allocs{g: g}
			defer call.release()
			p := &denseParams{n: uint32(l.N), rows: uint32(l.Rows()), nIn: nIn, nOut: nOut}
			var mc []uint64
			for _, q := range l.Moduli {
				k := newModConsts(q, nil)
				mc = k.words(mc)
			}
			var err error
			if p.w, err = call.upload(0, [][]uint64{int64Words(w)}); err != nil {
				return err
			}
			if p.mc, err = call.upload(0, [][]uint64{mc}); err != nil {
				return err
			}
			if p.in, err = call.upload(0, operandRows(in, 0, l.Rows())); err != nil {
				return err
			}
			if p.out, err = call.alloc(nOut * l.Rows() * l.N); err != nil {
				return err
			}
			ln := denseLaunch(p)
			if err := g.launch(0, ln); err != nil { // warm up
				return err
			}
			b.ResetTimer()
			ms, err = g.timeEvents(max(b.N, 5), func() error { return g.launch(0, ln) })
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms, "kernel-ms/op")
		b.ReportMetric(mulAdds/ms/1e6, "Gmuladds/s")
		if cpuMs > 0 {
			b.ReportMetric(cpuMs/ms, "x-cpu")
		}
	})
}

// BenchmarkNTTDevice: forward NTTs of 64 rows at N = 2^14 … 2^16 on
// device-resident data (event-timed), against the cpu backend, and the
// fraction of the device-to-device copy rate it reaches: bytes moved
// (each launch reads and writes every row once) over the time, against
// cuMemcpyDtoD of the same buffer.
func BenchmarkNTTDevice(b *testing.B) {
	be := openForBench(b)
	for _, logN := range []int{14, 15, 16} {
		l := benchLayout(b, logN, 8, 8)
		rng := rand.New(rand.NewPCG(3, 4))
		rows := make([][]uint64, l.Rows())
		for r, q := range l.Moduli {
			rows[r] = make([]uint64, l.N)
			for j := range rows[r] {
				rows[r][j] = rng.Uint64N(q)
			}
		}
		out := make([][]uint64, l.Rows())
		for r := range out {
			out[r] = make([]uint64, l.N)
		}
		bytes := float64(l.Rows() * l.N * 8)
		b.Run(fmt.Sprintf("N=2^%d/cpu", logN), func(b *testing.B) {
			for b.Loop() {
				if err := accel.CPU().NTT(l, rows, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(l.Rows()*b.N)/b.Elapsed().Seconds(), "limbs/s")
		})
		b.Run(fmt.Sprintf("N=2^%d/cuda-end-to-end", logN), func(b *testing.B) {
			for b.Loop() {
				if err := be.NTT(l, rows, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(l.Rows()*b.N)/b.Elapsed().Seconds(), "limbs/s")
		})
		b.Run(fmt.Sprintf("N=2^%d/cuda-kernel", logN), func(b *testing.B) {
			var ms, copyMs float64
			var launches int
			err := be.do(func(gg gpu) error {
				g := gg.(*device)
				call := &allocs{g: g}
				defer call.release()
				ts, err := be.tablesFor(g, call, l.N, l.Moduli)
				if err != nil {
					return err
				}
				idx := make([]uint32, l.Rows())
				for r, q := range l.Moduli {
					idx[r] = ts.index[q]
				}
				base := nttParams{n: uint32(l.N), rows: uint32(l.Rows()), mc: ts.mc, roots: ts.fwd}
				if base.table, err = call.upload(0, [][]uint64{packU32(idx)}); err != nil {
					return err
				}
				if base.data, err = call.upload(0, rows); err != nil {
					return err
				}
				dst, err := call.alloc(l.Rows() * l.N)
				if err != nil {
					return err
				}
				ls := nttLaunches(base, false)
				launches = len(ls)
				run := func() error {
					for _, ln := range ls {
						if err := g.launch(0, ln); err != nil {
							return err
						}
					}
					return nil
				}
				if err := run(); err != nil {
					return err
				}
				b.ResetTimer()
				if ms, err = g.timeEvents(max(b.N, 5), run); err != nil {
					return err
				}
				copyMs, err = g.timeEvents(max(b.N, 5), func() error {
					return g.d.check("cuMemcpyDtoDAsync", g.d.cuMemcpyDtoDAsync(dst, base.data, uint64(bytes), g.streams[0]))
				})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			moved := 2 * bytes * float64(launches) // read + write per launch
			b.ReportMetric(ms, "kernel-ms/op")
			b.ReportMetric(float64(l.Rows())/ms*1000, "limbs/s")
			b.ReportMetric(moved/ms/1e6, "GB/s")
			b.ReportMetric(2*bytes/copyMs/1e6, "dtod-GB/s")
			b.ReportMetric((moved/ms)/(2*bytes/copyMs), "x-dtod-bandwidth")
		})
	}
}
