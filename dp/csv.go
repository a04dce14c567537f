package dp

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// CSVLimits bounds what [ReadColumn] accepts. Zero fields take the defaults.
type CSVLimits struct {
	MaxBytes int64 // default 1 GiB
	MaxRows  int   // default 50 million
}

// ReadColumn reads the numeric column named column from CSV data (RFC 4180,
// comma-separated, first record a header naming the columns). Empty cells
// are missing values and are skipped; any other cell must be a finite
// decimal number. Errors are *CSVError values that give the line and never
// quote a cell.
func ReadColumn(r io.Reader, column string, lim CSVLimits) ([]float64, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 1 << 30
	}
	if lim.MaxRows <= 0 {
		lim.MaxRows = 50_000_000
	}
	lr := &io.LimitedReader{R: r, N: lim.MaxBytes + 1}
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &CSVError{Reason: "no header"}
		}
		return nil, csvErr(err, lr)
	}
	idx := -1
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == column {
			if idx >= 0 {
				return nil, &CSVError{Line: 1, Reason: "column name appears twice in the header"}
			}
			idx = i
		}
	}
	if idx < 0 {
		return nil, &CSVError{Line: 1, Reason: "no column of that name in the header"}
	}
	var out []float64
	for rows := 0; ; rows++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvErr(err, lr)
		}
		if rows >= lim.MaxRows {
			return nil, &CSVError{Reason: "too many rows"}
		}
		cell := strings.TrimSpace(rec[idx])
		if cell == "" {
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			line, _ := cr.FieldPos(idx)
			return nil, &CSVError{Line: line, Reason: "value is not a finite number"}
		}
		out = append(out, v)
	}
	if lr.N <= 0 {
		return nil, &CSVError{Reason: "data larger than the size limit"}
	}
	return out, nil
}

func csvErr(err error, lr *io.LimitedReader) error {
	if lr.N <= 0 {
		return &CSVError{Reason: "data larger than the size limit"}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		// pe.Err is one of encoding/csv's fixed messages; it quotes no data.
		return &CSVError{Line: pe.Line, Reason: pe.Err.Error()}
	}
	return &CSVError{Reason: "read error"}
}
