package he

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// ErrInsecureParameters is wrapped by every [*SecurityError].
var ErrInsecureParameters = errors.New("he: parameters below 128-bit security")

// ErrUnknownPreset is returned for a preset name that does not exist.
var ErrUnknownPreset = errors.New("he: unknown parameter preset")

// ErrInvalidParameters is returned when lattigo refuses a literal, or a
// literal asks for something this package does not support.
var ErrInvalidParameters = errors.New("he: invalid parameters")

// SecurityError says why a parameter set was refused.
type SecurityError struct {
	LogN     int
	LogQP    float64 // log2 of the product of all moduli (0 if not reached)
	MaxLogQP float64 // the standard's bound for LogN (0 if none is known)
	Reason   string
}

func (e *SecurityError) Error() string {
	return fmt.Sprintf("he: parameters refused: %s", e.Reason)
}

// Unwrap makes errors.Is(err, ErrInsecureParameters) hold.
func (e *SecurityError) Unwrap() error { return ErrInsecureParameters }

// securityBounds holds the HomomorphicEncryption.org standard's largest
// log2(QP) per ring degree for classical security of 128, 192 and 256 bits
// (uniform ternary secret, σ = 3.2; Table 1 of the 2018 standard).
var securityBounds = map[int][3]float64{
	10: {27, 19, 14},
	11: {54, 37, 29},
	12: {109, 75, 58},
	13: {218, 152, 118},
	14: {438, 305, 237},
	15: {881, 611, 476},
	16: {1772, 1228, 956},
}

var securityLevels = [3]int{128, 192, 256}

// MaxLogQP returns the standard's largest log2(QP) for 128-bit security at
// ring degree 2^logN, and false when the standard gives none.
func MaxLogQP(logN int) (float64, bool) {
	b, ok := securityBounds[logN]
	return b[0], ok
}

// securityBits returns the highest level of the standard (128, 192, 256)
// that logQP meets at ring degree 2^logN, or 0 if it meets none.
func securityBits(logN int, logQP float64) int {
	b, ok := securityBounds[logN]
	if !ok {
		return 0
	}
	bits := 0
	for i, bound := range b {
		if logQP <= bound {
			bits = securityLevels[i]
		}
	}
	return bits
}

// uniformTernaryP is the probability of a non-zero coefficient of a uniform
// ternary secret, the distribution the standard's table assumes.
const uniformTernaryP = 2.0 / 3.0

// checkLiteral refuses literals whose distributions or moduli the standard's
// table does not cover, before any moduli are generated.
func checkLiteral(lit ckks.ParametersLiteral) error {
	refuse := func(format string, args ...any) error {
		return &SecurityError{LogN: lit.LogN, Reason: fmt.Sprintf(format, args...)}
	}
	bound, ok := MaxLogQP(lit.LogN)
	if !ok {
		return refuse("no 128-bit bound is known for ring degree 2^%d (supported: 2^10 … 2^16)", lit.LogN)
	}
	if lit.RingType != ring.Standard {
		return refuse("ring type %v is not supported: only the standard ring Z[X]/(X^N+1)", lit.RingType)
	}
	switch xs := lit.Xs.(type) {
	case nil:
	case ring.Ternary:
		if xs.H != 0 {
			return refuse("a sparse secret (Hamming weight %d) is below the standard's assumptions: use a uniform ternary secret", xs.H)
		}
		if math.Abs(xs.P-uniformTernaryP) > 1e-9 {
			return refuse("ternary secret with P=%v: the standard assumes a uniform ternary secret (P=2/3)", xs.P)
		}
	case *ring.Ternary:
		return checkLiteral(withXs(lit, *xs))
	default:
		return refuse("secret distribution %T: only a uniform ternary secret is supported", lit.Xs)
	}
	switch xe := lit.Xe.(type) {
	case nil:
	case ring.DiscreteGaussian:
		if xe.Sigma < rlwe.DefaultNoise {
			return refuse("error standard deviation %v is below the standard's σ = 3.2", xe.Sigma)
		}
	case *ring.DiscreteGaussian:
		return checkLiteral(withXe(lit, *xe))
	default:
		return refuse("error distribution %T: only a discrete Gaussian is supported", lit.Xe)
	}
	if logQP := nominalLogQP(lit); logQP > bound {
		return &SecurityError{LogN: lit.LogN, LogQP: logQP, MaxLogQP: bound, Reason: fmt.Sprintf(
			"log2(QP) = %.1f exceeds %.0f, the largest the HomomorphicEncryption.org standard allows for 128-bit security at N = 2^%d",
			logQP, bound, lit.LogN)}
	}
	return nil
}

func withXs(lit ckks.ParametersLiteral, xs ring.Ternary) ckks.ParametersLiteral {
	lit.Xs = xs
	return lit
}

func withXe(lit ckks.ParametersLiteral, xe ring.DiscreteGaussian) ckks.ParametersLiteral {
	lit.Xe = xe
	return lit
}

// nominalLogQP is log2(QP) as the literal states it: exact where moduli are
// given, the sum of the requested bit sizes otherwise.
func nominalLogQP(lit ckks.ParametersLiteral) float64 {
	sum := 0.0
	for _, q := range append(slices.Clone(lit.Q), lit.P...) {
		sum += math.Log2(float64(q))
	}
	for _, b := range append(slices.Clone(lit.LogQ), lit.LogP...) {
		sum += float64(b)
	}
	return sum
}

// Parameters is a validated, immutable CKKS parameter set that meets 128-bit
// security. Build one with [NewParameters] or [PresetByName].
type Parameters struct {
	ckks.Parameters
	name string
	id   string
}

// NewParameters validates a literal, security first, and returns the
// parameters. name labels the set in reports ("" for "custom").
func NewParameters(name string, lit ckks.ParametersLiteral) (Parameters, error) {
	if err := checkLiteral(lit); err != nil {
		return Parameters{}, err
	}
	p, err := ckks.NewParametersFromLiteral(lit)
	if err != nil {
		return Parameters{}, fmt.Errorf("%w: %w", ErrInvalidParameters, err)
	}
	return fromCKKS(name, p)
}

// fromCKKS checks instantiated parameters (the exact moduli) against the
// standard and wraps them.
func fromCKKS(name string, p ckks.Parameters) (Parameters, error) {
	if err := checkLiteral(p.ParametersLiteral()); err != nil {
		return Parameters{}, err
	}
	bound, _ := MaxLogQP(p.LogN())
	if logQP := p.LogQP(); logQP > bound {
		return Parameters{}, &SecurityError{LogN: p.LogN(), LogQP: logQP, MaxLogQP: bound, Reason: fmt.Sprintf(
			"log2(QP) = %.2f exceeds %.0f, the largest the HomomorphicEncryption.org standard allows for 128-bit security at N = 2^%d",
			logQP, bound, p.LogN())}
	}
	if p.PCount() == 0 {
		return Parameters{}, fmt.Errorf("%w: no auxiliary modulus P: key switching needs at least one P prime", ErrInvalidParameters)
	}
	if name == "" {
		name = "custom"
	}
	b, err := p.MarshalJSON()
	if err != nil {
		return Parameters{}, fmt.Errorf("%w: %w", ErrInvalidParameters, err)
	}
	sum := sha256.Sum256(b)
	return Parameters{Parameters: p, name: name, id: hex.EncodeToString(sum[:])}, nil
}

// Name returns the preset name, or "custom".
func (p Parameters) Name() string { return p.name }

// ID returns a content identifier of the parameter set: the hex SHA-256 of
// lattigo's JSON encoding. Two sets with the same ID are the same set.
func (p Parameters) ID() string { return p.id }

// Equal reports whether p and o are the same parameter set.
func (p Parameters) Equal(o Parameters) bool { return p.Parameters.Equal(&o.Parameters) }

// Info summarises a parameter set for people and scripts.
type Info struct {
	Name         string  `json:"name"`
	LogN         int     `json:"log_n"`
	N            int     `json:"n"`
	LogQP        float64 `json:"log_qp"`
	MaxLogQP     float64 `json:"max_log_qp_128"`
	Levels       int     `json:"levels"`
	Slots        int     `json:"slots"`
	LogScale     int     `json:"log_scale"`
	QBits        []int   `json:"q_bits"`
	PBits        []int   `json:"p_bits"`
	SecurityBits int     `json:"security_bits"`
	ID           string  `json:"id"`
}

// Info returns the summary of p.
func (p Parameters) Info() Info {
	bound, _ := MaxLogQP(p.LogN())
	bits := func(moduli []uint64) []int {
		out := make([]int, len(moduli))
		for i, m := range moduli {
			out[i] = new(big.Int).SetUint64(m).BitLen()
		}
		return out
	}
	return Info{
		Name:         p.name,
		LogN:         p.LogN(),
		N:            p.N(),
		LogQP:        math.Round(p.LogQP()*100) / 100,
		MaxLogQP:     bound,
		Levels:       p.MaxLevel(),
		Slots:        p.MaxSlots(),
		LogScale:     p.LogDefaultScale(),
		QBits:        bits(p.Q()),
		PBits:        bits(p.P()),
		SecurityBits: securityBits(p.LogN(), p.LogQP()),
		ID:           p.ID(),
	}
}
