package fl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

// Privacy is a federation's privacy level.
type Privacy string

// Privacy levels.
const (
	// SecureAggregation: updates leave a member only as Shamir shares;
	// the coordinator reconstructs the aggregate of each round exactly
	// (mpc.ReleaseExact). No differential privacy is claimed.
	SecureAggregation Privacy = "secure-aggregation"
	// RecordDP is record-level differential privacy with distributed
	// noise (package doc, "Record-level differential privacy"): every
	// round is one DP-SGD step whose per-record clipped gradient sums the
	// members noise with their shares of discrete Gaussian noise before
	// sharing; each round's RDP is debited from the federation's (ε, δ)
	// budget in the coordinator's ledger before the new global model is
	// released.
	RecordDP Privacy = "record-dp"
)

// Aggregation is how the coordinator turns the round's aggregate update
// into the next global model.
type Aggregation string

// Aggregations.
const (
	// FedAvg (McMahan et al., "Communication-Efficient Learning of Deep
	// Networks from Decentralized Data", AISTATS 2017): the global model
	// moves by the mean of the members' updates weighted by their sample
	// counts.
	FedAvg Aggregation = "fedavg"
	// FedProx (Li et al., MLSys 2020): FedAvg, with members training
	// against the proximal term μ/2·‖θ − θ_global‖².
	FedProx Aggregation = "fedprox"
	// FedAvgM (Hsu, Qi and Brown, "Measuring the Effects of Non-Identical
	// Data Distribution for Federated Visual Classification", 2019): the
	// coordinator applies the weighted mean update with server momentum β.
	FedAvgM Aggregation = "fedavgm"
)

// Schedule is how the step size LR changes over a federation's rounds.
type Schedule string

// Schedules.
const (
	// ScheduleConstant: every round uses LR.
	ScheduleConstant Schedule = "constant"
	// ScheduleCosine is cosine annealing with one warm restart
	// (Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm
	// Restarts", ICLR 2017): the step falls from LR to LRFinal·LR along a
	// half cosine over the float rounds, and again over the compression
	// rounds, restarting at LR after pruning ([Federation.StepSize]).
	// Members' updates from a large step move the global model around
	// the optimum from round to round; the decay lets the last rounds of
	// each phase settle, so the final model does not sit wherever one
	// large step put it.
	ScheduleCosine Schedule = "cosine"
)

// Activations a federation may train, as `aios train` names them.
const (
	ActSquare = "square" // z²
	ActPoly   = "poly"   // 0.125·z² + 0.5·z + 0.25 = 0.125·(z + 2)², as `aios train --activation poly`
)

// Limits of a federation spec.
const (
	MaxRounds     = 1000
	MaxEpochs     = 100
	MaxSamples    = 1 << 24
	MaxParameters = mpc.MaxDimension - 1
	maxNameLen    = 64
	maxSpecBytes  = 64 << 10
)

// Errors of this package.
var (
	// ErrSpec: an invalid federation spec (wrapped by *SpecError).
	ErrSpec = errors.New("fl: invalid federation spec")
	// ErrNotAccepted: a member was not configured to join this federation.
	ErrNotAccepted = errors.New("fl: this node is not configured to join the federation")
	// ErrAuth: a bad signature (one opaque error).
	ErrAuth = errors.New("fl: signature verification failed")
	// ErrMalformed: a message or encoding that does not parse.
	ErrMalformed = errors.New("fl: malformed message")
	// ErrUnknownFederation: no such federation on this node.
	ErrUnknownFederation = errors.New("fl: unknown federation")
	// ErrTooMany: the coordinator runs as many federations as it keeps.
	ErrTooMany = errors.New("fl: this node runs as many federations as it keeps; retry once one has ended")
	// ErrNoData: the node has no local training data.
	ErrNoData = errors.New("fl: this node has no training data (aios serve --train-data)")
)

// SpecError says which field of a spec is wrong.
type SpecError struct{ Field, Reason string }

func (e *SpecError) Error() string { return "fl: federation " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrSpec) hold.
func (e *SpecError) Unwrap() error { return ErrSpec }

func specErr(field, format string, args ...any) error {
	return &SpecError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ModelLiteral is the architecture every member trains.
type ModelLiteral struct {
	Inputs     int      // features
	Hidden     []int    // hidden layer widths
	Classes    []string // class names, one per output
	Activation string   // ActSquare or ActPoly
}

// CompressionLiteral says what follows the float rounds.
type CompressionLiteral struct {
	// Prune is the target weight sparsity in [0, 1): after the float
	// rounds the coordinator prunes the global model by magnitude and
	// PruneRounds masked rounds fine-tune it.
	Prune       float64
	PruneRounds int
	// Bits (2 … 8) are the final model's weight bits; QATRounds
	// quantization-aware rounds precede it (0: post-training quantization
	// only).
	Bits      int
	QATRounds int
}

// FederationLiteral is a federation spec with public fields; validate it
// with [NewFederationFromLiteral].
type FederationLiteral struct {
	Name        string
	Coordinator mpc.NodeID   // proposes every round; must be a member
	Members     []mpc.NodeID // train on their own data; the MPC participants
	Threshold   int          // t of every round's MPC session
	Model       ModelLiteral
	Rounds      int // float rounds
	LocalEpochs int
	LR          float64 // members' Adam step size (record-dp: the coordinator's step)
	// LRSchedule is how LR changes over the rounds (empty: constant);
	// LRFinal is the fraction of LR that ScheduleCosine ends at, in
	// (0, 1], and 0 with ScheduleConstant. [Federation.StepSize] is the
	// step of a round.
	LRSchedule  Schedule
	LRFinal     float64
	Batch       int
	Aggregation Aggregation
	ProxMu      float64 // FedProx μ (> 0 with FedProx, else 0)
	Momentum    float64 // FedAvgM β in (0, 1) (else 0)
	// ClipNorm bounds the L2 norm of each member's update (secure
	// aggregation: every coordinate is then in [−ClipNorm, ClipNorm], the
	// MPC clamp), or, with RecordDP, of each record's gradient.
	ClipNorm float64
	Privacy  Privacy
	// Budget is the (ε, δ) dp budget in the coordinator's ledger that pays
	// for record-level DP rounds; the coordinator creates it with total
	// Epsilon and δ Delta if it does not exist. Budget, Epsilon, Delta and
	// NoiseMultiplier are empty with SecureAggregation, which spends no ε.
	Budget  string
	Epsilon dp.MicroEpsilon
	Delta   dp.PicoDelta
	// NoiseMultiplier z: the noise of Threshold members' shares together
	// has standard deviation z·C' per coordinate (C' the record's clip
	// norm with its count, see the package doc). The plan's rounds must
	// fit (Epsilon, Delta) at z; [NoiseMultiplierFor] gives the smallest z
	// that does.
	NoiseMultiplier float64
	Compression     CompressionLiteral
	// MaxSamples bounds a member's sample count, the weight of its
	// update.
	MaxSamples int
	// FeatureBound bounds |raw feature|: the clamp of the standardisation
	// statistics round.
	FeatureBound float64
	// PhaseSeconds is the length of each of a round's four MPC deadlines.
	PhaseSeconds float64
	Seed         uint64   // initial weights and members' shuffles
	Nonce        [16]byte // makes equal specs distinct federations
}

// Federation is a validated, immutable federation spec.
type Federation struct {
	lit       FederationLiteral
	canonical []byte
	id        [32]byte
	act       inference.Activation
}

// wireSpec is the canonical JSON form (fields in this order, node ids in
// hex, the nonce in hex).
type wireSpec struct {
	V            int         `json:"v"`
	Name         string      `json:"name"`
	Coordinator  string      `json:"coordinator"`
	Members      []string    `json:"members"`
	Threshold    int         `json:"threshold"`
	Inputs       int         `json:"inputs"`
	Hidden       []int       `json:"hidden"`
	Classes      []string    `json:"classes"`
	Activation   string      `json:"activation"`
	Rounds       int         `json:"rounds"`
	LocalEpochs  int         `json:"local_epochs"`
	LR           float64     `json:"lr"`
	LRSchedule   Schedule    `json:"lr_schedule"`
	LRFinal      float64     `json:"lr_final"`
	Batch        int         `json:"batch"`
	Aggregation  Aggregation `json:"aggregation"`
	ProxMu       float64     `json:"prox_mu"`
	Momentum     float64     `json:"momentum"`
	ClipNorm     float64     `json:"clip_norm"`
	Privacy      Privacy     `json:"privacy"`
	Budget       string      `json:"budget"`
	Epsilon      int64       `json:"epsilon_micro"`
	Delta        int64       `json:"delta_pico"`
	Noise        float64     `json:"noise_multiplier"`
	Prune        float64     `json:"prune"`
	PruneRounds  int         `json:"prune_rounds"`
	Bits         int         `json:"bits"`
	QATRounds    int         `json:"qat_rounds"`
	MaxSamples   int         `json:"max_samples"`
	FeatureBound float64     `json:"feature_bound"`
	PhaseSeconds float64     `json:"phase_seconds"`
	Seed         uint64      `json:"seed"`
	Nonce        string      `json:"nonce"`
}

const specVersion = 2

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// NewFederationFromLiteral validates lit once.
func NewFederationFromLiteral(lit FederationLiteral) (*Federation, error) {
	lit.Members = slices.Clone(lit.Members)
	lit.Model.Hidden = slices.Clone(lit.Model.Hidden)
	lit.Model.Classes = slices.Clone(lit.Model.Classes)
	if lit.LRSchedule == "" {
		lit.LRSchedule = ScheduleConstant
	}
	if err := lit.checkPeople(); err != nil {
		return nil, err
	}
	act, err := lit.checkModel()
	if err != nil {
		return nil, err
	}
	if err := lit.checkTraining(); err != nil {
		return nil, err
	}
	f := &Federation{lit: lit, act: act}
	if err := f.checkPrivacy(); err != nil {
		return nil, err
	}
	if f.canonical, err = json.Marshal(f.wire()); err != nil {
		return nil, err
	}
	if len(f.canonical) > maxSpecBytes {
		return nil, specErr("encoding", "%d bytes, more than %d", len(f.canonical), maxSpecBytes)
	}
	f.id = sha256.Sum256(append([]byte(specTag+"\x00"), f.canonical...))
	// Every round's session must be valid too (bounds against the field
	// and fixed-point limits).
	for _, st := range []Stage{StageStats, StageTrain, StageBounds} {
		if _, err := mpc.NewSessionFromLiteral(f.sessionShape(st, [16]byte{}, nowForCheck)); err != nil {
			return nil, specErr("mpc", "the %s rounds' session is refused: %v", st, err)
		}
	}
	return f, nil
}

func (l *FederationLiteral) checkPeople() error {
	if l.Name == "" || len(l.Name) > maxNameLen || strings.ContainsFunc(l.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return specErr("name", "need 1 … %d printable characters", maxNameLen)
	}
	n := len(l.Members)
	if n < 2 || n > mpc.MaxParticipants {
		return specErr("members", "need 2 … %d members", mpc.MaxParticipants)
	}
	seen := map[mpc.NodeID]bool{}
	for _, m := range l.Members {
		if seen[m] {
			return specErr("members", "node %s listed twice", m.Short())
		}
		if _, err := nodekey.ParsePublicKey(m.String()); err != nil {
			return specErr("members", "node %s is not a valid Ed25519 public key", m.Short())
		}
		seen[m] = true
	}
	if !seen[l.Coordinator] {
		return specErr("coordinator", "must be a member")
	}
	if l.Threshold < 2 || l.Threshold > n {
		return specErr("threshold", "need 2 ≤ t ≤ n = %d, have %d", n, l.Threshold)
	}
	return nil
}

func (l *FederationLiteral) checkModel() (inference.Activation, error) {
	m := &l.Model
	if m.Inputs < 1 || len(m.Hidden) < 1 || len(m.Hidden) > inference.MaxLayers-1 || len(m.Classes) < 2 {
		return inference.Activation{}, specErr("model", "need inputs ≥ 1, 1 … %d hidden layers and ≥ 2 classes", inference.MaxLayers-1)
	}
	params, prev := 0, m.Inputs
	for _, h := range append(slices.Clone(m.Hidden), len(m.Classes)) {
		if h < 1 || h > 4096 {
			return inference.Activation{}, specErr("model", "layer width %d outside 1 … 4096", h)
		}
		params += prev*h + h
		prev = h
	}
	if params > MaxParameters {
		return inference.Activation{}, specErr("model", "%d parameters, more than %d", params, MaxParameters)
	}
	for _, c := range m.Classes {
		if c == "" || len(c) > maxNameLen {
			return inference.Activation{}, specErr("model", "class names need 1 … %d bytes", maxNameLen)
		}
	}
	switch m.Activation {
	case ActSquare:
		return inference.Square, nil
	case ActPoly:
		return inference.Poly(0.25, 0.5, 0.125), nil
	}
	return inference.Activation{}, specErr("model", "activation %q: want %s or %s", m.Activation, ActSquare, ActPoly)
}

func (l *FederationLiteral) checkTraining() error {
	switch {
	case l.Rounds < 1 || l.Rounds > MaxRounds:
		return specErr("rounds", "need 1 … %d", MaxRounds)
	case l.LocalEpochs < 1 || l.LocalEpochs > MaxEpochs:
		return specErr("local_epochs", "need 1 … %d", MaxEpochs)
	case !(l.LR > 0 && l.LR <= 1):
		return specErr("lr", "need 0 < lr ≤ 1")
	case l.LRSchedule == ScheduleConstant && l.LRFinal != 0:
		return specErr("lr_final", "a constant schedule takes no final fraction")
	case l.LRSchedule == ScheduleCosine && !(l.LRFinal > 0 && l.LRFinal <= 1):
		return specErr("lr_final", "a cosine schedule needs 0 < final fraction ≤ 1")
	case l.LRSchedule != ScheduleConstant && l.LRSchedule != ScheduleCosine:
		return specErr("lr_schedule", "%q: want %s or %s", l.LRSchedule, ScheduleConstant, ScheduleCosine)
	case l.Batch < 1 || l.Batch > 1<<16:
		return specErr("batch", "need 1 … 65536")
	case !(l.ClipNorm > 0 && l.ClipNorm <= 1e3):
		return specErr("clip_norm", "need 0 < C ≤ 1000")
	case l.MaxSamples < 1 || l.MaxSamples > MaxSamples:
		return specErr("max_samples", "need 1 … %d", MaxSamples)
	case !(l.FeatureBound > 0 && l.FeatureBound <= 1e6):
		return specErr("feature_bound", "need 0 < bound ≤ 10^6")
	case !(l.PhaseSeconds >= 0.2 && l.PhaseSeconds <= 600):
		return specErr("phase_seconds", "need 0.2 … 600")
	}
	switch l.Aggregation {
	case FedAvg:
		if l.ProxMu != 0 || l.Momentum != 0 {
			return specErr("aggregation", "fedavg takes neither μ nor momentum")
		}
	case FedProx:
		if !(l.ProxMu > 0 && l.ProxMu <= 100) || l.Momentum != 0 {
			return specErr("prox_mu", "fedprox needs 0 < μ ≤ 100 and no momentum")
		}
	case FedAvgM:
		if !(l.Momentum > 0 && l.Momentum < 1) || l.ProxMu != 0 {
			return specErr("momentum", "fedavgm needs 0 < β < 1 and no μ")
		}
	default:
		return specErr("aggregation", "%q: want %s, %s or %s", l.Aggregation, FedAvg, FedProx, FedAvgM)
	}
	c := &l.Compression
	switch {
	case !(c.Prune >= 0 && c.Prune < 1):
		return specErr("prune", "sparsity outside [0, 1)")
	case c.PruneRounds < 0 || c.PruneRounds > MaxRounds || (c.Prune == 0) != (c.PruneRounds == 0):
		return specErr("prune_rounds", "0 … %d, and > 0 exactly when pruning", MaxRounds)
	case c.Bits < 2 || c.Bits > 8:
		return specErr("bits", "the final model is int8: need 2 … 8 weight bits")
	case c.QATRounds < 0 || c.QATRounds > MaxRounds:
		return specErr("qat_rounds", "need 0 … %d", MaxRounds)
	}
	return nil
}

func (f *Federation) checkPrivacy() error {
	l := &f.lit
	switch l.Privacy {
	case SecureAggregation:
		if l.Budget != "" || l.Epsilon != 0 || l.Delta != 0 || l.NoiseMultiplier != 0 {
			return specErr("budget", "secure aggregation spends no ε: leave the budget, ε, δ and noise multiplier empty")
		}
		return nil
	case RecordDP:
	default:
		return specErr("privacy", "%q: want %s or %s", l.Privacy, SecureAggregation, RecordDP)
	}
	if _, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: l.Budget, Total: l.Epsilon, Delta: l.Delta}); err != nil {
		return specErr("budget", "record-level DP needs an (ε, δ) dp budget: %v", err)
	}
	switch {
	case l.LocalEpochs != 1:
		return specErr("local_epochs", "a record-level DP round is one DP-SGD step: local epochs must be 1")
	case l.Aggregation == FedProx:
		return specErr("aggregation", "record-level DP rounds train no local model: use %s or %s", FedAvg, FedAvgM)
	case f.Parameters()+1 > maxDPDimension:
		return specErr("model", "%d parameters: record-level DP releases at most %d", f.Parameters(), maxDPDimension-1)
	}
	g, err := f.noise()
	if err != nil {
		return specErr("noise_multiplier", "%v", err)
	}
	if k, n := g.RoundsAllowed(&dp.BudgetAccounting{Total: l.Epsilon, Delta: l.Delta}), f.dpRounds(); k < int64(n) {
		return specErr("noise_multiplier", "(ε, δ) = (%s, %s) admits %d rounds at z = %g, the plan has %d: raise z, raise ε or plan fewer rounds",
			l.Epsilon, l.Delta, k, l.NoiseMultiplier, n)
	}
	return nil
}

// maxDPDimension mirrors dp's limit on coordinates per vector release.
const maxDPDimension = 1 << 16

// NoiseMultiplierFor returns the smallest noise multiplier z, to three
// decimals and rounded up, at which lit's planned rounds fit its (ε, δ),
// for a literal otherwise valid with RecordDP.
func NoiseMultiplierFor(lit FederationLiteral) (float64, error) {
	fits := func(z float64) error {
		l := lit
		l.NoiseMultiplier = z
		_, err := NewFederationFromLiteral(l)
		return err
	}
	hi := 1.0
	for ; fits(hi) != nil; hi *= 2 {
		if hi > dp.MaxNoiseMultiplier {
			return 0, fits(dp.MaxNoiseMultiplier)
		}
	}
	lo := 0.0
	for hi-lo > 0.0005 {
		mid := (lo + hi) / 2
		if mid >= dp.MinNoiseMultiplier && fits(mid) == nil {
			hi = mid
		} else {
			lo = mid
		}
	}
	z := math.Ceil(hi*1000) / 1000
	return z, fits(z)
}

func (f *Federation) wire() wireSpec {
	l := &f.lit
	members := make([]string, len(l.Members))
	for i, m := range l.Members {
		members[i] = m.String()
	}
	c := l.Compression
	return wireSpec{V: specVersion, Name: l.Name, Coordinator: l.Coordinator.String(), Members: members, Threshold: l.Threshold,
		Inputs: l.Model.Inputs, Hidden: l.Model.Hidden, Classes: l.Model.Classes, Activation: l.Model.Activation,
		Rounds: l.Rounds, LocalEpochs: l.LocalEpochs, LR: l.LR, LRSchedule: l.LRSchedule, LRFinal: l.LRFinal, Batch: l.Batch, Aggregation: l.Aggregation, ProxMu: l.ProxMu,
		Momentum: l.Momentum, ClipNorm: l.ClipNorm, Privacy: l.Privacy, Budget: l.Budget, Epsilon: int64(l.Epsilon), Delta: int64(l.Delta), Noise: l.NoiseMultiplier, Prune: c.Prune, PruneRounds: c.PruneRounds,
		Bits: c.Bits, QATRounds: c.QATRounds, MaxSamples: l.MaxSamples, FeatureBound: l.FeatureBound, PhaseSeconds: l.PhaseSeconds,
		Seed: l.Seed, Nonce: hex.EncodeToString(l.Nonce[:])}
}

// DecodeFederation parses a canonical encoding, validates it and checks
// that it re-encodes to the same bytes.
func DecodeFederation(b []byte) (*Federation, error) {
	if len(b) > maxSpecBytes {
		return nil, fmt.Errorf("%w: federation spec of %d bytes", ErrMalformed, len(b))
	}
	var w wireSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil || dec.More() || w.V != specVersion {
		return nil, fmt.Errorf("%w: not a version %d federation spec", ErrMalformed, specVersion)
	}
	lit := FederationLiteral{Name: w.Name, Threshold: w.Threshold, Model: ModelLiteral{Inputs: w.Inputs, Hidden: w.Hidden, Classes: w.Classes, Activation: w.Activation},
		Rounds: w.Rounds, LocalEpochs: w.LocalEpochs, LR: w.LR, LRSchedule: w.LRSchedule, LRFinal: w.LRFinal, Batch: w.Batch, Aggregation: w.Aggregation, ProxMu: w.ProxMu, Momentum: w.Momentum,
		ClipNorm: w.ClipNorm, Privacy: w.Privacy, Budget: w.Budget, Epsilon: dp.MicroEpsilon(w.Epsilon), Delta: dp.PicoDelta(w.Delta), NoiseMultiplier: w.Noise,
		Compression: CompressionLiteral{Prune: w.Prune, PruneRounds: w.PruneRounds, Bits: w.Bits, QATRounds: w.QATRounds},
		MaxSamples:  w.MaxSamples, FeatureBound: w.FeatureBound, PhaseSeconds: w.PhaseSeconds, Seed: w.Seed}
	var err error
	if lit.Coordinator, err = mpc.ParseNodeID(w.Coordinator); err != nil {
		return nil, fmt.Errorf("%w: coordinator", ErrMalformed)
	}
	for _, m := range w.Members {
		id, err := mpc.ParseNodeID(m)
		if err != nil {
			return nil, fmt.Errorf("%w: member", ErrMalformed)
		}
		lit.Members = append(lit.Members, id)
	}
	if n, err := hex.Decode(lit.Nonce[:], []byte(w.Nonce)); err != nil || n != 16 || len(w.Nonce) != 32 {
		return nil, fmt.Errorf("%w: nonce", ErrMalformed)
	}
	f, err := NewFederationFromLiteral(lit)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(f.canonical, b) {
		return nil, fmt.Errorf("%w: federation spec not in canonical form", ErrMalformed)
	}
	return f, nil
}

const (
	specTag = "aios/fl/federation/v1"
	sigTag  = "aios/fl/federation-signature/v1"
)

// ID is SHA-256 of the spec tag and the canonical encoding.
func (f *Federation) ID() [32]byte { return f.id }

// IDString is the hex id.
func (f *Federation) IDString() string { return hex.EncodeToString(f.id[:]) }

// Canonical returns the canonical encoding.
func (f *Federation) Canonical() []byte { return slices.Clone(f.canonical) }

// Literal returns a copy of the validated literal.
func (f *Federation) Literal() FederationLiteral {
	l := f.lit
	l.Members = slices.Clone(l.Members)
	l.Model.Hidden = slices.Clone(l.Model.Hidden)
	l.Model.Classes = slices.Clone(l.Model.Classes)
	return l
}

// Sizes are the layer widths: inputs, hidden…, classes.
func (f *Federation) Sizes() []int {
	return append(append([]int{f.lit.Model.Inputs}, f.lit.Model.Hidden...), len(f.lit.Model.Classes))
}

// Parameters is the number of weights and biases.
func (f *Federation) Parameters() int {
	s, p := f.Sizes(), 0
	for l := 0; l+1 < len(s); l++ {
		p += s[l]*s[l+1] + s[l+1]
	}
	return p
}

// Activation is the hidden layers' activation.
func (f *Federation) Activation() inference.Activation { return f.act }

// Sign returns the coordinator's signature of the spec.
func (f *Federation) Sign(k *nodekey.Key) ([]byte, error) {
	if mpc.NodeID(k.Public()) != f.lit.Coordinator {
		return nil, specErr("coordinator", "only the coordinator signs its federation")
	}
	return k.Sign(f.signed())
}

// Verify checks the coordinator's signature of the spec.
func (f *Federation) Verify(sig []byte) error {
	if nodekey.PublicKey(f.lit.Coordinator).Verify(f.signed(), sig) != nil {
		return ErrAuth
	}
	return nil
}

func (f *Federation) signed() []byte {
	return append([]byte(sigTag+"\x00"), f.id[:]...)
}
