package mpc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc/internal/field"
)

// NodeID identifies a node: its Ed25519 public key (internal/nodekey).
type NodeID nodekey.PublicKey

// String returns the 64-hex-digit node id.
func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for messages.
func (id NodeID) Short() string { return hex.EncodeToString(id[:4]) }

// ParseNodeID decodes and checks a node id.
func ParseNodeID(s string) (NodeID, error) {
	p, err := nodekey.ParsePublicKey(s)
	return NodeID(p), err
}

// Operation is what a session computes.
type Operation string

// Operations. Every input party contributes one vector of Dimension
// coordinates (dot product: exactly two input parties).
const (
	OpSum          Operation = "sum"           // Σ x, per coordinate
	OpMean         Operation = "mean"          // Σ x / m over the m included dealers
	OpWeightedMean Operation = "weighted-mean" // Σ w·x / Σ w, one weight per party
	OpHistogram    Operation = "histogram"     // Σ one-hot(bucket(v)) over each party's values
	OpVariance     Operation = "variance"      // Σ x²/m − (Σ x/m)², per coordinate
	OpDotProduct   Operation = "dot-product"   // Σ_j a_j·b_j of two parties' vectors
)

// Limits on sessions.
const (
	MaxParticipants = 64
	MaxDimension    = 1 << 20
	MaxFracBits     = dp.MaxFracBits
	MaxItems        = 1 << 20 // histogram values per party
	// dpMaxFixed mirrors dp's bound on a released fixed-point value (2^52,
	// exact in float64); a session whose aggregate could exceed it is
	// refused up front rather than after the parties have shared.
	dpMaxFixed = 1 << 52
)

// ReleaseMode is how a session's coordinator releases the aggregate
// (package doc, "Release").
type ReleaseMode uint8

// Release modes.
const (
	// ReleaseLaplace debits the session's ε from the ledger and releases
	// the aggregate with Laplace noise: the result is ε-DP.
	ReleaseLaplace ReleaseMode = 0
	// ReleaseExact is secure aggregation only: the aggregate is
	// reconstructed without noise, claims no differential privacy, debits
	// no budget, and is handed once to the coordinator's in-process caller
	// by [Node.TakeAggregate]; Outcome.Release stays nil, so no status
	// shows it. Package fl uses it for federated rounds: of privacy level
	// secure aggregation, and of record-level DP, whose inputs the members
	// noised before sharing and whose aggregate fl releases through dp.
	ReleaseExact ReleaseMode = 1
)

// SessionLiteral is a session proposal with public fields; validate it with
// [NewSessionFromLiteral].
type SessionLiteral struct {
	// Coordinator proposes the session, decides the dealer sets and is the
	// output party (the one node that reconstructs and releases). It must
	// be a participant.
	Coordinator NodeID
	// Participants in a fixed order; participant i evaluates shares at
	// x = i+1.
	Participants []NodeID
	// InputParties are the participants that contribute a vector: empty
	// means all (required: exactly two for OpDotProduct).
	InputParties []NodeID
	// Threshold t: any t shares reconstruct, t−1 learn nothing.
	Threshold int
	Operation Operation
	// Dimension d: coordinates per input vector (histogram: buckets).
	Dimension int
	// FracBits f: values are shared as round(x·2^f) (0 for histograms).
	FracBits int
	// Lower and Upper clamp every coordinate (histogram: the range split
	// into Dimension equal buckets).
	Lower, Upper float64
	// MaxWeight bounds weights to [0, MaxWeight] (weighted mean only).
	MaxWeight float64
	// MaxItems bounds the number of values per party (histogram only).
	MaxItems int
	// Budget and Epsilon say which dp budget pays for the release and how
	// much (both empty with ReleaseExact).
	Budget  string
	Epsilon dp.MicroEpsilon
	// Release says how the coordinator releases the aggregate: through dp
	// (ReleaseLaplace, the default) or exactly (ReleaseExact).
	Release ReleaseMode
	// Deadlines: acceptances, dealings, reports, output shares.
	AcceptBy, InputBy, ReportBy, OutputBy time.Time
	// Nonce makes two otherwise equal proposals distinct sessions.
	Nonce [16]byte
}

// Session is a validated, immutable session specification.
type Session struct {
	lit       SessionLiteral
	id        [32]byte
	canonical []byte
	coord     int
	inputs    []int // participant indices of input parties, ascending
	width     int   // field elements per input dealing
	outBits   int   // fraction bits of the raw aggregate
	// chunks is how the aggregate is released through dp, validated here
	// so that a session that would fail at release is refused before any
	// party has shared.
	chunks []releaseChunk
}

// releaseChunk is one dp release: coordinates [lo, hi) of the aggregate
// with their share of the session's ε.
type releaseChunk struct {
	lo, hi int
	mech   *dp.Laplace
}

// planRelease splits an aggregate of width coordinates into dp releases of
// at most dpMaxDim coordinates whose ε add up to mech.Epsilon, and runs
// every check dp makes at release time that does not depend on the values
// (per-chunk ε, the ℓ1 sensitivity of the widest chunk) or on the ledger's
// balance. mech carries the per-coordinate calibration.
func planRelease(width int, mech dp.LaplaceLiteral) ([]releaseChunk, error) {
	n := (width + dpMaxDim - 1) / dpMaxDim
	eps := mech.Epsilon
	if int64(eps) < int64(n) {
		return nil, specErr("epsilon", "ε = %s is too small to split over the %d releases of %d coordinates each that a %d-coordinate aggregate needs", eps, n, dpMaxDim, width)
	}
	chunks := make([]releaseChunk, n)
	for c := range chunks {
		lit := mech
		lit.Epsilon = eps / dp.MicroEpsilon(n)
		if int64(c) < int64(eps)%int64(n) {
			lit.Epsilon++
		}
		m, err := dp.NewLaplaceFromLiteral(lit)
		if err != nil {
			return nil, specErr("release", "dp refuses release %d of %d: %v", c+1, n, err)
		}
		chunks[c] = releaseChunk{lo: c * dpMaxDim, hi: min(width, (c+1)*dpMaxDim), mech: m}
	}
	// All chunks share the calibration and the first is the widest: if dp
	// takes zeros there, it takes any in-range aggregate in every chunk.
	if _, err := chunks[0].mech.Query(make([]float64, chunks[0].hi)...); err != nil {
		return nil, specErr("release", "dp refuses a release of %d coordinates: %v", chunks[0].hi, err)
	}
	return chunks, nil
}

// NewSessionFromLiteral validates lit once.
func NewSessionFromLiteral(lit SessionLiteral) (*Session, error) {
	lit.Participants = slices.Clone(lit.Participants)
	lit.InputParties = slices.Clone(lit.InputParties)
	n := len(lit.Participants)
	if n < 2 || n > MaxParticipants {
		return nil, specErr("participants", "need between 2 and %d", MaxParticipants)
	}
	seen := map[NodeID]bool{}
	for _, p := range lit.Participants {
		if seen[p] {
			return nil, specErr("participants", "node %s listed twice", p.Short())
		}
		if _, err := nodekey.ParsePublicKey(p.String()); err != nil {
			return nil, specErr("participants", "node %s is not a valid Ed25519 public key", p.Short())
		}
		seen[p] = true
	}
	s := &Session{coord: slices.Index(lit.Participants, lit.Coordinator)}
	if s.coord < 0 {
		return nil, specErr("coordinator", "must be a participant")
	}
	t := lit.Threshold
	if t < 1 || t > n {
		return nil, specErr("threshold", "need 1 ≤ t ≤ n = %d, have t = %d", n, t)
	}
	if lit.Operation == OpDotProduct && n < 2*t-1 {
		return nil, specErr("threshold", "a product needs n ≥ 2t−1 (n = %d, t = %d)", n, t)
	}
	d := lit.Dimension
	if d < 1 || d > MaxDimension {
		return nil, specErr("dimension", "need 1 ≤ d ≤ %d", MaxDimension)
	}
	if lit.FracBits < 0 || lit.FracBits > MaxFracBits {
		return nil, specErr("frac_bits", "need 0 ≤ f ≤ %d", MaxFracBits)
	}
	if math.IsNaN(lit.Lower) || math.IsNaN(lit.Upper) || math.IsInf(lit.Lower, 0) || math.IsInf(lit.Upper, 0) || !(lit.Lower < lit.Upper) {
		return nil, specErr("bounds", "need finite lower < upper")
	}
	if len(lit.InputParties) == 0 {
		s.inputs = make([]int, n)
		for i := range n {
			s.inputs[i] = i
		}
	} else {
		for _, p := range lit.InputParties {
			i := slices.Index(lit.Participants, p)
			if i < 0 {
				return nil, specErr("input_parties", "node %s is not a participant", p.Short())
			}
			if slices.Contains(s.inputs, i) {
				return nil, specErr("input_parties", "node %s listed twice", p.Short())
			}
			s.inputs = append(s.inputs, i)
		}
		slices.Sort(s.inputs)
		// Canonical order: participant order.
		for k, i := range s.inputs {
			lit.InputParties[k] = lit.Participants[i]
		}
	}
	f := lit.FracBits
	m := max(math.Abs(lit.Lower), math.Abs(lit.Upper))
	fixedMax := math.Round(m * math.Ldexp(1, f)) // B: largest |encoded coordinate|
	if fixedMax > dpMaxFixed {
		return nil, specErr("frac_bits", "clamp bound·2^f exceeds 2^52")
	}
	parties := int64(len(s.inputs))
	// aggBound is the largest |coordinate| of the raw aggregate in field
	// units; relBound the same in units of 2^-f, which dp must accept.
	var aggBound *big.Int
	relBound := 0.0
	s.width, s.outBits = d, f
	dpLower, dpUpper, contrib := lit.Lower, lit.Upper, int64(1)
	B := big.NewInt(int64(fixedMax))
	switch lit.Operation {
	case OpSum, OpMean:
		aggBound = new(big.Int).Mul(B, big.NewInt(parties))
		relBound = float64(parties) * fixedMax
	case OpWeightedMean:
		if !(lit.MaxWeight > 0) || math.IsInf(lit.MaxWeight, 0) {
			return nil, specErr("max_weight", "need a finite weight bound > 0")
		}
		s.width = d + 1
		wm := lit.MaxWeight * max(m, 1)
		wx := math.Round(wm * math.Ldexp(1, f))
		if wx > dpMaxFixed {
			return nil, specErr("max_weight", "weight·bound·2^f exceeds 2^52")
		}
		aggBound = new(big.Int).Mul(big.NewInt(int64(wx)), big.NewInt(parties))
		relBound = float64(parties) * wx
		dpLower, dpUpper = -wm, wm
	case OpHistogram:
		if f != 0 {
			return nil, specErr("frac_bits", "a histogram counts: f must be 0")
		}
		if lit.MaxItems < 1 || lit.MaxItems > MaxItems {
			return nil, specErr("max_items", "need 1 ≤ max items ≤ %d", MaxItems)
		}
		aggBound = big.NewInt(int64(lit.MaxItems) * parties)
		relBound = float64(aggBound.Int64())
		dpLower, dpUpper = 0, float64(lit.MaxItems)
	case OpVariance:
		s.width, s.outBits = 2*d, 2*f
		sq := new(big.Int).Mul(B, B)
		aggBound = new(big.Int).Mul(sq, big.NewInt(parties))
		mm := max(m, m*m)
		relBound = float64(parties) * math.Round(mm*math.Ldexp(1, f))
		dpLower, dpUpper = -mm, mm
	case OpDotProduct:
		if len(s.inputs) != 2 {
			return nil, specErr("input_parties", "a dot product takes exactly two input parties")
		}
		s.outBits = 2 * f
		sq := new(big.Int).Mul(B, B)
		aggBound = new(big.Int).Mul(sq, big.NewInt(int64(d)))
		relBound = float64(d) * math.Round(m*m*math.Ldexp(1, f))
		dpLower, dpUpper, contrib = -m*m, m*m, int64(d)
	default:
		return nil, specErr("operation", "unknown operation %q", lit.Operation)
	}
	// The overflow argument of the package doc: the aggregate's absolute
	// value stays below q/2, so its signed decoding is exact.
	half := new(big.Int).Rsh(field.Q, 1)
	if aggBound.Cmp(half) >= 0 {
		return nil, specErr("frac_bits", "n·bound·2^f reaches q/2: the aggregate could wrap around the field")
	}
	if relBound > dpMaxFixed {
		return nil, specErr("frac_bits", "the aggregate's bound·2^f exceeds dp's 2^52 fixed-point range; lower f or the bounds")
	}
	switch lit.Release {
	case ReleaseLaplace:
		if err := s.planDP(&lit, dpLower, dpUpper, contrib); err != nil {
			return nil, err
		}
	case ReleaseExact:
		if lit.Epsilon != 0 || lit.Budget != "" {
			return nil, specErr("release", "an exact (secure-aggregation) release spends no ε: budget and epsilon must be empty")
		}
	default:
		return nil, specErr("release", "unknown release mode %d", lit.Release)
	}
	if lit.AcceptBy.IsZero() || !lit.AcceptBy.Before(lit.InputBy) || !lit.InputBy.Before(lit.ReportBy) || !lit.ReportBy.Before(lit.OutputBy) {
		return nil, specErr("deadlines", "need accept < input < report < output, all set")
	}
	// Deadlines travel in milliseconds.
	for _, p := range []*time.Time{&lit.AcceptBy, &lit.InputBy, &lit.ReportBy, &lit.OutputBy} {
		*p = time.UnixMilli(p.UnixMilli())
	}
	s.lit = lit
	s.canonical = s.encode()
	s.id = sha256.Sum256(s.canonical)
	return s, nil
}

// planDP runs the checks dp makes at release time for a Laplace release
// and keeps the chunks' mechanisms.
func (s *Session) planDP(lit *SessionLiteral, lower, upper float64, contrib int64) error {
	mech := dp.LaplaceLiteral{Epsilon: lit.Epsilon, Lower: lower, Upper: upper, MaxContributions: contrib, FracBits: lit.FracBits}
	if _, err := dp.NewLaplaceFromLiteral(mech); err != nil {
		return specErr("release", "dp refuses the release: %v", err)
	}
	outWidth := s.width
	if lit.Operation == OpDotProduct {
		outWidth = 1
	}
	chunks, err := planRelease(outWidth, mech)
	if err != nil {
		return err
	}
	// The ledger refuses a release to a budget it could not have created.
	if _, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: lit.Budget, Total: lit.Epsilon}); err != nil {
		return specErr("budget", "not a dp budget name: %v", err)
	}
	s.chunks = chunks
	return nil
}

// ID is SHA-256 of the canonical encoding.
func (s *Session) ID() [32]byte { return s.id }

// IDString is the hex session id.
func (s *Session) IDString() string { return hex.EncodeToString(s.id[:]) }

// Literal returns a copy of the validated literal.
func (s *Session) Literal() SessionLiteral {
	l := s.lit
	l.Participants = slices.Clone(l.Participants)
	l.InputParties = slices.Clone(l.InputParties)
	return l
}

// N is the number of participants; T the threshold.
func (s *Session) N() int { return len(s.lit.Participants) }

// T is the threshold.
func (s *Session) T() int { return s.lit.Threshold }

// Canonical returns the canonical encoding (what the coordinator signs).
func (s *Session) Canonical() []byte { return slices.Clone(s.canonical) }

func (s *Session) index(id NodeID) int { return slices.Index(s.lit.Participants, id) }

func (s *Session) isInput(i int) bool { _, ok := slices.BinarySearch(s.inputs, i); return ok }

const sessionTag = "aios/mpc/session/v1"

// encode is the canonical encoding, documented in the package doc under
// "Canonical session encoding".
func (s *Session) encode() []byte {
	l := &s.lit
	b := []byte(sessionTag)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.Participants)))
	for _, p := range l.Participants {
		b = append(b, p[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(s.coord))
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.InputParties)))
	for _, p := range l.InputParties {
		b = binary.BigEndian.AppendUint16(b, uint16(l.index(p)))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(l.Threshold))
	b = appendStr(b, string(l.Operation))
	b = binary.BigEndian.AppendUint32(b, uint32(l.Dimension))
	b = append(b, byte(l.FracBits))
	for _, v := range []float64{l.Lower, l.Upper, l.MaxWeight} {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(l.MaxItems))
	b = appendStr(b, l.Budget)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Epsilon))
	b = append(b, byte(l.Release))
	for _, t := range []time.Time{l.AcceptBy, l.InputBy, l.ReportBy, l.OutputBy} {
		b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli()))
	}
	return append(b, l.Nonce[:]...)
}

func (l *SessionLiteral) index(id NodeID) int { return slices.Index(l.Participants, id) }

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// maxSessionEncoding bounds a proposal body.
const maxSessionEncoding = len(sessionTag) + 1 + 2 + MaxParticipants*32 + 2 + 2 + MaxParticipants*2 + 2 + 2 + 64 + 4 + 1 + 24 + 4 + 2 + 64 + 8 + 1 + 32 + 16

// DecodeSession parses a canonical session encoding, validates it and
// checks that it re-encodes to the same bytes.
func DecodeSession(b []byte) (*Session, error) {
	const kind = "session"
	if len(b) > maxSessionEncoding {
		return nil, tooLarge(kind, len(b), maxSessionEncoding)
	}
	r := reader{b: b, kind: kind}
	if string(r.bytes(len(sessionTag)+1)) != sessionTag+"\x00" {
		return nil, malformed(kind, "wrong tag")
	}
	var l SessionLiteral
	np := int(r.u16())
	if np > MaxParticipants {
		return nil, malformed(kind, "too many participants")
	}
	for range np {
		var id NodeID
		copy(id[:], r.bytes(32))
		l.Participants = append(l.Participants, id)
	}
	ci := int(r.u16())
	ni := int(r.u16())
	if r.err != nil || ci >= np || ni > np {
		return nil, malformed(kind, "bad participant indices")
	}
	l.Coordinator = l.Participants[ci]
	for range ni {
		i := int(r.u16())
		if i >= np {
			return nil, malformed(kind, "bad input party index")
		}
		l.InputParties = append(l.InputParties, l.Participants[i])
	}
	l.Threshold = int(r.u16())
	l.Operation = Operation(r.str(32))
	l.Dimension = int(r.u32())
	l.FracBits = int(r.u8())
	l.Lower = math.Float64frombits(r.u64())
	l.Upper = math.Float64frombits(r.u64())
	l.MaxWeight = math.Float64frombits(r.u64())
	l.MaxItems = int(r.u32())
	l.Budget = r.str(64)
	l.Epsilon = dp.MicroEpsilon(r.u64())
	l.Release = ReleaseMode(r.u8())
	for _, p := range []*time.Time{&l.AcceptBy, &l.InputBy, &l.ReportBy, &l.OutputBy} {
		*p = time.UnixMilli(int64(r.u64()))
	}
	copy(l.Nonce[:], r.bytes(16))
	if err := r.done(); err != nil {
		return nil, err
	}
	s, err := NewSessionFromLiteral(l)
	if err != nil {
		return nil, &DecodeError{Kind: kind, Reason: "invalid session", Err: errors.Join(ErrMalformed, err)}
	}
	if string(s.canonical) != string(b) {
		return nil, malformed(kind, "not in canonical form")
	}
	return s, nil
}
