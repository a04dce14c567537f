package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Vector files for `aios encrypt` and `aios decrypt`: either CSV, one vector
// per line of comma-separated numbers (lines may differ in length; blank
// lines and lines starting with # are skipped), or JSON, an array of numbers
// (one vector) or an array of arrays of numbers.

// maxVectorFileBytes bounds a vector file read from disk or stdin.
const maxVectorFileBytes = 256 << 20

var errVectorFile = errors.New("bad vector file")

func vectorFormat(name, flagValue string, head []byte) (string, error) {
	switch flagValue {
	case "csv", "json":
		return flagValue, nil
	case "", "auto":
	default:
		return "", usagef("--format must be csv or json, not %q", flagValue)
	}
	switch {
	case strings.HasSuffix(name, ".json"):
		return "json", nil
	case strings.HasSuffix(name, ".csv"):
		return "csv", nil
	}
	if t := bytes.TrimSpace(head); len(t) > 0 && t[0] == '[' {
		return "json", nil
	}
	return "csv", nil
}

// readVectors reads at most maxVectorFileBytes from r and parses vectors of
// 1 … maxLen finite numbers.
func readVectors(r io.Reader, name, format string, maxLen int) ([][]float64, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxVectorFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxVectorFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB", errVectorFile, name, maxVectorFileBytes>>20)
	}
	if format, err = vectorFormat(name, format, b[:min(len(b), 64)]); err != nil {
		return nil, err
	}
	var vecs [][]float64
	if format == "json" {
		vecs, err = parseJSONVectors(b)
	} else {
		vecs, err = parseCSVVectors(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errVectorFile, name, err)
	}
	if len(vecs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no vector", errVectorFile, name)
	}
	for i, v := range vecs {
		if len(v) == 0 || len(v) > maxLen {
			return nil, fmt.Errorf("%w: %s: vector %d has %d values, want 1…%d", errVectorFile, name, i+1, len(v), maxLen)
		}
		for j, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("%w: %s: vector %d value %d is not finite", errVectorFile, name, i+1, j+1)
			}
		}
	}
	return vecs, nil
}

func parseJSONVectors(b []byte) ([][]float64, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	if len(raw) > 0 && bytes.HasPrefix(bytes.TrimSpace(raw[0]), []byte("[")) {
		var vecs [][]float64
		err := json.Unmarshal(b, &vecs)
		return vecs, err
	}
	var v []float64
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return [][]float64{v}, nil
}

func parseCSVVectors(b []byte) ([][]float64, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	var vecs [][]float64
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return vecs, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		v := make([]float64, len(rec))
		for i, f := range rec {
			if v[i], err = strconv.ParseFloat(strings.TrimSpace(f), 64); err != nil {
				return nil, fmt.Errorf("line %d field %d: not a number", line, i+1)
			}
		}
		vecs = append(vecs, v)
	}
}

// writeVectors writes vecs as CSV (one line each) or as a JSON array of
// arrays, with the shortest decimal that reads back as the same float64.
func writeVectors(w io.Writer, format string, vecs [][]float64) error {
	bw := bufio.NewWriter(w)
	if format == "json" {
		enc := json.NewEncoder(bw)
		if err := enc.Encode(vecs); err != nil {
			return err
		}
		return bw.Flush()
	}
	for _, v := range vecs {
		for i, x := range v {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
