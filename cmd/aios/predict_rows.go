package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aios-edge/aios/inference/dataset"
)

// The rows `aios predict` reads and the progress bar it draws.

// maxPredictRows bounds the rows of one --data file.
const maxPredictRows = 1 << 22

// rows reads --data: rows of width features, or of width+1 columns of
// which one is a label (--label, else the last), which is left out and
// named on stderr.
func (c *predictCmd) rows(e *env, width int) ([][]float64, error) {
	f, err := os.Open(c.data)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	header, recs, err := dataset.ReadRecords(f, dataset.Limits{MaxSamples: maxPredictRows})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.data, err)
	}
	cols := len(recs[0])
	label := -1 // 0-based column, -1 for none
	switch {
	case c.label != "":
		if label = labelColumn(c.label, header, cols); label < 0 {
			return nil, usagef("--label %q: no such column (the rows have %d)", c.label, cols)
		}
	case cols == width+1:
		label = cols - 1
	}
	if label >= 0 {
		fmt.Fprintf(e.stderr, "column %d of %d taken as the label and left out (the model takes %d features)\n", label+1, cols, width)
		cols--
	}
	if cols != width {
		return nil, fmt.Errorf("%s: rows of %d features, the model takes %d", c.data, cols, width)
	}
	rows := make([][]float64, len(recs))
	for i, rec := range recs {
		if label >= 0 {
			rec = slices.Delete(rec, label, label+1)
		}
		if rows[i], err = dataset.ParseRow(rec); err != nil {
			return nil, fmt.Errorf("%s: data row %d: %w", c.data, i+1, err)
		}
	}
	return rows, nil
}

// labelColumn returns the 0-based column that --label names: a 1-based
// number, or a name of the header. It returns -1 for neither.
func labelColumn(label string, header []string, cols int) int {
	if n, err := strconv.Atoi(label); err == nil {
		if n >= 1 && n <= cols {
			return n - 1
		}
		return -1
	}
	if len(header) == cols {
		return slices.Index(header, label)
	}
	return -1
}

// progress draws a one-line progress bar (rows, MB sent, rows/s) on a
// terminal, and nothing when its stream is not one.
type progress struct {
	w     io.Writer // nil when not a terminal
	total int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{total: total, start: time.Now()}
	if isTerminal(w) {
		p.w = w
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal) rather
// than a pipe or a file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) update(rows int, bytesSent int64) {
	if p.w == nil {
		return
	}
	const width = 30
	filled := width * rows / max(p.total, 1)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %d/%d rows, %.1f MB sent, %.0f rows/s ", bar, rows, p.total,
		float64(bytesSent)/1e6, float64(rows)/p.elapsed().Seconds())
}

// done ends the bar's line.
func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }
