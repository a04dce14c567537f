package cluster

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// TestMain lets the test binary stand in for `aios serve` when run with
// CLUSTER_TEST_SERVE=1: a node on the real api.Server with the flags the
// cluster passes, so the tests need no aios build.
func TestMain(m *testing.M) {
	if os.Getenv("CLUSTER_TEST_SERVE") == "1" {
		if err := fakeServe(os.Args[1:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeServe(args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		return errors.New("want serve")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	addr := fs.String("addr", "", "")
	ready := fs.String("ready-file", "", "")
	peersFile := fs.String("peers", "", "")
	fs.String("log-level", "", "")
	rate := fs.Float64("rate", 50, "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := api.Config{DataDir: *dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RatePerSecond: *rate}
	if *peersFile != "" {
		peers, err := httptransport.LoadPeers(*peersFile)
		if err != nil {
			return err
		}
		cfg.MPC = &api.MPCConfig{Peers: peers}
	}
	srv, err := api.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	if err := os.WriteFile(*ready, []byte("http://"+ln.Addr().String()+"\n"), 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return hs.Close()
}

func testEnv() []string { return append(os.Environ(), "CLUSTER_TEST_SERVE=1") }

// TestServe starts one node on a data directory, kills it, and starts it
// again on the same directory.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for range 2 {
		p, err := Serve(ctx, ProcessOptions{Exe: os.Args[0], Env: testEnv(), DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(p.URL() + "/v1/health")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("health: %v %v", resp, err)
		}
		resp.Body.Close()
		p.Kill()
		select {
		case <-p.Done():
		default:
			t.Fatal("Kill returned before the process exited")
		}
	}
	// A process that exits before it serves is reported with its output.
	if _, err := Serve(ctx, ProcessOptions{Exe: os.Args[0], Env: testEnv(), DataDir: dir, Args: []string{"--no-such-flag"}}); err == nil {
		t.Fatal("a process that exits at once was reported as serving")
	}
}

// TestCluster starts three nodes that know each other, runs a sum session
// in which one node is killed after it dealt, watches the coordinator's
// phases to the end, and removes everything on Close.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Exe: os.Args[0], Env: testEnv(), Nodes: 3, TokenName: "cluster test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range c.Nodes {
		h, err := n.Client.Health(ctx)
		if err != nil || h["node_id"] != n.ID {
			t.Fatalf("node %d: health %v %v, want node id %s", n.Index, h, err, n.ID)
		}
	}
	coord := c.Nodes[0].Client
	if err := coord.CreateBudget(ctx, "b", "1000", ""); err != nil {
		t.Fatal(err)
	}
	const dim = 4
	st, err := coord.CreateMPCSession(ctx, schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: dim, FracBits: 16,
		Lower: 0, Upper: 10, Budget: "b", Epsilon: "1000", AcceptSeconds: 2, InputSeconds: 2, ReportSeconds: 2, OutputSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	changes := c.Nodes[0].WatchSession(ctx, st.ID)
	in := schema.MPCInputRequest{Values: []float64{1, 2, 3, 4}}
	victim := c.Nodes[2]
	if err := victim.Client.MPCInput(ctx, st.ID, in); err != nil {
		t.Fatal(err)
	}
	if err := victim.KillAfterSent(ctx, st.ID, 2*(dim+1)*32, st.Spec.InputBy, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if victim.Running() {
		t.Fatal("the victim runs after KillAfterSent")
	}
	for _, n := range c.Nodes[:2] {
		if err := n.Client.MPCInput(ctx, st.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	var states []string
	for ch := range changes {
		states = append(states, ch.State)
	}
	if len(states) == 0 || states[len(states)-1] != "done" {
		t.Fatalf("coordinator states %v, want them to end in done", states)
	}
	dir := c.Dir()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cluster directory left after Close: %v", err)
	}
}
