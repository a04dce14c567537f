package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// digitsJob is a job of the digits model: key material of its batch
// packing, and a body of three batches of 40 test samples with the
// plaintext model's predictions for them.
type digitsJob struct {
	info  schema.ModelInfo
	p     he.Parameters
	ic    *inference.Client
	evk   []byte
	batch []byte
	want  []int
}

const digitsJobSamples = 40

func newDigitsJob(t *testing.T, info schema.ModelInfo) *digitsJob {
	t.Helper()
	_, m, test := apitest.Digits(t)
	p, _ := he.PresetByName(info.Preset)
	km, err := he.GenerateKeys(p, he.KeySpec{Relinearization: info.Packings["batch"].Relinearization})
	if err != nil {
		t.Fatal(err)
	}
	evk, _ := km.Evaluation.MarshalBinary()
	samples := test.X[:digitsJobSamples]
	ref, _ := inference.NewEvaluator(m)
	refLogits, _ := ref.Predict(samples)
	ic, err := inference.NewClient(m, inference.Batch, km)
	if err != nil {
		t.Fatal(err)
	}
	cts, err := ic.EncryptBatch(samples)
	if err != nil {
		t.Fatal(err)
	}
	var batch bytes.Buffer
	vecs := make([]he.EncryptedVector, 0, 3*len(cts))
	for range 3 { // three batches per job: a kill lands mid-job
		for _, ct := range cts {
			vecs = append(vecs, he.EncryptedVector{Values: len(samples), Ciphertext: ct})
		}
	}
	if err := he.WriteCiphertextFile(&batch, p, vecs); err != nil {
		t.Fatal(err)
	}
	return &digitsJob{info: info, p: p, ic: ic, evk: evk, batch: batch.Bytes(), want: inference.Argmax(refLogits)}
}

// check fetches job id's result and checks that it decrypts to the
// plaintext model's predictions.
func (dj *digitsJob) check(t *testing.T, c *client.Client, id string) {
	t.Helper()
	out, err := c.JobResult(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	res, err := he.ReadCiphertextFile(bytes.NewReader(out), dj.p, he.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	classes := len(dj.info.Classes)
	if len(res) != 3*classes {
		t.Fatalf("job %s: %d output ciphertexts", id, len(res))
	}
	for b := range 3 {
		outs := make([]*rlwe.Ciphertext, classes)
		for o := range outs {
			outs[o] = res[b*classes+o].Ciphertext
		}
		logits, err := dj.ic.DecryptBatch(outs, digitsJobSamples)
		if err != nil {
			t.Fatal(err)
		}
		for i, got := range inference.Argmax(logits) {
			if got != dj.want[i] {
				t.Fatalf("job %s batch %d sample %d: %d, want %d", id, b, i, got, dj.want[i])
			}
		}
	}
}

func createToken(t *testing.T, dataDir, role string) string {
	t.Helper()
	var res struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "token", "create", "--role", role, "--data-dir", dataDir, "--json")), &res); err != nil || res.Token == "" {
		t.Fatalf("token: %v", err)
	}
	return res.Token
}

// TestKillAndRestart: a node is killed with SIGKILL while it evaluates
// queued jobs; after a restart on the same data directory the model, the
// key set and every job are intact, the interrupted and queued jobs run to
// completion, and their results decrypt to the plaintext model's
// predictions.
func TestKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	modelFile := filepath.Join("..", "..", "testvectors", "models", "digits.aios")
	clientTok := createToken(t, dir, "client")
	node, url := startNode(t, dir, "--model", modelFile)
	c, err := client.New(url, clientTok, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	models, err := c.Models(ctx)
	if err != nil || len(models) != 1 {
		t.Fatalf("models: %v %v", models, err)
	}
	info := models[0]

	dj := newDigitsJob(t, info)
	key, err := c.UploadKeys(ctx, info.Preset, dj.evk)
	if err != nil {
		t.Fatal(err)
	}
	batch := dj.batch
	var jobs []string
	for range 3 {
		j, err := c.SubmitJob(ctx, info.ID, key.ID, "batch", batch)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j.ID)
	}
	// Kill as soon as the first job is running.
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := c.Job(ctx, jobs[0])
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == schema.JobRunning || j.Status == schema.JobDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never started: %+v", j)
		}
		time.Sleep(10 * time.Millisecond)
	}
	node.Kill() // SIGKILL

	_, url = startNode(t, dir)
	c, _ = client.New(url, clientTok, client.Options{})
	if got, err := c.Key(ctx, key.ID); err != nil || got.ID != key.ID || got.Bytes != key.Bytes {
		t.Fatalf("key after restart: %+v %v", got, err)
	}
	if got, err := c.Model(ctx, info.ID); err != nil || got.ID != info.ID {
		t.Fatalf("model after restart: %v", err)
	}
	for _, id := range jobs {
		j, err := c.WaitJob(ctx, id, 50*time.Millisecond, nil)
		if err != nil {
			t.Fatalf("job %s after restart: %v", id, err)
		}
		if j.Done != 3 || j.Samples != 3*digitsJobSamples {
			t.Fatalf("job %s: %+v", id, j)
		}
		dj.check(t, c, id)
	}
	// No leftovers of interrupted blob writes.
	if tmps, _ := filepath.Glob(filepath.Join(dir, "blobs", "*", ".tmp-*")); len(tmps) > 0 {
		t.Fatalf("temporary blob files left: %v", tmps)
	}
}

// TestNodeID: `aios node id` creates the key once and prints the same id
// that `aios serve` reports in /v1/health.
func TestNodeID(t *testing.T) {
	dir := t.TempDir()
	id := strings.TrimSpace(mustRun(t, "node", "id", "--data-dir", dir))
	if again := strings.TrimSpace(mustRun(t, "node", "id", "--data-dir", dir)); again != id || len(id) != 64 {
		t.Fatalf("node id %q then %q", id, again)
	}
	keyFile := filepath.Join(t.TempDir(), "keys", "other.key")
	other := strings.TrimSpace(mustRun(t, "node", "id", "--node-key", keyFile))
	if other == id || len(other) != 64 {
		t.Fatalf("a separate key file gave %q", other)
	}
	if testing.Short() {
		return
	}
	_, url := startNode(t, dir)
	c, _ := client.New(url, "", client.Options{})
	h, err := c.Health(context.Background())
	if err != nil || h["node_id"] != id {
		t.Fatalf("health node_id %v, want %s (%v)", h["node_id"], id, err)
	}
}

// TestServeLocksDataDir: a second `aios serve` on the data directory of a
// running one fails, naming the first one's pid, while the commands that
// open the directory beside a node (token create) still work; once the
// first has exited the directory can be served again.
func TestServeLocksDataDir(t *testing.T) {
	dir := t.TempDir()
	first, _ := startNode(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a second node that runs is killed
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "AIOS_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	want := fmt.Sprintf("is locked by another process (pid %d): stop that aios serve first", first.PID())
	if ctx.Err() != nil || err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("second serve: %v (%v)\n%s\nwant %q", err, ctx.Err(), out, want)
	}
	createToken(t, dir, "client")
	first.Kill()
	startNode(t, dir)
}

// TestServeRefusesPlaintextOffLoopback: plain HTTP on an address other
// machines can reach needs --insecure, and then comes with a warning;
// loopback needs nothing. 192.0.2.1 (TEST-NET-1) is on no interface, so
// the one serve that gets past the check fails to listen instead of
// serving.
func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "[::1]:0": true, "localhost:0": true,
		":8080": false, "0.0.0.0:0": false, "[::]:0": false, "192.0.2.1:0": false, "node.example:0": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
	dir := filepath.Join(t.TempDir(), "node")
	for _, addr := range []string{"192.0.2.1:0", ":0"} {
		code, _, stderr := runAios(t, "serve", "--data-dir", dir, "--addr", addr)
		if code != exitUsage || !strings.Contains(stderr, "is not a loopback address and no --tls-cert is given") {
			t.Errorf("serve --addr %s: exit %d, %s", addr, code, stderr)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused serve created its data directory")
	}
	code, _, stderr := runAios(t, "serve", "--data-dir", dir, "--addr", "192.0.2.1:0", "--insecure")
	if code != exitFailure || !strings.Contains(stderr, "WARNING: serving plain HTTP on 192.0.2.1:0") || !strings.Contains(stderr, "assign requested address") {
		t.Errorf("serve --insecure: exit %d, %s", code, stderr)
	}
}
