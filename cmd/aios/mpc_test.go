package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// TestMPCDemoProcesses is the multi-process test: `aios mpc demo` starts 5
// real `aios serve` processes on loopback (this test binary in main mode),
// kills one after it shared its input, makes another deal one bad share,
// and the released sum matches the true sum of the included inputs.
func TestMPCDemoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five server processes")
	}
	t.Setenv("AIOS_TEST_MAIN", "1") // the children run as aios
	out := mustRun(t, "mpc", "demo", "--nodes", "5", "--threshold", "3", "--dim", "20", "--drop", "1", "--cheat", "1",
		"--epsilon", "1000", "--phase", "2s", "--json")
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.State != "done" || !slices.Equal(rep.Included, []int{0, 2, 3, 4}) || slices.Contains(rep.Holders, 4) || !slices.Equal(rep.Dropped, []int{4}) {
		t.Fatalf("report: %s", out)
	}
	if len(rep.Excluded) != 1 || rep.index(rep.Excluded[0].Node) != 1 || !rep.Excluded[0].Cheating || rep.Excluded[0].Reason != mpc.ReasonBadShare {
		t.Fatalf("excluded: %+v", rep.Excluded)
	}
	// Laplace scale 20·1/1000 = 0.02; leaving out (or adding) one party's
	// input would move the mean error by about 0.5.
	if rep.Error.MeanAbs > 0.1 || rep.Error.LaplaceScale != 0.02 {
		t.Fatalf("error against the true sum: %+v", rep.Error)
	}
	t.Logf("phases: %+v", rep.Phases)
}

// TestMPCCommands runs create, input and status against two in-process
// nodes over HTTP.
func TestMPCCommands(t *testing.T) {
	var peers []httptransport.Peer
	var servers []*httptest.Server
	var dirs []string
	for range 2 {
		dir := t.TempDir()
		k, err := nodekey.LoadOrCreate(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(nil)
		u, _ := url.Parse("http://" + ts.Listener.Addr().String())
		peers = append(peers, httptransport.Peer{ID: mpc.NodeID(k.Public()), URL: u})
		servers, dirs = append(servers, ts), append(dirs, dir)
	}
	var tokens []string
	for i, ts := range servers {
		srv, err := api.New(context.Background(), api.Config{DataDir: dirs[i], Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MPC: &api.MPCConfig{Peers: peers}})
		if err != nil {
			t.Fatal(err)
		}
		ts.Config.Handler = srv.Handler()
		ts.Start()
		t.Cleanup(func() { ts.Close(); srv.Close() })
		tok, _, err := api.CreateToken(context.Background(), srv.DB(), api.RoleAdmin, "t")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	c, _ := client.New(servers[0].URL, tokens[0], client.Options{})
	if err := c.CreateBudget(context.Background(), "b", "1000", ""); err != nil {
		t.Fatal(err)
	}
	var created schema.MPCSessionStatus
	out := mustRun(t, "mpc", "create", "--server", servers[0].URL, "--token", tokens[0], "--threshold", "2", "--dim", "3",
		"--lower", "0", "--upper", "10", "--budget", "b", "--epsilon", "1000", "--phase", "3s", "--release-to", "role:auditor", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("create: %v %s", err, out)
	}
	if created.Access == nil || !slices.Equal(created.Access.ReleaseTo, []string{"role:auditor"}) {
		t.Fatalf("create --release-to: access %+v", created.Access)
	}
	file := filepath.Join(t.TempDir(), "v")
	os.WriteFile(file, []byte("4 5\n6\n"), 0o600)
	mustRun(t, "mpc", "input", created.ID, "--server", servers[0].URL, "--token", tokens[0], "--values", "1,2,3")
	mustRun(t, "mpc", "input", created.ID, "--server", servers[1].URL, "--token", tokens[1], "--values-file", file)
	var st schema.MPCSessionStatus
	out = mustRun(t, "mpc", "status", created.ID, "--wait", "--server", servers[0].URL, "--token", tokens[0], "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.State != "done" || st.Release == nil {
		t.Fatalf("status: %v %s", err, out)
	}
	for j, want := range []float64{5, 7, 9} { // Laplace scale 3·10/1000
		if d := st.Release.Values[j] - want; d < -1 || d > 1 {
			t.Fatalf("released %v", st.Release.Values)
		}
	}
	text := mustRun(t, "mpc", "status", created.ID, "--server", servers[0].URL, "--token", tokens[0])
	if !strings.Contains(text, ": done") || !strings.Contains(text, "released") {
		t.Fatalf("status text:\n%s", text)
	}
	for _, args := range [][]string{{"mpc"}, {"mpc", "nope", "--server", "http://x"}, {"mpc", "create", "--server", "http://x"},
		{"mpc", "input", "x", "--server", "http://x"}, {"mpc", "demo", "--nodes", "1"}, {"mpc", "demo", "--drop", "2"},
		{"mpc", "create", "--nodes", "9", "--server", "http://x"}} { // a demo flag is not one of create's
		if code, _, _ := runAios(t, args...); code != 2 {
			t.Errorf("aios %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}
