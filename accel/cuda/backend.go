package cuda

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aios-edge/aios/accel"
)

// gpu is what the kernel plans need from a device: pooled memory, copies
// of packed rows in and out on one of two streams (so that the copies of
// one batch overlap the kernels of the other), and launches. The CUDA
// implementation is *device (device.go); tests drive the same plans with a
// Go emulation of the kernels. All calls come from one goroutine.
type gpu interface {
	// alloc returns a device buffer of at least words 64-bit words.
	alloc(words int) (uint64, error)
	// free returns a buffer to the pool.
	free(p uint64)
	// upload packs rows back to back (pack.go's layout) into the buffer at
	// dst, asynchronously on stream s; rows may be reused as soon as it
	// returns.
	upload(s int, dst uint64, rows [][]uint64) error
	// download waits for the work queued on stream s and unpacks the
	// buffer at src into rows.
	download(s int, rows [][]uint64, src uint64) error
	// launch queues a kernel on stream s.
	launch(s int, l launch) error
	// sync waits for the work queued on stream s (data uploaded on one
	// stream and read by kernels on the other).
	sync(s int) error
}

// backend implements accel.Backend on a gpu. do runs f on the goroutine
// that owns the device, which serializes all GPU work.
type backend struct {
	device string
	do     func(f func(g gpu) error) error
	// batchWords is the target of device words of one batch of rows
	// (inputs and outputs together); two batches are in flight. A batch
	// holds at least one row, of at most maxWords words (else the call
	// goes to the cpu backend, or fails for the row kernels).
	batchWords, maxWords int

	mu     sync.Mutex
	tables map[string]*tableSet // by tableKey; used on the device goroutine only
}

var _ accel.Backend = (*backend)(nil)

func (b *backend) Name() string   { return "cuda" }
func (b *backend) Device() string { return b.device }

// errTooLarge: one row of the operands does not fit the device batch. A
// DenseLayer is then served by the cpu backend; the row kernels return it.
var errTooLarge = errors.New("operands exceed the device batch")

// batches splits rows [0, rows) into batches of consecutive rows whose
// words (perRow each) fit batchWords.
func (b *backend) batches(rows, perRow int) ([][2]int, error) {
	if perRow > b.maxWords {
		return nil, fmt.Errorf("%w: %d words per row, at most %d", errTooLarge, perRow, b.maxWords)
	}
	per := max(1, b.batchWords/perRow)
	var out [][2]int
	for r := 0; r < rows; r += per {
		out = append(out, [2]int{r, min(r+per, rows)})
	}
	return out, nil
}

// pipeline runs stage(j, stream, buffers) for each batch j, alternating two
// streams, and finish(j, stream) after batch j+1's stage has been queued,
// so that the copies and kernels of consecutive batches overlap; batch j's
// buffers (allocated from its allocs) go back to the pool after its finish,
// so that at most two batches hold device memory.
func pipeline(g gpu, nb int, stage func(j, s int, a *allocs) error, finish func(j, s int) error) error {
	bufs := make([]*allocs, nb)
	defer func() {
		for _, a := range bufs {
			if a != nil {
				a.release()
			}
		}
	}()
	done := func(j int) error {
		err := finish(j, j%2)
		bufs[j].release()
		return err
	}
	for j := range nb {
		bufs[j] = &allocs{g: g}
		if err := stage(j, j%2, bufs[j]); err != nil {
			return err
		}
		if j > 0 {
			if err := done(j - 1); err != nil {
				return err
			}
		}
	}
	if nb > 0 {
		return done(nb - 1)
	}
	return nil
}

// allocs tracks the buffers of a call to free them on every path.
type allocs struct {
	g    gpu
	ptrs []uint64
}

func (a *allocs) alloc(words int) (uint64, error) {
	p, err := a.g.alloc(words)
	if err != nil {
		return 0, err
	}
	a.ptrs = append(a.ptrs, p)
	return p, nil
}

func (a *allocs) upload(s int, rows [][]uint64) (uint64, error) {
	p, err := a.alloc(words(rows))
	if err != nil {
		return 0, err
	}
	return p, a.g.upload(s, p, rows)
}

func (a *allocs) release() {
	for _, p := range a.ptrs {
		a.g.free(p)
	}
	a.ptrs = nil
}

func (b *backend) DenseLayer(a *accel.DenseLayerArgs) error {
	if err := accel.CheckDenseLayer(a); err != nil {
		return err
	}
	nIn, nOut, n := len(a.In), len(a.Out), a.N
	bt, err := b.batches(a.Rows(), (nIn+nOut)*n)
	if errors.Is(err, errTooLarge) {
		return accel.CPU().DenseLayer(a)
	}
	if err != nil {
		return err
	}
	return b.do(func(g gpu) error {
		call := &allocs{g: g}
		defer call.release()
		dw, err := call.upload(0, [][]uint64{int64Words(a.Weights)})
		if err != nil {
			return err
		}
		if err := g.sync(0); err != nil { // the weights serve both streams
			return err
		}
		outs := make([]uint64, len(bt))
		err = pipeline(g, len(bt), func(j, s int, call *allocs) error {
			r0, r1 := bt[j][0], bt[j][1]
			rows := r1 - r0
			var mc []uint64
			for _, q := range a.Moduli[r0:r1] {
				k := newModConsts(q, nil)
				mc = k.words(mc)
			}
			p := &denseParams{n: uint32(n), rows: uint32(rows), nIn: uint32(nIn), nOut: uint32(nOut), w: dw}
			if p.mc, err = call.upload(s, [][]uint64{mc}); err != nil {
				return err
			}
			if a.Bias != nil {
				bias := make([]uint64, 0, nOut*rows)
				for _, bk := range a.Bias {
					bias = append(bias, bk[r0:r1]...)
				}
				if p.bias, err = call.upload(s, [][]uint64{bias}); err != nil {
					return err
				}
			}
			if p.in, err = call.upload(s, operandRows(a.In, r0, r1)); err != nil {
				return err
			}
			if p.out, err = call.alloc(nOut * rows * n); err != nil {
				return err
			}
			outs[j] = p.out
			return g.launch(s, denseLaunch(p))
		}, func(j, s int) error {
			return g.download(s, operandRows(a.Out, bt[j][0], bt[j][1]), outs[j])
		})
		if err != nil {
			return fmt.Errorf("cuda: DenseLayer: %w", err)
		}
		return nil
	})
}

func (b *backend) NTT(l accel.Layout, in, out [][]uint64) error {
	return b.transform(l, in, out, false)
}

func (b *backend) INTT(l accel.Layout, in, out [][]uint64) error {
	return b.transform(l, in, out, true)
}

// tableSet is the device copy of lattigo's tables for a list of moduli at
// one degree: roots (forward and backward, tables × N words each) and
// constants, kept for the life of the process.
type tableSet struct {
	fwd, bwd, mc uint64
	index        map[uint64]uint32 // modulus → table
}

// maxTableSets bounds the cached table sets; beyond it, sets are built per
// call and freed.
const maxTableSets = 64

func tableKey(n int, moduli []uint64) string {
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(n))
	for _, q := range moduli {
		sb.WriteByte(',')
		sb.WriteString(strconv.FormatUint(q, 10))
	}
	return sb.String()
}

// distinct lists the distinct moduli of l in order of first appearance.
func distinct(moduli []uint64) []uint64 {
	var out []uint64
	seen := map[uint64]bool{}
	for _, q := range moduli {
		if !seen[q] {
			seen[q] = true
			out = append(out, q)
		}
	}
	return out
}

// hostTables builds the host words of a table set: forward roots, backward
// roots and constants of each distinct modulus, from accel.Tables.
func hostTables(n int, moduli []uint64) (fwd, bwd, mc []uint64, err error) {
	for _, q := range moduli {
		t, err := accel.Tables(n, q)
		if err != nil {
			return nil, nil, nil, err
		}
		fwd = append(fwd, t.RootsForward...)
		bwd = append(bwd, t.RootsBackward...)
		k := newModConsts(q, t)
		mc = k.words(mc)
	}
	return fwd, bwd, mc, nil
}

// tablesFor returns the table set of l's moduli, uploading it on first use.
// It runs on the device goroutine; call frees an uncached set.
func (b *backend) tablesFor(g gpu, call *allocs, n int, moduli []uint64) (*tableSet, error) {
	d := distinct(moduli)
	key := tableKey(n, d)
	b.mu.Lock()
	ts, ok := b.tables[key]
	cache := len(b.tables) < maxTableSets
	b.mu.Unlock()
	if ok {
		return ts, nil
	}
	fwd, bwd, mc, err := hostTables(n, d)
	if err != nil {
		return nil, err
	}
	ts = &tableSet{index: make(map[uint64]uint32, len(d))}
	for i, q := range d {
		ts.index[q] = uint32(i)
	}
	up := func(w []uint64) (uint64, error) {
		if !cache {
			return call.upload(0, [][]uint64{w})
		}
		p, err := g.alloc(len(w))
		if err != nil {
			return 0, err
		}
		return p, g.upload(0, p, [][]uint64{w})
	}
	if ts.fwd, err = up(fwd); err != nil {
		return nil, err
	}
	if ts.bwd, err = up(bwd); err != nil {
		return nil, err
	}
	if ts.mc, err = up(mc); err != nil {
		return nil, err
	}
	if cache {
		b.mu.Lock()
		if b.tables == nil {
			b.tables = map[string]*tableSet{}
		}
		b.tables[key] = ts
		b.mu.Unlock()
	}
	return ts, nil
}

func (b *backend) transform(l accel.Layout, in, out [][]uint64, inverse bool) error {
	if err := accel.CheckRowOp(l, in, out); err != nil {
		return err
	}
	for _, q := range distinct(l.Moduli) {
		if _, err := accel.Tables(l.N, q); err != nil { // ErrModulus before any device work
			return err
		}
	}
	bt, err := b.batches(l.Rows(), l.N)
	if err != nil {
		return err
	}
	return b.do(func(g gpu) error {
		call := &allocs{g: g}
		defer call.release()
		ts, err := b.tablesFor(g, call, l.N, l.Moduli)
		if err != nil {
			return err
		}
		if err := g.sync(0); err != nil { // the tables serve both streams
			return err
		}
		data := make([]uint64, len(bt))
		err = pipeline(g, len(bt), func(j, s int, call *allocs) error {
			r0, r1 := bt[j][0], bt[j][1]
			idx := make([]uint32, r1-r0)
			for r, q := range l.Moduli[r0:r1] {
				idx[r] = ts.index[q]
			}
			base := nttParams{n: uint32(l.N), rows: uint32(r1 - r0), mc: ts.mc, roots: ts.fwd}
			if inverse {
				base.roots = ts.bwd
			}
			if base.table, err = call.upload(s, [][]uint64{packU32(idx)}); err != nil {
				return err
			}
			if base.data, err = call.upload(s, in[r0:r1]); err != nil {
				return err
			}
			data[j] = base.data
			for _, ln := range nttLaunches(base, inverse) {
				if err := g.launch(s, ln); err != nil {
					return err
				}
			}
			return nil
		}, func(j, s int) error {
			return g.download(s, out[bt[j][0]:bt[j][1]], data[j])
		})
		if err != nil {
			return fmt.Errorf("cuda: NTT: %w", err)
		}
		return nil
	})
}

func (b *backend) MulCoeffsMontgomeryThenAdd(l accel.Layout, x, y, z [][]uint64) error {
	if err := accel.CheckRowOp(l, x, y, z); err != nil {
		return err
	}
	bt, err := b.batches(l.Rows(), 3*l.N)
	if err != nil {
		return err
	}
	return b.do(func(g gpu) error {
		call := &allocs{g: g}
		defer call.release()
		cs := make([]uint64, len(bt))
		err := pipeline(g, len(bt), func(j, s int, call *allocs) error {
			r0, r1 := bt[j][0], bt[j][1]
			var mc []uint64
			for _, q := range l.Moduli[r0:r1] {
				k := newModConsts(q, nil)
				mc = k.words(mc)
			}
			p := &mulParams{n: uint32(l.N), rows: uint32(r1 - r0)}
			var err error
			if p.mc, err = call.upload(s, [][]uint64{mc}); err != nil {
				return err
			}
			if p.a, err = call.upload(s, x[r0:r1]); err != nil {
				return err
			}
			if p.b, err = call.upload(s, y[r0:r1]); err != nil {
				return err
			}
			if p.c, err = call.upload(s, z[r0:r1]); err != nil {
				return err
			}
			cs[j] = p.c
			return g.launch(s, mulLaunch(p))
		}, func(j, s int) error {
			return g.download(s, z[bt[j][0]:bt[j][1]], cs[j])
		})
		if err != nil {
			return fmt.Errorf("cuda: MulCoeffsMontgomeryThenAdd: %w", err)
		}
		return nil
	})
}
