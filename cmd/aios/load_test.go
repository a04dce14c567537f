package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/internal/cluster"
	"github.com/aios-edge/aios/mpc"
)

// loadPlan sizes TestLoadAgainstNode.
type loadPlan struct {
	maxMemory, keyCache int64
	duration            time.Duration
	bodyGrace           time.Duration
	trickle             time.Duration // a slow sender's byte interval
	jobUploads          int           // concurrent uploads near the job limit
	jobBytes            int64         // their size; 0: the node's limit less a batch
	inferClients        int           // concurrent /infer clients of inferBatches full batches each
	inferBatches        int
	slowConns           int // slow bodies, half to /v1/mpc/messages, half to /v1/jobs
	earlyTokens         int // tokens posting early inputs of 2^20 values
	earlyPerToken       int
	peerMessages        int // 68 MB peer messages for unknown sessions
}

// loadOverhead is what the node holds beyond --max-memory and
// --key-cache-bytes: the Go runtime, the digits model and the lattigo
// tables of its preset, its evaluators, the early MPC inputs (at most
// 256 MiB, outside the budget), the buffers of its open connections and
// the garbage the collector has not yet returned. `aios serve` sets the
// runtime's soft memory limit (GOMEMLIMIT) to --max-memory +
// --key-cache-bytes + 512 MiB, and under a working set near the budget the
// heap does grow to that limit before the collector returns garbage
// (measured: 1604 MiB of RSS under a 1600 MiB limit); the soft limit does
// not cover all of the process's memory (stacks, fragmentation), hence
// 64 MiB more. An idle node after one inference and one MPC session takes
// about 95 MiB (the test logs it).
const loadOverhead = 512<<20 + 64<<20

func loadPlanFor(short bool) loadPlan {
	if short {
		return loadPlan{maxMemory: 256 << 20, keyCache: 64 << 20, duration: 3 * time.Second, bodyGrace: time.Second,
			trickle: 300 * time.Millisecond, jobUploads: 1, jobBytes: 32 << 20, inferClients: 6, inferBatches: 1,
			slowConns: 4, earlyTokens: 2, earlyPerToken: 5, peerMessages: 4}
	}
	return loadPlan{maxMemory: 1 << 30, keyCache: 64 << 20, duration: 30 * time.Second, bodyGrace: 2 * time.Second,
		trickle: 2 * time.Second, jobUploads: 3, inferClients: 32, inferBatches: 1,
		slowConns: 16, earlyTokens: 10, earlyPerToken: 6, peerMessages: 16}
}

// TestLoadAgainstNode (issue 12, items 1–4) throws a mix of allowed but
// costly requests at a real `aios serve` with --max-memory, concurrently
// and for a bounded time: uploads of jobs near the job limit, concurrent
// /infer calls of full batches, slow bodies on several connections, MPC
// inputs of 2^20 values for sessions that do not exist from several
// tokens, and 68 MB peer messages for unknown sessions. Meanwhile honest
// requests keep succeeding: health checks, a small inference (which may
// wait out a 503's Retry-After), and an MPC session between two nodes.
// Every refusal is one its class may get (429 and 503 with Retry-After,
// 400, 404, 408, 413), the node never answers another 5xx and stays up,
// and its peak RSS (VmHWM) stays under --max-memory + --key-cache-bytes +
// loadOverhead. Figures are logged.
func TestLoadAgainstNode(t *testing.T) {
	plan := loadPlanFor(testing.Short())
	l := startLoad(t, plan)
	node := l.node
	startRSS := l.rss("VmRSS")

	// Warm up: one honest inference and one MPC session, then the idle
	// node's RSS.
	l.honestInfer(context.Background())
	l.honestSession(context.Background())
	idleRSS := l.rss("VmRSS")
	t.Logf("node RSS: %d MiB after start, %d MiB idle after one inference and one MPC session (fixed overhead allowed: %d MiB)",
		startRSS>>20, idleRSS>>20, loadOverhead>>20)
	if idleRSS > loadOverhead {
		t.Fatalf("an idle node takes %d MiB, more than the %d MiB overhead allowed", idleRSS>>20, loadOverhead>>20)
	}

	ctx, cancel := context.WithTimeout(context.Background(), plan.duration)
	defer cancel()
	stopSampling := l.sampleRSS()
	var wg sync.WaitGroup
	spawn := func(n int, f func(ctx context.Context, i int)) {
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(ctx, i) }()
		}
	}
	spawn(plan.jobUploads, l.uploadJobs)
	spawn(plan.inferClients, l.inferFull)
	spawn(plan.slowConns, l.slowBody)
	spawn(plan.earlyTokens, l.earlyInputs)
	spawn(plan.peerMessages, l.peerMessage)
	spawn(1, l.healthChecks)
	spawn(1, func(ctx context.Context, _ int) {
		for ctx.Err() == nil {
			l.honestInfer(ctx)
		}
	})
	spawn(1, func(ctx context.Context, _ int) {
		for ctx.Err() == nil {
			l.honestSession(ctx)
		}
	})
	wg.Wait()
	peakSampled := stopSampling()
	hwm := l.rss("VmHWM")
	after := l.rss("VmRSS")

	if h, err := node.Client.Health(context.Background()); err != nil || h["status"] != "ok" {
		t.Errorf("the node after the load: %v %v", h, err)
	}
	if resp, b, err := l.get(context.Background(), "/metrics"); err == nil && resp.StatusCode == 200 {
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, "aios_connections") {
				t.Logf("node metrics: %s", line)
			}
		}
	}
	bound := plan.maxMemory + plan.keyCache + loadOverhead
	l.report()
	t.Logf("node RSS: peak %d MiB (VmHWM; sampled peak %d MiB), %d MiB after; bound %d MiB = --max-memory %d + --key-cache-bytes %d + overhead %d",
		hwm>>20, peakSampled>>20, after>>20, bound>>20, plan.maxMemory>>20, plan.keyCache>>20, loadOverhead>>20)
	if hwm > bound {
		t.Errorf("peak RSS %d MiB exceeds the bound %d MiB", hwm>>20, bound>>20)
	}
}

// startLoad starts two nodes serving the digits model with plan's
// limits, and the load's fixtures on the first.
func startLoad(t *testing.T, plan loadPlan) *load {
	t.Setenv("AIOS_TEST_MAIN", "1")
	model := "../../testvectors/models/digits.aios"
	cl, err := cluster.Start(context.Background(), cluster.Options{Exe: os.Args[0], Nodes: 2, Dir: t.TempDir(), TokenName: "load",
		Args: func(i int) []string {
			return []string{"--model", model, "--max-memory", strconv.FormatInt(plan.maxMemory, 10),
				"--key-cache-bytes", strconv.FormatInt(plan.keyCache, 10), "--body-grace", plan.bodyGrace.String()}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range cl.Nodes {
				if b, err := os.ReadFile(n.Dir + "/serve.log"); err == nil {
					t.Logf("node %d log:\n%s", n.Index, b[max(0, len(b)-4000):])
				}
			}
		}
		cl.Close()
	})
	return newLoad(t, cl, plan)
}

// TestLoadJobUploads (issue 12, item 3): on a real node with the full
// plan's --max-memory, a job at the job limit, whose decoded working set
// exceeds the budget, is refused with 413; three jobs that fit, uploaded
// at once, are taken, and the node's peak RSS while they are stored and
// the first of them runs stays under the bound of TestLoadAgainstNode.
func TestLoadJobUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 3 GiB")
	}
	plan := loadPlanFor(false)
	l := startLoad(t, plan)
	ctx := context.Background()
	stop := l.sampleRSS()
	resp, b, err := l.uploadJob(ctx, 0)
	if err != nil || resp.StatusCode != 413 {
		t.Fatalf("a job at the limit under a 1 GiB budget: %v %v %s", err, resp, b)
	}
	t.Logf("a job at the job limit: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	// 720 MiB of input decodes to a working set of about 1.31 times
	// that (64 input and 2×10 output ciphertexts per batch): under 1 GiB.
	const fits = 720 << 20
	start := time.Now()
	ids := make([]string, 3)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b, err := l.uploadJob(ctx, fits)
			var job struct{ ID string }
			if err != nil || resp.StatusCode != 202 || json.Unmarshal(b, &job) != nil {
				t.Errorf("job upload: %v %v %s", err, resp, b)
				return
			}
			ids[i] = job.ID
		}()
	}
	wg.Wait()
	uploaded := time.Since(start)
	// Until the first job has run for 20 s (its input decoded, evaluating).
	var running time.Time
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && !t.Failed(); time.Sleep(200 * time.Millisecond) {
		j, err := l.jobs.Job(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == schema.JobFailed {
			t.Fatalf("job: %+v", j)
		}
		if running.IsZero() && j.Status != schema.JobQueued {
			running = time.Now()
		}
		if !running.IsZero() && (time.Since(running) > 20*time.Second || j.Status == schema.JobDone) {
			break
		}
	}
	peak, hwm := stop(), l.rss("VmHWM")
	bound := plan.maxMemory + plan.keyCache + loadOverhead
	t.Logf("3 jobs of %d MiB uploaded in %v; peak RSS %d MiB (VmHWM; sampled %d MiB) while stored and the first ran; bound %d MiB",
		fits>>20, uploaded.Round(time.Millisecond), hwm>>20, peak>>20, bound>>20)
	if running.IsZero() {
		t.Errorf("the first job never started")
	}
	if hwm > bound {
		t.Errorf("peak RSS %d MiB exceeds the bound %d MiB", hwm>>20, bound>>20)
	}
}

// load is the state of one TestLoadAgainstNode run.
type load struct {
	t      *testing.T
	plan   loadPlan
	cl     *cluster.Cluster
	node   *cluster.Node
	url    string
	info   schema.ModelInfo
	client string // a client token with the digits model's key set
	keyID  string
	// honestToken is the honest client's, with a key set of its own
	// (honestKey); honestHTTP its connections.
	honestToken, honestKey string
	honestHTTP             *http.Client
	jobs                   *client.Client
	small                  []byte // one batch of 40 samples
	full                   []byte // inferBatches full batches
	batch                  []he.EncryptedVector
	p                      he.Parameters
	header                 []byte // a peer message header announcing a 68 MB deal for an unknown session
	budget                 string

	mu      sync.Mutex
	codes   map[string]map[int]int
	honest  map[string][]time.Duration
	retries int
}

func newLoad(t *testing.T, cl *cluster.Cluster, plan loadPlan) *load {
	ctx := context.Background()
	node := cl.Nodes[0]
	models, err := node.Client.Models(ctx)
	if err != nil || len(models) != 1 {
		t.Fatalf("models: %v %v", models, err)
	}
	l := &load{t: t, plan: plan, cl: cl, node: node, url: node.URL, info: models[0], codes: map[string]map[int]int{}, honest: map[string][]time.Duration{}}
	l.client = createToken(t, node.Dir, "client")
	dj := newDigitsJob(t, l.info)
	l.p = dj.p
	c, _ := client.New(l.url, l.client, client.Options{})
	l.jobs = c
	key, err := c.UploadKeys(ctx, l.info.Preset, dj.evk)
	if err != nil {
		t.Fatal(err)
	}
	l.keyID = key.ID
	l.honestToken, l.honestHTTP = createToken(t, node.Dir, "client"), &http.Client{Transport: &http.Transport{}}
	hc, _ := client.New(l.url, l.honestToken, client.Options{})
	hkey, err := hc.UploadKeys(ctx, l.info.Preset, dj.evk)
	if err != nil {
		t.Fatal(err)
	}
	l.honestKey = hkey.ID
	// dj.batch is three batches of 40 samples: the small inference is one.
	vecs, err := he.ReadCiphertextFile(bytes.NewReader(dj.batch), l.p, he.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	l.small = l.encode(vecs[:l.info.Features])
	_, _, test := apitest.Digits(t)
	samples := test.X[:min(len(test.X), l.p.MaxSlots())]
	cts, err := dj.ic.EncryptBatch(samples)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cts {
		l.batch = append(l.batch, he.EncryptedVector{Values: len(samples), Ciphertext: ct})
	}
	l.full = l.encode(l.repeat(plan.inferBatches))
	e := &mpc.Envelope{Kind: mpc.KindDeal, Phase: 1, From: 1, To: 0, Body: make([]byte, mpc.MaxMessageSize-mpc.HeaderSize-mpc.SignatureSize)}
	rand.Read(e.Session[:])
	l.header = e.Marshal()[:mpc.HeaderSize]
	l.budget = "load"
	if err := node.Client.CreateBudget(ctx, l.budget, "1000", ""); err != nil {
		t.Fatal(err)
	}
	t.Logf("small inference %d bytes, full /infer %d bytes (%d batches of %d samples), peer message %d bytes",
		len(l.small), len(l.full), plan.inferBatches, len(samples), mpc.MaxMessageSize)
	return l
}

// repeat is n copies of the full batch.
func (l *load) repeat(n int) []he.EncryptedVector {
	var out []he.EncryptedVector
	for range n {
		out = append(out, l.batch...)
	}
	return out
}

func (l *load) encode(vecs []he.EncryptedVector) []byte {
	var b bytes.Buffer
	if err := he.WriteCiphertextFile(&b, l.p, vecs); err != nil {
		l.t.Fatal(err)
	}
	return b.Bytes()
}

// rss reads a field of the node's /proc status, in bytes.
func (l *load) rss(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.node.PID()))
	if err != nil {
		l.t.Errorf("node status: %v", err)
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	l.t.Errorf("no %s in the node's status", field)
	return 0
}

// sampleRSS samples the node's RSS every 100 ms until the returned
// function is called, which returns the largest sample.
func (l *load) sampleRSS() func() int64 {
	done, peak := make(chan struct{}), make(chan int64)
	go func() {
		var most int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
				most = max(most, l.rss("VmRSS"))
			}
		}
	}()
	return func() int64 { close(done); return <-peak }
}

// count records one answer of a class; a 429 or 503 must say when to
// retry, and a class may get only the statuses it lists.
func (l *load) count(class string, resp *http.Response, allowed ...int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.codes[class] == nil {
		l.codes[class] = map[int]int{}
	}
	l.codes[class][resp.StatusCode]++
	if (resp.StatusCode == 429 || resp.StatusCode == 503) && resp.Header.Get("Retry-After") == "" {
		l.t.Errorf("%s: %d without Retry-After", class, resp.StatusCode)
	}
	if !slices.Contains(allowed, resp.StatusCode) {
		l.t.Errorf("%s: status %d", class, resp.StatusCode)
	}
}

func (l *load) took(class string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.honest[class] = append(l.honest[class], d)
}

func (l *load) report() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, class := range slices.Sorted(func(yield func(string) bool) {
		for k := range l.codes {
			if !yield(k) {
				return
			}
		}
	}) {
		l.t.Logf("%-8s statuses %v", class, l.codes[class])
	}
	for class, ds := range l.honest {
		slices.Sort(ds)
		l.t.Logf("honest %-7s %d done, median %v, slowest %v", class, len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	l.t.Logf("honest inferences waited out %d refusals", l.retries)
}

// post sends body (of length n) to path with token and returns the
// answer with its body read.
func (l *load) post(ctx context.Context, path, token string, body io.Reader, n int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", l.url+path, body)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = n
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := l.http(token).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// http is the HTTP client of token's requests: the honest client's has
// connections of its own, as another process would.
func (l *load) http(token string) *http.Client {
	if token == l.honestToken {
		return l.honestHTTP
	}
	return attackHTTP
}

// attacker dials from 127.0.0.2, another address than the honest
// clients' 127.0.0.1, as an attacker elsewhere would: the node's limit
// of connections per address (--max-conns-per-addr) is then the
// attacker's alone.
var (
	attacker   = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	attackHTTP = &http.Client{Transport: &http.Transport{DialContext: attacker.DialContext}}
)

// attacked counts an attacker's transport error, as status 0: a node
// that refuses a request before reading its body (413, 404 on a peer
// message's header) closes the connection, and a client still sending
// may see that before the answer. It reports whether err is one, so
// that the attacker tries again. Honest requests may not fail so.
func (l *load) attacked(ctx context.Context, class string, err error) bool {
	if err == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.codes[class] == nil {
		l.codes[class] = map[int]int{}
	}
	l.codes[class][0]++ // the node closed the connection after refusing the request, before the client read the answer
	return true
}

// uploadJobs uploads two jobs near the job limit (refused with 413 when
// their working set exceeds the budget).
func (l *load) uploadJobs(ctx context.Context, _ int) {
	for k := 0; k < 2 && ctx.Err() == nil; k++ { // each job runs for minutes: two each
		resp, _, err := l.uploadJob(ctx, l.plan.jobBytes)
		if l.attacked(ctx, "job", err) {
			continue
		}
		l.count("job", resp, 202, 413, 429, 503)
		if resp.StatusCode != 202 {
			time.Sleep(time.Second)
		}
	}
}

// uploadJob uploads a job of at most size bytes (0: the node's job
// limit), streamed from one full batch repeated.
func (l *load) uploadJob(ctx context.Context, size int64) (*http.Response, []byte, error) {
	if size == 0 {
		resp, b, err := l.get(ctx, "/v1/params")
		if err != nil || resp.StatusCode != 200 {
			return nil, nil, fmt.Errorf("params: %v", err)
		}
		size = paramsJobBytes(l.t, b)
	}
	one := int64(len(l.encode(l.batch)))
	vecs := l.repeat(int(size / one))
	n := int64(countingWrite(l.t, l.p, vecs))
	path := fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", l.info.ID, l.keyID)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(he.WriteCiphertextFile(pw, l.p, vecs)) }()
	defer pr.Close()
	return l.post(ctx, path, l.client, pr, n)
}

func (l *load) get(ctx context.Context, path string) (*http.Response, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", l.url+path, nil)
	resp, err := l.honestHTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// inferFull posts full /infer requests in a loop.
func (l *load) inferFull(ctx context.Context, _ int) {
	path := fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", l.info.ID, l.keyID)
	for ctx.Err() == nil {
		resp, _, err := l.post(ctx, path, l.client, bytes.NewReader(l.full), int64(len(l.full)))
		if l.attacked(ctx, "infer", err) {
			continue
		}
		l.count("infer", resp, 200, 429, 503)
		if resp.StatusCode != 200 {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// slowBody announces a 60 MB body and sends a byte every trickle
// interval; the node must cut it off with 408.
func (l *load) slowBody(ctx context.Context, i int) {
	path, token := "/v1/mpc/messages", ""
	if i%2 == 1 {
		path, token = fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", l.info.ID, l.keyID), l.client
	}
	for ctx.Err() == nil {
		c, err := attacker.Dial("tcp", strings.TrimPrefix(l.url, "http://"))
		if l.attacked(ctx, "slow", err) {
			continue
		}
		start := time.Now()
		auth := ""
		if token != "" {
			auth = "Authorization: Bearer " + token + "\r\n"
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: aios\r\n%sContent-Length: 60000000\r\n\r\n", path, auth)
		stop := make(chan struct{})
		go func() {
			tick := time.NewTicker(l.plan.trickle)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte{0}); err != nil {
						return
					}
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(l.plan.bodyGrace + 10*time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		close(stop)
		c.Close()
		if l.attacked(ctx, "slow", err) {
			continue
		}
		resp.Body.Close()
		l.count("slow", resp, 408, 503)
		l.took("cutoff", time.Since(start))
	}
}

// earlyInputs posts inputs of 2^20 values to sessions that do not exist
// with a token of its own.
func (l *load) earlyInputs(ctx context.Context, _ int) {
	token := createToken(l.t, l.node.Dir, "client")
	var body bytes.Buffer
	body.WriteString(`{"values":[`)
	for i := range mpc.MaxDimension {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteByte('1')
	}
	body.WriteString(`]}`)
	for k := 0; k < l.plan.earlyPerToken && ctx.Err() == nil; k++ {
		var id [32]byte
		rand.Read(id[:])
		resp, b, err := l.post(ctx, "/v1/mpc/sessions/"+hex.EncodeToString(id[:])+"/input", token, bytes.NewReader(body.Bytes()), int64(body.Len()))
		if l.attacked(ctx, "early", err) {
			continue
		}
		l.count("early", resp, 202, 400, 503)
		if resp.StatusCode == 400 && !bytes.Contains(b, []byte("invalid_input")) {
			l.t.Errorf("early input: 400 %s", b)
		}
	}
}

// peerMessage sends 68 MB peer messages for an unknown session: the node
// must answer 404 on the header, before the body.
func (l *load) peerMessage(ctx context.Context, _ int) {
	rest := make([]byte, 1<<20)
	for ctx.Err() == nil {
		c, err := attacker.Dial("tcp", strings.TrimPrefix(l.url, "http://"))
		if l.attacked(ctx, "peer", err) {
			continue
		}
		start := time.Now()
		fmt.Fprintf(c, "POST /v1/mpc/messages HTTP/1.1\r\nHost: aios\r\nContent-Length: %d\r\n\r\n%s", mpc.MaxMessageSize, l.header)
		go func() { // the body, until the node closes the connection
			for sent := mpc.HeaderSize; sent < mpc.MaxMessageSize; sent += len(rest) {
				if _, err := c.Write(rest[:min(len(rest), mpc.MaxMessageSize-sent)]); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if l.attacked(ctx, "peer", err) {
			continue
		}
		resp.Body.Close()
		l.count("peer", resp, 404)
		l.took("refusal", time.Since(start))
	}
}

// healthChecks: GET /v1/health every 200 ms must answer 200.
func (l *load) healthChecks(ctx context.Context, _ int) {
	for ctx.Err() == nil {
		start := time.Now()
		resp, _, err := l.get(ctx, "/v1/health")
		if err != nil {
			if ctx.Err() == nil {
				l.t.Errorf("health: %v", err)
			}
			return
		}
		l.count("health", resp, 200)
		l.took("health", time.Since(start))
		time.Sleep(200 * time.Millisecond)
	}
}

// honestInfer runs the small inference, waiting out 429 and 503 as their
// Retry-After says, for at most a minute.
func (l *load) honestInfer(ctx context.Context) {
	path := fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", l.info.ID, l.honestKey)
	start := time.Now()
	for deadline := start.Add(time.Minute); time.Now().Before(deadline); {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		resp, b, err := l.post(rctx, path, l.honestToken, bytes.NewReader(l.small), int64(len(l.small)))
		cancel()
		if err != nil {
			l.t.Errorf("honest inference: %v", err)
			return
		}
		l.count("honest", resp, 200, 429, 503)
		if resp.StatusCode == 200 {
			if _, err := he.ReadCiphertextFile(bytes.NewReader(b), l.p, he.DefaultLimits); err != nil {
				l.t.Errorf("honest inference: %v", err)
			}
			l.took("infer", time.Since(start))
			return
		}
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		l.mu.Lock()
		l.retries++
		l.mu.Unlock()
		time.Sleep(time.Duration(max(secs, 1)) * time.Second)
	}
	if ctx.Err() == nil {
		l.t.Errorf("the honest inference got no answer within a minute")
	}
}

// honestSession runs a sum over both nodes, each giving its input.
func (l *load) honestSession(ctx context.Context) {
	start := time.Now()
	c0, c1 := l.cl.Nodes[0].Client, l.cl.Nodes[1].Client
	bg, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c0.CreateMPCSession(bg, schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 4, FracBits: 16,
		Lower: 0, Upper: 10, Budget: l.budget, Epsilon: "5", AcceptSeconds: 10, InputSeconds: 30, ReportSeconds: 15, OutputSeconds: 15})
	if err != nil {
		l.t.Errorf("honest session: create: %v", err)
		return
	}
	for _, c := range []*client.Client{c0, c1} {
		if err := c.MPCInput(bg, st.ID, schema.MPCInputRequest{Values: []float64{1, 2, 3, 4}}); err != nil {
			l.t.Errorf("honest session: input: %v", err)
			return
		}
	}
	done, err := c0.WaitMPCSession(bg, st.ID, 100*time.Millisecond, nil)
	if err != nil || done.State != "done" {
		l.t.Errorf("honest session: %v %+v", err, done)
		return
	}
	l.took("session", time.Since(start))
}

// paramsJobBytes is limits.job_bytes of a GET /v1/params answer.
func paramsJobBytes(t *testing.T, b []byte) int64 {
	var p struct {
		Limits schema.Limits `json:"limits"`
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Limits.JobBytes == 0 {
		t.Errorf("params: %v %s", err, b[:min(len(b), 200)])
	}
	return p.Limits.JobBytes
}

// countingWrite is the length of vecs' ciphertext file.
func countingWrite(t *testing.T, p he.Parameters, vecs []he.EncryptedVector) int {
	var w byteCounter
	if err := he.WriteCiphertextFile(&w, p, vecs); err != nil {
		t.Fatal(err)
	}
	return int(w)
}

type byteCounter int

func (c *byteCounter) Write(b []byte) (int, error) { *c += byteCounter(len(b)); return len(b), nil }
