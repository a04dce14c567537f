package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// ReadRecords reads CSV rows of any content, for callers that interpret
// the columns themselves (`aios predict` reads unlabelled rows or picks a
// label column): gunzipped when the input starts with the gzip magic bytes,
// within lim's bytes, rows (MaxSamples) and fields per row (MaxFeatures+1),
// every row with the same number of fields. The first line is returned as
// a header when one of its fields is not a finite number, or when it has
// another number of fields than the second (as scikit-learn's
// rows,features,classes… header does). Errors wrap ErrMalformed or
// ErrTooLarge.
func ReadRecords(r io.Reader, lim Limits) (header []string, recs [][]string, err error) {
	lim = lim.withDefaults()
	lr, err := decompress(r, lim.MaxBytes)
	if err != nil {
		return nil, nil, err
	}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if len(recs) > lim.MaxSamples { // one more than MaxSamples: a header
			return nil, nil, fmt.Errorf("%w: more than %d rows", ErrTooLarge, lim.MaxSamples)
		}
		if len(rec) > lim.MaxFeatures+1 {
			return nil, nil, fmt.Errorf("%w: a row of %d fields (limit %d)", ErrTooLarge, len(rec), lim.MaxFeatures+1)
		}
		recs = append(recs, rec)
	}
	if len(recs) > 0 {
		_, numeric := ParseRow(recs[0])
		if numeric != nil || (len(recs) > 1 && len(recs[0]) != len(recs[1])) {
			header, recs = recs[0], recs[1:]
		}
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("%w: no data rows", ErrMalformed)
	}
	if len(recs) > lim.MaxSamples {
		return nil, nil, fmt.Errorf("%w: more than %d rows", ErrTooLarge, lim.MaxSamples)
	}
	for i, rec := range recs {
		if len(rec) != len(recs[0]) {
			return nil, nil, fmt.Errorf("%w: data row %d has %d fields, the first has %d", ErrMalformed, i+1, len(rec), len(recs[0]))
		}
	}
	return header, recs, nil
}

// ParseRow parses a record of finite decimal numbers.
func ParseRow(rec []string) ([]float64, error) {
	x := make([]float64, len(rec))
	for j, s := range rec {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: column %d: %q is not a finite number", ErrMalformed, j+1, s)
		}
		x[j] = v
	}
	return x, nil
}
