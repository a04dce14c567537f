package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/cluster"
	"github.com/aios-edge/aios/mpc"
)

// mpcDemoCmd is `aios mpc demo`: it starts --nodes `aios serve` processes
// on loopback (internal/cluster), runs one sum session among them and
// compares the released result with the true sum.
type mpcDemoCmd struct {
	sessionFlags
	nodes, drop, cheat int
	seed               uint64
	keep, asJSON       bool
}

func (c *mpcDemoCmd) declare(fs *flag.FlagSet) {
	c.sessionFlags.declare(fs, "100", 5*time.Second, "length of each of the four phases")
	fs.IntVar(&c.nodes, "nodes", 5, "nodes to start")
	fs.IntVar(&c.drop, "drop", 0, "kill this many nodes (0 or 1) after they shared their input")
	fs.IntVar(&c.cheat, "cheat", 0, "this many nodes (0 or 1) deal an inconsistent share")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the random inputs")
	fs.BoolVar(&c.keep, "keep", false, "keep the nodes' data directories and logs")
	jsonFlag(fs, &c.asJSON)
}

func (c *mpcDemoCmd) run(ctx context.Context, e *env) error {
	if len(e.args) != 0 {
		return usagef("demo takes no arguments")
	}
	if err := c.validate(); err != nil {
		return err
	}
	d := &demo{mpcDemoCmd: c, victim: -1, cheater: -1}
	if c.drop > 0 {
		d.victim = c.nodes - 1
	}
	if c.cheat > 0 {
		d.cheater = 1
	}
	rep, err := d.run(ctx)
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, rep, rep.text)
}

func (c *mpcDemoCmd) validate() error {
	switch {
	case c.nodes < 2 || c.nodes > mpc.MaxParticipants:
		return usagef("--nodes must be between 2 and %d", mpc.MaxParticipants)
	case c.drop < 0 || c.drop > 1 || c.cheat < 0 || c.cheat > 1:
		return usagef("--drop and --cheat are 0 or 1")
	case c.nodes < 1+c.drop+c.cheat:
		return usagef("the coordinator, the dropped and the cheating node must be different nodes")
	case c.threshold < 1 || c.threshold > c.nodes-c.drop:
		return usagef("--threshold must be between 1 and the nodes that stay up (%d)", c.nodes-c.drop)
	case c.dim < 1 || c.dim > mpc.MaxDimension:
		return usagef("--dim must be between 1 and %d", mpc.MaxDimension)
	case c.phase < 500*time.Millisecond:
		return usagef("--phase must be at least 500ms")
	}
	return nil
}

// demo is one run of the demo: node 0 coordinates, node victim (if any)
// is killed after dealing, node cheater (if any) deals one bad share.
type demo struct {
	*mpcDemoCmd
	victim, cheater int
	cl              *cluster.Cluster
	rep             *demoReport
	clock           time.Time
	inputs          [][]float64
	session         *schema.MPCSessionStatus
}

// lap records the time since the last lap as the phase name.
func (d *demo) lap(name string) {
	now := time.Now()
	d.rep.Phases = append(d.rep.Phases, demoPhase{name, now.Sub(d.clock).Seconds()})
	d.clock = now
}

// run runs the demo; every process is stopped before it returns.
func (d *demo) run(ctx context.Context) (*demoReport, error) {
	d.rep = &demoReport{Threshold: d.threshold, Dimension: d.dim, Epsilon: d.epsilon, NodeStats: map[int]*schema.MPCStats{}}
	d.clock = time.Now()
	if err := d.start(ctx); err != nil {
		return nil, err
	}
	defer d.cl.Close()
	d.lap(fmt.Sprintf("start %d nodes (keys, tokens, processes)", d.nodes))
	if err := d.propose(ctx); err != nil {
		return nil, err
	}
	d.lap("budget + propose (POST /v1/mpc/sessions)")
	// The coordinator's state changes, timed from the proposal.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changes := d.cl.Nodes[0].WatchSession(watchCtx, d.session.ID)
	if err := d.giveInputs(ctx); err != nil {
		return nil, err
	}
	labels := map[string]string{"sharing": "session: accept (roster fixed)", "combining": "session: deal, verify, report, decide",
		"done": "session: output shares, reconstruct, dp release", "failed": "session: until it failed"}
	prev := time.Duration(0)
	for c := range changes {
		d.rep.Phases = append(d.rep.Phases, demoPhase{labels[c.State], (c.At - prev).Seconds()})
		prev = c.At
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.rep.Phases = append(d.rep.Phases, demoPhase{"session: total from the proposal", prev.Seconds()})
	if err := d.result(ctx); err != nil {
		return nil, err
	}
	t0 := time.Now()
	d.cl.Stop()
	d.rep.Phases = append(d.rep.Phases, demoPhase{"stop nodes (SIGTERM)", time.Since(t0).Seconds()})
	return d.rep, nil
}

// start starts the nodes, the cheater with the serve flag --demo-cheat.
func (d *demo) start(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	d.cl, err = cluster.Start(ctx, cluster.Options{Exe: exe, Nodes: d.nodes, Keep: d.keep, TokenName: "mpc demo",
		Args: func(i int) []string {
			if i == d.cheater {
				return []string{"--demo-cheat"}
			}
			return nil
		}})
	if err != nil {
		return err
	}
	if d.keep {
		d.rep.Dir = d.cl.Dir()
	}
	for _, n := range d.cl.Nodes {
		role := "participant"
		switch n.Index {
		case 0:
			role = "coordinator"
		case d.victim:
			role = "killed after sharing"
		case d.cheater:
			role = "cheats (one bad share)"
		}
		d.rep.Nodes = append(d.rep.Nodes, &demoNode{Index: n.Index, ID: n.ID, URL: n.URL, Role: role})
	}
	return nil
}

// propose creates the budget on the coordinator and proposes the session.
func (d *demo) propose(ctx context.Context) error {
	coord := d.cl.Nodes[0].Client
	if err := coord.CreateBudget(ctx, "demo", d.epsilon, "aios mpc demo"); err != nil {
		return fmt.Errorf("create budget: %w", err)
	}
	secs := d.phase.Seconds()
	created, err := coord.CreateMPCSession(ctx, schema.MPCSessionRequest{Threshold: d.threshold, Operation: "sum", Dimension: d.dim,
		FracBits: 16, Lower: d.lower, Upper: d.upper, Budget: "demo", Epsilon: d.epsilon,
		AcceptSeconds: secs, InputSeconds: secs, ReportSeconds: secs, OutputSeconds: secs})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	d.session = created
	d.rep.Session = created.ID
	return nil
}

// giveInputs gives every node a random input. The victim gets its input
// first; once it has sent its dealing to every other node it is killed,
// before the others deal, so it dies after sharing and before it can
// report or send an output share.
func (d *demo) giveInputs(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(d.seed, 0x6d7063))
	d.inputs = make([][]float64, d.nodes)
	for i := range d.inputs {
		d.inputs[i] = make([]float64, d.dim)
		for j := range d.inputs[i] {
			d.inputs[i][j] = d.lower + (d.upper-d.lower)*rng.Float64()
		}
	}
	var rest []int
	for i := range d.nodes {
		if i != d.victim {
			rest = append(rest, i)
		}
	}
	if d.victim >= 0 {
		if err := d.give(ctx, []int{d.victim}); err != nil {
			return fmt.Errorf("input: %w", err)
		}
		dealing := int64(d.nodes-1) * int64(d.dim+1) * 32
		if err := d.cl.Nodes[d.victim].KillAfterSent(ctx, d.session.ID, dealing, d.session.Spec.InputBy, 300*time.Millisecond); err != nil {
			return err
		}
		d.rep.Dropped = append(d.rep.Dropped, d.victim)
		d.lap(fmt.Sprintf("node %d: input, dealing, then SIGKILL", d.victim))
	}
	if err := d.give(ctx, rest); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	d.lap(fmt.Sprintf("input to %d nodes (POST …/input)", len(rest)))
	return nil
}

// give gives the nodes idx their inputs, in parallel.
func (d *demo) give(ctx context.Context, idx []int) error {
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Go(func() {
			errs[k] = d.cl.Nodes[i].Client.MPCInput(ctx, d.session.ID, schema.MPCInputRequest{Values: d.inputs[i]})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// result reads the session's outcome from the coordinator and the
// statistics of every node still up, and compares the release with the
// true sum of the included inputs.
func (d *demo) result(ctx context.Context) error {
	rep := d.rep
	final, err := d.cl.Nodes[0].Client.MPCSession(ctx, d.session.ID)
	if err != nil {
		return err
	}
	rep.State = final.State
	if final.State != "done" {
		return fmt.Errorf("session failed: %s", final.Error)
	}
	for _, id := range final.Included {
		rep.Included = append(rep.Included, rep.index(id))
	}
	for _, id := range final.Holders {
		rep.Holders = append(rep.Holders, rep.index(id))
	}
	rep.Excluded = final.Excluded
	for _, n := range d.cl.Nodes {
		if !n.Running() {
			continue
		}
		if st, err := n.Client.MPCSession(ctx, d.session.ID); err == nil {
			s := st.Stats
			rep.NodeStats[n.Index] = &s
		}
	}
	rel := final.Release
	if rel == nil || len(rel.Values) != d.dim || len(rel.CI) != d.dim {
		return errors.New("the coordinator released no result of the session's dimension")
	}
	var sumAbs float64
	covered := 0
	for j := range d.dim {
		var want float64
		for _, i := range rep.Included {
			want += d.inputs[i][j]
		}
		diff := math.Abs(rel.Values[j] - want)
		sumAbs += diff
		rep.Error.MaxAbs = max(rep.Error.MaxAbs, diff)
		if rel.CI[j].Lower <= want && want <= rel.CI[j].Upper {
			covered++
		}
	}
	rep.Error.MeanAbs = sumAbs / float64(d.dim)
	rep.Error.CICoverage = float64(covered) / float64(d.dim)
	rep.Error.LaplaceScale = laplaceScale(d.dim, max(math.Abs(d.lower), math.Abs(d.upper)), rel.EpsilonMicro)
	return nil
}
