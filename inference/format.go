package inference

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Magic opens every model file.
const Magic = "AIOSMODL"

// FormatVersion is the version this build writes and the only one it reads.
const FormatVersion = 1

const headerSize = len(Magic) + 2 + 2 + 4

// Encode returns the model file of m (see the package documentation,
// "Format"). m must pass [Model.Validate].
func Encode(m *Model) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return encode(m)
}

// encode writes m without validating it (tests use it to build bad files).
func encode(m *Model) ([]byte, error) {
	meta, err := json.Marshal(&m.Meta)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %w", ErrMalformed, err)
	}
	if len(meta) > maxMetaBytes {
		return nil, fmt.Errorf("%w: %d bytes of metadata (limit %d)", ErrTooLarge, len(meta), maxMetaBytes)
	}
	b := make([]byte, 0, headerSize+len(meta)+m.Weights()+64*len(m.Layers)+sha256.Size)
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, FormatVersion)
	b = binary.BigEndian.AppendUint16(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
	b = append(b, meta...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Layers)))
	for i := range m.Layers {
		l := &m.Layers[i]
		b = binary.BigEndian.AppendUint32(b, uint32(l.In))
		b = binary.BigEndian.AppendUint32(b, uint32(l.Out))
		b = append(b, byte(l.Act.Kind))
		for _, c := range l.Act.C {
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(c))
		}
		for _, w := range l.W {
			b = append(b, byte(w))
		}
		for _, s := range l.Scale {
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(s))
		}
		for _, v := range l.Bias {
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// WriteFile writes the model file of m to path.
func WriteFile(path string, m *Model) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Read reads a model file of at most [MaxModelBytes] from r and decodes it.
func Read(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxModelBytes+1))
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// ReadFile reads and decodes the model file at path.
func ReadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// decoder reads big-endian fields; the first failure sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(err error, format string, args ...any) {
	if d.err == nil {
		d.err = &FormatError{Offset: d.off, Reason: fmt.Sprintf(format, args...), Err: err}
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(ErrMalformed, "%s: need %d bytes, %d left", what, n, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u16(what string) int {
	if s := d.take(2, what); s != nil {
		return int(binary.BigEndian.Uint16(s))
	}
	return 0
}

func (d *decoder) u32(what string) int {
	if s := d.take(4, what); s != nil {
		return int(binary.BigEndian.Uint32(s))
	}
	return 0
}

func (d *decoder) f64s(n int, what string) []float64 {
	s := d.take(8*n, what)
	if s == nil {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.BigEndian.Uint64(s[8*i:]))
	}
	return out
}

// Decode parses and validates a model file: magic, version, size limits
// (checked before anything is allocated for them), the SHA-256 checksum,
// then every field, and finally [Model.Validate]. Errors wrap
// [ErrMalformed], [ErrTooLarge], [ErrChecksum], [ErrVersion] (as a
// [*FormatError]) or [ErrShape].
func Decode(b []byte) (*Model, error) {
	if len(b) > MaxModelBytes {
		return nil, &FormatError{Offset: MaxModelBytes, Reason: fmt.Sprintf("more than %d bytes", MaxModelBytes), Err: ErrTooLarge}
	}
	if len(b) < headerSize+sha256.Size || string(b[:len(Magic)]) != Magic {
		return nil, &FormatError{Reason: "not an aios model file (bad magic or too short)", Err: ErrMalformed}
	}
	d := &decoder{b: b[:len(b)-sha256.Size]}
	d.take(len(Magic), "magic")
	if v := d.u16("version"); v != FormatVersion {
		return nil, &FormatError{Offset: len(Magic), Reason: fmt.Sprintf("format version %d (this build reads %d)", v, FormatVersion), Err: ErrVersion}
	}
	sum := sha256.Sum256(d.b)
	if !bytes.Equal(sum[:], b[len(b)-sha256.Size:]) {
		return nil, &FormatError{Offset: len(d.b), Reason: "SHA-256 does not match the contents", Err: ErrChecksum}
	}
	if f := d.u16("flags"); f != 0 {
		d.fail(ErrMalformed, "unknown flags %#04x", f)
	}
	metaLen := d.u32("metadata length")
	if metaLen > maxMetaBytes {
		d.fail(ErrTooLarge, "%d bytes of metadata (limit %d)", metaLen, maxMetaBytes)
	}
	metaBytes := d.take(metaLen, "metadata")
	m := &Model{}
	if d.err == nil {
		dec := json.NewDecoder(bytes.NewReader(metaBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m.Meta); err != nil {
			d.fail(ErrMalformed, "metadata: %v", err)
		} else if dec.More() {
			d.fail(ErrMalformed, "metadata: trailing data")
		}
	}
	n := d.u16("layer count")
	if d.err == nil && (n == 0 || n > MaxLayers) {
		d.fail(ErrTooLarge, "%d layers (want 1 to %d)", n, MaxLayers)
	}
	if d.err == nil && len(m.Meta.Bounds.Layers) > MaxLayers {
		d.fail(ErrTooLarge, "metadata bounds for %d layers", len(m.Meta.Bounds.Layers))
	}
	if d.err == nil && len(m.Meta.Classes) > MaxWidth {
		d.fail(ErrTooLarge, "%d classes", len(m.Meta.Classes))
	}
	for i := 0; d.err == nil && i < n; i++ {
		in, out := d.u32("layer inputs"), d.u32("layer outputs")
		if d.err != nil {
			break
		}
		if in == 0 || out == 0 || in > MaxWidth || out > MaxWidth || in*out > MaxLayerSize {
			d.fail(ErrTooLarge, "layer %d is %d×%d (limits: %d wide, %d weights)", i, out, in, MaxWidth, MaxLayerSize)
			break
		}
		// Everything the layer holds must be present before it is allocated.
		if need := 1 + 24 + in*out + 16*out; need > len(d.b)-d.off {
			d.fail(ErrMalformed, "layer %d: needs %d bytes, %d left", i, need, len(d.b)-d.off)
			break
		}
		l := Layer{In: in, Out: out}
		l.Act.Kind = ActivationKind(d.take(1, "activation")[0])
		copy(l.Act.C[:], d.f64s(3, "activation coefficients"))
		ws := d.take(in*out, "weights")
		l.W = make([]int8, len(ws))
		for j, w := range ws {
			l.W[j] = int8(w)
		}
		l.Scale = d.f64s(out, "scales")
		l.Bias = d.f64s(out, "biases")
		m.Layers = append(m.Layers, l)
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail(ErrMalformed, "%d bytes after the last layer", len(d.b)-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := m.Validate(); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("inference: model file: %w", err)
	}
	return m, nil
}
