package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/mpc"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// mpcServeFlags are the flags `aios serve` takes for MPC.
type mpcServeFlags struct {
	peers, nodeKey, peerTokens *string
	cheat, requirePeerToken    *bool
}

func declareMPCServeFlags(fs *flag.FlagSet) *mpcServeFlags {
	return &mpcServeFlags{
		peers:            fs.String("peers", "", "peers `file` (lines of <node id> <URL> [<name>]); enables MPC sessions with those nodes"),
		nodeKey:          fs.String("node-key", "", "the node's Ed25519 identity key `file` (created if missing; default: node.key in the data directory)"),
		peerTokens:       fs.String("peer-tokens", "", "`file` of <node id> <token> lines (mode 0600): the peer token this node presents to each peer's /v1/mpc/messages"),
		requirePeerToken: fs.Bool("require-peer-token", false, "accept MPC messages only with a peer token (otherwise their signatures suffice)"),
		cheat: fs.Bool("demo-cheat", false, "DEMO ONLY (aios mpc demo --cheat): deal one share inconsistent with the commitments "+
			"in this node's next MPC session, to show that the others catch it; never use it otherwise"),
	}
}

// config returns the MPC configuration, nil without --peers.
func (f *mpcServeFlags) config() (*api.MPCConfig, error) {
	if *f.peers == "" {
		if *f.cheat || *f.peerTokens != "" || *f.requirePeerToken {
			return nil, usagef("--demo-cheat, --peer-tokens and --require-peer-token need --peers")
		}
		return nil, nil
	}
	peers, err := httptransport.LoadPeers(*f.peers)
	if err != nil {
		return nil, err
	}
	cfg := &api.MPCConfig{Peers: peers, CheatOnceForTesting: *f.cheat, RequirePeerToken: *f.requirePeerToken}
	if *f.peerTokens != "" {
		tokens, err := httptransport.LoadPeerTokens(*f.peerTokens, peers)
		if err != nil {
			return nil, err
		}
		cfg.Transport.Token = func(to mpc.NodeID) string { return tokens[to] }
	}
	return cfg, nil
}

func init() {
	register(&command{
		name:    "mpc",
		summary: "run secret-shared aggregation sessions between nodes (create, input, status) or a local demo",
		usage: "create --server URL --token T --threshold T --op OP --dim D --lower L --upper U --budget B --epsilon E " +
			"[--frac-bits 16] [--participants ID,…] [--input-parties ID,…] [--max-weight W] [--max-items N] [--phase 30s] | " +
			"input SESSION --server URL --token T (--values 1,2,… | --values-file F) [--weight W] | " +
			"status SESSION --server URL --token T [--wait] | " +
			"demo [--nodes 5] [--threshold 3] [--dim 10000] [--drop 1] [--cheat 1] [--epsilon E] [--phase 5s]   [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			server := fs.String("server", "", "the node's `URL`")
			token := fs.String("token", os.Getenv("AIOS_TOKEN"), "bearer token (default $AIOS_TOKEN): client or admin; status also auditor")
			threshold := fs.Int("threshold", 3, "t: any t shares reconstruct, t−1 learn nothing")
			op := fs.String("op", "sum", "create: sum, mean, weighted-mean, histogram, variance or dot-product")
			dim := fs.Int("dim", 10000, "coordinates per input vector (histogram: buckets)")
			fracBits := fs.Int("frac-bits", 16, "create: fixed-point fraction bits (0 for a histogram)")
			lower := fs.Float64("lower", -1, "clamp bound: lowest value")
			upper := fs.Float64("upper", 1, "clamp bound: highest value")
			maxWeight := fs.Float64("max-weight", 0, "create: weight bound (weighted-mean)")
			maxItems := fs.Int("max-items", 0, "create: values per party (histogram)")
			budget := fs.String("budget", "", "create: the coordinator's privacy budget that pays for the release")
			epsilon := fs.String("epsilon", "", "ε of the release (demo default 100)")
			participants := fs.String("participants", "", "create: comma-separated node ids (default: the node, then its peers file)")
			inputParties := fs.String("input-parties", "", "create: comma-separated node ids that contribute (default: all)")
			phase := fs.Duration("phase", 0, "length of each of the four phases (create default 10s, 60s, 30s, 30s; demo 5s)")
			values := fs.String("values", "", "input: comma-separated numbers")
			valuesFile := fs.String("values-file", "", "input: a `file` of numbers separated by commas or white space")
			weight := fs.Float64("weight", 0, "input: this party's weight (weighted-mean)")
			wait := fs.Bool("wait", false, "status: wait until the session is done or failed")
			nodes := fs.Int("nodes", 5, "demo: nodes to start")
			drop := fs.Int("drop", 0, "demo: kill this many nodes (0 or 1) after they shared their input")
			cheat := fs.Int("cheat", 0, "demo: this many nodes (0 or 1) deal an inconsistent share")
			seed := fs.Uint64("seed", 1, "demo: seed of the random inputs")
			keep := fs.Bool("keep", false, "demo: keep the nodes' data directories and logs")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if len(e.args) == 0 {
					return usagef("expected create, input, status or demo")
				}
				sub, args := e.args[0], e.args[1:]
				if sub == "demo" {
					if len(args) != 0 {
						return usagef("demo takes no arguments")
					}
					eps := *epsilon
					if eps == "" {
						eps = "100"
					}
					ph := *phase
					if ph == 0 {
						ph = 5 * time.Second
					}
					o := demoOptions{nodes: *nodes, threshold: *threshold, dim: *dim, drop: *drop, cheat: *cheat, epsilon: eps,
						lower: *lower, upper: *upper, phase: ph, seed: *seed, keep: *keep}
					rep, err := runDemo(ctx, e, o)
					if err != nil {
						return err
					}
					return report(e.stdout, *asJSON, rep, rep.text)
				}
				if *server == "" {
					return usagef("--server is required")
				}
				c, err := client.New(*server, *token, client.Options{})
				if err != nil {
					return usagef("%v", err)
				}
				switch sub {
				case "create":
					if len(args) != 0 {
						return usagef("create takes no arguments")
					}
					if *budget == "" || *epsilon == "" {
						return usagef("create needs --budget and --epsilon")
					}
					req := schema.MPCSessionRequest{Participants: splitList(*participants), InputParties: splitList(*inputParties),
						Threshold: *threshold, Operation: *op, Dimension: *dim, FracBits: *fracBits, Lower: *lower, Upper: *upper,
						MaxWeight: *maxWeight, MaxItems: *maxItems, Budget: *budget, Epsilon: *epsilon}
					if *phase > 0 {
						s := phase.Seconds()
						req.AcceptSeconds, req.InputSeconds, req.ReportSeconds, req.OutputSeconds = s, s, s, s
					}
					st, err := c.CreateMPCSession(ctx, req)
					if err != nil {
						return err
					}
					return report(e.stdout, *asJSON, st, func(w io.Writer) error { return printSession(w, st) })
				case "input":
					if len(args) != 1 {
						return usagef("input takes the session id")
					}
					vals, err := readValues(*values, *valuesFile)
					if err != nil {
						return err
					}
					if err := c.MPCInput(ctx, args[0], schema.MPCInputRequest{Values: vals, Weight: *weight}); err != nil {
						return err
					}
					res := map[string]any{"session": args[0], "values": len(vals)}
					return report(e.stdout, *asJSON, res, func(w io.Writer) error {
						_, err := fmt.Fprintf(w, "input of %d values given to session %s\n", len(vals), args[0])
						return err
					})
				case "status":
					if len(args) != 1 {
						return usagef("status takes the session id")
					}
					var st *schema.MPCSessionStatus
					if *wait {
						st, err = c.WaitMPCSession(ctx, args[0], 200*time.Millisecond, nil)
						if st == nil || st.State != "failed" {
							if err != nil {
								return err
							}
						}
					} else if st, err = c.MPCSession(ctx, args[0]); err != nil {
						return err
					}
					return report(e.stdout, *asJSON, st, func(w io.Writer) error { return printSession(w, st) })
				}
				return usagef("unknown subcommand %q", sub)
			}
		},
	})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// maxValuesFile bounds --values-file.
const maxValuesFile = 64 << 20

func readValues(list, file string) ([]float64, error) {
	if (list == "") == (file == "") {
		return nil, usagef("give one of --values and --values-file")
	}
	text := list
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxValuesFile+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxValuesFile {
			return nil, fmt.Errorf("%s: larger than %d bytes", file, maxValuesFile)
		}
		text = string(b)
	}
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	out := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d is not a finite number", i+1) // the value itself is private
		}
		out[i] = v
	}
	return out, nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func printSession(w io.Writer, st *schema.MPCSessionStatus) error {
	fmt.Fprintf(w, "session %s: %s\n", st.ID, st.State)
	if s := st.Spec; s != nil {
		fmt.Fprintf(w, "  %s of %d coordinates, t = %d of %d participants, budget %s, ε = %s\n", s.Operation, s.Dimension, s.Threshold,
			len(s.Participants), s.Budget, microEps(s.EpsilonMicro))
	}
	fmt.Fprintf(w, "  roster %d, included %d, holders %d\n", len(st.Roster), len(st.Included), len(st.Holders))
	for _, x := range st.Excluded {
		by := ""
		if x.Reporter != "" {
			by = ", reported by " + short(x.Reporter)
		}
		kind := "excluded"
		if x.Cheating {
			kind = "cheating"
		}
		fmt.Fprintf(w, "  %s: %s (phase %d): %s%s\n", kind, short(x.Node), x.Phase, x.Reason, by)
	}
	for _, n := range st.WrongOutput {
		fmt.Fprintf(w, "  wrong output share: %s\n", short(n))
	}
	if r := st.Release; r != nil {
		n := min(len(r.Values), 5)
		fmt.Fprintf(w, "  released (ε = %s, %d dealers, ledger %v):", r.Epsilon, r.Dealers, r.LedgerSeqs)
		for i := range n {
			fmt.Fprintf(w, " %.4g [%.4g, %.4g]", r.Values[i], r.CI[i].Lower, r.CI[i].Upper)
		}
		if len(r.Values) > n {
			fmt.Fprintf(w, " … (%d values; --json for all)", len(r.Values))
		}
		fmt.Fprintln(w)
	}
	s := st.Stats
	fmt.Fprintf(w, "  this node: share %.3fs, verify %.3fs, combine %.3fs, reconstruct %.3fs, total %.3fs, sent %d bytes\n",
		s.ShareSeconds, s.VerifySeconds, s.CombineSeconds, s.ReconstructSeconds, s.TotalSeconds, s.BytesSent)
	if st.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", st.Error)
	}
	return nil
}

func microEps(m int64) string {
	return strconv.FormatFloat(float64(m)/1e6, 'f', -1, 64)
}

// demoOptions are `aios mpc demo`'s settings.
type demoOptions struct {
	nodes, threshold, dim, drop, cheat int
	epsilon                            string
	lower, upper                       float64
	phase                              time.Duration
	seed                               uint64
	keep                               bool
}

// demoNode is one `aios serve` process of the demo.
type demoNode struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	URL     string `json:"url"`
	Role    string `json:"role"`
	dir     string
	token   string
	cmd     *exec.Cmd
	done    chan struct{}
	client  *client.Client
	killed  bool
	logFile *os.File
}

// demoPhase is one timed step of the demo.
type demoPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// demoReport is what `aios mpc demo` prints.
type demoReport struct {
	Nodes     []*demoNode              `json:"nodes"`
	Threshold int                      `json:"threshold"`
	Dimension int                      `json:"dimension"`
	Epsilon   string                   `json:"epsilon"`
	Session   string                   `json:"session"`
	State     string                   `json:"state"`
	Phases    []demoPhase              `json:"phases"`
	Included  []int                    `json:"included"`
	Excluded  []schema.MPCExcluded     `json:"excluded"`
	Holders   []int                    `json:"holders"`
	Dropped   []int                    `json:"dropped"`
	Error     demoError                `json:"error_vs_true_aggregate"`
	NodeStats map[int]*schema.MPCStats `json:"node_stats"`
	Dir       string                   `json:"dir,omitempty"`
}

// demoError compares the released sum with the true sum of the included
// inputs (which only the demo, holding every input, can compute).
type demoError struct {
	MaxAbs       float64 `json:"max_abs"`
	MeanAbs      float64 `json:"mean_abs"`
	LaplaceScale float64 `json:"laplace_scale"` // expected mean |error|
	CICoverage   float64 `json:"ci95_coverage"` // fraction of true values inside their 95% interval
}

func (r *demoReport) index(id string) int {
	for _, n := range r.Nodes {
		if n.ID == id {
			return n.Index
		}
	}
	return -1
}

func (r *demoReport) text(w io.Writer) error {
	fmt.Fprintf(w, "aios mpc demo: %d nodes, t = %d, sum of %d coordinates, ε = %s\n", len(r.Nodes), r.Threshold, r.Dimension, r.Epsilon)
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "  node %d  %s  %s  %s\n", n.Index, short(n.ID), n.URL, n.Role)
	}
	fmt.Fprintf(w, "session %s: %s\n", short(r.Session), r.State)
	fmt.Fprintf(w, "phases (wall clock; session phases are the coordinator's state changes, polled every 10 ms):\n")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "  %-44s %7.3f s\n", p.Name, p.Seconds)
	}
	fmt.Fprintf(w, "included dealers: %v; holders: %v\n", r.Included, r.Holders)
	if len(r.Excluded) == 0 {
		fmt.Fprintln(w, "excluded: none")
	}
	for _, x := range r.Excluded {
		by := ""
		if x.Reporter != "" {
			by = fmt.Sprintf(", reported by node %d", r.index(x.Reporter))
		}
		kind := "excluded"
		if x.Cheating {
			kind = "excluded for cheating"
		}
		fmt.Fprintf(w, "%s: node %d (phase %d): %s%s\n", kind, r.index(x.Node), x.Phase, x.Reason, by)
	}
	for _, d := range r.Dropped {
		fmt.Fprintf(w, "dropped: node %d was killed after sharing its input; ", d)
		if slicesContains(r.Included, d) {
			fmt.Fprintf(w, "its input is included (≥ t peers verified it), it holds no output share\n")
		} else {
			fmt.Fprintf(w, "its input is not included\n")
		}
	}
	e := r.Error
	fmt.Fprintf(w, "released sum vs the true sum of the included inputs: max |err| %.4g, mean |err| %.4g (Laplace scale %.4g), 95%% CI covers %.1f%%\n",
		e.MaxAbs, e.MeanAbs, e.LaplaceScale, 100*e.CICoverage)
	fmt.Fprintln(w, "per node (share / verify / combine / reconstruct seconds, bytes sent):")
	for _, n := range r.Nodes {
		if s := r.NodeStats[n.Index]; s != nil {
			fmt.Fprintf(w, "  node %d  %.3f / %.3f / %.3f / %.3f  %d\n", n.Index, s.ShareSeconds, s.VerifySeconds, s.CombineSeconds, s.ReconstructSeconds, s.BytesSent)
		}
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "data directories and logs kept in %s\n", r.Dir)
	}
	return nil
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// freePort asks the kernel for a free loopback port. The peers file must
// name every node's URL before the nodes start, so ports are reserved this
// way rather than with port 0; another process could take one in between,
// which shows as a node that does not come up.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// runDemo starts opts.nodes `aios serve` processes on loopback, runs one
// sum session among them and compares the released result with the true
// sum. Every process is stopped before it returns.
func runDemo(ctx context.Context, e *env, o demoOptions) (rep *demoReport, err error) {
	switch {
	case o.nodes < 2 || o.nodes > mpc.MaxParticipants:
		return nil, usagef("--nodes must be between 2 and %d", mpc.MaxParticipants)
	case o.drop < 0 || o.drop > 1 || o.cheat < 0 || o.cheat > 1:
		return nil, usagef("--drop and --cheat are 0 or 1")
	case o.nodes < 1+o.drop+o.cheat:
		return nil, usagef("the coordinator, the dropped and the cheating node must be different nodes")
	case o.threshold < 1 || o.threshold > o.nodes-o.drop:
		return nil, usagef("--threshold must be between 1 and the nodes that stay up (%d)", o.nodes-o.drop)
	case o.dim < 1 || o.dim > mpc.MaxDimension:
		return nil, usagef("--dim must be between 1 and %d", mpc.MaxDimension)
	case o.phase < 500*time.Millisecond:
		return nil, usagef("--phase must be at least 500ms")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "aios-mpc-demo-")
	if err != nil {
		return nil, err
	}
	rep = &demoReport{Threshold: o.threshold, Dimension: o.dim, Epsilon: o.epsilon, NodeStats: map[int]*schema.MPCStats{}}
	if o.keep {
		rep.Dir = tmp
	}
	clock := time.Now()
	lap := func(name string) {
		now := time.Now()
		rep.Phases = append(rep.Phases, demoPhase{name, now.Sub(clock).Seconds()})
		clock = now
	}
	defer func() {
		stopNodes(rep.Nodes)
		if !o.keep {
			os.RemoveAll(tmp)
		}
	}()

	// Identities and tokens first, so the peers file can be written.
	victim, cheater := -1, -1
	if o.drop > 0 {
		victim = o.nodes - 1
	}
	if o.cheat > 0 {
		cheater = 1
	}
	var peers []httptransport.Peer
	for i := range o.nodes {
		n := &demoNode{Index: i, dir: filepath.Join(tmp, fmt.Sprintf("node%d", i)), Role: "participant", done: make(chan struct{})}
		switch i {
		case 0:
			n.Role = "coordinator"
		case victim:
			n.Role = "killed after sharing"
		case cheater:
			n.Role = "cheats (one bad share)"
		}
		k, err := nodekey.LoadOrCreate(n.dir, nil)
		if err != nil {
			return rep, err
		}
		n.ID = k.ID()
		db, err := store.Open(ctx, n.dir)
		if err != nil {
			return rep, err
		}
		n.token, _, err = api.CreateToken(ctx, db, api.RoleAdmin, "mpc demo")
		db.Close()
		if err != nil {
			return rep, err
		}
		addr, err := freePort()
		if err != nil {
			return rep, err
		}
		n.URL = "http://" + addr
		p, err := httptransport.ParsePeers(fmt.Appendf(nil, "%s %s node%d\n", n.ID, n.URL, i))
		if err != nil {
			return rep, err
		}
		peers = append(peers, p[0])
		rep.Nodes = append(rep.Nodes, n)
	}
	peersFile := filepath.Join(tmp, "peers")
	if err := os.WriteFile(peersFile, httptransport.FormatPeers(peers), 0o644); err != nil {
		return rep, err
	}
	for _, n := range rep.Nodes {
		if err := startDemoNode(exe, n, peersFile, n.Index == cheater); err != nil {
			return rep, err
		}
	}
	for _, n := range rep.Nodes {
		if err := waitReady(ctx, n); err != nil {
			return rep, err
		}
		if n.client, err = client.New(n.URL, n.token, client.Options{}); err != nil {
			return rep, err
		}
	}
	lap(fmt.Sprintf("start %d nodes (keys, tokens, processes)", o.nodes))

	coord := rep.Nodes[0].client
	if err := coord.CreateBudget(ctx, "demo", o.epsilon, "aios mpc demo"); err != nil {
		return rep, fmt.Errorf("create budget: %w", err)
	}
	secs := o.phase.Seconds()
	created, err := coord.CreateMPCSession(ctx, schema.MPCSessionRequest{Threshold: o.threshold, Operation: "sum", Dimension: o.dim,
		FracBits: 16, Lower: o.lower, Upper: o.upper, Budget: "demo", Epsilon: o.epsilon,
		AcceptSeconds: secs, InputSeconds: secs, ReportSeconds: secs, OutputSeconds: secs})
	if err != nil {
		return rep, fmt.Errorf("create session: %w", err)
	}
	rep.Session = created.ID
	lap("budget + propose (POST /v1/mpc/sessions)")
	// The coordinator's state changes, timed from the proposal.
	proposed := time.Now()
	type change struct {
		state string
		at    time.Duration
	}
	changes := make(chan change, 8)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		defer close(changes)
		last := "accepting"
		for {
			st, err := coord.MPCSession(watchCtx, created.ID)
			if err == nil && st.State != last {
				last = st.State
				changes <- change{last, time.Since(proposed)}
				if last == "done" || last == "failed" {
					return
				}
			}
			if sleepCtx(watchCtx, 10*time.Millisecond) != nil {
				return
			}
		}
	}()

	rng := rand.New(rand.NewPCG(o.seed, 0x6d7063))
	inputs := make([][]float64, o.nodes)
	for i := range inputs {
		inputs[i] = make([]float64, o.dim)
		for j := range inputs[i] {
			inputs[i][j] = o.lower + (o.upper-o.lower)*rng.Float64()
		}
	}
	give := func(idx []int) error {
		errs := make([]error, len(idx))
		var wg sync.WaitGroup
		for k, i := range idx {
			wg.Go(func() {
				errs[k] = rep.Nodes[i].client.MPCInput(ctx, created.ID, schema.MPCInputRequest{Values: inputs[i]})
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	var rest []int
	for i := range o.nodes {
		if i != victim {
			rest = append(rest, i)
		}
	}
	if victim >= 0 {
		// The victim gets its input first; once it has sent its dealing
		// to every other node it is killed, before the others deal, so it
		// dies after sharing and before it can report or send an output
		// share.
		if err := give([]int{victim}); err != nil {
			return rep, fmt.Errorf("input: %w", err)
		}
		want := int64(o.nodes-1) * int64(o.dim+1) * 32
		v := rep.Nodes[victim]
		for {
			st, err := v.client.MPCSession(ctx, created.ID)
			if err != nil && !errors.Is(err, client.ErrNotFound) {
				return rep, err
			}
			if err == nil && st.Stats.BytesSent >= want {
				break
			}
			if err == nil && (st.State == "failed" || time.Now().After(created.Spec.InputBy)) {
				return rep, fmt.Errorf("node %d did not deal before the input deadline (%s)", victim, st.State)
			}
			if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
				return rep, err
			}
		}
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil { // let its last request land
			return rep, err
		}
		v.cmd.Process.Kill()
		<-v.done
		v.killed = true
		rep.Dropped = append(rep.Dropped, victim)
		lap(fmt.Sprintf("node %d: input, dealing, then SIGKILL", victim))
	}
	if err := give(rest); err != nil {
		return rep, fmt.Errorf("input: %w", err)
	}
	lap(fmt.Sprintf("input to %d nodes (POST …/input)", len(rest)))

	labels := map[string]string{"sharing": "session: accept (roster fixed)", "combining": "session: deal, verify, report, decide",
		"done": "session: output shares, reconstruct, dp release", "failed": "session: until it failed"}
	prev := time.Duration(0)
	for c := range changes {
		rep.Phases = append(rep.Phases, demoPhase{labels[c.state], (c.at - prev).Seconds()})
		prev = c.at
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	rep.Phases = append(rep.Phases, demoPhase{"session: total from the proposal", prev.Seconds()})
	clock = time.Now()
	final, err := coord.MPCSession(ctx, created.ID)
	if err != nil {
		return rep, err
	}
	rep.State = final.State
	if final.State != "done" {
		return rep, fmt.Errorf("session failed: %s", final.Error)
	}
	for _, id := range final.Included {
		rep.Included = append(rep.Included, rep.index(id))
	}
	for _, id := range final.Holders {
		rep.Holders = append(rep.Holders, rep.index(id))
	}
	rep.Excluded = final.Excluded
	for _, n := range rep.Nodes {
		if n.killed {
			continue
		}
		if st, err := n.client.MPCSession(ctx, created.ID); err == nil {
			s := st.Stats
			rep.NodeStats[n.Index] = &s
		}
	}
	rel := final.Release
	if rel == nil || len(rel.Values) != o.dim || len(rel.CI) != o.dim {
		return rep, errors.New("the coordinator released no result of the session's dimension")
	}
	var sumAbs float64
	covered := 0
	for j := range o.dim {
		var want float64
		for _, i := range rep.Included {
			want += inputs[i][j]
		}
		d := math.Abs(rel.Values[j] - want)
		sumAbs += d
		rep.Error.MaxAbs = max(rep.Error.MaxAbs, d)
		if rel.CI[j].Lower <= want && want <= rel.CI[j].Upper {
			covered++
		}
	}
	rep.Error.MeanAbs = sumAbs / float64(o.dim)
	rep.Error.CICoverage = float64(covered) / float64(o.dim)
	rep.Error.LaplaceScale = laplaceScale(o.dim, max(math.Abs(o.lower), math.Abs(o.upper)), rel.EpsilonMicro)
	t0 := time.Now()
	stopNodes(rep.Nodes)
	rep.Phases = append(rep.Phases, demoPhase{"stop nodes (SIGTERM)", time.Since(t0).Seconds()})
	return rep, nil
}

// laplaceScale is the mean Laplace scale over the coordinates of a sum's
// release: mpc releases at most 2^16 coordinates per dp query, splitting ε
// evenly (in micro-ε) over the chunks, and each query's scale is its
// dimension times the bound over its ε.
func laplaceScale(d int, bound float64, eps int64) float64 {
	const chunk = 1 << 16
	chunks := int64((d + chunk - 1) / chunk)
	total := 0.0
	for c := range chunks {
		size := float64(min(d-int(c)*chunk, chunk))
		e := eps / chunks
		if c < eps%chunks {
			e++
		}
		total += size * size * bound * 1e6 / float64(e)
	}
	return total / float64(d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func startDemoNode(exe string, n *demoNode, peersFile string, cheat bool) error {
	args := []string{"serve", "--data-dir", n.dir, "--addr", strings.TrimPrefix(n.URL, "http://"), "--ready-file", filepath.Join(n.dir, "ready"),
		"--peers", peersFile, "--log-level", "warn", "--rate", "-1"}
	if cheat {
		args = append(args, "--demo-cheat")
	}
	var err error
	if n.logFile, err = os.Create(filepath.Join(n.dir, "serve.log")); err != nil {
		return err
	}
	n.cmd = exec.Command(exe, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.logFile, n.logFile
	if err := n.cmd.Start(); err != nil {
		return err
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	return nil
}

func waitReady(ctx context.Context, n *demoNode) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(n.dir, "ready")); err == nil && strings.HasSuffix(string(b), "\n") {
			if got := strings.TrimSpace(string(b)); got != n.URL {
				return fmt.Errorf("node %d listens on %s, expected %s", n.Index, got, n.URL)
			}
			return nil
		}
		select {
		case <-n.done:
			log, _ := os.ReadFile(filepath.Join(n.dir, "serve.log"))
			return fmt.Errorf("node %d exited before serving: %s", n.Index, strings.TrimSpace(string(log[max(0, len(log)-500):])))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("node %d did not come up within 60 s", n.Index)
}

// stopNodes asks every running node to stop (SIGTERM), and kills those
// that have not stopped after 5 s.
func stopNodes(nodes []*demoNode) {
	for _, n := range nodes {
		if n.cmd != nil && n.cmd.Process != nil && !n.killed {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, n := range nodes {
		if n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		if !n.killed {
			select {
			case <-n.done:
			case <-time.After(time.Until(deadline)):
				n.cmd.Process.Kill()
				<-n.done
			}
			n.killed = true
		}
		n.logFile.Close()
	}
}
