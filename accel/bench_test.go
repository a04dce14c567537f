package accel_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/accel/acceltest"
	"github.com/aios-edge/aios/he"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// denseCase is one benchmarked layer: nIn → nOut over ciphertexts of a
// preset at its top level. distinct bounds the memory: input i is ciphertext
// i mod distinct (the 784-input layer would otherwise hold 1.6 GB of
// inputs); distinct ciphertexts already overflow the last-level cache.
type denseCase struct {
	name        string
	preset      string
	nIn, nOut   int
	distinct    int
	lattigoSkip bool // under -short: the baseline takes about a minute
}

var denseCases = []denseCase{
	{name: "64x32/n13", preset: "n13", nIn: 64, nOut: 32, distinct: 64},
	{name: "784x128/n14", preset: "n14", nIn: 784, nOut: 128, distinct: 32, lattigoSkip: true},
}

// randomCiphertexts returns n degree-1 ciphertexts at the top level with
// uniform coefficients: the layer's cost does not depend on whether they
// encrypt anything.
func randomCiphertexts(p ckks.Parameters, n int, seed uint64) []*rlwe.Ciphertext {
	rng := rand.New(rand.NewPCG(seed, 1))
	moduli := p.RingQ().ModuliChain()
	out := make([]*rlwe.Ciphertext, n)
	for i := range out {
		ct := ckks.NewCiphertext(p, 1, p.MaxLevel())
		for _, v := range ct.Value {
			for j, row := range v.Coeffs {
				for c := range row {
					row[c] = rng.Uint64N(moduli[j])
				}
			}
		}
		out[i] = ct
	}
	return out
}

func int8Weights(n int, seed uint64) []int64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	w := make([]int64, n)
	for j := range w {
		for w[j] == 0 { // dense: no pruned weight for either side to skip
			w[j] = rng.Int64N(256) - 128
		}
	}
	return w
}

// cpuTime is the CPU time (user + system) this process has consumed. On a
// machine shared with other work, wall time per layer depends on how much
// of the cores the benchmark got; CPU time per layer does not, so the
// benchmarks report both.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// baseline keeps the lattigo sub-benchmark's time per layer so that the
// backend's sub-benchmark, run after it, can report the ratio.
var baseline sync.Map // case name → [wall, cpu] ns per layer

// BenchmarkDenseLayer compares a whole dense layer on the selected backend
// (AIOS_ACCEL) with lattigo's evaluator doing the same integer
// multiply-adds ciphertext by ciphertext (Mul, then MulThenAdd), on one
// goroutine as lattigo's evaluator runs. Metrics: mulAdds/s counts
// coefficient multiply-adds (K·I·rows·N per layer); cpu-ms/op is CPU time
// per layer; x-lattigo is lattigo's wall time over the backend's, and
// x-lattigo-cpu the same for CPU time (the work per core saved).
func BenchmarkDenseLayer(b *testing.B) {
	backend, err := accel.Select()
	if err != nil {
		b.Fatal(err)
	}
	for _, dc := range denseCases {
		hp, err := he.PresetByName(dc.preset)
		if err != nil {
			b.Fatal(err)
		}
		p := hp.Parameters
		pool := randomCiphertexts(p, dc.distinct, 1)
		cts := make([]*rlwe.Ciphertext, dc.nIn)
		for i := range cts {
			cts[i] = pool[i%len(pool)]
		}
		w := int8Weights(dc.nOut*dc.nIn, 3)
		level := p.MaxLevel()
		rows := 2 * (level + 1)
		mulAdds := float64(dc.nOut) * float64(dc.nIn) * float64(rows) * float64(p.N())
		outs := make([]*rlwe.Ciphertext, dc.nOut)
		for k := range outs {
			outs[k] = ckks.NewCiphertext(p, 1, level)
		}

		b.Run(dc.name+"/lattigo", func(b *testing.B) {
			if dc.lattigoSkip && testing.Short() {
				b.Skip("lattigo baseline of the 784x128 layer takes about a minute; run without -short")
			}
			eval := ckks.NewEvaluator(p, nil)
			cpu0 := cpuTime()
			for b.Loop() {
				for k := range outs {
					if err := eval.Mul(cts[0], w[k*dc.nIn], outs[k]); err != nil {
						b.Fatal(err)
					}
					for i := 1; i < dc.nIn; i++ {
						if err := eval.MulThenAdd(cts[i], w[k*dc.nIn+i], outs[k]); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			cpuNs := float64(cpuTime()-cpu0) / float64(b.N)
			baseline.Store(dc.name, [2]float64{ns, cpuNs})
			b.ReportMetric(mulAdds/ns*1e9, "mulAdds/s")
			b.ReportMetric(cpuNs/1e6, "cpu-ms/op")
		})

		b.Run(dc.name+"/"+backend.Name(), func(b *testing.B) {
			l := accel.CiphertextLayout(p.N(), p.RingQ().ModuliChain()[:level+1], 1)
			args := &accel.DenseLayerArgs{Layout: l, Weights: w}
			for _, ct := range cts {
				args.In = append(args.In, ciphertextRows(ct))
			}
			for _, ct := range outs {
				args.Out = append(args.Out, ciphertextRows(ct))
			}
			cpu0 := cpuTime()
			for b.Loop() {
				if err := backend.DenseLayer(args); err != nil {
					b.Fatal(err)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			cpuNs := float64(cpuTime()-cpu0) / float64(b.N)
			b.ReportMetric(mulAdds/ns*1e9, "mulAdds/s")
			b.ReportMetric(cpuNs/1e6, "cpu-ms/op")
			if base, ok := baseline.Load(dc.name); ok {
				bt := base.([2]float64)
				b.ReportMetric(bt[0]/ns, "x-lattigo")        // wall time ratio
				b.ReportMetric(bt[1]/cpuNs, "x-lattigo-cpu") // CPU time ratio (work per core)
			}
		})
	}
}

// BenchmarkNTT measures forward NTTs of a batch of limbs (16 rows: a
// degree-1 ciphertext of 8 limbs) on the selected backend against lattigo's
// ring.NTT on one goroutine. Metric: limbs/s.
func BenchmarkNTT(b *testing.B) {
	backend, err := accel.Select()
	if err != nil {
		b.Fatal(err)
	}
	for _, logN := range []int{13, 14, 15, 16} {
		const rows = 16
		sz := size{logN: logN, limbs: 8, polys: 2}
		l := polyLayout(b, sz)
		rng := rand.New(rand.NewPCG(11, 12))
		in := acceltest.RandRows(rng, l)
		out := acceltest.CloneRows(in)
		b.Run(fmt.Sprintf("N=2^%d/lattigo", logN), func(b *testing.B) {
			r, err := ring.NewRing(l.N, l.Moduli[:8])
			if err != nil {
				b.Fatal(err)
			}
			p0, p1 := r.NewPoly(), r.NewPoly()
			for b.Loop() {
				r.NTT(p0, p1)
				r.NTT(p1, p0)
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "limbs/s")
		})
		b.Run(fmt.Sprintf("N=2^%d/%s", logN, backend.Name()), func(b *testing.B) {
			if err := backend.NTT(l, in, out); err != nil { // builds the tables once
				b.Fatal(err)
			}
			for b.Loop() {
				if err := backend.NTT(l, in, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "limbs/s")
		})
	}
}
