package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/aios-edge/aios/accel"
	_ "github.com/aios-edge/aios/accel/cuda" // registers itself; unavailable until built
)

// benchReport is what `aios bench` prints.
type benchReport struct {
	Backend  string        `json:"backend"`
	Device   string        `json:"device"`
	Backends []accel.Info  `json:"backends"`
	Results  []benchResult `json:"results"`
}

type benchResult struct {
	Kernel  string  `json:"kernel"`
	LogN    int     `json:"log_n"`
	Rows    int     `json:"rows"`
	Shape   string  `json:"shape,omitempty"`
	Seconds float64 `json:"seconds"` // per call, best of the runs
	Rate    float64 `json:"rate"`
	Unit    string  `json:"unit"`
}

func init() {
	register(&command{
		name:    "bench",
		summary: "run the polynomial kernels on the selected accelerator backend and report throughput",
		usage:   "[--backend auto|cpu|cuda] [--sizes 12,13,14] [--limbs 4] [--layer 64x32] [--runs 3] [--json]",
		new:     func() runner { return new(benchCmd) },
	})
}

// benchCmd is `aios bench`.
type benchCmd struct {
	backend, sizes, layer string
	limbs, runs           int
	asJSON                bool
}

func (c *benchCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.backend, "backend", "", "backend to run (default: $"+accel.EnvVar+", else auto)")
	fs.StringVar(&c.sizes, "sizes", "12,13,14", "ring degrees to run, as log2(N), comma-separated (4…17)")
	fs.IntVar(&c.limbs, "limbs", 4, "RNS limbs per polynomial (a ciphertext is 2× as many rows)")
	fs.StringVar(&c.layer, "layer", "64x32", "dense layer inputs x outputs")
	fs.IntVar(&c.runs, "runs", 3, "runs per kernel; the best is reported")
	jsonFlag(fs, &c.asJSON)
}

func (c *benchCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	logNs, err := parseLogNs(c.sizes)
	if err != nil {
		return err
	}
	nIn, nOut, err := parseLayer(c.layer)
	if err != nil {
		return err
	}
	if c.limbs < 1 || c.limbs > 32 {
		return usagef("--limbs %d: want 1…32", c.limbs)
	}
	if c.runs < 1 {
		return usagef("--runs %d: want ≥ 1", c.runs)
	}
	name := c.backend
	if name == "" {
		name = os.Getenv(accel.EnvVar)
	}
	b, err := accel.SelectByName(name)
	if err != nil {
		return err
	}
	rep := benchReport{Backend: b.Name(), Device: b.Device(), Backends: accel.Backends()}
	for _, logN := range logNs {
		res, err := benchSize(ctx, b, logN, c.limbs, nIn, nOut, c.runs)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, res...)
	}
	return report(e.stdout, c.asJSON, rep, rep.text)
}

func (rep *benchReport) text(w io.Writer) error {
	fmt.Fprintf(w, "backend %s: %s\n", rep.Backend, rep.Device)
	for _, in := range rep.Backends {
		state := "available"
		if !in.Available {
			state = "unavailable: " + in.Reason
		}
		fmt.Fprintf(w, "  %-6s %s\n", in.Name, state)
	}
	fmt.Fprintf(w, "\n%-28s %6s %5s %10s %14s\n", "kernel", "N", "rows", "time", "throughput")
	for _, r := range rep.Results {
		k := r.Kernel
		if r.Shape != "" {
			k += " " + r.Shape
		}
		fmt.Fprintf(w, "%-28s %6s %5d %10s %10.3g %s\n", k, "2^"+strconv.Itoa(r.LogN), r.Rows,
			time.Duration(r.Seconds*float64(time.Second)).Round(time.Microsecond), r.Rate, r.Unit)
	}
	return nil
}

func parseLogNs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < accel.MinLogN || v > accel.MaxLogN {
			return nil, usagef("--sizes: %q is not a log2(N) in %d…%d", f, accel.MinLogN, accel.MaxLogN)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseLayer(s string) (nIn, nOut int, err error) {
	a, b, ok := strings.Cut(s, "x")
	nIn, err1 := strconv.Atoi(a)
	nOut, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || nIn < 1 || nOut < 1 || nIn > 4096 || nOut > 4096 {
		return 0, 0, usagef("--layer %q: want INPUTSxOUTPUTS, each 1…4096", s)
	}
	return nIn, nOut, nil
}

// benchSize runs each kernel on ciphertext-shaped data (2·limbs rows of
// NTT-friendly primes) at ring degree 2^logN.
func benchSize(ctx context.Context, b accel.Backend, logN, limbs, nIn, nOut, runs int) ([]benchResult, error) {
	n := 1 << logN
	gen := ring.NewNTTFriendlyPrimesGenerator(50, 2<<logN)
	q, err := gen.NextAlternatingPrimes(limbs)
	if err != nil {
		return nil, fmt.Errorf("primes for N = 2^%d: %w", logN, err)
	}
	l := accel.CiphertextLayout(n, q, 1)
	rng := rand.New(rand.NewPCG(uint64(logN), 1))
	rows := func() [][]uint64 {
		op := make([][]uint64, l.Rows())
		for r, m := range l.Moduli {
			op[r] = make([]uint64, n)
			for j := range op[r] {
				op[r][j] = rng.Uint64N(m)
			}
		}
		return op
	}
	best := func(fn func() error) (float64, error) {
		var fastest time.Duration
		for i := range runs {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			start := time.Now()
			if err := fn(); err != nil {
				return 0, err
			}
			if d := time.Since(start); i == 0 || d < fastest {
				fastest = d
			}
		}
		return fastest.Seconds(), nil
	}
	x, y, z := rows(), rows(), rows()
	var out []benchResult
	add := func(kernel, shape string, sec, work float64, unit string) {
		out = append(out, benchResult{Kernel: kernel, LogN: logN, Rows: l.Rows(), Shape: shape, Seconds: sec, Rate: work / sec, Unit: unit})
	}

	sec, err := best(func() error { return b.NTT(l, x, y) })
	if err != nil {
		return nil, err
	}
	add("NTT", "", sec, float64(l.Rows()), "limbs/s")
	sec, err = best(func() error { return b.INTT(l, y, y) })
	if err != nil {
		return nil, err
	}
	add("INTT", "", sec, float64(l.Rows()), "limbs/s")
	sec, err = best(func() error { return b.MulCoeffsMontgomeryThenAdd(l, x, y, z) })
	if err != nil {
		return nil, err
	}
	add("MulCoeffsMontgomeryThenAdd", "", sec, float64(l.Rows()*n), "coeffs/s")

	a := &accel.DenseLayerArgs{Layout: l, Weights: make([]int64, nIn*nOut)}
	for j := range a.Weights {
		a.Weights[j] = rng.Int64N(256) - 128
	}
	// Inputs cycle through a few distinct ciphertexts to bound memory.
	pool := [][][]uint64{x, y, z}
	for i := range nIn {
		a.In = append(a.In, pool[i%len(pool)])
	}
	for range nOut {
		a.Out = append(a.Out, rows())
	}
	sec, err = best(func() error { return b.DenseLayer(a) })
	if err != nil {
		return nil, err
	}
	add("DenseLayer", fmt.Sprintf("%dx%d", nIn, nOut), sec, float64(nIn*nOut*l.Rows()*n), "mulAdds/s")
	return out, nil
}
