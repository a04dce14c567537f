package fl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/inference/train"
	"github.com/aios-edge/aios/mpc"
)

// AcceptList is what a member is configured to join: federations of the
// listed coordinators, by name or any name.
type AcceptList struct {
	rules map[mpc.NodeID][]string // "*": any federation of that coordinator
}

// ParseAcceptList parses lines "<coordinator node id> <federation name>|*"
// ('#' starts a comment).
func ParseAcceptList(b []byte) (*AcceptList, error) {
	a := &AcceptList{rules: map[mpc.NodeID][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: accept list line %d: want <coordinator id> <federation name or *>", ErrMalformed, n)
		}
		id, err := mpc.ParseNodeID(f[0])
		if err != nil {
			return nil, fmt.Errorf("%w: accept list line %d: not a node id", ErrMalformed, n)
		}
		a.rules[id] = append(a.rules[id], f[1])
	}
	return a, sc.Err()
}

// Allow adds a rule: federations of coordinator with that name ("*": any).
func (a *AcceptList) Allow(coordinator mpc.NodeID, name string) {
	if a.rules == nil {
		a.rules = map[mpc.NodeID][]string{}
	}
	a.rules[coordinator] = append(a.rules[coordinator], name)
}

// Check returns nil if self may join fed: self is a member and the
// coordinator and name are listed; otherwise ErrNotAccepted.
func (a *AcceptList) Check(fed *Federation, self mpc.NodeID) error {
	l := &fed.lit
	member := false
	for _, m := range l.Members {
		member = member || m == self
	}
	if !member {
		return fmt.Errorf("%w: not a member", ErrNotAccepted)
	}
	if a != nil {
		for _, n := range a.rules[l.Coordinator] {
			if n == "*" || n == l.Name {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: coordinator %s, federation %q", ErrNotAccepted, l.Coordinator.Short(), l.Name)
}

// MemberConfig configures a [Member].
type MemberConfig struct {
	Node   *mpc.Node
	Accept *AcceptList
	// Data is this node's training data, read only by local training.
	Data   *dataset.Dataset
	Logger *slog.Logger // never given data, updates or the model
}

// Member takes part in federations: it trains each round's global model
// on its own data and gives the clipped, weighted update to the round's
// MPC session as its private input.
type Member struct {
	cfg  MemberConfig
	mu   sync.Mutex
	last map[[32]byte]int // highest round index started per federation
	wg   sync.WaitGroup
}

// NewMember returns a member.
func NewMember(cfg MemberConfig) (*Member, error) {
	if cfg.Node == nil {
		return nil, fmt.Errorf("fl: a member needs an mpc node")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Member{cfg: cfg, last: map[[32]byte]int{}}, nil
}

// HandleRound authenticates a round message, checks that this node joins
// the federation and that the round is newer than any it started, and
// trains in the background; the update goes to the round's session with
// mpc.Node.SetInput. It returns before training ends.
func (m *Member) HandleRound(ctx context.Context, msg []byte) error {
	r, err := DecodeRound(msg)
	if err != nil {
		return err
	}
	if err := m.cfg.Accept.Check(r.Federation, m.cfg.Node.ID()); err != nil {
		return err
	}
	if m.cfg.Data == nil {
		return ErrNoData
	}
	if d := m.cfg.Data; d.Features != r.Federation.lit.Model.Inputs || d.NumClasses() > len(r.Federation.lit.Model.Classes) {
		return fmt.Errorf("%w: the local data has %d features and %d classes, the federation's model %d and %d",
			ErrNoData, d.Features, d.NumClasses(), r.Federation.lit.Model.Inputs, len(r.Federation.lit.Model.Classes))
	}
	id := r.Federation.ID()
	m.mu.Lock()
	if last, ok := m.last[id]; ok && r.Index <= last {
		m.mu.Unlock()
		return fmt.Errorf("%w: round %d of this federation already started", ErrMalformed, r.Index)
	}
	m.last[id] = r.Index
	m.mu.Unlock()
	m.wg.Go(func() {
		in, err := LocalInput(context.WithoutCancel(ctx), r, m.cfg.Data)
		if err == nil {
			err = m.cfg.Node.SetInput(r.Session.ID(), in)
		}
		if err != nil {
			m.cfg.Logger.Warn("fl: no contribution to the round", "federation", r.Federation.lit.Name, "round", r.Index, "err", err)
		}
	})
	return nil
}

// Wait waits for the trainings started so far.
func (m *Member) Wait() { m.wg.Wait() }

// LocalInput computes a member's input to round r from its data d:
//
//   - stats: the local means of x_j and x_j² (clamped to the feature
//     bound), weighted by the sample count;
//   - train, prune, qat: E local epochs of train.Fit from the global model
//     at the round's step size (Federation.StepSize; FedProx's term with
//     FedProx; masked after pruning; fake-quantized with qat), the update Δ = θ_local − θ_global scaled to L2 norm at
//     most the clip norm, weighted by the sample count;
//   - bounds: the int8 model's circuit magnitudes on the local data.
func LocalInput(ctx context.Context, r *Round, d *dataset.Dataset) (mpc.Input, error) {
	fed := r.Federation
	l := &fed.lit
	n := float64(d.Len())
	switch r.Stage {
	case StageStats:
		v := make([]float64, 2*d.Features)
		for _, x := range d.X {
			for j, xj := range x {
				c := min(max(xj, -l.FeatureBound), l.FeatureBound)
				v[j] += c / n
				v[d.Features+j] += c * c / n
			}
		}
		return mpc.Input{Values: v, Weight: n}, nil
	case StageBounds:
		return boundsInput(r, d)
	}
	if l.Privacy == RecordDP {
		return dpInput(r, d, nil)
	}
	global, err := r.Net()
	if err != nil {
		return mpc.Input{}, err
	}
	std := r.Global.Standardizer()
	local := global.Clone()
	o := train.FitOptions{Epochs: l.LocalEpochs, Batch: l.Batch, LR: fed.StepSize(r.Index), Seed: l.Seed ^ uint64(r.Index)<<32}
	if l.Aggregation == FedProx {
		o.Prox, o.Anchor = l.ProxMu, global
	}
	if r.Stage == StageQAT {
		o.Bits, o.Std = l.Compression.Bits, std
	}
	if err := train.Fit(ctx, local, std.Apply(d.X), d.Y, len(l.Model.Classes), o); err != nil {
		return mpc.Input{}, err
	}
	delta := flatten(local)
	norm := 0.0
	for i, g := range r.Global.Params {
		delta[i] -= g
		norm += delta[i] * delta[i]
	}
	if norm = math.Sqrt(norm); norm > l.ClipNorm {
		for i := range delta {
			delta[i] *= l.ClipNorm / norm
		}
	}
	return mpc.Input{Values: delta, Weight: n}, nil
}

// boundsInput traces the final int8 model on the local data.
func boundsInput(r *Round, d *dataset.Dataset) (mpc.Input, error) {
	m, err := finalModel(r.Federation, &r.Global)
	if err != nil {
		return mpc.Input{}, err
	}
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		return mpc.Input{}, err
	}
	b, err := ev.Trace(d.X)
	if err != nil {
		return mpc.Input{}, err
	}
	v := []float64{b.MaxAbsInput, b.MaxAbsPreActivation, b.MaxAbsLogit}
	for _, lb := range b.Layers {
		v = append(v, lb.MaxAbsPre, lb.MaxAbsSum, lb.MaxAbsMsg, lb.MaxAbsNext)
	}
	// Round up to the session's fixed-point grid, so the sum stays an
	// upper bound.
	for i := range v {
		v[i] = math.Ceil(math.Ldexp(v[i], boundsFrac)) / math.Ldexp(1, boundsFrac)
	}
	return mpc.Input{Values: v}, nil
}

// finalModel is the int8 model of the global state (no bounds yet).
func finalModel(fed *Federation, g *Global) (*inference.Model, error) {
	n, err := netOf(fed, g.Params, false)
	if err != nil {
		return nil, err
	}
	return train.Compress(n, g.Standardizer(), fed.lit.Compression.Bits, fed.lit.Model.Classes)
}
