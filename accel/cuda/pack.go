package cuda

// Host-side packing of operands into the flat buffers the kernels read:
// an operand of R rows of N coefficients is R·N consecutive words, row r at
// word r·N; a DenseLayer input block is nIn such operands back to back
// (row r of input i at word (i·R + r)·N), as kernels.cu indexes them.

// words is the total length of rows.
func words(rows [][]uint64) int {
	n := 0
	for _, r := range rows {
		n += len(r)
	}
	return n
}

// operandRows lists rows [r0, r1) of every operand in operand order: the
// device layout of a DenseLayer input (or output) block restricted to a
// batch of rows.
func operandRows(ops [][][]uint64, r0, r1 int) [][]uint64 {
	out := make([][]uint64, 0, len(ops)*(r1-r0))
	for _, op := range ops {
		out = append(out, op[r0:r1]...)
	}
	return out
}

// packU32 packs v two values per little-endian word, the layout of a
// device u32 array.
func packU32(v []uint32) []uint64 {
	out := make([]uint64, (len(v)+1)/2)
	for i, x := range v {
		out[i/2] |= uint64(x) << (32 * (i % 2))
	}
	return out
}

// int64Words is w as two's complement words, the device i64 array.
func int64Words(w []int64) []uint64 {
	out := make([]uint64, len(w))
	for i, x := range w {
		out[i] = uint64(x)
	}
	return out
}

// rowCursor walks the words of rows back to back (the layout above), so that a stream of
// words can be packed into (or unpacked from) fixed-size staging buffers,
// a row split across two of them where it must.
type rowCursor struct {
	rows   [][]uint64
	r, off int
}

// fill packs the next words into dst and returns how many.
func (c *rowCursor) fill(dst []uint64) int {
	n := 0
	for n < len(dst) && c.r < len(c.rows) {
		k := copy(dst[n:], c.rows[c.r][c.off:])
		n, c.off = n+k, c.off+k
		if c.off == len(c.rows[c.r]) {
			c.r, c.off = c.r+1, 0
		}
	}
	return n
}

// drain unpacks src into the next words and returns how many.
func (c *rowCursor) drain(src []uint64) int {
	n := 0
	for n < len(src) && c.r < len(c.rows) {
		k := copy(c.rows[c.r][c.off:], src[n:])
		n, c.off = n+k, c.off+k
		if c.off == len(c.rows[c.r]) {
			c.r, c.off = c.r+1, 0
		}
	}
	return n
}
