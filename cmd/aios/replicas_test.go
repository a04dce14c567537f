package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/cluster"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store/storetest"
)

// TestReplicasOnPostgres runs three `aios serve` replicas on one PostgreSQL
// database, as README's "Replicas on PostgreSQL" does: a token made with
// the CLI works on all three, keys uploaded through replica 1 serve an
// inference through replica 2, and a job submitted through replica 3
// finishes. Then a replica holding the lease of a running job is killed
// with SIGKILL: another takes the job over once the lease expires and
// finishes it, with one result that decrypts to the plaintext model's.
func TestReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dbURL := storetest.PostgresURL(t)
	ctx := context.Background()
	model := filepath.Join("..", "..", "testvectors", "models", "digits.aios")
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	// The identity the replicas share: made once, copied to each.
	mustRun(t, "node", "id", "--data-dir", dirs[0])
	key, err := os.ReadFile(filepath.Join(dirs[0], nodekey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs[1:] {
		if err := os.WriteFile(filepath.Join(dir, nodekey.FileName), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var res struct {
		Token string `json:"token"`
	}
	out := mustRun(t, "token", "create", "--role", "client", "--data-dir", dirs[0], "--db", dbURL, "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Token == "" {
		t.Fatalf("token: %v", err)
	}
	procs := make([]*cluster.Process, 3)
	clients := make([]*client.Client, 3)
	for i, dir := range dirs {
		var url string
		procs[i], url = startNode(t, dir, "--db", dbURL, "--model", model, "--job-lease", "2s")
		var err error
		if clients[i], err = client.New(url, res.Token, client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	models, err := clients[0].Models(ctx)
	if err != nil || len(models) != 1 {
		t.Fatalf("models: %v %v", models, err)
	}
	dj := newDigitsJob(t, models[0])
	evk, err := clients[0].UploadKeys(ctx, dj.info.Preset, dj.evk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients[1].Infer(ctx, dj.info.ID, evk.ID, "batch", dj.batch); err != nil {
		t.Fatalf("inference through replica 2 with keys uploaded through replica 1: %v", err)
	}
	j, err := clients[2].SubmitJob(ctx, dj.info.ID, evk.ID, "batch", dj.batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].WaitJob(ctx, j.ID, 50*time.Millisecond, nil); err != nil {
		t.Fatalf("job submitted through replica 3: %v", err)
	}
	dj.check(t, clients[1], j.ID)

	// Kill the replica that holds a running job.
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j, err = clients[2].SubmitJob(ctx, dj.info.ID, evk.ID, "batch", dj.batch)
	if err != nil {
		t.Fatal(err)
	}
	var holder *cluster.Process
	deadline := time.Now().Add(time.Minute)
	for holder == nil {
		var token, status string
		if err := db.QueryRowContext(ctx, `SELECT lease_token, status FROM jobs WHERE id = $1`, j.ID).Scan(&token, &status); err != nil {
			t.Fatal(err)
		}
		if status == string(schema.JobDone) || time.Now().After(deadline) {
			t.Fatalf("the job was not seen running (status %s)", status)
		}
		// A token is "host:pid/random".
		if h, _, ok := strings.Cut(token, "/"); ok && status == string(schema.JobRunning) {
			pid, _ := strconv.Atoi(h[strings.LastIndexByte(h, ':')+1:])
			for _, p := range procs {
				if p.PID() == pid {
					holder = p
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	holder.Kill() // SIGKILL
	var live *client.Client
	for i, p := range procs {
		if p != holder {
			live = clients[i]
		}
	}
	killed := time.Now()
	got, err := live.WaitJob(ctx, j.ID, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("job whose replica was killed: %v", err)
	}
	t.Logf("taken over and finished %v after the kill", time.Since(killed).Round(time.Millisecond))
	var attempts int
	var resultBlob string
	if err := db.QueryRowContext(ctx, `SELECT attempts, result_blob FROM jobs WHERE id = $1`, j.ID).Scan(&attempts, &resultBlob); err != nil {
		t.Fatal(err)
	}
	if got.Status != schema.JobDone || attempts != 2 || resultBlob == "" {
		t.Fatalf("after the takeover: %+v, %d attempts, result %q", got, attempts, resultBlob)
	}
	dj.check(t, live, j.ID)

	// The tools of any replica's data directory use the shared ledger and
	// sign with the shared key.
	mustRun(t, "budget", "create", "--data-dir", dirs[1], "--db", dbURL, "--epsilon", "1", "tenant-a")
	mustRun(t, "audit", "checkpoint", "--data-dir", dirs[2], "--db", dbURL)
	for _, dir := range dirs {
		mustRun(t, "audit", "verify", "--data-dir", dir, "--db", dbURL)
	}
}

// TestMPCOnReplicas runs an MPC session with a node that has two replicas
// on PostgreSQL, set up as README's "Replicas on PostgreSQL" says: replica
// 1 is designated for MPC (the only one started with --peers, the URL the
// peers file gives for the node), replica 2 serves the rest. Two single
// nodes on SQLite are the other parties. The session is created, fed and
// followed through replica 1 (replica 2 does not know it); its release is
// debited from the shared ledger, which replica 2's data directory reads
// and verifies once replica 1's has signed a checkpoint.
func TestMPCOnReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dbURL := storetest.PostgresURL(t)
	r1, r2, y, z := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	mustRun(t, "node", "id", "--data-dir", r1)
	key, err := os.ReadFile(filepath.Join(r1, nodekey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r2, nodekey.FileName), key, 0o600); err != nil {
		t.Fatal(err)
	}
	token := func(args ...string) string {
		var res struct {
			Token string `json:"token"`
		}
		out := mustRun(t, append([]string{"token", "create", "--role", "admin", "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Token == "" {
			t.Fatalf("token: %v %s", err, out)
		}
		return res.Token
	}
	tokX, tokY, tokZ := token("--data-dir", r2, "--db", dbURL), token("--data-dir", y), token("--data-dir", z)
	// The peers file names the node with replicas once, at replica 1's URL.
	var peers strings.Builder
	addrs := map[string]string{}
	for _, dir := range []string{r1, y, z} {
		addr, err := cluster.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[dir] = addr
		fmt.Fprintf(&peers, "%s http://%s\n", strings.TrimSpace(mustRun(t, "node", "id", "--data-dir", dir)), addr)
	}
	peersFile := filepath.Join(t.TempDir(), "peers.txt")
	if err := os.WriteFile(peersFile, []byte(peers.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, url1 := startNodeAt(t, r1, addrs[r1], "--db", dbURL, "--peers", peersFile)
	_, url2 := startNode(t, r2, "--db", dbURL)
	_, urlY := startNodeAt(t, y, addrs[y], "--peers", peersFile)
	_, urlZ := startNodeAt(t, z, addrs[z], "--peers", peersFile)

	mustRun(t, "budget", "create", "--data-dir", r2, "--db", dbURL, "--epsilon", "1000", "b")
	var created schema.MPCSessionStatus
	out := mustRun(t, "mpc", "create", "--server", url1, "--token", tokX, "--threshold", "2", "--dim", "3",
		"--lower", "0", "--upper", "10", "--budget", "b", "--epsilon", "1000", "--phase", "3s", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("create through replica 1: %v %s", err, out)
	}
	mustRun(t, "mpc", "input", created.ID, "--server", url1, "--token", tokX, "--values", "1,2,3")
	mustRun(t, "mpc", "input", created.ID, "--server", urlY, "--token", tokY, "--values", "4,5,6")
	mustRun(t, "mpc", "input", created.ID, "--server", urlZ, "--token", tokZ, "--values", "7,8,9")
	var st schema.MPCSessionStatus
	out = mustRun(t, "mpc", "status", created.ID, "--wait", "--server", url1, "--token", tokX, "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.State != "done" || st.Release == nil {
		t.Fatalf("status through replica 1: %v %s", err, out)
	}
	for j, want := range []float64{12, 15, 18} { // Laplace scale 3·10/1000
		if d := st.Release.Values[j] - want; d < -1 || d > 1 {
			t.Fatalf("released %v, want about %v", st.Release.Values, []float64{12, 15, 18})
		}
	}
	// Replica 2 holds no MPC session: the node's sessions are replica 1's.
	if code, _, _ := runAios(t, "mpc", "status", created.ID, "--server", url2, "--token", tokX); code == 0 {
		t.Fatal("replica 2 answered for replica 1's session")
	}
	var budget dp.BudgetStatus
	out = mustRun(t, "budget", "show", "b", "--data-dir", r2, "--db", dbURL, "--json")
	if err := json.Unmarshal([]byte(out), &budget); err != nil || budget.Spent != 1000*dp.MicroPerEpsilon {
		t.Fatalf("the budget through replica 2's directory after the release: %v %s", err, out)
	}
	mustRun(t, "audit", "checkpoint", "--data-dir", r1, "--db", dbURL)
	mustRun(t, "audit", "verify", "--data-dir", r2, "--db", dbURL)
}
