package fl

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/inference/train"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
	"gonum.org/v1/gonum/mat"
)

// Stage is what a round computes.
type Stage uint8

// Stages, in the order a federation runs them (package doc, "Rounds").
const (
	StageStats  Stage = 1 // feature means and second moments → the standardizer
	StageTrain  Stage = 2 // a float round
	StagePrune  Stage = 3 // a masked fine-tuning round after magnitude pruning
	StageQAT    Stage = 4 // a quantization-aware round
	StageBounds Stage = 5 // the CKKS plan's magnitudes of the final int8 model
)

func (s Stage) String() string {
	switch s {
	case StageStats:
		return "stats"
	case StageTrain:
		return "train"
	case StagePrune:
		return "prune"
	case StageQAT:
		return "qat"
	case StageBounds:
		return "bounds"
	}
	return fmt.Sprintf("stage(%d)", uint8(s))
}

// Plan returns the stage of every round, round 0 first. With RecordDP
// there is neither a stats round nor a bounds round: the standardizer and
// the CKKS bounds are public ([Federation.PublicStandardizer],
// inference.Evaluator.Envelope), so that every aggregate released is a
// noised one.
func (f *Federation) Plan() []Stage {
	c := f.lit.Compression
	var plan []Stage
	if f.lit.Privacy != RecordDP {
		plan = append(plan, StageStats)
	}
	for range f.lit.Rounds {
		plan = append(plan, StageTrain)
	}
	for range c.PruneRounds {
		plan = append(plan, StagePrune)
	}
	for range c.QATRounds {
		plan = append(plan, StageQAT)
	}
	if f.lit.Privacy == RecordDP {
		return plan
	}
	return append(plan, StageBounds)
}

// StepSize is the step size of round index of the plan (the members'
// Adam step with secure aggregation, the coordinator's step on the noised
// mean gradient with RecordDP): LR under ScheduleConstant. Under
// ScheduleCosine the float rounds are one cosine cycle and the
// compression rounds (prune, then qat) a second one, a warm restart after
// pruning (SGDR's restarts): round k of a cycle of R rounds takes
// LR·(f + (1 − f)·(1 + cos(π·k/(R − 1)))/2), from LR down to f·LR
// (f = LRFinal; a cycle of one round takes LR). Rounds that train nothing
// (stats, bounds) and indices outside the plan report LR.
func (f *Federation) StepSize(index int) float64 {
	l := &f.lit
	plan := f.Plan()
	if l.LRSchedule != ScheduleCosine || index < 0 || index >= len(plan) || plan[index] == StageStats || plan[index] == StageBounds {
		return l.LR
	}
	train := plan[index] == StageTrain
	k, n := 0, 0 // rounds of this cycle before this one, and in all
	for j, st := range plan {
		if st == StageStats || st == StageBounds || (st == StageTrain) != train {
			continue
		}
		if j < index {
			k++
		}
		n++
	}
	if n == 1 {
		return l.LR
	}
	c := (1 + math.Cos(math.Pi*float64(k)/float64(n-1))) / 2
	return l.LR * (l.LRFinal + (1-l.LRFinal)*c)
}

// dpRounds is the number of rounds that spend privacy budget.
func (f *Federation) dpRounds() int {
	c := f.lit.Compression
	return f.lit.Rounds + c.PruneRounds + c.QATRounds
}

// countScale is γ: with RecordDP a record adds γ·C to the count
// coordinate of its member's vector, so that the noised count (the
// denominator of the mean gradient) is released with the gradient sum,
// and a record's whole contribution has ℓ2 norm at most C·√(1+γ²).
const countScale = 0.25

// dpClip is C' = C·√(1+γ²), the ℓ2 bound of one record's contribution
// (its clipped gradient and its count).
func (f *Federation) dpClip() float64 {
	return f.lit.ClipNorm * math.Sqrt(1+countScale*countScale)
}

// dpBound is the clamp of a record-dp round's session: a member's sum of
// at most MaxSamples contributions, each coordinate at most C' in
// magnitude, plus 64 standard deviations of its noise share (which a
// discrete Gaussian exceeds with probability below e^-2000; the clamp is
// then never reached in practice, and the reconstructed sum is the sum
// of the noised vectors).
func (f *Federation) dpBound() float64 {
	sd := f.lit.NoiseMultiplier * f.dpClip() / math.Sqrt(float64(f.lit.Threshold))
	return float64(f.lit.MaxSamples)*f.dpClip() + 64*sd
}

// noise is the distributed discrete Gaussian of a record-dp round: the
// gradient sum and the count, in the round session's fixed point, with
// Threshold members' shares carrying the whole noise.
func (f *Federation) noise() (*dp.DistributedGaussian, error) {
	l := &f.lit
	return dp.NewDistributedGaussianFromLiteral(dp.DistributedGaussianLiteral{ClipNorm: f.dpClip(), NoiseMultiplier: l.NoiseMultiplier,
		FracBits: fracBits(len(l.Members), f.dpBound()), Dimension: f.Parameters() + 1, MinMembers: l.Threshold, Members: len(l.Members)})
}

// PublicStandardizer is the standardizer of a RecordDP federation, from
// the public feature bound B alone: x ↦ x/(B/2), so that features in
// [−B, B] map into [−2, 2]. No member's data is read for it.
func (f *Federation) PublicStandardizer() train.Standardizer {
	mean, std := make([]float64, f.lit.Model.Inputs), make([]float64, f.lit.Model.Inputs)
	for j := range std {
		std[j] = f.lit.FeatureBound / 2
	}
	return train.Standardizer{Mean: mean, Std: std}
}

// boundsCap is the clamp of the bounds round: circuit magnitudes up to
// 2^40, with 4 fraction bits.
const (
	boundsCap  = 1 << 40
	boundsFrac = 4
)

// boundsWidth is the bounds round's dimension: max |input|, max |pre|,
// max |logit|, and four magnitudes per layer (inference.LayerBounds).
func (f *Federation) boundsWidth() int { return 3 + 4*(len(f.lit.Model.Hidden)+1) }

// fracBits is the largest f ≤ 16 with n·round(bound·2^f) ≤ 2^51, so that
// the weighted aggregate stays inside mpc's fixed-point range.
func fracBits(n int, bound float64) int {
	for f := 16; f > 0; f-- {
		if float64(n)*math.Ldexp(bound, f) <= math.Ldexp(1, 51) {
			return f
		}
	}
	return 0
}

// nowForCheck gives the deadlines of the sessions validated with a spec.
var nowForCheck = time.Unix(1<<31, 0)

// sessionShape is the mpc session of a round of stage st with the given
// nonce, its deadlines counted from now.
func (f *Federation) sessionShape(st Stage, nonce [16]byte, now time.Time) mpc.SessionLiteral {
	l := &f.lit
	n := len(l.Members)
	lit := mpc.SessionLiteral{Coordinator: l.Coordinator, Participants: slices.Clone(l.Members), Threshold: l.Threshold,
		Operation: mpc.OpWeightedMean, MaxWeight: float64(l.MaxSamples), Release: mpc.ReleaseExact, Nonce: nonce}
	switch st {
	case StageStats:
		m := max(l.FeatureBound, l.FeatureBound*l.FeatureBound)
		lit.Dimension, lit.Lower, lit.Upper = 2*l.Model.Inputs, -m, m
		lit.FracBits = fracBits(n, lit.MaxWeight*max(m, 1))
	case StageBounds:
		lit.Operation, lit.MaxWeight = mpc.OpSum, 0
		lit.Dimension, lit.Lower, lit.Upper, lit.FracBits = f.boundsWidth(), 0, boundsCap, boundsFrac
	default:
		if l.Privacy == RecordDP {
			// Each member gives its noised sum and count (package doc).
			b := f.dpBound()
			lit.Operation, lit.MaxWeight = mpc.OpSum, 0
			lit.Dimension, lit.Lower, lit.Upper, lit.FracBits = f.Parameters()+1, -b, b, fracBits(n, b)
			break
		}
		lit.Dimension, lit.Lower, lit.Upper = f.Parameters(), -l.ClipNorm, l.ClipNorm
		lit.FracBits = fracBits(n, lit.MaxWeight*max(l.ClipNorm, 1))
	}
	ph := time.Duration(l.PhaseSeconds * float64(time.Second))
	lit.AcceptBy = now.Add(ph)
	lit.InputBy = lit.AcceptBy.Add(ph)
	lit.ReportBy = lit.InputBy.Add(ph)
	lit.OutputBy = lit.ReportBy.Add(ph)
	return lit
}

// Global is the public state a round starts from: the standardizer (after
// the stats round) and the global model's parameters (after it).
type Global struct {
	Mean, Std []float64
	Params    []float64
}

// Round is one round as the coordinator publishes it to the members.
type Round struct {
	Federation *Federation
	Index      int // 0 for the stats round, then one more per round
	Stage      Stage
	Session    *mpc.Session
	Global     Global
}

const (
	roundTag = "aios/fl/round/v1"
	nonceTag = "aios/fl/round-nonce/v1"
	// maxRoundMessage bounds a round message: the spec, a session, the
	// standardizer and the parameters as float64, and a signature.
	maxRoundMessage = maxSpecBytes + 8<<10 + 8*(2*4096+MaxParameters) + 64
)

// roundNonce binds a round's session to the federation, the round, its
// stage and the global state: every member checks it, so the members that
// accept one session were all sent the same global model.
func roundNonce(fed *Federation, index int, st Stage, g *Global) [16]byte {
	h := sha256.New()
	h.Write([]byte(nonceTag + "\x00"))
	id := fed.ID()
	h.Write(id[:])
	var b [5]byte
	binary.BigEndian.PutUint32(b[:], uint32(index))
	b[4] = byte(st)
	h.Write(b[:])
	h.Write(appendGlobal(nil, g))
	var n [16]byte
	copy(n[:], h.Sum(nil))
	return n
}

func appendFloats(b []byte, v []float64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func appendGlobal(b []byte, g *Global) []byte {
	b = appendFloats(b, g.Mean)
	b = appendFloats(b, g.Std)
	return appendFloats(b, g.Params)
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// NewRound builds round index of stage st from the global state, with the
// session's deadlines counted from now.
func NewRound(fed *Federation, index int, st Stage, g Global, now time.Time) (*Round, error) {
	s, err := mpc.NewSessionFromLiteral(fed.sessionShape(st, roundNonce(fed, index, st, &g), now))
	if err != nil {
		return nil, err
	}
	return &Round{Federation: fed, Index: index, Stage: st, Session: s, Global: g}, nil
}

// Encode returns the round message signed by the coordinator's key:
//
//	"aios/fl/round/v1\x00" | spec (u32 length, bytes) | index u32 | stage u8 |
//	session (u32 length, its canonical encoding) | mean, std, params (each
//	u32 count, float64 big-endian) | Ed25519 signature [64] over all before
func (r *Round) Encode(k *nodekey.Key) ([]byte, error) {
	if mpc.NodeID(k.Public()) != r.Federation.lit.Coordinator {
		return nil, specErr("coordinator", "only the coordinator signs its rounds")
	}
	b := append([]byte(roundTag), 0)
	b = appendBytes(b, r.Federation.canonical)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Index))
	b = append(b, byte(r.Stage))
	b = appendBytes(b, r.Session.Canonical())
	b = appendGlobal(b, &r.Global)
	sig, err := k.Sign(b)
	if err != nil {
		return nil, err
	}
	return append(b, sig...), nil
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) take(n int) []byte {
	if r.err || n < 0 || n > len(r.b) {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u32() int {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint32(v))
}

func (r *reader) floats(limit int) []float64 {
	n := r.u32()
	if n > limit {
		r.err = true
		return nil
	}
	raw := r.take(8 * n)
	if raw == nil {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.BigEndian.Uint64(raw[8*i:]))
		if !finite(out[i]) {
			r.err = true
		}
	}
	return out
}

// DecodeRound parses and authenticates a round message: the coordinator
// named in its spec must have signed it, its session must be exactly the
// round's (members, threshold, operation, bounds, exact release, the nonce
// that binds the global state) and the global state must fit the stage.
// It does not check that this node may join: see [AcceptList].
func DecodeRound(msg []byte) (*Round, error) {
	if len(msg) > maxRoundMessage || len(msg) < 64 {
		return nil, fmt.Errorf("%w: round message of %d bytes", ErrMalformed, len(msg))
	}
	body, sig := msg[:len(msg)-64], msg[len(msg)-64:]
	r := &reader{b: body}
	if string(r.take(len(roundTag)+1)) != roundTag+"\x00" {
		return nil, fmt.Errorf("%w: not a round message", ErrMalformed)
	}
	fed, err := DecodeFederation(r.take(min(r.u32(), maxSpecBytes+1)))
	if err != nil {
		return nil, err
	}
	if nodekey.PublicKey(fed.lit.Coordinator).Verify(body, sig) != nil {
		return nil, ErrAuth
	}
	rd := &Round{Federation: fed, Index: r.u32()}
	if st := r.take(1); st != nil {
		rd.Stage = Stage(st[0])
	}
	sess := r.take(min(r.u32(), 8<<10))
	in := fed.lit.Model.Inputs
	rd.Global = Global{Mean: r.floats(in), Std: r.floats(in), Params: r.floats(fed.Parameters())}
	if r.err || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: round message layout", ErrMalformed)
	}
	if rd.Session, err = mpc.DecodeSession(sess); err != nil {
		return nil, err
	}
	if err := rd.check(); err != nil {
		return nil, err
	}
	return rd, nil
}

// check compares the round's session with the one its stage and global
// state determine, deadlines aside, and the global state with the stage.
func (r *Round) check() error {
	fed, g := r.Federation, &r.Global
	stats := r.Stage == StageStats
	if !slices.Contains(fed.Plan(), r.Stage) || r.Index < 0 || r.Index >= len(fed.Plan()) || fed.Plan()[r.Index] != r.Stage {
		return fmt.Errorf("%w: round %d is not of stage %s in the federation's plan", ErrMalformed, r.Index, r.Stage)
	}
	if stats != (len(g.Mean) == 0) || len(g.Mean) != len(g.Std) || stats != (len(g.Params) == 0) {
		return fmt.Errorf("%w: global state does not fit stage %s", ErrMalformed, r.Stage)
	}
	for _, s := range g.Std {
		if !(s > 0) {
			return fmt.Errorf("%w: standard deviation ≤ 0", ErrMalformed)
		}
	}
	got := r.Session.Literal()
	want := fed.sessionShape(r.Stage, roundNonce(fed, r.Index, r.Stage, g), got.AcceptBy)
	want.AcceptBy, want.InputBy, want.ReportBy, want.OutputBy = got.AcceptBy, got.InputBy, got.ReportBy, got.OutputBy
	ws, err := mpc.NewSessionFromLiteral(want)
	if err != nil || ws.ID() != r.Session.ID() {
		return fmt.Errorf("%w: the round's session is not the one the federation and global model determine", ErrMalformed)
	}
	return nil
}

// Net returns the global model as a train.Net (a mask marks pruned
// weights in the stages after pruning).
func (r *Round) Net() (*train.Net, error) {
	return netOf(r.Federation, r.Global.Params, r.Stage == StagePrune || (r.Stage >= StageQAT && r.Federation.lit.Compression.Prune > 0))
}

// Standardizer is the federation's standardizer (after the stats round).
func (g *Global) Standardizer() train.Standardizer {
	return train.Standardizer{Mean: slices.Clone(g.Mean), Std: slices.Clone(g.Std)}
}

// netOf lays params out as a net of the federation's architecture: per
// layer the weights (row-major, out × in), then the biases.
func netOf(fed *Federation, params []float64, masked bool) (*train.Net, error) {
	if len(params) != fed.Parameters() {
		return nil, fmt.Errorf("%w: %d parameters, the model has %d", ErrMalformed, len(params), fed.Parameters())
	}
	sz := fed.Sizes()
	n := &train.Net{Sizes: sz, Act: fed.act}
	off := 0
	for l := 0; l+1 < len(sz); l++ {
		in, out := sz[l], sz[l+1]
		w := mat.NewDense(out, in, slices.Clone(params[off:off+in*out]))
		off += in * out
		n.W = append(n.W, w)
		n.B = append(n.B, slices.Clone(params[off:off+out]))
		off += out
		if masked {
			m := mat.NewDense(out, in, nil)
			md := m.RawMatrix().Data
			for i, v := range w.RawMatrix().Data {
				if v != 0 {
					md[i] = 1
				}
			}
			n.Mask = append(n.Mask, m)
		}
	}
	return n, nil
}

// flatten is netOf's inverse.
func flatten(n *train.Net) []float64 {
	var p []float64
	for l := range n.W {
		p = append(p, n.W[l].RawMatrix().Data...)
		p = append(p, n.B[l]...)
	}
	return p
}
