package inference

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for bad input wraps one
// of them.
var (
	// ErrMalformed: a model file or model value that is not well formed.
	ErrMalformed = errors.New("inference: malformed model")
	// ErrTooLarge: a model file or dimension beyond the limits.
	ErrTooLarge = errors.New("inference: model too large")
	// ErrChecksum: the model file's SHA-256 does not match its contents.
	ErrChecksum = errors.New("inference: model checksum mismatch")
	// ErrVersion: a model file of a format version this build cannot read.
	ErrVersion = errors.New("inference: unsupported model format version")
	// ErrShape: layer shapes that do not chain; a [*ShapeError].
	ErrShape = errors.New("inference: inconsistent layer shapes")
	// ErrFeatureCount: an input with the wrong number of features; a
	// [*FeatureCountError].
	ErrFeatureCount = errors.New("inference: wrong feature count")
	// ErrNoPreset: no CKKS preset can hold the model's circuit.
	ErrNoPreset = errors.New("inference: no CKKS preset fits the model")
)

// FormatError locates a problem in a model file.
type FormatError struct {
	Offset int    // byte offset in the file where the problem was found
	Reason string // what is wrong
	Err    error  // ErrMalformed, ErrTooLarge, ErrChecksum or ErrVersion
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("inference: model file: %s (at byte %d)", e.Reason, e.Offset)
}

func (e *FormatError) Unwrap() error { return e.Err }

// ShapeError reports a layer whose shape does not fit its neighbours or the
// metadata.
type ShapeError struct {
	Layer int    // 0-based layer index
	What  string // "inputs", "outputs", "weights", "scales", "biases"
	Want  int
	Got   int
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("inference: layer %d: %d %s, want %d", e.Layer, e.Got, e.What, e.Want)
}

func (e *ShapeError) Unwrap() error { return ErrShape }

// FeatureCountError reports an input sample with the wrong number of
// features for the model.
type FeatureCountError struct {
	Sample int // 0-based index in the batch
	Want   int
	Got    int
}

func (e *FeatureCountError) Error() string {
	return fmt.Sprintf("inference: sample %d has %d features, the model takes %d", e.Sample, e.Got, e.Want)
}

func (e *FeatureCountError) Unwrap() error { return ErrFeatureCount }
