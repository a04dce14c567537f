package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// HeaderMode says whether a CSV file starts with scikit-learn's header line.
type HeaderMode int

const (
	// HeaderAuto detects the header (see [CSVOptions]).
	HeaderAuto HeaderMode = iota
	// HeaderPresent requires it.
	HeaderPresent
	// HeaderAbsent reads the first line as data.
	HeaderAbsent
)

// CSVOptions configures [ReadCSV].
//
// The format: one sample per line, comma-separated, the features (decimal
// floats, finite) then the label (a non-negative integer, the last column).
// The first line may be scikit-learn's header `rows,features,name0,name1,…`
// (the row and feature counts then the class names, possibly none). With
// [HeaderAuto] the first line is taken as a header when its first two fields
// are non-negative integers and either its field count differs from
// features+1 or one of the remaining fields is not a number, and the second
// line has features+1 fields; a header's counts and class names are checked
// against the data.
type CSVOptions struct {
	Header HeaderMode
	// Features, when positive, is the required feature count; a row with
	// another count is a [*FeatureCountError].
	Features int
	Limits   Limits
}

// LoadCSVFile opens path and reads it with [ReadCSV].
func LoadCSVFile(path string, opts CSVOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := ReadCSV(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// decompress returns r, transparently gunzipped when it starts with the gzip
// magic bytes 1f 8b, and limited to max+1 bytes so that the caller can tell
// an input of exactly max bytes from a larger one.
func decompress(r io.Reader, max int64) (*limitedReader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	var src io.Reader = br
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
		}
		zr.Multistream(false)
		src = zr
	}
	return &limitedReader{r: src, left: max}, nil
}

// limitedReader fails with ErrTooLarge once more than its limit was read.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, fmt.Errorf("%w: more than the limit of bytes", ErrTooLarge)
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrTooLarge) {
		// gzip and flate errors: the input is corrupt.
		err = fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return n, err
}

// ReadCSV reads a data set from CSV (see [CSVOptions] for the format),
// gunzipping it first when it starts with the gzip magic bytes.
func ReadCSV(r io.Reader, opts CSVOptions) (*Dataset, error) {
	lim := opts.Limits.withDefaults()
	lr, err := decompress(r, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true

	d := &Dataset{Features: opts.Features}
	var (
		hdrRows   = -1
		hdrNames  []string
		maxLabel  = -1
		hasHeader bool
	)
	row := func(rec []string, line int) error {
		if len(rec) < 2 {
			return fmt.Errorf("%w: line %d: need at least one feature and a label", ErrMalformed, line)
		}
		f := len(rec) - 1
		if d.Features == 0 {
			if f > lim.MaxFeatures {
				return fmt.Errorf("%w: %d features (limit %d)", ErrTooLarge, f, lim.MaxFeatures)
			}
			d.Features = f
		}
		if f != d.Features {
			return &FeatureCountError{Line: line, Want: d.Features, Got: f}
		}
		if len(d.Y) >= lim.MaxSamples {
			return fmt.Errorf("%w: more than %d samples", ErrTooLarge, lim.MaxSamples)
		}
		x := make([]float64, f)
		for j := range f {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: line %d, column %d: %q is not a finite number", ErrMalformed, line, j+1, rec[j])
			}
			x[j] = v
		}
		y, err := parseLabel(rec[f])
		if err != nil {
			return fmt.Errorf("%w: line %d: label %q: %w", ErrMalformed, line, rec[f], err)
		}
		if y >= lim.MaxClasses {
			return fmt.Errorf("%w: line %d: label %d (limit %d classes)", ErrTooLarge, line, y, lim.MaxClasses)
		}
		if hasHeader && y >= len(hdrNames) {
			return fmt.Errorf("%w: line %d: label %d but the header names %d classes", ErrMalformed, line, y, len(hdrNames))
		}
		maxLabel = max(maxLabel, y)
		d.X = append(d.X, x)
		d.Y = append(d.Y, y)
		return nil
	}
	// The first record is held back until the second one's field count is
	// known, which header detection needs.
	var first []string
	decided := false
	decide := func(nextLen int) error {
		decided = true
		if first == nil {
			return nil
		}
		if isHeader(first, opts.Header, nextLen) {
			if opts.Header == HeaderAbsent {
				return fmt.Errorf("%w: line 1: not a data row", ErrMalformed)
			}
			rows, f, names, err := parseHeader(first, lim)
			if err != nil {
				return err
			}
			if d.Features > 0 && f != d.Features {
				return &FeatureCountError{Line: 1, Want: d.Features, Got: f}
			}
			d.Features, hdrRows, hdrNames, hasHeader = f, rows, names, true
			return nil
		}
		if opts.Header == HeaderPresent {
			return fmt.Errorf("%w: line 1: missing header rows,features,classes…", ErrMalformed)
		}
		return row(first, 1)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		line, _ := cr.FieldPos(0)
		if first == nil && !decided {
			first = slices.Clone(rec)
			continue
		}
		if !decided {
			if err := decide(len(rec)); err != nil {
				return nil, err
			}
		}
		if err := row(rec, line); err != nil {
			return nil, err
		}
	}
	if !decided {
		if err := decide(-1); err != nil {
			return nil, err
		}
	}
	if len(d.Y) == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrMalformed)
	}
	if hasHeader && hdrRows != len(d.Y) {
		if hdrRows > len(d.Y) {
			return nil, fmt.Errorf("%w: header says %d rows, found %d", ErrTruncated, hdrRows, len(d.Y))
		}
		return nil, fmt.Errorf("%w: header says %d rows, found %d", ErrMalformed, hdrRows, len(d.Y))
	}
	if hasHeader {
		d.Classes = hdrNames
	} else {
		d.Classes = numberedClasses(maxLabel + 1)
	}
	return d, nil
}

// isHeader reports whether the first record rec is a header, given the
// field count of the second record (-1 when there is none).
func isHeader(rec []string, mode HeaderMode, nextLen int) bool {
	if mode == HeaderPresent {
		return true
	}
	if len(rec) < 2 {
		return false
	}
	_, err1 := strconv.ParseUint(rec[0], 10, 63)
	f, err2 := strconv.ParseUint(rec[1], 10, 31)
	if err1 != nil || err2 != nil || f == 0 {
		return false
	}
	if nextLen >= 0 && uint64(nextLen) != f+1 {
		return false // the data rows do not have the declared feature count
	}
	if uint64(len(rec)) != f+1 {
		return true
	}
	for _, s := range rec[2:] {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return true
		}
	}
	return false
}

func parseHeader(rec []string, lim Limits) (rows, features int, names []string, err error) {
	if len(rec) < 2 {
		return 0, 0, nil, fmt.Errorf("%w: header: want rows,features,classes…", ErrMalformed)
	}
	r, err1 := strconv.ParseUint(rec[0], 10, 63)
	f, err2 := strconv.ParseUint(rec[1], 10, 31)
	if err1 != nil || err2 != nil || f == 0 {
		return 0, 0, nil, fmt.Errorf("%w: header: %q,%q are not row and feature counts", ErrMalformed, rec[0], rec[1])
	}
	if r > uint64(lim.MaxSamples) {
		return 0, 0, nil, fmt.Errorf("%w: header: %d rows (limit %d)", ErrTooLarge, r, lim.MaxSamples)
	}
	if f > uint64(lim.MaxFeatures) {
		return 0, 0, nil, fmt.Errorf("%w: header: %d features (limit %d)", ErrTooLarge, f, lim.MaxFeatures)
	}
	if len(rec)-2 > lim.MaxClasses {
		return 0, 0, nil, fmt.Errorf("%w: header: %d classes (limit %d)", ErrTooLarge, len(rec)-2, lim.MaxClasses)
	}
	if len(rec) < 3 {
		return 0, 0, nil, fmt.Errorf("%w: header names no classes", ErrMalformed)
	}
	names = make([]string, len(rec)-2)
	for i, s := range rec[2:] {
		names[i] = strings.TrimSpace(s)
	}
	return int(r), int(f), names, nil
}

func parseLabel(s string) (int, error) {
	if y, err := strconv.ParseUint(s, 10, 31); err == nil {
		return int(y), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v != math.Trunc(v) || v > math.MaxInt32 {
		return 0, errors.New("not a non-negative integer")
	}
	return int(v), nil
}
