package fl

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/inference/train"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

// CoordinatorConfig configures a [Coordinator].
type CoordinatorConfig struct {
	Node *mpc.Node
	Key  *nodekey.Key // the node's key, the Node's own
	// Publish sends a signed round message to another member.
	Publish func(ctx context.Context, to mpc.NodeID, msg []byte) error
	// Local is this node's member: it gets the round messages directly.
	Local *Member
	// Register makes the final model available for encrypted inference
	// and returns its id; nil keeps it only in the status.
	Register func(ctx context.Context, model []byte) (string, error)
	// Ledger pays for record-level DP rounds (required for them): each
	// round's release is debited there before the global model moves.
	Ledger *dp.Ledger
	// EvalData, given, scores the global model after every round that
	// moves it: RoundStatus.Accuracy is the fraction of its rows the
	// float global model classifies correctly. It is the coordinator's
	// own held-out data, never sent; a federation whose input width or
	// classes do not fit it gets no accuracy.
	EvalData *dataset.Dataset
	Logger   *slog.Logger // never given an update or an aggregate
	Now      func() time.Time
	// MaxFederations bounds the federations kept (running or ended;
	// default 256): a new one evicts the oldest ended one, and is refused
	// with ErrTooMany while that many are running.
	MaxFederations int
}

// Coordinator runs federations whose coordinator is this node.
type Coordinator struct {
	cfg  CoordinatorConfig
	ctx  context.Context
	stop context.CancelFunc
	mu   sync.Mutex
	runs map[[32]byte]*fedRun
	wg   sync.WaitGroup
	// testOnlyBeforeRelease, set by tests, runs before a record-level DP
	// round's release.
	testOnlyBeforeRelease func(round int)
}

// NewCoordinator returns a coordinator.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if cfg.Node == nil || cfg.Key == nil || cfg.Publish == nil || mpc.NodeID(cfg.Key.Public()) != cfg.Node.ID() {
		return nil, errors.New("fl: a coordinator needs its mpc node, that node's key and a way to publish rounds")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxFederations <= 0 {
		cfg.MaxFederations = 256
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Coordinator{cfg: cfg, ctx: ctx, stop: stop, runs: map[[32]byte]*fedRun{}}, nil
}

// Close stops running federations and waits for them.
func (c *Coordinator) Close() {
	c.stop()
	c.wg.Wait()
}

// Federation states.
const (
	StateRunning = "running"
	StateDone    = "done"
	// StateStopped: ended cleanly before its plan, because the privacy
	// budget admits no further round (Status.Stopped says why); the final
	// model is built from the last released global model.
	StateStopped = "stopped"
	StateFailed  = "failed"
)

// Exclusion is a member left out of a round and why.
type Exclusion struct {
	Node     mpc.NodeID
	Reason   string
	Cheating bool // provably misbehaved (not merely absent)
}

// RoundStatus is one finished (or failed) round.
type RoundStatus struct {
	Index    int
	Stage    Stage
	Session  string
	Included []mpc.NodeID // members whose update was aggregated
	Excluded []Exclusion
	Samples  float64 // Σ sample counts of the included (train stages)
	Seconds  float64
	// BytesSent is what the coordinator sent in the round: its MPC
	// messages and the round messages.
	BytesSent int64
	// Epsilon is what the round's release debited, Spent the budget's
	// composed ε after it, Seq its ledger entry (record-level DP only).
	Epsilon, Spent dp.MicroEpsilon
	Seq            int64
	// Accuracy is the global model's accuracy on the coordinator's
	// evaluation data after the round; nil without such data, for the
	// stats and bounds rounds and for rounds that did not move the model.
	Accuracy *float64
	Err      string
}

// Status is a federation as its coordinator sees it. It holds the final
// model (public to the members) but no update and no aggregate.
type Status struct {
	ID      string
	Name    string
	State   string
	Err     string
	Privacy Privacy
	// Budget, Delta and Spent (composed ε, from the ledger) with
	// record-level DP.
	Budget  string
	Delta   dp.PicoDelta
	Spent   dp.MicroEpsilon
	Stopped string // why the federation stopped before its plan
	Rounds  []RoundStatus
	Planned int
	Created time.Time // when Start accepted the federation
	Model   []byte    // the final .aios model, once done
	ModelID string    // its id where registered
}

type fedRun struct {
	fed      *Federation
	mu       sync.Mutex
	status   Status
	global   Global
	velocity []float64
	released int // record-level DP rounds released
	// scoreWarned: the evaluation data's misfit has been logged.
	scoreWarned bool
	done        chan struct{}
}

// Start validates that this node coordinates fed and runs it in the
// background.
func (c *Coordinator) Start(fed *Federation) error {
	if fed.lit.Coordinator != c.cfg.Node.ID() {
		return specErr("coordinator", "this node is not the federation's coordinator")
	}
	r := &fedRun{fed: fed, done: make(chan struct{}),
		status: Status{ID: fed.IDString(), Name: fed.lit.Name, State: StateRunning, Privacy: fed.lit.Privacy, Planned: len(fed.Plan()),
			Created: c.cfg.Now()}}
	if fed.lit.Privacy == RecordDP {
		if err := c.openBudget(fed); err != nil {
			return err
		}
		r.status.Budget, r.status.Delta = fed.lit.Budget, fed.lit.Delta
	}
	c.mu.Lock()
	if _, dup := c.runs[fed.ID()]; dup {
		c.mu.Unlock()
		return specErr("nonce", "federation %s already exists", fed.IDString()[:16])
	}
	if len(c.runs) >= c.cfg.MaxFederations && !c.evictOldestEnded() {
		c.mu.Unlock()
		return fmt.Errorf("%w (%d)", ErrTooMany, c.cfg.MaxFederations)
	}
	c.runs[fed.ID()] = r
	c.mu.Unlock()
	c.wg.Go(func() {
		defer close(r.done)
		err := c.run(c.ctx, r)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.status.State, r.status.Err = StateFailed, err.Error()
			c.cfg.Logger.Warn("fl: federation failed", "federation", fed.lit.Name, "err", err)
			return
		}
		r.status.State = StateDone
		if r.status.Stopped != "" {
			r.status.State = StateStopped
		}
	})
	return nil
}

// evictOldestEnded forgets the ended federation created first, if any
// (c.mu held).
func (c *Coordinator) evictOldestEnded() bool {
	var oldest [32]byte
	var at time.Time
	found := false
	for id, r := range c.runs {
		select {
		case <-r.done:
		default:
			continue // running
		}
		if created := r.status.Created; !found || created.Before(at) { // set once, before the run
			oldest, at, found = id, created, true
		}
	}
	if found {
		delete(c.runs, oldest)
	}
	return found
}

// Status returns a snapshot of a federation's status.
func (c *Coordinator) Status(id [32]byte) (*Status, error) {
	r, err := c.get(id)
	if err != nil {
		return nil, err
	}
	return r.snapshot(), nil
}

// snapshot copies the run's status.
func (r *fedRun) snapshot() *Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	st.Rounds = slices.Clone(st.Rounds)
	return &st
}

// List returns snapshots of the statuses of at most limit federations
// this node coordinates, newest first (limit <= 0: all of them), and how
// many there are in all.
func (c *Coordinator) List(limit int) ([]*Status, int) {
	c.mu.Lock()
	runs := make([]*fedRun, 0, len(c.runs))
	for _, r := range c.runs {
		runs = append(runs, r)
	}
	c.mu.Unlock()
	out := make([]*Status, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.snapshot())
	}
	slices.SortFunc(out, func(a, b *Status) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		return out[:limit], len(out)
	}
	return out, len(out)
}

// Global returns the federation's current public global state (what the
// members were last sent, or the final model's parameters).
func (c *Coordinator) Global(id [32]byte) (*Federation, Global, error) {
	r, err := c.get(id)
	if err != nil {
		return nil, Global{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.global
	return r.fed, Global{Mean: slices.Clone(g.Mean), Std: slices.Clone(g.Std), Params: slices.Clone(g.Params)}, nil
}

// Wait blocks until the federation ends.
func (c *Coordinator) Wait(ctx context.Context, id [32]byte) (*Status, error) {
	r, err := c.get(id)
	if err != nil {
		return nil, err
	}
	select {
	case <-r.done:
		return c.Status(id)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Coordinator) get(id [32]byte) (*fedRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.runs[id]
	if r == nil {
		return nil, ErrUnknownFederation
	}
	return r, nil
}

// run runs every round of the plan, then builds the final model. With
// record-level DP it stops early, cleanly, when the budget admits no
// further round or a round's debit is refused for want of budget.
func (c *Coordinator) run(ctx context.Context, r *fedRun) error {
	fed := r.fed
	plan := fed.Plan()
	init := train.NewNet(fed.Sizes(), fed.act, false, rand.New(rand.NewPCG(fed.lit.Seed, 1)))
	params := flatten(init)
	dpRun := fed.lit.Privacy == RecordDP
	if dpRun {
		std := fed.PublicStandardizer()
		r.mu.Lock()
		r.global.Mean, r.global.Std = std.Mean, std.Std
		r.mu.Unlock()
		r.setParams(params)
	}
	for i, st := range plan {
		if st == StagePrune && (i == 0 || plan[i-1] != StagePrune) {
			n, _ := netOf(fed, params, false)
			if err := train.Prune(n, fed.lit.Compression.Prune); err != nil {
				return err
			}
			params = flatten(n)
			r.setParams(params)
		}
		if dpRun {
			if why, err := c.budgetLeft(ctx, r); err != nil {
				return fmt.Errorf("round %d (%s): %w", i, st, err)
			} else if why != "" {
				r.stop(why)
				break
			}
		}
		agg, rs, err := c.round(ctx, r, i, st)
		// A round's status appears once its global model has moved (with
		// record-level DP: once it is released), or once it has failed.
		if dpRun {
			var values []float64
			if err == nil {
				values, err = c.releaseRound(ctx, r, i, agg, rs)
			}
			if err == nil {
				params = r.apply(values, st != StageTrain && fed.lit.Compression.Prune > 0)
				c.score(r, rs, params)
			}
			if rs != nil {
				r.record(rs)
			}
			if err == nil {
				continue
			}
			if ex := (*dp.ExhaustedError)(nil); errors.As(err, &ex) {
				r.stop(fmt.Sprintf("round %d was not released: %v", i, err))
				break
			}
		}
		if err != nil {
			if rs != nil && !dpRun {
				r.record(rs)
			}
			return fmt.Errorf("round %d (%s): %w", i, st, err)
		}
		switch st {
		case StageStats:
			r.setStandardizer(agg.Values)
			r.setParams(params)
			r.record(rs)
		case StageBounds:
			r.record(rs)
			return c.finish(ctx, r, agg.Values)
		default:
			params = r.apply(agg.Values, st != StageTrain && fed.lit.Compression.Prune > 0)
			c.score(r, rs, params)
			r.record(rs)
		}
	}
	if !dpRun {
		return errors.New("the plan has no bounds round")
	}
	return c.finish(ctx, r, nil)
}

// stop records why a federation ends before its plan.
func (r *fedRun) stop(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Stopped = why
}

func (r *fedRun) setParams(p []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.global.Params = slices.Clone(p)
}

// setStandardizer turns the weighted means of x and x² into the
// standardizer: σ² = E[x²] − E[x]², floored as aios train does.
func (r *fedRun) setStandardizer(moments []float64) {
	f := r.fed.lit.Model.Inputs
	mean, sd := make([]float64, f), make([]float64, f)
	for j := range f {
		mean[j] = moments[j]
		sd[j] = math.Sqrt(max(moments[f+j]-mean[j]*mean[j], 0))
	}
	s := train.NewStandardizer(mean, sd, 0.1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.global.Mean, r.global.Std = s.Mean, s.Std
}

// apply moves the global model by the aggregate update (FedAvg, or with
// server momentum for FedAvgM); masked keeps pruned weights at zero.
func (r *fedRun) apply(delta []float64, masked bool) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.global.Params
	step := delta
	if beta := r.fed.lit.Momentum; beta > 0 {
		if r.velocity == nil {
			r.velocity = make([]float64, len(p))
		}
		for i, d := range delta {
			r.velocity[i] = beta*r.velocity[i] + d
		}
		step = r.velocity
	}
	next := make([]float64, len(p))
	for i := range p {
		if masked && p[i] == 0 && isWeight(r.fed, i) {
			continue
		}
		next[i] = p[i] + step[i]
	}
	r.global.Params = next
	return slices.Clone(next)
}

// isWeight reports whether parameter i is a weight (not a bias).
func isWeight(fed *Federation, i int) bool {
	sz := fed.Sizes()
	for l := 0; l+1 < len(sz); l++ {
		w := sz[l] * sz[l+1]
		if i < w {
			return true
		}
		i -= w
		if i < sz[l+1] {
			return false
		}
		i -= sz[l+1]
	}
	return false
}

// round proposes round i's session, publishes the round to the members and
// waits for the exact aggregate.
func (c *Coordinator) round(ctx context.Context, r *fedRun, i int, st Stage) (*mpc.Aggregate, *RoundStatus, error) {
	t0 := c.cfg.Now()
	r.mu.Lock()
	g := Global{Mean: slices.Clone(r.global.Mean), Std: slices.Clone(r.global.Std), Params: slices.Clone(r.global.Params)}
	r.mu.Unlock()
	if st == StageStats {
		g = Global{}
	}
	rd, err := NewRound(r.fed, i, st, g, t0)
	if err != nil {
		return nil, nil, err
	}
	msg, err := rd.Encode(c.cfg.Key)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.cfg.Node.Propose(ctx, rd.Session.Literal())
	if err != nil {
		return nil, nil, err
	}
	sent := c.publish(ctx, r.fed, msg)
	rs := RoundStatus{Index: i, Stage: st, Session: s.IDString()}
	o, err := c.cfg.Node.Wait(ctx, s.ID())
	var agg *mpc.Aggregate
	if err == nil {
		agg, err = c.cfg.Node.TakeAggregate(s.ID())
	}
	if o != nil {
		rs.Included = o.Included
		for _, e := range o.Excluded {
			rs.Excluded = append(rs.Excluded, Exclusion{Node: e.Dealer, Reason: e.Reason,
				Cheating: e.Cheating()})
		}
		rs.BytesSent = o.Stats.BytesSent + sent
	}
	if agg != nil && r.fed.lit.Privacy != RecordDP {
		rs.Samples = agg.Weight
	}
	rs.Seconds = c.cfg.Now().Sub(t0).Seconds()
	if err != nil {
		rs.Err = err.Error()
	}
	c.cfg.Logger.Info("fl: round", "federation", r.fed.lit.Name, "round", i, "stage", st.String(), "included", len(rs.Included),
		"excluded", len(rs.Excluded), "seconds", rs.Seconds)
	return agg, &rs, err
}

// score sets the round's accuracy: the float global model with params
// on the coordinator's evaluation data, where it has data that fits.
func (c *Coordinator) score(r *fedRun, rs *RoundStatus, params []float64) {
	if c.cfg.EvalData == nil {
		return
	}
	acc, err := Score(r.fed, r.globalNow(params), c.cfg.EvalData)
	if err != nil {
		if !r.scoreWarned {
			c.cfg.Logger.Warn("fl: the evaluation data does not fit the federation; rounds carry no accuracy", "federation", r.fed.lit.Name, "err", err)
		}
		r.scoreWarned = true
		return
	}
	rs.Accuracy = &acc
}

// globalNow is the run's global state with params.
func (r *fedRun) globalNow(params []float64) *Global {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Global{Mean: r.global.Mean, Std: r.global.Std, Params: params}
}

// Score is the accuracy of the federation's float model g on d: the
// fraction of d's rows whose largest logit is their label. d must have
// the model's input width and no label beyond its classes.
func Score(fed *Federation, g *Global, d *dataset.Dataset) (float64, error) {
	in, out := fed.lit.Model.Inputs, fed.Sizes()[len(fed.Sizes())-1]
	if d.Features != in {
		return 0, fmt.Errorf("evaluation data has %d features, the model takes %d", d.Features, in)
	}
	if len(d.X) == 0 {
		return 0, errors.New("evaluation data has no rows")
	}
	for _, y := range d.Y {
		if y < 0 || y >= out {
			return 0, fmt.Errorf("evaluation data has label %d, the model has %d classes", y, out)
		}
	}
	n, err := netOf(fed, g.Params, false)
	if err != nil {
		return 0, err
	}
	return inference.AccuracyOf(inference.Argmax(n.Logits(g.Standardizer().Apply(d.X))), d.Y), nil
}

// record appends a finished round to the status.
func (r *fedRun) record(rs *RoundStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Rounds = append(r.status.Rounds, *rs)
}

// publish sends the round message to every member (this node's directly)
// and returns the bytes sent to others.
func (c *Coordinator) publish(ctx context.Context, fed *Federation, msg []byte) int64 {
	var wg sync.WaitGroup
	var sent int64
	var mu sync.Mutex
	for _, m := range fed.lit.Members {
		if m == c.cfg.Node.ID() {
			if c.cfg.Local != nil {
				if err := c.cfg.Local.HandleRound(ctx, msg); err != nil {
					c.cfg.Logger.Warn("fl: this node does not take part in the round", "err", err)
				}
			}
			continue
		}
		wg.Go(func() {
			if err := c.cfg.Publish(ctx, m, msg); err != nil {
				c.cfg.Logger.Warn("fl: round not delivered", "to", m.Short(), "err", err)
				return
			}
			mu.Lock()
			sent += int64(len(msg))
			mu.Unlock()
		})
	}
	wg.Wait()
	return sent
}

// finish builds the final int8 model with the aggregated bounds (sums of
// the members' maxima: an upper bound of the maximum), chooses its CKKS
// preset (inference.ChooseModelPreset: one in which both packings have a
// plan) and registers it.
func (c *Coordinator) finish(ctx context.Context, r *fedRun, sums []float64) error {
	fed := r.fed
	r.mu.Lock()
	g := r.global
	r.mu.Unlock()
	m, err := finalModel(fed, &g)
	if err != nil {
		return err
	}
	var b inference.Bounds
	if sums == nil { // record-level DP: from the public feature bound only
		ev, err := inference.NewEvaluator(m)
		if err != nil {
			return err
		}
		b = ev.Envelope(fed.lit.FeatureBound)
	} else {
		b = inference.Bounds{MaxAbsInput: sums[0], MaxAbsPreActivation: sums[1], MaxAbsLogit: sums[2]}
		for k := 3; k+3 < len(sums); k += 4 {
			b.Layers = append(b.Layers, inference.LayerBounds{MaxAbsPre: sums[k], MaxAbsSum: sums[k+1], MaxAbsMsg: sums[k+2], MaxAbsNext: sums[k+3]})
		}
	}
	m.Meta.Bounds, m.Meta.Seed = b, fed.lit.Seed
	m.Meta.Name, m.Meta.Dataset, m.Meta.CreatedBy = fed.lit.Name, "federated:"+hex.EncodeToString(fed.id[:8]), "aios fl"
	m.Meta.Training = fmt.Sprintf("federation %s: %d members, t = %d, %d rounds × %d local epochs, %s, prune %g (%d rounds), %d bits (%d QAT rounds)",
		fed.IDString(), len(fed.lit.Members), fed.lit.Threshold, fed.lit.Rounds, fed.lit.LocalEpochs, fed.lit.Aggregation,
		fed.lit.Compression.Prune, fed.lit.Compression.PruneRounds, fed.lit.Compression.Bits, fed.lit.Compression.QATRounds)
	if fed.lit.Privacy == RecordDP {
		r.mu.Lock()
		m.Meta.Training += fmt.Sprintf("; record-level DP, budget %s: (ε, δ) = (%s, %s) spent of (%s, %s), noise multiplier %g, clip %g, %d released rounds",
			fed.lit.Budget, r.status.Spent, fed.lit.Delta, fed.lit.Epsilon, fed.lit.Delta, fed.lit.NoiseMultiplier, fed.lit.ClipNorm, r.released)
		if r.status.Stopped != "" {
			m.Meta.Training += " (stopped: " + r.status.Stopped + ")"
		}
		r.mu.Unlock()
	}
	if m.Meta.Preset, m.Meta.InputLevel, err = inference.ChooseModelPreset(m); err != nil {
		return err
	}
	enc, err := inference.Encode(m)
	if err != nil {
		return err
	}
	var id string
	if c.cfg.Register != nil {
		if id, err = c.cfg.Register(ctx, enc); err != nil {
			return fmt.Errorf("register the final model: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Model, r.status.ModelID = enc, id
	return nil
}
