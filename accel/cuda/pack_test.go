package cuda

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows := make([][]uint64, 7)
	for i := range rows {
		rows[i] = make([]uint64, 16<<(i%3))
		for j := range rows[i] {
			rows[i][j] = rng.Uint64()
		}
	}
	flat := make([]uint64, words(rows))
	if n := packRows(flat, rows); n != len(flat) {
		t.Fatalf("packRows wrote %d of %d", n, len(flat))
	}
	if !slices.Equal(flat[:16], rows[0]) || !slices.Equal(flat[16:48], rows[1]) {
		t.Fatal("rows are not back to back")
	}
	back := make([][]uint64, len(rows))
	for i := range back {
		back[i] = make([]uint64, len(rows[i]))
	}
	if n := unpackRows(back, flat); n != len(flat) {
		t.Fatalf("unpackRows read %d", n)
	}
	for i := range rows {
		if !slices.Equal(back[i], rows[i]) {
			t.Fatalf("row %d differs after the round trip", i)
		}
	}
	// Through staging buffers of every small size, rows split across them.
	for sz := 1; sz <= 70; sz++ {
		var stream []uint64
		c := &rowCursor{rows: rows}
		buf := make([]uint64, sz)
		for {
			n := c.fill(buf)
			if n == 0 {
				break
			}
			stream = append(stream, buf[:n]...)
		}
		if !slices.Equal(stream, flat) {
			t.Fatalf("staging %d: packed stream differs", sz)
		}
		out := make([][]uint64, len(rows))
		for i := range out {
			out[i] = make([]uint64, len(rows[i]))
		}
		d := &rowCursor{rows: out}
		for o := 0; o < len(flat); o += sz {
			d.drain(flat[o:min(o+sz, len(flat))])
		}
		for i := range rows {
			if !slices.Equal(out[i], rows[i]) {
				t.Fatalf("staging %d: row %d differs", sz, i)
			}
		}
	}
}

func TestOperandLayout(t *testing.T) {
	// Three inputs of four rows of N = 2: row r of input i at (i·R + r)·N
	// within rows [1, 3).
	n, rowsPer := 2, 4
	ops := make([][][]uint64, 3)
	for i := range ops {
		ops[i] = make([][]uint64, rowsPer)
		for r := range ops[i] {
			ops[i][r] = []uint64{uint64(100*i + 10*r), uint64(100*i + 10*r + 1)}
		}
	}
	rows := operandRows(ops, 1, 3)
	flat := make([]uint64, words(rows))
	packRows(flat, rows)
	for i := range 3 {
		for r := range 2 {
			for c := range n {
				if got, want := flat[(i*2+r)*n+c], uint64(100*i+10*(r+1)+c); got != want {
					t.Fatalf("input %d row %d coefficient %d at %d: %d, want %d", i, r, c, (i*2+r)*n+c, got, want)
				}
			}
		}
	}
	if w := packU32([]uint32{1, 2, 3}); len(w) != 2 || w[0] != 2<<32|1 || w[1] != 3 || unpackU32(w, 1) != 2 || unpackU32(w, 2) != 3 {
		t.Errorf("packU32: %x", w)
	}
	if w := int64Words([]int64{-1, 5}); w[0] != ^uint64(0) || w[1] != 5 {
		t.Errorf("int64Words: %x", w)
	}
}

func TestNTTLaunchPlan(t *testing.T) {
	for logN := 4; logN <= 17; logN++ {
		n := uint32(1) << logN
		for _, inverse := range []bool{false, true} {
			ls := nttLaunches(nttParams{n: n, rows: 3}, inverse)
			// Every stage t = n/2 … 1 exactly once; last only on the final launch.
			seen := map[uint32]int{}
			for i, l := range ls {
				p := l.params.(*nttParams)
				if (p.last == 1) != (i == len(ls)-1) {
					t.Errorf("N=2^%d inverse=%v: launch %d last=%d", logN, inverse, i, p.last)
				}
				if l.k == kNTTTile || l.k == kINTTTile {
					for tt := uint32(1); tt < p.t; tt *= 2 {
						seen[tt]++
					}
				} else {
					seen[p.t]++
				}
			}
			for tt := uint32(1); tt < n; tt *= 2 {
				if seen[tt] != 1 {
					t.Errorf("N=2^%d inverse=%v: stage t=%d run %d times", logN, inverse, tt, seen[tt])
				}
			}
			if len(seen) != logN {
				t.Errorf("N=2^%d: %d stages", logN, len(seen))
			}
		}
	}
}

// packRows copies rows into dst back to back and returns the number of
// words written. dst must hold them all.
func packRows(dst []uint64, rows [][]uint64) int {
	o := 0
	for _, r := range rows {
		o += copy(dst[o:], r)
	}
	return o
}

// unpackRows is the inverse of packRows: it fills rows from src and returns
// the number of words read.
func unpackRows(rows [][]uint64, src []uint64) int {
	o := 0
	for _, r := range rows {
		o += copy(r, src[o:o+len(r)])
	}
	return o
}

// unpackU32 reads element i of a packU32 array.
func unpackU32(w []uint64, i int) uint32 { return uint32(w[i/2] >> (32 * (i % 2))) }
