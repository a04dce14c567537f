package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX element type codes (LeCun et al., "THE IDX FILE FORMAT").
const idxUbyte = 0x08

// idxHeader is the parsed header of an IDX file: magic 00 00 TYPE NDIMS, then
// NDIMS big-endian uint32 sizes.
type idxHeader struct {
	dims []int
}

func readIDXHeader(r io.Reader, what string, wantDims int, lim Limits) (idxHeader, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return idxHeader{}, idxErr(what, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return idxHeader{}, fmt.Errorf("%w: %s: bad IDX magic % x", ErrMalformed, what, magic)
	}
	if magic[2] != idxUbyte {
		return idxHeader{}, fmt.Errorf("%w: %s: IDX element type 0x%02x (only unsigned byte, 0x08)", ErrUnsupported, what, magic[2])
	}
	if int(magic[3]) != wantDims {
		return idxHeader{}, fmt.Errorf("%w: %s: %d dimensions, want %d", ErrMalformed, what, magic[3], wantDims)
	}
	h := idxHeader{dims: make([]int, wantDims)}
	for i := range h.dims {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return idxHeader{}, idxErr(what, err)
		}
		n := binary.BigEndian.Uint32(b[:])
		if int64(n) > lim.MaxBytes {
			return idxHeader{}, fmt.Errorf("%w: %s: dimension %d is %d", ErrTooLarge, what, i, n)
		}
		h.dims[i] = int(n)
	}
	return h, nil
}

func idxErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s", ErrTruncated, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ReadIDX reads an MNIST-style pair of IDX files: images (unsigned bytes,
// three dimensions: count, rows, columns) and labels (unsigned bytes, one
// dimension: count). Either may be gzip-compressed. Sample i has the
// rows×columns grey levels of image i, row-major, as features (0–255), and
// label i as its class; the classes are "0" … the largest label.
func ReadIDX(images, labels io.Reader, lim Limits) (*Dataset, error) {
	lim = lim.withDefaults()
	ir, err := decompress(images, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	lr, err := decompress(labels, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	ih, err := readIDXHeader(ir, "images", 3, lim)
	if err != nil {
		return nil, err
	}
	lh, err := readIDXHeader(lr, "labels", 1, lim)
	if err != nil {
		return nil, err
	}
	n, rows, cols := ih.dims[0], ih.dims[1], ih.dims[2]
	if n != lh.dims[0] {
		return nil, fmt.Errorf("%w: %d images but %d labels", ErrMalformed, n, lh.dims[0])
	}
	if n == 0 || rows == 0 || cols == 0 {
		return nil, fmt.Errorf("%w: empty IDX (%d×%d×%d)", ErrMalformed, n, rows, cols)
	}
	if n > lim.MaxSamples {
		return nil, fmt.Errorf("%w: %d samples (limit %d)", ErrTooLarge, n, lim.MaxSamples)
	}
	f := int64(rows) * int64(cols)
	if f > int64(lim.MaxFeatures) {
		return nil, fmt.Errorf("%w: %d×%d features (limit %d)", ErrTooLarge, rows, cols, lim.MaxFeatures)
	}
	if int64(n)*f > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d images of %d bytes (limit %d bytes)", ErrTooLarge, n, f, lim.MaxBytes)
	}
	y := make([]byte, n)
	if _, err := io.ReadFull(lr, y); err != nil {
		return nil, idxErr("labels", err)
	}
	d := &Dataset{X: make([][]float64, n), Y: make([]int, n), Features: int(f)}
	maxLabel := 0
	for i, b := range y {
		d.Y[i] = int(b)
		maxLabel = max(maxLabel, int(b))
	}
	if maxLabel >= lim.MaxClasses {
		return nil, fmt.Errorf("%w: label %d (limit %d classes)", ErrTooLarge, maxLabel, lim.MaxClasses)
	}
	d.Classes = numberedClasses(maxLabel + 1)
	buf := make([]byte, f)
	for i := range d.X {
		if _, err := io.ReadFull(ir, buf); err != nil {
			return nil, idxErr("images", err)
		}
		x := make([]float64, f)
		for j, b := range buf {
			x[j] = float64(b)
		}
		d.X[i] = x
	}
	return d, nil
}
