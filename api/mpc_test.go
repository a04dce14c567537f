package api

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/fault"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
	"github.com/aios-edge/aios/mpc/httptransport"
)

func init() {
	id := strings.Repeat("ab", 32)
	extraRoleRoutes = append(extraRoleRoutes,
		route{"POST", "/v1/mpc/sessions", []Role{RoleAdmin, RoleClient}},
		route{"POST", "/v1/mpc/sessions/" + id + "/input", []Role{RoleClient, RoleAdmin}},
		route{"GET", "/v1/mpc/sessions/" + id, []Role{RoleClient, RoleAdmin, RoleAuditor}},
		route{"GET", "/v1/mpc/sessions", []Role{RoleClient, RoleAdmin, RoleAuditor}},
		route{"GET", "/v1/fl/federations", []Role{RoleAdmin, RoleAuditor}},
		route{"POST", "/v1/mpc/messages", []Role{RolePeer}},
	)
}

// recorder is an http.RoundTripper that keeps a copy of every message a
// node sends, for replay tests.
type recorder struct {
	mu   sync.Mutex
	sent map[string][][]byte // by URL host
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.sent[req.URL.Host] = append(r.sent[req.URL.Host], b)
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return http.DefaultTransport.RoundTrip(req)
}

type mpcNode struct {
	*testNode
	id   mpc.NodeID
	host string
}

// newMPCCluster starts n nodes on httptest servers that know each other
// from one peers list; cheat names nodes that deal one bad share.
func newMPCCluster(t *testing.T, n int, cheat map[int]bool, rec *recorder) []*mpcNode {
	t.Helper()
	return newMPCClusterConfig(t, n, cheat, rec, Config{})
}

// newMPCClusterConfig is newMPCCluster with cfg's limits on every node.
func newMPCClusterConfig(t *testing.T, n int, cheat map[int]bool, rec *recorder, cfg Config) []*mpcNode {
	t.Helper()
	return newMPCClusterEach(t, n, cheat, rec, cfg, nil)
}

// newMPCClusterEach is newMPCClusterConfig where each, if set, adjusts
// node i's configuration, knowing every node's peer entry.
func newMPCClusterEach(t *testing.T, n int, cheat map[int]bool, rec *recorder, cfg Config, each func(i int, peers []httptransport.Peer, c *Config)) []*mpcNode {
	t.Helper()
	var peers []httptransport.Peer
	var servers []*httptest.Server
	var dirs []string
	for i := range n {
		dir := t.TempDir()
		k, err := nodekey.LoadOrCreate(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(nil)
		u := mustURL("http://" + ts.Listener.Addr().String())
		peers = append(peers, httptransport.Peer{ID: mpc.NodeID(k.Public()), URL: u, Name: "n" + string(rune('0'+i))})
		servers, dirs = append(servers, ts), append(dirs, dir)
	}
	var nodes []*mpcNode
	for i := range n {
		opt := httptransport.Options{AttemptTimeout: 10 * time.Second}
		if rec != nil {
			opt.Client = &http.Client{Transport: rec}
		}
		if cheat[i] {
			fault.DealBadShareOnceForTesting(nodekey.PublicKey(peers[i].ID))
		}
		c := cfg
		c.DataDir, c.Logger, c.RatePerSecond = dirs[i], slog.New(slog.NewTextHandler(io.Discard, nil)), -1
		c.MPC = &MPCConfig{Peers: peers, Transport: opt}
		if cfg.MPC != nil {
			c.MPC.EarlyInputs = cfg.MPC.EarlyInputs
		}
		if each != nil {
			each(i, peers, &c)
		}
		srv, err := New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		ts := servers[i]
		ts.Config.Handler = srv.Handler()
		ts.Start()
		t.Cleanup(func() { ts.Close(); srv.Close() })
		tn := &testNode{t: t, srv: srv, ts: ts, tokens: map[Role]string{}}
		for _, role := range []Role{RoleClient, RolePeer, RoleAuditor, RoleAdmin} {
			tn.tokens[role] = tn.token(role)
		}
		nodes = append(nodes, &mpcNode{testNode: tn, id: peers[i].ID, host: peers[i].URL.Host})
	}
	return nodes
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func (n *mpcNode) json(method, path, role string, in, out any) int {
	n.t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	resp, b := n.do(method, path, n.tokens[Role(role)], body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			n.t.Fatalf("%s %s: %v", method, path, err)
		}
	} else if resp.StatusCode/100 != 2 {
		n.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// runHTTPSession creates a sum session on nodes[0] over HTTP, gives every
// node its input and waits for the coordinator's outcome.
func runHTTPSession(t *testing.T, nodes []*mpcNode, inputs [][]float64, t0 int) *schema.MPCSessionStatus {
	t.Helper()
	c := nodes[0]
	if st := c.json("POST", "/v1/budgets", "admin", map[string]string{"name": "mpc", "epsilon": "1000"}, nil); st != 201 && st != 409 {
		t.Fatalf("budget: %d", st)
	}
	// The client spends the budget through a grant, and lets the auditor
	// below read the release.
	if st := c.json("POST", "/v1/budgets/mpc/grants", "admin", schema.GrantRequest{Grantee: "role:client"}, nil); st != 201 && st != 200 {
		t.Fatalf("grant: %d", st)
	}
	var created schema.MPCSessionStatus
	req := schema.MPCSessionRequest{Threshold: t0, Operation: "sum", Dimension: len(inputs[0]), FracBits: 16, Lower: -1, Upper: 1,
		Budget: "mpc", Epsilon: "1000", AcceptSeconds: 5, InputSeconds: 10, ReportSeconds: 5, OutputSeconds: 5,
		ReleaseTo: []string{"role:auditor"}}
	if st := c.json("POST", "/v1/mpc/sessions", "client", req, &created); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if created.Spec == nil || len(created.Spec.Participants) != len(nodes) || created.Spec.Coordinator != c.id.String() {
		t.Fatalf("created: %+v", created)
	}
	for i, n := range nodes {
		if st := n.json("POST", "/v1/mpc/sessions/"+created.ID+"/input", "client", schema.MPCInputRequest{Values: inputs[i]}, nil); st != 202 {
			t.Fatalf("input %d: %d", i, st)
		}
	}
	return waitSession(t, c, "auditor", created.ID)
}

func randVectors(n, d int, seed uint64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range out[i] {
			out[i][j] = 2*r.Float64() - 1
		}
	}
	return out
}

// checkRelease compares the released sum with the sum of the included
// inputs: the Laplace scale here is d·1/ε = 0.02, one party's input
// averages 0.5 per coordinate.
func checkRelease(t *testing.T, st *schema.MPCSessionStatus, inputs [][]float64, included []int) {
	t.Helper()
	if st.Release == nil || len(st.Release.Values) != len(inputs[0]) || len(st.Release.CI) != len(inputs[0]) {
		t.Fatalf("release: %+v", st.Release)
	}
	sumAbs := 0.0
	for j, v := range st.Release.Values {
		want := 0.0
		for _, i := range included {
			want += inputs[i][j]
		}
		sumAbs += math.Abs(v - want)
	}
	if mean := sumAbs / float64(len(inputs[0])); mean > 0.1 {
		t.Fatalf("mean |error| %.3f against the included inputs' sum", mean)
	}
}

// TestMPCSessionOverHTTP: five nodes on real HTTP servers run a sum; one
// dealer sends one recipient an inconsistent share and is excluded and
// named as cheating; the released sum is that of the four honest inputs.
func TestMPCSessionOverHTTP(t *testing.T) {
	nodes := newMPCCluster(t, 5, map[int]bool{3: true}, nil)
	inputs := randVectors(5, 20, 7)
	st := runHTTPSession(t, nodes, inputs, 3)
	if st.State != "done" {
		t.Fatalf("session %s: %s", st.State, st.Error)
	}
	if len(st.Included) != 4 || len(st.Excluded) != 1 {
		t.Fatalf("included %d, excluded %+v", len(st.Included), st.Excluded)
	}
	x := st.Excluded[0]
	if x.Node != nodes[3].id.String() || !x.Cheating || x.Reason != mpc.ReasonBadShare || x.Reporter == "" || x.Reporter == x.Node {
		t.Fatalf("excluded: %+v", x)
	}
	checkRelease(t, st, inputs, []int{0, 1, 2, 4})
	if st.Release.EpsilonMicro != 1000_000_000 || len(st.Release.LedgerSeqs) != 1 || st.Release.Dealers != 4 {
		t.Fatalf("release accounting: %+v", st.Release)
	}
	// A participant sees the same decision but no release.
	var other schema.MPCSessionStatus
	if code := nodes[1].json("GET", "/v1/mpc/sessions/"+st.ID, "client", nil, &other); code != 200 || other.Release != nil || len(other.Included) != 4 {
		t.Fatalf("participant's view: %d %+v", code, other)
	}
	// The budget paid once; a second session cannot be paid.
	var b struct {
		Spent int64 `json:"spent_micro_epsilon"`
	}
	if code := nodes[0].json("GET", "/v1/budgets/mpc", "auditor", nil, &b); code != 200 || b.Spent != 1000_000_000 {
		t.Fatalf("budget: %d spent %d", code, b.Spent)
	}
	req := schema.MPCSessionRequest{Threshold: 3, Operation: "sum", Dimension: 20, FracBits: 16, Lower: -1, Upper: 1, Budget: "mpc", Epsilon: "1"}
	if resp, body := nodes[0].do("POST", "/v1/mpc/sessions", nodes[0].tokens[RoleAdmin], mustJSON(req)); resp.StatusCode != 409 || errorCode(body) != "budget_exhausted" {
		t.Fatalf("exhausted budget: %d %s", resp.StatusCode, body)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestMPCRequestsRejected: bad session requests and bad inputs over HTTP.
func TestMPCRequestsRejected(t *testing.T) {
	nodes := newMPCCluster(t, 2, nil, nil)
	n := nodes[0]
	n.json("POST", "/v1/budgets", "admin", map[string]string{"name": "b", "epsilon": "1"}, nil)
	stranger, _ := nodekey.Generate(crand.Reader)
	cases := []struct {
		name   string
		req    schema.MPCSessionRequest
		status int
		code   string
	}{
		{"t > n", schema.MPCSessionRequest{Threshold: 3, Operation: "sum", Dimension: 1, Lower: 0, Upper: 1, Budget: "b", Epsilon: "1"}, 400, "invalid_session"},
		{"d = 0", schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 0, Lower: 0, Upper: 1, Budget: "b", Epsilon: "1"}, 400, "invalid_session"},
		{"unknown op", schema.MPCSessionRequest{Threshold: 2, Operation: "max", Dimension: 1, Lower: 0, Upper: 1, Budget: "b", Epsilon: "1"}, 400, "invalid_session"},
		{"no budget", schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 1, Lower: 0, Upper: 1, Budget: "nope", Epsilon: "1"}, 404, "not_found"},
		{"bad ε", schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 1, Lower: 0, Upper: 1, Budget: "b", Epsilon: "-1"}, 400, "bad_request"},
		{"stranger", schema.MPCSessionRequest{Participants: []string{n.id.String(), stranger.ID()}, Threshold: 2, Operation: "sum", Dimension: 1, Lower: 0, Upper: 1, Budget: "b", Epsilon: "1"}, 400, "bad_request"},
		{"bad phase", schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 1, Lower: 0, Upper: 1, Budget: "b", Epsilon: "1", InputSeconds: -1}, 400, "bad_request"},
	}
	for _, c := range cases {
		resp, b := n.do("POST", "/v1/mpc/sessions", n.tokens[RoleAdmin], mustJSON(c.req))
		if resp.StatusCode != c.status || errorCode(b) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, b, c.status, c.code)
		}
	}
	id := strings.Repeat("00", 32)
	for body, want := range map[string]int{`{"values":[1,2]}`: 202, `{"values":[1],"x":1}`: 400, `[`: 400} {
		if resp, b := n.do("POST", "/v1/mpc/sessions/"+id+"/input", n.tokens[RoleClient], []byte(body)); resp.StatusCode != want {
			t.Errorf("input %s: %d %s", body, resp.StatusCode, b)
		}
	}
	if resp, _ := n.do("GET", "/v1/mpc/sessions/"+id, n.tokens[RoleClient], nil); resp.StatusCode != 404 {
		t.Errorf("unknown session: %d", resp.StatusCode)
	}
	if resp, _ := n.do("GET", "/v1/mpc/sessions/xyz", n.tokens[RoleClient], nil); resp.StatusCode != 400 {
		t.Errorf("bad id: %d", resp.StatusCode)
	}
	// A node without peers has no MPC.
	plain := newTestNode(t, Config{})
	if resp, b := plain.do("POST", "/v1/mpc/messages", "", []byte("x")); resp.StatusCode != 501 || errorCode(b) != "mpc_disabled" {
		t.Errorf("disabled: %d %s", resp.StatusCode, b)
	}
}

// TestMPCMessagesRejected: peer messages that are oversized, malformed,
// for an unknown session, misrouted, badly signed, replayed or proposing a
// session with strangers are refused with their status over HTTP.
func TestMPCMessagesRejected(t *testing.T) {
	rec := &recorder{sent: map[string][][]byte{}}
	nodes := newMPCCluster(t, 3, nil, rec)
	n0, n1 := nodes[0], nodes[1]
	n0.json("POST", "/v1/budgets", "admin", map[string]string{"name": "b", "epsilon": "5"}, nil)
	var created schema.MPCSessionStatus
	req := schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 4, FracBits: 8, Lower: 0, Upper: 1, Budget: "b", Epsilon: "1"}
	if st := n0.json("POST", "/v1/mpc/sessions", "admin", req, &created); st != 201 {
		t.Fatal("create")
	}
	sid, _ := hex.DecodeString(created.ID)
	env := func(kind mpc.Kind, phase uint8, session []byte, from, to uint16) []byte {
		e := &mpc.Envelope{Kind: kind, Phase: phase, From: from, To: to, Body: []byte{1, 2, 3}}
		copy(e.Session[:], session)
		e.Nonce[0] = byte(kind)
		return e.Marshal()
	}
	post := func(n *mpcNode, body []byte, token string) (int, string) {
		resp, b := n.do("POST", "/v1/mpc/messages", token, body)
		return resp.StatusCode, errorCode(b)
	}
	// The proposal reached n1 (it accepted): its recorded copy replays.
	var proposal []byte
	rec.mu.Lock()
	for _, m := range rec.sent[n1.host] {
		if e, err := mpc.DecodeEnvelope(m); err == nil && e.Kind == mpc.KindPropose {
			proposal = m
		}
	}
	rec.mu.Unlock()
	if proposal == nil {
		t.Fatal("no proposal recorded")
	}
	other := make([]byte, 32)
	other[0] = 1
	cases := []struct {
		name   string
		body   []byte
		token  string
		status int
		code   string
	}{
		{"oversized", make([]byte, mpc.MaxMessageSize+1), "", 413, "too_large"},
		{"malformed", []byte("hello"), "", 400, "malformed"},
		{"wrong session", env(mpc.KindDeal, 1, other, 0, 1), "", 404, "unknown_session"},
		{"misrouted", env(mpc.KindDeal, 1, sid, 0, 0), "", 421, "misrouted"},
		{"bad signature", env(mpc.KindDeal, 1, sid, 0, 1), "", 401, "unauthenticated"},
		{"forged sender", env(mpc.KindDecision, 1, sid, 2, 1), "", 401, "unauthenticated"},
		{"replayed proposal", proposal, "", 409, "replay"},
		{"replayed with a peer token", proposal, n1.tokens[RolePeer], 409, "replay"},
		{"client token", proposal, n1.tokens[RoleClient], 403, "forbidden"},
		{"bad token", proposal, "aios_x", 401, "unauthenticated"},
	}
	for _, c := range cases {
		if st, code := post(n1, c.body, c.token); st != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, code, c.status, c.code)
		}
	}
	// A stranger's correctly signed proposal naming n1 is declined.
	k, _ := nodekey.Generate(crand.Reader)
	var mu sync.Mutex
	var sendErr error
	tr := transportFunc(func(ctx context.Context, to mpc.NodeID, msg []byte) error {
		err := httptransport.New([]httptransport.Peer{{ID: n1.id, URL: mustURL(n1.ts.URL)}}, httptransport.Options{}).Send(ctx, to, msg)
		mu.Lock()
		sendErr = err
		mu.Unlock()
		return err
	})
	stranger, err := mpc.NewNode(mpc.Config{Key: k, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	now := time.Now()
	_, err = stranger.Propose(context.Background(), mpc.SessionLiteral{Coordinator: stranger.ID(), Participants: []mpc.NodeID{stranger.ID(), n1.id},
		Threshold: 2, Operation: mpc.OpSum, Dimension: 1, FracBits: 0, Lower: 0, Upper: 1, Budget: "b", Epsilon: 1,
		AcceptBy: now.Add(time.Second), InputBy: now.Add(2 * time.Second), ReportBy: now.Add(3 * time.Second), OutputBy: now.Add(4 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(sendErr, httptransport.ErrRejected) || !strings.Contains(sendErr.Error(), "403 declined") {
		t.Fatalf("stranger's proposal: %v", sendErr)
	}
}

type transportFunc func(ctx context.Context, to mpc.NodeID, msg []byte) error

func (f transportFunc) Send(ctx context.Context, to mpc.NodeID, msg []byte) error {
	return f(ctx, to, msg)
}
