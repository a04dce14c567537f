package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/mpc"
)

// rawRequest opens a connection to n and sends a POST's headers announcing
// length body bytes, then prefix; the rest of the body is the caller's.
func rawRequest(t *testing.T, n *testNode, path, token string, length int64, prefix []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", n.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: aios\r\n%sContent-Length: %d\r\n\r\n%s", path, auth, length, prefix); err != nil {
		t.Fatal(err)
	}
	return c
}

// readStatus reads the status line of the answer on c, waiting at most d;
// 0 means none came.
func readStatus(c net.Conn, d time.Duration) int {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// trickle writes one byte to c every interval until a write fails or stop
// is closed.
func trickle(c net.Conn, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}
}

// TestSlowSendersHoldNoSlot (issue 12, item 1): 20 connections, more than
// the node's 16 message slots, announce 60 MB peer messages and trickle a
// byte every 200 ms. An honest session with the node still runs at once,
// and every slow sender is cut off with 408 soon after the body grace.
func TestSlowSendersHoldNoSlot(t *testing.T) {
	const slow = 20
	grace := 500 * time.Millisecond
	nodes := newMPCClusterConfig(t, 2, nil, nil, Config{BodyReadGrace: grace})
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	conns := make([]net.Conn, slow)
	for i := range conns {
		conns[i] = rawRequest(t, nodes[1].testNode, "/v1/mpc/messages", "", 60_000_000, []byte("AMPC"))
		go trickle(conns[i], 200*time.Millisecond, stop)
	}
	time.Sleep(100 * time.Millisecond) // let them all reach the handler
	st := runHTTPSession(t, nodes, randVectors(2, 8, 3), 2)
	took := time.Since(start)
	t.Logf("session %s %v after the slow senders connected", st.State, took.Round(time.Millisecond))
	if st.State != "done" || took > 5*time.Second {
		t.Fatalf("honest session: %s (%s) after %v", st.State, st.Error, took)
	}
	var wg sync.WaitGroup
	codes := make([]int, slow)
	for i, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = readStatus(c, 5*time.Second) }()
	}
	wg.Wait()
	cut := time.Since(start)
	t.Logf("slow senders answered %v within %v", codes, cut.Round(time.Millisecond))
	for i, code := range codes {
		if code != http.StatusRequestTimeout {
			t.Errorf("slow sender %d: status %d, want 408", i, code)
		}
	}
}

// TestUnknownSessionRefusedOnHeader (issue 12, item 4): a message whose
// header announces a 60 MB body for a session the node does not know is
// refused with 404 after the header alone: the answer comes while the body
// is still unsent, and the node read no more than the header.
func TestUnknownSessionRefusedOnHeader(t *testing.T) {
	nodes := newMPCCluster(t, 2, nil, nil)
	n := nodes[1]
	const body = 60_000_000
	e := &mpc.Envelope{Kind: mpc.KindDeal, Phase: 1, From: 0, To: 1, Body: make([]byte, body)}
	e.Session[0] = 7
	header := e.Marshal()[:mpc.HeaderSize]
	before := n.srv.metrics.bytesIn.v.Load()
	start := time.Now()
	c := rawRequest(t, n.testNode, "/v1/mpc/messages", "", mpc.HeaderSize+body+mpc.SignatureSize, header)
	code := readStatus(c, 3*time.Second)
	took := time.Since(start)
	read := n.srv.metrics.bytesIn.v.Load() - before
	t.Logf("status %d after %v, %d body bytes read", code, took.Round(time.Microsecond), read)
	if code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", code)
	}
	if read > mpc.HeaderSize {
		t.Fatalf("read %d bytes, more than the %d-byte header", read, mpc.HeaderSize)
	}
}

// TestSlowBodyCutOff (issue 12, item 1): every route that reads a body
// cuts off a sender that falls below the minimum rate after the grace,
// with 408, and the deadline does not outlive the body.
func TestSlowBodyCutOff(t *testing.T) {
	n := newTestNode(t, Config{BodyReadGrace: 300 * time.Millisecond})
	stop := make(chan struct{})
	defer close(stop)
	for _, tc := range []struct{ path, token string }{
		{"/v1/keys?preset=n12", n.tokens[RoleClient]},
		{"/v1/budgets", n.tokens[RoleAdmin]},
		{"/v1/models", n.tokens[RoleAdmin]},
	} {
		start := time.Now()
		c := rawRequest(t, n, tc.path, tc.token, 1000, []byte("{"))
		go trickle(c, 100*time.Millisecond, stop)
		code := readStatus(c, 3*time.Second)
		t.Logf("%s: %d after %v", tc.path, code, time.Since(start).Round(time.Millisecond))
		if code != http.StatusRequestTimeout {
			t.Errorf("%s: status %d, want 408", tc.path, code)
		}
	}
	// A body that arrives in time is read as before, on a connection kept
	// alive past the grace.
	resp, b := n.do("POST", "/v1/budgets", n.tokens[RoleAdmin], []byte(`{"name":"b","epsilon":"1"}`))
	time.Sleep(400 * time.Millisecond)
	resp2, _ := n.do("GET", "/v1/budgets/b", n.tokens[RoleAdmin], nil)
	if resp.StatusCode != 201 || resp2.StatusCode != 200 {
		t.Fatalf("budget: %d %s, then %d", resp.StatusCode, b, resp2.StatusCode)
	}
}

// TestEarlyInputsPerToken (issue 12, item 2): a token that fills its quota
// of inputs for sessions that do not exist is refused; another token's
// early input is still taken; when all tokens' together are at the
// node's bound the answer is 503 with Retry-After.
func TestEarlyInputsPerToken(t *testing.T) {
	lim := mpc.EarlyInputLimits{PerOwner: 3 * (8*4 + 256), Total: 5 * (8*4 + 256)}
	n := newMPCClusterConfig(t, 2, nil, nil, Config{MPC: &MPCConfig{EarlyInputs: lim}})[0]
	input := []byte(`{"values":[1,2,3,4]}`)
	post := func(token string, i int) (int, string, string) {
		resp, b := n.do("POST", fmt.Sprintf("/v1/mpc/sessions/%064x/input", i+1), token, input)
		return resp.StatusCode, errorCode(b), resp.Header.Get("Retry-After")
	}
	garbage, other, third := n.tokens[RoleClient], n.token(RoleClient), n.token(RoleClient)
	for i := range 3 {
		if st, code, _ := post(garbage, i); st != 202 {
			t.Fatalf("input %d: %d %s", i, st, code)
		}
	}
	if st, code, _ := post(garbage, 3); st != 400 || code != "invalid_input" {
		t.Fatalf("over the token's quota: %d %s, want 400 invalid_input", st, code)
	}
	for i, tok := range []string{other, other} {
		if st, code, _ := post(tok, 10+i); st != 202 {
			t.Fatalf("another token's early input: %d %s", st, code)
		}
	}
	if st, code, ra := post(third, 20); st != 503 || code != "inputs_full" || ra == "" {
		t.Fatalf("over the node's bound: %d %s Retry-After %q, want 503 inputs_full with Retry-After", st, code, ra)
	}
}

// TestMemoryBudgetUnderLoad (issue 12, item 3): 20 concurrent /infer
// requests of 16.8 MB each against a memory budget that holds four: the
// others are answered 503 with Retry-After, nothing else fails, and the
// bytes reserved never exceed the budget. Heap figures are logged.
func TestMemoryBudgetUnderLoad(t *testing.T) {
	n, f, info, key := inferNode(t, Config{})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:2])
	budget := int64(4 * inferFactor * len(body))
	n.srv.mem = newMemBudget(budget) // the node's budget, set small after the fixture's uploads
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const clients = 20
	path := fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, key)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b := n.do("POST", path, n.tokens[RoleClient], body)
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == 503 && (errorCode(b) != "overloaded" || resp.Header.Get("Retry-After") == "") {
				t.Errorf("503 %s, Retry-After %q", b, resp.Header.Get("Retry-After"))
			}
		}()
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak := n.srv.mem.peakReserved()
	t.Logf("%d requests of %d bytes, budget %d: status counts %v; peak reserved %d; heap in use %d → %d MB, sys %d MB",
		clients, len(body), budget, codes, peak, before.HeapInuse>>20, after.HeapInuse>>20, after.Sys>>20)
	if codes[200] == 0 || codes[503] == 0 || codes[200]+codes[503] != clients {
		t.Fatalf("status counts %v: want some 200 and some 503, nothing else", codes)
	}
	if left := settledReserved(n); peak > budget || left != 0 {
		t.Fatalf("peak reserved %d of a budget of %d, %d still reserved", peak, budget, left)
	}
}

// TestMemoryBudgetRefusals: a body whose reservation could never fit is
// refused with 413 before it is read; a body of unknown length on a route
// whose limit exceeds the budget, with 411.
func TestMemoryBudgetRefusals(t *testing.T) {
	n, f, info, key := inferNode(t, Config{MaxMemory: 128 << 20})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:2])
	infer := "/v1/models/" + info.ID + "/infer?packing=batch&key=" + key
	c := rawRequest(t, n, infer, n.tokens[RoleClient], 50<<20, nil)
	if code := readStatus(c, 3*time.Second); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an inference needing more than the budget: %d, want 413", code)
	}
	req, _ := http.NewRequest("POST", n.ts.URL+infer, io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Authorization", "Bearer "+n.tokens[RoleClient])
	resp, err := n.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.ContentLength != 0 || resp.StatusCode != http.StatusLengthRequired {
		t.Errorf("chunked inference: %d, want 411", resp.StatusCode)
	}
}

// TestJobUploadGoesToDisk: an asynchronous job's input is checked on its
// way to disk, holding one ciphertext at a time, so an upload of more than
// half the memory budget (which held it twice) is taken, announced or
// chunked, and runs.
func TestJobUploadGoesToDisk(t *testing.T) {
	n, f, info, key := inferNode(t, Config{MaxMemory: 100 << 20, MaxJobBytes: 1 << 30})
	_, one := encryptFor(t, f, inference.Batch, f.samples[:2])
	batch, err := he.ReadCiphertextFile(bytes.NewReader(one), f.keys.Params, he.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var vecs []he.EncryptedVector
	var body bytes.Buffer
	for body.Len() <= int(n.srv.cfg.MaxMemory)/2 {
		vecs = append(vecs, batch...)
		body.Reset()
		if err := he.WriteCiphertextFile(&body, f.keys.Params, vecs); err != nil {
			t.Fatal(err)
		}
	}
	path := "/v1/jobs?packing=batch&model=" + info.ID + "&key=" + key
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(body.Bytes())
		if chunked {
			r = io.MultiReader(r)
		}
		req, _ := http.NewRequest("POST", n.ts.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+n.tokens[RoleClient])
		resp, err := n.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var job struct{ ID string }
		if resp.StatusCode != 202 || json.Unmarshal(b, &job) != nil {
			t.Fatalf("a job of %d bytes (chunked %v) under a budget of %d: %d %s", body.Len(), chunked, n.srv.cfg.MaxMemory, resp.StatusCode, b)
		}
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
			resp, b := n.do("GET", "/v1/jobs/"+job.ID, n.tokens[RoleClient], nil)
			var st struct{ Status string }
			json.Unmarshal(b, &st)
			if st.Status == "done" {
				break
			}
			if resp.StatusCode != 200 || st.Status == "failed" || time.Now().After(deadline) {
				t.Fatalf("job: %d %s", resp.StatusCode, b)
			}
		}
		resp, out := n.do("GET", "/v1/jobs/"+job.ID+"/result", n.tokens[RoleClient], nil)
		got, err := he.ReadCiphertextFile(bytes.NewReader(out), f.keys.Params, he.DefaultLimits)
		if resp.StatusCode != 200 || err != nil || len(got) != len(vecs)/f.model.Features()*f.model.Layers[len(f.model.Layers)-1].Out {
			t.Fatalf("result: %d, %d ciphertexts (%v)", resp.StatusCode, len(got), err)
		}
	}
	if peak := n.srv.mem.peakReserved(); peak > n.srv.cfg.MaxMemory {
		t.Errorf("peak reserved %d, budget %d", peak, n.srv.cfg.MaxMemory)
	}
	t.Logf("two jobs of %d bytes under a budget of %d; peak reserved %d", body.Len(), n.srv.cfg.MaxMemory, n.srv.mem.peakReserved())
}

// TestOpenAPIMessageLimit: the OpenAPI document states the peer-message
// limit the server enforces.
func TestOpenAPIMessageLimit(t *testing.T) {
	if want := fmt.Sprintf("at most %d bytes", mpc.MaxMessageSize); !strings.Contains(string(OpenAPISpec()), want) {
		t.Fatalf("the OpenAPI document does not say %q", want)
	}
}

// TestSlowInferBodyCutOff: /infer decodes its body as it arrives, and that
// stream keeps the body's read deadline too.
func TestSlowInferBodyCutOff(t *testing.T) {
	n, _, info, keyID := inferNode(t, Config{BodyReadGrace: 300 * time.Millisecond})
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	// A well-formed start (version 1, the model's parameters, one
	// ciphertext of 100,000 bytes, one sample), then the ciphertext's bytes
	// trickle.
	p, err := he.PresetByName(info.Preset)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := hex.DecodeString(p.ID())
	prefix := append([]byte("AIOSCTXT\x01\x00"), id...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 1)
	prefix = binary.LittleEndian.AppendUint32(prefix, 1)
	prefix = binary.LittleEndian.AppendUint64(prefix, 100000)
	c := rawRequest(t, n, fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, keyID), n.tokens[RoleClient], 1<<20, prefix)
	go trickle(c, 100*time.Millisecond, stop)
	code := readStatus(c, 3*time.Second)
	t.Logf("/infer: %d after %v", code, time.Since(start).Round(time.Millisecond))
	if code != http.StatusRequestTimeout {
		t.Errorf("/infer: status %d, want 408", code)
	}
}

// TestParamsLimits: GET /v1/params publishes the limits the routes apply,
// and a key upload one byte above its preset's published limit is 413.
func TestParamsLimits(t *testing.T) {
	n := newTestNode(t, Config{MaxInferBytes: 3 << 20, MaxJobBytes: 5 << 20, MaxKeyBytes: 1000})
	resp, b := n.do("GET", "/v1/params", "", nil)
	var got struct {
		Limits schema.Limits `json:"limits"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
		t.Fatalf("params: %d %s", resp.StatusCode, b)
	}
	l := got.Limits
	if l.InferBytes != 3<<20 || l.JobBytes != 5<<20 || l.ModelBytes != 16<<20 || l.JSONBytes != maxJSONBody ||
		l.MPCInputBytes != maxMPCInputBody || l.MPCMessageBytes != mpc.MaxMessageSize || l.KeyBytes["n12"] != 1000 {
		t.Fatalf("limits: %+v", l)
	}
	for _, size := range []int64{l.KeyBytes["n12"], l.KeyBytes["n12"] + 1} {
		resp, b = n.do("POST", "/v1/keys?preset=n12", n.tokens[RoleClient], make([]byte, size))
		if tooLarge := resp.StatusCode == 413; tooLarge != (size > l.KeyBytes["n12"]) {
			t.Errorf("%d-byte key set: %d %s", size, resp.StatusCode, b)
		}
	}
}

// TestJobBeyondBudgetRefused (issue 12, item 3): a job runs with its
// input decoded, so one whose working set (inference.Server.WorkingBytes)
// exceeds the memory budget is refused with 413 once its upload is
// scanned, within the job size limit, instead of being decoded past the
// budget when it starts; one batch less fits and is taken.
func TestJobBeyondBudgetRefused(t *testing.T) {
	n, f, info, key := inferNode(t, Config{MaxJobBytes: 1 << 30})
	_, one := encryptFor(t, f, inference.Batch, f.samples[:2])
	batch, err := he.ReadCiphertextFile(bytes.NewReader(one), f.keys.Params, he.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.srv.model(context.Background(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	perBatch, err := m.server.WorkingBytes(inference.Batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 3
	n.srv.mem = newMemBudget(batches*perBatch - 1) // three batches need one byte more than the budget
	path := "/v1/jobs?packing=batch&model=" + info.ID + "&key=" + key
	for _, tc := range []struct{ batches, status int }{{batches, 413}, {batches - 1, 202}} {
		var vecs []he.EncryptedVector
		for range tc.batches {
			vecs = append(vecs, batch...)
		}
		var body bytes.Buffer
		if err := he.WriteCiphertextFile(&body, f.keys.Params, vecs); err != nil {
			t.Fatal(err)
		}
		resp, b := n.do("POST", path, n.tokens[RoleClient], body.Bytes())
		t.Logf("a job of %d batches (%d bytes, working set %d) under a budget of %d: %d", tc.batches, body.Len(), int64(tc.batches)*perBatch, n.srv.mem.limit, resp.StatusCode)
		if resp.StatusCode != tc.status || (tc.status == 413 && errorCode(b) != "too_large") {
			t.Fatalf("a job of %d batches: %d %s, want %d", tc.batches, resp.StatusCode, b, tc.status)
		}
	}
}

// TestMemoryBudgetCompactBody: a compact body (seeded c1, limbs at their
// moduli's width) decodes to about three times its bytes, more than its
// admission reserves (inferFactor per byte): once the header says how many
// ciphertexts come, /infer reserves the rest of the evaluation's working
// set, so a budget that holds the admission but not the working set
// answers 503, and one that holds the working set answers 200.
func TestMemoryBudgetCompactBody(t *testing.T) {
	n, f, info, key := inferNode(t, Config{})
	c, err := inference.NewClient(f.model, inference.Batch, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := c.Encrypt(f.samples[:2])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := he.WriteCompactCiphertextFile(&buf, f.keys.Params, vecs); err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()
	m, err := n.srv.model(context.Background(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	need, err := m.server.InputWorkingBytes(inference.Batch, len(vecs))
	if err != nil {
		t.Fatal(err)
	}
	admitted := int64(inferFactor * len(body))
	if need <= admitted {
		t.Fatalf("the working set (%d bytes) fits the admission (%d): nothing to test", need, admitted)
	}
	path := fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, key)
	n.srv.mem = newMemBudget(admitted + (need-admitted)/2)
	resp, b := n.do("POST", path, n.tokens[RoleClient], body)
	if resp.StatusCode != 503 || errorCode(b) != "overloaded" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a budget below the working set of %d bytes: %d %s, want 503 overloaded", need, resp.StatusCode, b)
	}
	n.srv.mem = newMemBudget(need)
	if resp, b := n.do("POST", path, n.tokens[RoleClient], body); resp.StatusCode != 200 {
		t.Fatalf("a budget of the working set: %d %s", resp.StatusCode, b)
	}
	if peak, left := n.srv.mem.peakReserved(), settledReserved(n); peak != need || left != 0 {
		t.Fatalf("peak reserved %d, want the working set %d; %d still reserved", peak, need, left)
	}
}

// settledReserved is what the node's memory budget still holds once its
// handlers have returned. A client reads an answer of announced length
// whole before the handler's deferred releases have run, so this waits
// for them, up to 10 s.
func settledReserved(n *testNode) int64 {
	for deadline := time.Now().Add(10 * time.Second); n.srv.mem.reserved() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return n.srv.mem.reserved()
}
