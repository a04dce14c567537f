// Package dataset loads labelled tabular data for training and evaluating
// aios models: CSV files (features then an integer label, optionally with
// scikit-learn's header line, optionally gzip-compressed) and IDX files (the
// format of MNIST: LeCun, Cortes, Burges, "The MNIST database of handwritten
// digits"), and splits them into train and test sets with a documented,
// seeded, stratified procedure ([Split]).
//
// Every loader reads through a size limit ([Limits]), checks every count
// against its limit before allocating for it, rejects non-finite values, and
// reports failures as errors wrapping [ErrMalformed], [ErrTooLarge],
// [ErrTruncated] or [ErrUnsupported]; a row with the wrong number of columns
// is a [*FeatureCountError].
package dataset

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors.
var (
	// ErrMalformed: the input is not a valid file of its format.
	ErrMalformed = errors.New("dataset: malformed input")
	// ErrTooLarge: the input exceeds a [Limits] bound.
	ErrTooLarge = errors.New("dataset: input too large")
	// ErrTruncated: the input ends before its header says it should.
	ErrTruncated = errors.New("dataset: input truncated")
	// ErrUnsupported: a valid but unsupported variant (an IDX element type
	// other than unsigned byte, for example).
	ErrUnsupported = errors.New("dataset: unsupported input")
	// ErrFeatureCount: a row or sample has the wrong number of features;
	// returned as a [*FeatureCountError].
	ErrFeatureCount = errors.New("dataset: wrong feature count")
)

// FeatureCountError reports a row with the wrong number of features.
type FeatureCountError struct {
	Line int // 1-based line (CSV) or sample index (0-based) where it was found; 0 if unknown
	Want int
	Got  int
}

func (e *FeatureCountError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("dataset: line %d: %d features, want %d", e.Line, e.Got, e.Want)
	}
	return fmt.Sprintf("dataset: %d features, want %d", e.Got, e.Want)
}

func (e *FeatureCountError) Unwrap() error { return ErrFeatureCount }

// Limits bounds what a loader accepts. A zero field takes the value of
// [DefaultLimits].
type Limits struct {
	MaxBytes    int64 // decompressed input size
	MaxSamples  int
	MaxFeatures int
	MaxClasses  int
}

// DefaultLimits accepts MNIST-sized inputs (70,000 × 784 bytes as IDX) and
// CSV files up to 256 MiB decompressed.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxSamples: 1 << 20, MaxFeatures: 1 << 16, MaxClasses: 1024}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxSamples <= 0 {
		l.MaxSamples = DefaultLimits.MaxSamples
	}
	if l.MaxFeatures <= 0 {
		l.MaxFeatures = DefaultLimits.MaxFeatures
	}
	if l.MaxClasses <= 0 {
		l.MaxClasses = DefaultLimits.MaxClasses
	}
	return l
}

// Dataset is a labelled data set: sample i has features X[i] (all of length
// Features) and class Y[i] in [0, len(Classes)).
type Dataset struct {
	X        [][]float64
	Y        []int
	Features int
	Classes  []string // class names; "0", "1", … when the file names none
}

// Len returns the number of samples.
func (d *Dataset) Len() int { return len(d.Y) }

// NumClasses returns the number of classes.
func (d *Dataset) NumClasses() int { return len(d.Classes) }

// ClassCounts returns the number of samples of each class.
func (d *Dataset) ClassCounts() []int {
	c := make([]int, len(d.Classes))
	for _, y := range d.Y {
		if y >= 0 && y < len(c) {
			c[y]++
		}
	}
	return c
}

// Subset returns the samples at idx, in that order. Rows are shared, not
// copied.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{X: make([][]float64, len(idx)), Y: make([]int, len(idx)), Features: d.Features, Classes: d.Classes}
	for j, i := range idx {
		s.X[j], s.Y[j] = d.X[i], d.Y[i]
	}
	return s
}

// Validate checks the invariants of d: consistent lengths, finite features,
// labels in range.
func (d *Dataset) Validate() error {
	if len(d.X) != len(d.Y) {
		return fmt.Errorf("%w: %d samples but %d labels", ErrMalformed, len(d.X), len(d.Y))
	}
	if len(d.Classes) == 0 {
		return fmt.Errorf("%w: no classes", ErrMalformed)
	}
	for i, x := range d.X {
		if len(x) != d.Features {
			return &FeatureCountError{Want: d.Features, Got: len(x)}
		}
		for _, v := range x {
			if !isFinite(v) {
				return fmt.Errorf("%w: sample %d: non-finite feature", ErrMalformed, i)
			}
		}
		if d.Y[i] < 0 || d.Y[i] >= len(d.Classes) {
			return fmt.Errorf("%w: sample %d: label %d outside [0, %d)", ErrMalformed, i, d.Y[i], len(d.Classes))
		}
	}
	return nil
}

func numberedClasses(k int) []string {
	c := make([]string, k)
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}

func isFinite(v float64) bool { return v-v == 0 }
