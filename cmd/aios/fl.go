package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

func init() {
	register(&command{
		name:    "fl",
		summary: "federated learning: members train one model, updates combined by secure aggregation (create, status) or a local demo",
		subs: []*command{
			{name: "create", summary: "create a federation coordinated by this node",
				usage: "--server URL --token T --name N --inputs F --classes C1,C2,… [--threshold T] [--members ID,…] [spec flags] [--json]",
				new:   func() runner { return new(flCreateCmd) }},
			{name: "status", summary: "show a federation's rounds, inclusions, exclusions and ε",
				usage: "FEDERATION --server URL --token T [--wait] [--json]",
				new:   func() runner { return new(flStatusCmd) }},
			{name: "demo", summary: "start nodes as local processes, split a data set among them and train one model federated",
				usage: "--data FILE [--nodes 10] [--threshold 6] [--partition iid|dirichlet:ALPHA] [--rounds R] [--dp-epsilon E --dp-delta D [--dp-clip C]] [--drop K] [--cheat K] [--out model.aios] [--json]",
				new:   func() runner { return new(flDemoCmd) }},
		},
	})
}

// fedFlags are the federation settings that create and demo share.
type fedFlags struct {
	threshold, rounds, epochs, batch, bits, pruneRounds, qatRounds int
	hidden, act, aggregation, privacy, budget, schedule            string
	lr, lrFinal, clip, prox, momentum, prune                       float64
	dpEpsilon, dpDelta, dpClip, dpLR, dpMomentum, noise            float64
	phase                                                          time.Duration
	seed                                                           uint64
}

func (f *fedFlags) declare(fs *flag.FlagSet, threshold, rounds int) {
	fs.IntVar(&f.threshold, "threshold", threshold, "t of every round's MPC session")
	fs.IntVar(&f.rounds, "rounds", rounds, "float rounds")
	fs.IntVar(&f.epochs, "local-epochs", 2, "local epochs per round")
	fs.IntVar(&f.batch, "batch", 16, "mini-batch size")
	fs.Float64Var(&f.lr, "lr", 0.02, "members' Adam step size (the peak of the cosine schedule)")
	fs.StringVar(&f.schedule, "lr-schedule", "", "step size over the rounds: constant, or cosine from the step size down to --lr-final of it over the float rounds, and again over the compression rounds (default: cosine with secure aggregation, constant with record-level DP)")
	fs.Float64Var(&f.lrFinal, "lr-final", 0.1, "cosine: the fraction of the step size the schedule ends at, in (0, 1]")
	fs.StringVar(&f.hidden, "hidden", "32", "hidden layer widths, comma-separated")
	fs.StringVar(&f.act, "activation", "square", "square or poly (as aios train)")
	fs.StringVar(&f.aggregation, "aggregation", "fedavg", "fedavg, fedprox or fedavgm")
	fs.Float64Var(&f.prox, "prox-mu", 0, "FedProx μ")
	fs.Float64Var(&f.momentum, "momentum", 0, "FedAvgM server momentum β")
	fs.Float64Var(&f.clip, "clip", 10, "L2 clipping norm of each member's update")
	fs.StringVar(&f.privacy, "privacy", "secure-aggregation", "secure-aggregation, or record-dp (implied by --dp-epsilon)")
	fs.Float64Var(&f.dpEpsilon, "dp-epsilon", 0, "record-level DP: the federation's total ε (0: secure aggregation only)")
	fs.Float64Var(&f.dpDelta, "dp-delta", 1e-5, "record-level DP: δ")
	fs.Float64Var(&f.dpClip, "dp-clip", 1, "record-level DP: L2 clipping norm of each record's gradient")
	fs.Float64Var(&f.dpLR, "dp-lr", 0.5, "record-level DP: the coordinator's step size on the noised mean gradient")
	fs.Float64Var(&f.dpMomentum, "dp-momentum", 0.9, "record-level DP: server momentum β (0: none)")
	fs.Float64Var(&f.noise, "noise-multiplier", 0, "record-level DP: noise multiplier z (0: the smallest at which the rounds fit ε, δ)")
	fs.StringVar(&f.budget, "budget", "", "record-level DP: the coordinator's (ε, δ) budget to pay from (default: a new one per federation)")
	fs.Float64Var(&f.prune, "prune", 0.5, "weight sparsity after the float rounds (0: none)")
	fs.IntVar(&f.pruneRounds, "prune-rounds", 3, "masked fine-tuning rounds after pruning")
	fs.IntVar(&f.bits, "bits", 8, "weight bits of the final int8 model")
	fs.IntVar(&f.qatRounds, "qat-rounds", 2, "quantization-aware rounds")
	fs.DurationVar(&f.phase, "phase", 2*time.Second, "length of each of a round's four MPC deadlines")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the initial model (and of the demo's split)")
}

// request returns the federation request of the flags.
func (f *fedFlags) request(name string, inputs int, classes []string, maxSamples int, featureBound float64) (schema.FLFederationRequest, error) {
	hidden, err := parseWidths(f.hidden)
	if err != nil {
		return schema.FLFederationRequest{}, err
	}
	pr := f.pruneRounds
	if f.prune == 0 {
		pr = 0
	}
	req := schema.FLFederationRequest{Name: name, Threshold: f.threshold, Inputs: inputs, Hidden: hidden, Classes: classes, Activation: f.act,
		Rounds: f.rounds, LocalEpochs: f.epochs, LR: f.lr, LRSchedule: f.schedule, Batch: f.batch, Aggregation: f.aggregation, ProxMu: f.prox, Momentum: f.momentum,
		ClipNorm: f.clip, Privacy: f.privacy, Prune: f.prune, PruneRounds: pr, Bits: f.bits, QATRounds: f.qatRounds,
		MaxSamples: maxSamples, FeatureBound: featureBound, PhaseSeconds: f.phase.Seconds(), Seed: f.seed}
	if req.LRSchedule == "" {
		req.LRSchedule = "cosine"
		if f.dp() {
			req.LRSchedule = "constant"
		}
	}
	if req.LRSchedule == "cosine" {
		req.LRFinal = f.lrFinal
	}
	if f.dp() {
		// A record-dp round is one DP-SGD step: no local epochs, the
		// coordinator's step size and momentum (package fl's doc).
		req.Privacy, req.Epsilon, req.Delta, req.NoiseMultiplier, req.Budget = "record-dp", f.dpEpsilon, f.dpDelta, f.noise, f.budget
		req.ClipNorm, req.LR, req.LocalEpochs, req.ProxMu, req.Momentum, req.Aggregation = f.dpClip, f.dpLR, 1, 0, f.dpMomentum, "fedavgm"
		if f.dpMomentum == 0 {
			req.Aggregation = "fedavg"
		}
	}
	return req, nil
}

// dp reports whether the flags ask for record-level DP.
func (f *fedFlags) dp() bool { return f.dpEpsilon > 0 || f.privacy == "record-dp" }

// flCreateCmd is `aios fl create`.
type flCreateCmd struct {
	serverFlags
	fedFlags
	name, classes, members string
	inputs, maxSamples     int
	featureBound           float64
	asJSON                 bool
}

func (c *flCreateCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "", "admin")
	c.fedFlags.declare(fs, 3, 30)
	fs.StringVar(&c.name, "name", "", "federation name (members' accept lists name it)")
	fs.IntVar(&c.inputs, "inputs", 0, "features of the members' data")
	fs.StringVar(&c.classes, "classes", "", "class names, comma-separated, in label order")
	fs.StringVar(&c.members, "members", "", "comma-separated node ids (default: the node, then its peers file)")
	fs.IntVar(&c.maxSamples, "max-samples", 100000, "bound on a member's sample count (its update's weight)")
	fs.Float64Var(&c.featureBound, "feature-bound", 1000, "bound on |feature| for the standardisation statistics")
	jsonFlag(fs, &c.asJSON)
}

func (c *flCreateCmd) run(ctx context.Context, e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := noArgs(e); err != nil {
		return err
	}
	if c.name == "" || c.inputs < 1 || c.classes == "" {
		return usagef("create needs --name, --inputs and --classes")
	}
	req, err := c.request(c.name, c.inputs, splitList(c.classes), c.maxSamples, c.featureBound)
	if err != nil {
		return err
	}
	req.Members = splitList(c.members)
	st, err := cl.CreateFederation(ctx, req)
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, st, func(w io.Writer) error { return printFederation(w, st) })
}

// flStatusCmd is `aios fl status`.
type flStatusCmd struct {
	serverFlags
	wait, asJSON bool
}

func (c *flStatusCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "", "admin or auditor")
	fs.BoolVar(&c.wait, "wait", false, "wait until the federation is done, stopped or failed")
	jsonFlag(fs, &c.asJSON)
}

func (c *flStatusCmd) run(ctx context.Context, e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if len(e.args) != 1 {
		return usagef("status takes one federation id")
	}
	for {
		st, err := cl.Federation(ctx, e.args[0])
		if err != nil {
			return err
		}
		if !c.wait || st.State != "running" {
			return report(e.stdout, c.asJSON, st, func(w io.Writer) error { return printFederation(w, st) })
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printFederation(w io.Writer, st *schema.FLFederationStatus) error {
	fmt.Fprintf(w, "federation %s (%s): %s, privacy %s, ε %s, %d of %d rounds\n", st.Name, st.ID, st.State, st.Privacy, st.Epsilon, len(st.Rounds), st.PlannedRounds)
	if st.Budget != "" {
		fmt.Fprintf(w, "record-level DP: budget %s, ε %s of %s spent at δ = %g, noise multiplier %g\n", st.Budget, st.Epsilon, st.EpsilonTotal, st.Delta, st.NoiseMultiplier)
	}
	if st.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", st.Stopped)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "round\tstage\tmembers\texcluded\tsamples\tseconds\tbytes sent\tε\taccuracy")
	for _, r := range st.Rounds {
		var ex []string
		for _, x := range r.Excluded {
			tag := x.Reason
			if x.Cheating {
				tag = "CHEATED: " + tag
			}
			ex = append(ex, x.Node[:12]+" ("+tag+")")
		}
		acc := "-"
		if r.Accuracy != nil {
			acc = fmt.Sprintf("%.4f", *r.Accuracy)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%.0f\t%.2f\t%d\t%s\t%s\n", r.Round, r.Stage, r.Members, strings.Join(ex, "; "), r.Samples, r.Seconds, r.BytesSent, r.Epsilon, acc)
	}
	tw.Flush()
	if st.ModelID != "" {
		fmt.Fprintf(w, "final model registered as %s\n", st.ModelID)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}
	return nil
}
