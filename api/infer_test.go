package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

func init() {
	extraRoleRoutes = append(extraRoleRoutes,
		route{"GET", "/v1/models", []Role{RoleClient, RoleAdmin}},
		route{"GET", "/v1/models/x", []Role{RoleClient, RoleAdmin}},
		route{"POST", "/v1/models", []Role{RoleAdmin}},
		route{"POST", "/v1/models/x/infer", []Role{RoleClient}},
		route{"POST", "/v1/jobs", []Role{RoleClient}},
		route{"GET", "/v1/jobs/x", []Role{RoleClient, RoleAdmin}},
		route{"GET", "/v1/jobs/x/result", []Role{RoleClient, RoleAdmin}},
	)
}

// digitsFixture is the bundled digits model (preset n13), client keys for
// both packings, and a few test samples, made once for the package's tests.
type digitsFixture struct {
	file    []byte
	model   *inference.Model
	keys    *he.KeyMaterial
	samples [][]float64
	ref     []int // the plaintext quantized model's predictions
}

var (
	digitsOnce sync.Once
	digits     digitsFixture
	digitsErr  error
)

func loadDigits(t testing.TB) *digitsFixture {
	t.Helper()
	digitsOnce.Do(func() {
		root := filepath.Join("..", "testvectors")
		if digits.file, digitsErr = os.ReadFile(filepath.Join(root, "models", "digits.aios")); digitsErr != nil {
			return
		}
		if digits.model, digitsErr = inference.Decode(digits.file); digitsErr != nil {
			return
		}
		d, err := dataset.LoadCSVFile(filepath.Join(root, "datasets", "digits.csv.gz"), dataset.CSVOptions{})
		if err != nil {
			digitsErr = err
			return
		}
		_, test, err := dataset.Split(d, 0.2, digits.model.Meta.Seed)
		if err != nil {
			digitsErr = err
			return
		}
		digits.samples = test.X[:24]
		ref, err := inference.NewEvaluator(digits.model)
		if err != nil {
			digitsErr = err
			return
		}
		logits, err := ref.Predict(digits.samples)
		if err != nil {
			digitsErr = err
			return
		}
		digits.ref = inference.Argmax(logits)
		p, err := he.PresetByName(digits.model.Meta.Preset)
		if err != nil {
			digitsErr = err
			return
		}
		single, err := digits.model.KeySpec(inference.Single)
		if err != nil {
			digitsErr = err
			return
		}
		digits.keys, digitsErr = he.GenerateKeys(p, single) // covers batch too
	})
	if digitsErr != nil {
		t.Fatal(digitsErr)
	}
	return &digits
}

// inferNode is a node with the digits model and the client's keys uploaded.
func inferNode(t testing.TB, cfg Config) (*testNode, *digitsFixture, schema.ModelInfo, string) {
	f := loadDigits(t)
	n := newTestNode(t, cfg)
	resp, b := n.do("POST", "/v1/models", n.tokens[RoleAdmin], f.file)
	var info schema.ModelInfo
	if resp.StatusCode != 201 || json.Unmarshal(b, &info) != nil {
		t.Fatalf("add model: %d %s", resp.StatusCode, b)
	}
	evk, _ := f.keys.Evaluation.MarshalBinary()
	resp, b = n.do("POST", "/v1/keys?preset="+info.Preset, n.tokens[RoleClient], evk)
	if resp.StatusCode != 201 {
		t.Fatalf("upload keys: %d %s", resp.StatusCode, b)
	}
	return n, f, info, f.keys.Evaluation.ID()
}

func encryptFor(t testing.TB, f *digitsFixture, packing inference.Packing, samples [][]float64) (*inference.Client, []byte) {
	t.Helper()
	c, err := inference.NewClient(f.model, packing, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	var cts []*rlwe.Ciphertext
	values := len(samples)
	if packing == inference.Batch {
		if cts, err = c.EncryptBatch(samples); err != nil {
			t.Fatal(err)
		}
	} else {
		values = f.model.Features()
		for _, x := range samples {
			ct, err := c.EncryptSingle(x)
			if err != nil {
				t.Fatal(err)
			}
			cts = append(cts, ct)
		}
	}
	var buf bytes.Buffer
	vecs := make([]he.EncryptedVector, len(cts))
	for i, ct := range cts {
		vecs[i] = he.EncryptedVector{Values: values, Ciphertext: ct}
	}
	if err := he.WriteCiphertextFile(&buf, f.keys.Params, vecs); err != nil {
		t.Fatal(err)
	}
	return c, buf.Bytes()
}

func decryptPredictions(t *testing.T, f *digitsFixture, c *inference.Client, packing inference.Packing, body []byte, samples int) []int {
	t.Helper()
	out, err := he.ReadCiphertextFile(bytes.NewReader(body), f.keys.Params, he.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	cts := make([]*rlwe.Ciphertext, len(out))
	for i, o := range out {
		cts[i] = o.Ciphertext
	}
	var logits [][]float64
	if packing == inference.Batch {
		if logits, err = c.DecryptBatch(cts, samples); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, ct := range cts {
			l, err := c.DecryptSingle(ct)
			if err != nil {
				t.Fatal(err)
			}
			logits = append(logits, l)
		}
	}
	return inference.Argmax(logits)
}

func TestInferOverHTTP(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{})
	if info.Features != 64 || len(info.Classes) != 10 || info.Packings["batch"].Relinearization != (f.model.Depth() > 0) {
		t.Fatalf("model info: %+v", info)
	}
	// The single packing's input: the 64 features in every block of
	// period[0] slots, N/2 / period[0] blocks.
	single := info.Packings["single"]
	if len(single.Period) == 0 || single.Period[0] != 64 || single.Replicas != f.keys.Params.MaxSlots()/64 {
		t.Fatalf("single packing: period %v, replicas %d, want 64 and %d", single.Period, single.Replicas, f.keys.Params.MaxSlots()/64)
	}
	for _, packing := range []inference.Packing{inference.Batch, inference.Single} {
		samples := f.samples
		if packing == inference.Single {
			samples = samples[:2]
		}
		c, body := encryptFor(t, f, packing, samples)
		resp, out := n.do("POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=%s", info.ID, keyID, packing), n.tokens[RoleClient], body)
		if resp.StatusCode != 200 {
			t.Fatalf("%v infer: %d %s", packing, resp.StatusCode, out)
		}
		pred := decryptPredictions(t, f, c, packing, out, len(samples))
		for i := range pred {
			if pred[i] != f.ref[i] {
				t.Errorf("%v: sample %d: encrypted prediction %d, plaintext %d", packing, i, pred[i], f.ref[i])
			}
		}
	}
}

func TestJobsOverHTTP(t *testing.T) { eachBackend(t, testJobsOverHTTP) }

func testJobsOverHTTP(t *testing.T, cfg Config) {
	n, f, info, keyID := inferNode(t, cfg)
	c, body := encryptFor(t, f, inference.Batch, f.samples)
	two := append(bytes.Clone(body[:0]), body...) // one batch
	resp, b := n.do("POST", fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", info.ID, keyID), n.tokens[RoleClient], two)
	var job schema.JobInfo
	if resp.StatusCode != 202 || json.Unmarshal(b, &job) != nil || job.Status != schema.JobQueued && job.Status != schema.JobRunning {
		t.Fatalf("submit: %d %s", resp.StatusCode, b)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/jobs/"+job.ID {
		t.Errorf("202 Location %q, want /v1/jobs/%s", loc, job.ID)
	}
	if resp, _ := n.do("GET", "/v1/jobs/"+job.ID, n.token(RoleClient), nil); resp.StatusCode != 404 {
		t.Fatalf("another client sees the job: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for job.Status != schema.JobDone {
		if time.Now().After(deadline) || job.Status == schema.JobFailed {
			t.Fatalf("job: %+v", job)
		}
		time.Sleep(50 * time.Millisecond)
		_, b := n.do("GET", "/v1/jobs/"+job.ID, n.tokens[RoleClient], nil)
		json.Unmarshal(b, &job)
	}
	// done and total count batches: the input is one batch of F ciphertexts.
	if job.Done != 1 || job.Total != 1 || job.Samples != len(f.samples) || job.FinishedAt == nil {
		t.Fatalf("finished job: %+v", job)
	}
	resp, out := n.do("GET", "/v1/jobs/"+job.ID+"/result", n.tokens[RoleClient], nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Aios-Samples") != fmt.Sprint(len(f.samples)) {
		t.Fatalf("result: %d, X-Aios-Samples %q: %s", resp.StatusCode, resp.Header.Get("X-Aios-Samples"), out)
	}
	pred := decryptPredictions(t, f, c, inference.Batch, out, len(f.samples))
	for i := range pred {
		if pred[i] != f.ref[i] {
			t.Errorf("sample %d: %d, want %d", i, pred[i], f.ref[i])
		}
	}
	// The input is gone once the job finished; the result stays until the
	// retention expires, then the job and its result are forgotten.
	var input, result string
	if err := n.srv.db.SQL().QueryRow(`SELECT input_blob, result_blob FROM jobs WHERE id = ?`, job.ID).Scan(&input, &result); err != nil || input != "" || result == "" {
		t.Fatalf("finished job keeps input %q, result %q (%v)", input, result, err)
	}
	n.srv.jobs.Expire(time.Now())
	if resp, _ := n.do("GET", "/v1/jobs/"+job.ID, n.tokens[RoleClient], nil); resp.StatusCode != 200 {
		t.Fatalf("job expired early: %d", resp.StatusCode)
	}
	n.srv.jobs.Expire(time.Now().Add(n.srv.cfg.JobRetention + time.Minute))
	if resp, _ := n.do("GET", "/v1/jobs/"+job.ID, n.tokens[RoleClient], nil); resp.StatusCode != 404 {
		t.Fatalf("expired job still served: %d", resp.StatusCode)
	}
	if _, err := n.srv.blobs.Get(result, 1<<30); err == nil {
		t.Fatal("expired job's result blob kept")
	}
}

func TestInferBadInput(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{MaxInferBytes: 256 << 20})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:2])
	client := n.tokens[RoleClient]
	path := func(model, key, packing string) string {
		return fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=%s", model, key, packing)
	}
	// Ciphertexts at the wrong level: fresh encryptions at the top level.
	top := he.NewClient(f.keys)
	var wrong []he.EncryptedVector
	for range info.Features {
		ct, err := top.Encrypt([]float64{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		wrong = append(wrong, he.EncryptedVector{Values: 2, Ciphertext: ct})
	}
	var wrongBuf bytes.Buffer
	he.WriteCiphertextFile(&wrongBuf, f.keys.Params, wrong)
	// Keys of another preset: a ciphertext file made under n12.
	n12, _ := he.PresetByName("n12")
	var otherBuf bytes.Buffer
	he.WriteCiphertextFile(&otherBuf, n12, nil)
	// A key set without the relinearization key.
	p, _ := he.PresetByName(info.Preset)
	bare, err := he.GenerateKeys(p, he.KeySpec{})
	if err != nil {
		t.Fatal(err)
	}
	bareBytes, _ := bare.Evaluation.MarshalBinary()
	if resp, b := n.do("POST", "/v1/keys?preset="+info.Preset, client, bareBytes); resp.StatusCode != 201 {
		t.Fatalf("bare keys: %d %s", resp.StatusCode, b)
	}
	otherClient := n.token(RoleClient)
	cases := []struct {
		name, path, token string
		body              []byte
		status            int
		code              string
	}{
		{"unknown model", path("nope", keyID, "batch"), client, body, 404, "not_found"},
		{"unknown key", path(info.ID, strings.Repeat("ab", 32), "batch"), client, body, 404, "not_found"},
		{"another client's key", path(info.ID, keyID, "batch"), otherClient, body, 404, "not_found"},
		{"bad packing", path(info.ID, keyID, "diagonal"), client, body, 400, "bad_request"},
		{"truncated", path(info.ID, keyID, "batch"), client, body[:len(body)-3], 400, "malformed"},
		{"garbage", path(info.ID, keyID, "batch"), client, []byte("AIOSCTXT nonsense"), 400, "malformed"},
		{"wrong feature count", path(info.ID, keyID, "batch"), client, wrongBuf.Bytes()[:0], 400, "malformed"},
		{"wrong level", path(info.ID, keyID, "batch"), client, wrongBuf.Bytes(), 422, "bad_ciphertext"},
		{"other parameters", path(info.ID, keyID, "batch"), client, otherBuf.Bytes(), 422, "params_mismatch"},
		{"missing relinearization key", path(info.ID, bare.Evaluation.ID(), "batch"), client, body, 422, "missing_keys"},
		{"missing Galois keys", path(info.ID, bare.Evaluation.ID(), "single"), client, body, 422, "missing_keys"},
	}
	for _, c := range cases {
		resp, b := n.do("POST", c.path, c.token, c.body)
		if resp.StatusCode != c.status || errorCode(b) != c.code {
			t.Errorf("%s: %d %s; want %d %s", c.name, resp.StatusCode, b, c.status, c.code)
		}
	}
}

// TestQueueFull: with a queue of one and slow jobs, extra submissions get
// 429 with Retry-After; nothing else fails.
func TestQueueFull(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{QueueSize: 1, RatePerSecond: -1})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:4])
	var wg sync.WaitGroup
	codes := make(chan int, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := n.do("POST", fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", info.ID, keyID), n.tokens[RoleClient], body)
			codes <- resp.StatusCode
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}()
	}
	wg.Wait()
	close(codes)
	seen := map[int]int{}
	for c := range codes {
		seen[c]++
	}
	if seen[202] < 1 || seen[429] < 1 || seen[202]+seen[429] != 6 {
		t.Fatalf("status counts %v", seen)
	}
	n.srv.Shutdown(context.Background())
}

// TestInferBodyLimit: /infer decodes its body as it arrives, and still
// refuses a body over MaxInferBytes with 413, whether its length is
// announced or not (a Content-Length is a claim).
func TestInferBodyLimit(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{MaxInferBytes: 64 << 10})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:2])
	url := fmt.Sprintf("%s/v1/models/%s/infer?key=%s&packing=batch", n.ts.URL, info.ID, keyID)
	post := func(r io.Reader, length int64) (int, string) {
		req, _ := http.NewRequest("POST", url, r)
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+n.tokens[RoleClient])
		resp, err := n.ts.Client().Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, errorCode(b)
	}
	if status, code := post(bytes.NewReader(body), int64(len(body))); status != 413 || code != "too_large" {
		t.Errorf("announced: %d %s", status, code)
	}
	// Unannounced (chunked): the limit stops the decoder mid-body.
	if status, code := post(io.MultiReader(bytes.NewReader(body)), -1); status != 413 || code != "too_large" {
		t.Errorf("unannounced: %d %s", status, code)
	}
}

// TestConcurrentInferencesKeepTheirInputs: clients whose requests overlap
// (one decoding while another's job evaluates, with two job workers) each
// get the predictions of their own samples, round after round. A request's
// decoded ciphertexts are reused by later reads once its answer is
// written; one reused too early would change another request's input.
func TestConcurrentInferencesKeepTheirInputs(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{JobWorkers: 2, RatePerSecond: -1})
	const clients, per = 3, 6
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	type client struct {
		c       *inference.Client
		body    []byte
		answers [][]byte
	}
	cs := make([]*client, clients)
	for i := range cs {
		c, body := encryptFor(t, f, inference.Batch, f.samples[i*per:(i+1)*per])
		cs[i] = &client{c: c, body: body}
	}
	url := fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, keyID)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				resp, b := n.do("POST", url, n.tokens[RoleClient], c.body)
				if resp.StatusCode != 200 {
					t.Errorf("infer: %d %s", resp.StatusCode, b)
					return
				}
				c.answers = append(c.answers, b)
			}
		}()
	}
	wg.Wait()
	for i, c := range cs {
		want := f.ref[i*per : (i+1)*per]
		for r, b := range c.answers {
			if got := decryptPredictions(t, f, c.c, inference.Batch, b, per); !slices.Equal(got, want) {
				t.Errorf("client %d, round %d: predictions %v, want %v", i, r, got, want)
			}
		}
	}
}
