package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/fl"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/inference/train"
	"github.com/aios-edge/aios/internal/cluster"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

// flDemoCmd is `aios fl demo`: it splits a data set's training part among
// --nodes `aios serve` processes on loopback (internal/cluster), keeps the
// test part to score, runs a federation coordinated by node 0 and compares
// the result with centralized training on the union.
type flDemoCmd struct {
	fedFlags
	data, partition, out string
	nodes, drop, cheat   int
	baselineLR           float64
	keep, asJSON         bool
}

func (c *flDemoCmd) declare(fs *flag.FlagSet) {
	c.fedFlags.declare(fs, 6, 30)
	fs.StringVar(&c.data, "data", "", "data set: CSV (label last), split 80/20 stratified as aios train")
	fs.StringVar(&c.partition, "partition", "iid", "how the training part is split among the nodes: iid or dirichlet:ALPHA")
	fs.IntVar(&c.nodes, "nodes", 10, "nodes to start (each a member; node 0 coordinates)")
	fs.IntVar(&c.drop, "drop", 0, "kill this many nodes (0 or 1) as round 3 starts")
	fs.IntVar(&c.cheat, "cheat", 0, "this many nodes (0 or 1) deal one inconsistent share (in their first round)")
	fs.StringVar(&c.out, "out", "", "write the final model to this file")
	fs.Float64Var(&c.baselineLR, "baseline-lr", 0.005, "Adam step size of the centralized baseline (constant; the federation's own --lr does not change it)")
	fs.BoolVar(&c.keep, "keep", false, "keep the nodes' data directories and logs")
	jsonFlag(fs, &c.asJSON)
}

// flDemoRound is one line of the demo's progress.
type flDemoRound struct {
	Round        int      `json:"round"`
	Stage        string   `json:"stage"`
	Members      int      `json:"members"`
	Accuracy     *float64 `json:"accuracy"` // of the global model on the test part, as the coordinator scored it; null for the stats and bounds rounds
	Epsilon      *float64 `json:"epsilon"`  // cumulative ε spent (ledger); null: secure aggregation claims no DP
	Seconds      float64  `json:"seconds"`
	BytesPerNode int64    `json:"bytes_per_node"`
	Excluded     []string `json:"excluded,omitempty"`
}

type flDemoFinal struct {
	Accuracy           float64  `json:"accuracy"`
	CompressedAccuracy float64  `json:"compressed_accuracy"`
	EncryptedAccuracy  float64  `json:"encrypted_accuracy"`
	EncryptedAgreement float64  `json:"encrypted_agreement"`
	Epsilon            *float64 `json:"epsilon"`
	Delta              *float64 `json:"delta"`
	ModelID            string   `json:"model_id"`
	Preset             string   `json:"preset"`
	NonZero            int      `json:"nonzero_weights"`
	Weights            int      `json:"weights"`
}

type flDemoReport struct {
	Data                string        `json:"data"`
	Nodes               int           `json:"nodes"`
	Threshold           int           `json:"threshold"`
	Partition           string        `json:"partition"`
	Parameters          int           `json:"parameters"`
	RawUpdateBytes      int           `json:"raw_update_bytes"` // float32 update
	CentralizedAccuracy float64       `json:"centralized_accuracy"`
	Rounds              []flDemoRound `json:"rounds"`
	Final               flDemoFinal   `json:"final"`
	Killed              []int         `json:"killed,omitempty"`
	Cheater             []int         `json:"cheater,omitempty"`
	Budget              string        `json:"budget,omitempty"` // record-dp: the coordinator's (ε, δ) budget
	NoiseMultiplier     float64       `json:"noise_multiplier,omitempty"`
	Stopped             string        `json:"stopped,omitempty"`
	WallSeconds         float64       `json:"wall_seconds"`
	Dir                 string        `json:"dir,omitempty"`
}

// flDemo is one run of the demo.
type flDemo struct {
	*flDemoCmd
	e           *env
	dir         string
	trainSet    *dataset.Dataset
	test        *dataset.Dataset
	parts       []*dataset.Dataset
	cl          *cluster.Cluster
	fedID       string
	rep         *flDemoReport
	victim, bad int
}

func (c *flDemoCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	switch {
	case c.data == "":
		return usagef("--data is required")
	case c.nodes < 2 || c.nodes > mpc.MaxParticipants:
		return usagef("--nodes must be between 2 and %d", mpc.MaxParticipants)
	case c.drop < 0 || c.drop > 1 || c.cheat < 0 || c.cheat > 1 || c.nodes < 1+c.drop+c.cheat:
		return usagef("--drop and --cheat are 0 or 1, on nodes other than the coordinator")
	case !(c.baselineLR > 0 && c.baselineLR <= 1):
		return usagef("--baseline-lr must be in (0, 1]")
	case c.threshold < 2 || c.threshold > c.nodes-c.drop-c.cheat:
		return usagef("--threshold must be between 2 and the honest nodes that stay up (%d)", c.nodes-c.drop-c.cheat)
	}
	d := &flDemo{flDemoCmd: c, e: e, victim: -1, bad: -1}
	if c.drop > 0 {
		d.victim = c.nodes - 1
	}
	if c.cheat > 0 {
		d.bad = 1
	}
	t0 := time.Now()
	if err := d.split(); err != nil {
		return err
	}
	defer d.cleanup()
	if err := d.start(ctx); err != nil {
		return err
	}
	if err := d.follow(ctx); err != nil {
		return err
	}
	if err := d.finish(ctx); err != nil {
		return err
	}
	d.rep.WallSeconds = time.Since(t0).Seconds()
	return report(e.stdout, c.asJSON, d.rep, d.printSummary)
}

// split loads the data, splits it 80/20 and partitions the training part.
func (d *flDemo) split() error {
	all, err := dataset.LoadCSVFile(d.data, dataset.CSVOptions{})
	if err != nil {
		return err
	}
	if d.trainSet, d.test, err = dataset.Split(all, 0.2, d.seed); err != nil {
		return usagef("%v", err)
	}
	switch {
	case d.partition == "iid":
		d.parts, err = fl.PartitionIID(d.trainSet, d.nodes, d.seed)
	case strings.HasPrefix(d.partition, "dirichlet:"):
		alpha, perr := strconv.ParseFloat(strings.TrimPrefix(d.partition, "dirichlet:"), 64)
		if perr != nil {
			return usagef("--partition %q: want iid or dirichlet:ALPHA", d.partition)
		}
		d.parts, err = fl.PartitionDirichlet(d.trainSet, d.nodes, alpha, d.seed)
	default:
		return usagef("--partition %q: want iid or dirichlet:ALPHA", d.partition)
	}
	if err != nil {
		return usagef("%v", err)
	}
	d.rep = &flDemoReport{Data: d.data, Nodes: d.nodes, Threshold: d.threshold, Partition: d.partition}
	return nil
}

func (d *flDemo) cleanup() {
	if d.cl != nil {
		d.cl.Close()
	}
	if !d.keep && d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

// start writes each node's part and the accept list, starts the nodes and
// creates the federation on node 0.
func (d *flDemo) start(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "aios-fl-demo-"); err != nil {
		return err
	}
	if d.keep {
		d.rep.Dir = d.dir
	}
	// Node 0's key first, so the accept list can name it.
	k, err := nodekey.LoadOrCreate(filepath.Join(d.dir, "node0"), nil)
	if err != nil {
		return err
	}
	accept := filepath.Join(d.dir, "fl-accept")
	if err := os.WriteFile(accept, []byte(k.ID()+" fl-demo\n"), 0o644); err != nil {
		return err
	}
	for i, p := range d.parts {
		if err := writeCSV(filepath.Join(d.dir, fmt.Sprintf("part%d.csv", i)), p); err != nil {
			return err
		}
	}
	// The coordinator scores each round on the test part, so the
	// accuracy per round is the one its status (and its console) shows.
	evalData := filepath.Join(d.dir, "test.csv")
	if err := writeCSV(evalData, d.test); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	d.cl, err = cluster.Start(ctx, cluster.Options{Exe: exe, Nodes: d.nodes, Dir: d.dir, TokenName: "fl demo",
		Args: func(i int) []string {
			a := []string{"--train-data", filepath.Join(d.dir, fmt.Sprintf("part%d.csv", i)), "--fl-accept", accept}
			if i == 0 {
				a = append(a, "--fl-eval-data", evalData)
			}
			if i == d.bad {
				a = append(a, "--demo-cheat")
				d.rep.Cheater = []int{i}
			}
			return a
		}})
	if err != nil {
		return err
	}
	return d.create(ctx)
}

func (d *flDemo) create(ctx context.Context) error {
	maxAbs, maxPart := 0.0, 0
	for _, x := range d.trainSet.X {
		for _, v := range x {
			maxAbs = max(maxAbs, math.Abs(v))
		}
	}
	for _, p := range d.parts {
		maxPart = max(maxPart, p.Len())
	}
	req, err := d.request("fl-demo", d.trainSet.Features, d.trainSet.Classes, maxPart, math.Ceil(maxAbs))
	if err != nil {
		return err
	}
	st, err := d.cl.Nodes[0].Client.CreateFederation(ctx, req)
	if err != nil {
		return fmt.Errorf("create federation: %w", err)
	}
	d.fedID = st.ID
	fed, err := fl.DecodeFederation([]byte(st.Spec))
	if err != nil {
		return err
	}
	d.rep.Parameters = fed.Parameters()
	d.rep.RawUpdateBytes = 4 * fed.Parameters()
	return nil
}

// writeCSV writes a part as CSV, label index last, without a header.
func writeCSV(path string, p *dataset.Dataset) error {
	var b strings.Builder
	for i, x := range p.X {
		for _, v := range x {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p.Y[i]))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// follow polls the coordinator and prints each round as it finishes; it
// kills the victim when round 3 starts.
func (d *flDemo) follow(ctx context.Context) error {
	coord := d.cl.Nodes[0].Client
	seen := 0
	for {
		st, err := coord.Federation(ctx, d.fedID)
		if err != nil {
			return err
		}
		for ; seen < len(st.Rounds); seen++ {
			if err := d.roundLine(ctx, st.Rounds[seen]); err != nil {
				return err
			}
			if d.victim >= 0 && st.Rounds[seen].Round == 2 && d.cl.Nodes[d.victim].Running() {
				time.Sleep(50 * time.Millisecond) // round 3 is proposed by now
				d.cl.Nodes[d.victim].Kill()
				d.rep.Killed = []int{d.victim}
				fmt.Fprintf(d.e.stderr, "node %d killed (SIGKILL) as round 3 starts\n", d.victim)
			}
		}
		switch st.State {
		case "failed":
			return fmt.Errorf("federation failed: %s", st.Error)
		case "done", "stopped":
			if st.Stopped != "" {
				fmt.Fprintf(d.e.stderr, "federation stopped: %s\n", st.Stopped)
				d.rep.Stopped = st.Stopped
			}
			d.rep.Final.ModelID = st.ModelID
			if st.Budget != "" {
				eps, err := strconv.ParseFloat(st.Epsilon, 64)
				if err != nil {
					return fmt.Errorf("federation ε %q: %w", st.Epsilon, err)
				}
				delta := st.Delta
				d.rep.Final.Epsilon, d.rep.Final.Delta, d.rep.Budget, d.rep.NoiseMultiplier = &eps, &delta, st.Budget, st.NoiseMultiplier
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// roundLine prints a round's line, with the accuracy the coordinator
// measured on the test part.
func (d *flDemo) roundLine(ctx context.Context, r schema.FLRound) error {
	line := flDemoRound{Round: r.Round, Stage: r.Stage, Members: r.Members, Seconds: r.Seconds}
	epsText := "none"
	if r.Epsilon != "none" {
		eps, err := strconv.ParseFloat(r.Epsilon, 64)
		if err != nil {
			return fmt.Errorf("round %d ε %q: %w", r.Round, r.Epsilon, err)
		}
		line.Epsilon, epsText = &eps, fmt.Sprintf("%.3f", eps)
	}
	for _, x := range r.Excluded {
		tag := x.Reason
		if x.Cheating {
			tag = "cheated: " + tag
		}
		line.Excluded = append(line.Excluded, fmt.Sprintf("node %d (%s)", d.index(x.Node), tag))
	}
	var total int64
	nodes := 0
	for _, n := range d.cl.Nodes {
		if !n.Running() {
			continue
		}
		if s, err := n.Client.MPCSession(ctx, r.Session); err == nil {
			total += s.Stats.BytesSent
			nodes++
		}
	}
	if nodes > 0 {
		line.BytesPerNode = total / int64(nodes)
	}
	line.Accuracy = r.Accuracy
	d.rep.Rounds = append(d.rep.Rounds, line)
	acc := "   -  "
	if line.Accuracy != nil {
		acc = fmt.Sprintf("%.4f", *line.Accuracy)
	}
	fmt.Fprintf(d.e.stderr, "round %3d %-6s members %2d  test acc %s  ε %s  %.2fs  %d B/node  %s %s\n",
		r.Round, r.Stage, r.Members, acc, epsText, r.Seconds, line.BytesPerNode, strings.Join(line.Excluded, "; "), r.Error)
	return nil
}

func (d *flDemo) index(id string) int {
	for _, n := range d.cl.Nodes {
		if n.ID == id {
			return n.Index
		}
	}
	return -1
}

// scoreGlobal fetches the current global model and scores it in float on
// the test part.
func (d *flDemo) scoreGlobal(ctx context.Context) (float64, error) {
	g, err := d.cl.Nodes[0].Client.FederationGlobal(ctx, d.fedID)
	if err != nil {
		return 0, err
	}
	n, err := d.net(g)
	if err != nil {
		return 0, err
	}
	std := train.Standardizer{Mean: g.Mean, Std: g.Std}
	return inference.AccuracyOf(inference.Argmax(n.Logits(std.Apply(d.test.X))), d.test.Y), nil
}
