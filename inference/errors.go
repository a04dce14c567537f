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

// Sentinel errors of encrypted evaluation.
var (
	// ErrPacking: an unknown packing, or an operation of the other packing.
	ErrPacking = errors.New("inference: wrong packing")
	// ErrKeyMismatch: evaluation keys or key material made for other CKKS
	// parameters than the model's preset; a [*ParamsError].
	ErrKeyMismatch = errors.New("inference: keys for other parameters")
	// ErrMissingKeys: an evaluation key set without a key the packing
	// needs; a [*MissingKeysError].
	ErrMissingKeys = errors.New("inference: missing evaluation keys")
	// ErrCiphertext: a ciphertext at the wrong level, scale, degree or ring,
	// or the wrong number of them; a [*CiphertextError].
	ErrCiphertext = errors.New("inference: ciphertext does not fit the model's plan")
	// ErrTooManySamples: more samples than the batch packing's slots; a
	// [*BatchSizeError].
	ErrTooManySamples = errors.New("inference: too many samples for one batch")
)

// ParamsError reports keys or ciphertexts made under other parameters.
type ParamsError struct {
	What             string // "evaluation keys", "key material"
	WantName, WantID string // the model's preset
	GotName, GotID   string
}

func (e *ParamsError) Error() string {
	return fmt.Sprintf("inference: %s are for parameters %s (%.12s…), the model needs %s (%.12s…)",
		e.What, e.GotName, e.GotID, e.WantName, e.WantID)
}

func (e *ParamsError) Unwrap() error { return ErrKeyMismatch }

// MissingKeysError lists the keys a packing needs that a key set lacks.
type MissingKeysError struct {
	Packing         Packing
	Relinearization bool     // the relinearization key is missing
	GaloisElements  []uint64 // missing Galois keys
}

func (e *MissingKeysError) Error() string {
	what := ""
	if e.Relinearization {
		what = "the relinearization key"
	}
	if len(e.GaloisElements) > 0 {
		if what != "" {
			what += " and "
		}
		what += fmt.Sprintf("%d Galois keys (elements %v)", len(e.GaloisElements), e.GaloisElements)
	}
	return fmt.Sprintf("inference: the %v packing needs %s, the key set lacks them", e.Packing, what)
}

func (e *MissingKeysError) Unwrap() error { return ErrMissingKeys }

// CiphertextError says which input ciphertext does not fit the plan and how.
type CiphertextError struct {
	Index int    // 0-based input index; −1 for the count
	Field string // "count", "level", "scale", "degree", "ring degree", "limbs", "layout", "nil"
	Want  string
	Got   string
}

func (e *CiphertextError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("inference: input ciphertexts: %s %s, want %s", e.Field, e.Got, e.Want)
	}
	return fmt.Sprintf("inference: input ciphertext %d: %s %s, want %s", e.Index, e.Field, e.Got, e.Want)
}

func (e *CiphertextError) Unwrap() error { return ErrCiphertext }

// BatchSizeError reports a batch larger than the slots of one ciphertext.
type BatchSizeError struct {
	Max, Got int
}

func (e *BatchSizeError) Error() string {
	return fmt.Sprintf("inference: %d samples, one batch holds at most %d", e.Got, e.Max)
}

func (e *BatchSizeError) Unwrap() error { return ErrTooManySamples }
