package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/internal/store/storetest"
)

type testNode struct {
	t      testing.TB
	srv    *Server
	ts     *httptest.Server
	tokens map[Role]string
}

// eachBackend runs f on a node on SQLite and on one on PostgreSQL
// (storetest.Each: skipped when AIOS_TEST_POSTGRES is unset).
func eachBackend(t *testing.T, f func(t *testing.T, cfg Config)) {
	storetest.Each(t, func(t *testing.T, loc storetest.DB) { f(t, Config{DataDir: loc.Dir, DB: loc.URL}) })
}

func newTestNode(t testing.TB, cfg Config) *testNode {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	n := &testNode{t: t, srv: srv, ts: ts, tokens: map[Role]string{}}
	for _, role := range []Role{RoleClient, RolePeer, RoleAuditor, RoleAdmin} {
		n.tokens[role] = n.token(role)
	}
	return n
}

func (n *testNode) token(role Role) string {
	tok, _, err := CreateToken(context.Background(), n.srv.DB(), role, string(role)+"-test")
	if err != nil {
		n.t.Fatal(err)
	}
	return tok
}

func (n *testNode) do(method, path, token string, body []byte) (*http.Response, []byte) {
	n.t.Helper()
	return n.doWith(n.t, method, path, token, body)
}

// doWith is do reporting failures to t (a fuzz target's own T).
func (n *testNode) doWith(t testing.TB, method, path, token string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := n.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func errorCode(b []byte) string {
	var e schema.ErrorBody
	json.Unmarshal(b, &e)
	return e.Error.Code
}

var (
	n12KeysOnce sync.Once
	n12Keys     *he.KeyMaterial
)

func testKeys(t testing.TB) *he.KeyMaterial {
	n12KeysOnce.Do(func() {
		p, err := he.PresetByName("n12")
		if err != nil {
			t.Fatal(err)
		}
		if n12Keys, err = he.GenerateKeys(p, he.KeySpec{Relinearization: true}); err != nil {
			t.Fatal(err)
		}
	})
	return n12Keys
}

func TestHealthParamsOpenAPI(t *testing.T) {
	n := newTestNode(t, Config{Accel: accel.CPU()})
	resp, b := n.do("GET", "/v1/health", "", nil)
	var h healthResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil || h.Status != "ok" || h.Accel != "cpu" || h.NodeID != n.srv.NodeID() {
		t.Fatalf("health: %d %s", resp.StatusCode, b)
	}
	resp, b = n.do("GET", "/v1/params", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"n13"`) {
		t.Fatalf("params: %d %s", resp.StatusCode, b)
	}
	resp, b = n.do("GET", "/v1/openapi.yaml", "", nil)
	if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("openapi: 3.1")) {
		t.Fatalf("openapi: %d", resp.StatusCode)
	}
	resp, b = n.do("GET", "/v1/nowhere", "", nil)
	if resp.StatusCode != 404 || errorCode(b) != "not_found" {
		t.Fatalf("unknown route: %d %s", resp.StatusCode, b)
	}
}

// specStatuses reads the paths, their methods and each method's response
// statuses from the OpenAPI document (its paths section is YAML indented
// two spaces per level: path, method, responses, status).
func specStatuses(spec []byte) map[string]map[int]bool {
	routes := map[string]map[int]bool{}
	pathRE := regexp.MustCompile(`^  (/[^:]*):\s*$`)
	methodRE := regexp.MustCompile(`^    (get|post|put|patch|delete):`)
	statusRE := regexp.MustCompile(`^        "([1-5][0-9][0-9])":`)
	inPaths, path, route := false, "", ""
	for _, line := range strings.Split(string(spec), "\n") {
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && len(line) > 0 && line[0] != ' ':
			inPaths = false
		case inPaths && pathRE.MatchString(line):
			path, route = pathRE.FindStringSubmatch(line)[1], ""
		case inPaths && methodRE.MatchString(line):
			route = strings.ToUpper(methodRE.FindStringSubmatch(line)[1]) + " " + path
			routes[route] = map[int]bool{}
		case inPaths && route != "" && statusRE.MatchString(line):
			status, _ := strconv.Atoi(statusRE.FindStringSubmatch(line)[1])
			routes[route][status] = true
		}
	}
	return routes
}

// specRoutes is the set of documented routes ("METHOD /path").
func specRoutes(spec []byte) map[string]bool {
	routes := map[string]bool{}
	for r := range specStatuses(spec) {
		routes[r] = true
	}
	return routes
}

// TestOpenAPICoversEveryRoute fails when a route is served but not
// documented, or documented but not served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	n := newTestNode(t, Config{})
	documented := specRoutes(OpenAPISpec())
	if len(documented) < 5 {
		t.Fatalf("parsed only %d routes from the spec", len(documented))
	}
	served := map[string]bool{}
	err := chi.Walk(n.srv.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(route, "/")
		served[method+" "+strings.ReplaceAll(route, "/*", "")] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("route %s is served but missing from openapi.yaml", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.yaml documents %s, which is not served", r)
		}
	}
}

func TestKeysLifecycle(t *testing.T) { eachBackend(t, testKeysLifecycle) }

func testKeysLifecycle(t *testing.T, cfg Config) {
	n := newTestNode(t, cfg)
	km := testKeys(t)
	body, err := km.Evaluation.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	client := n.tokens[RoleClient]
	resp, b := n.do("POST", "/v1/keys?preset=n12", client, body)
	var info schema.KeyInfo
	if resp.StatusCode != 201 || json.Unmarshal(b, &info) != nil || info.ID != km.Evaluation.ID() || !info.Relinearization {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	if resp, _ := n.do("POST", "/v1/keys?preset=n12", client, body); resp.StatusCode != 200 {
		t.Fatalf("second upload: %d", resp.StatusCode)
	}
	if resp, b := n.do("GET", "/v1/keys/"+info.ID, client, nil); resp.StatusCode != 200 || !strings.Contains(string(b), info.ID) {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	other := n.token(RoleClient)
	if resp, b := n.do("GET", "/v1/keys/"+info.ID, other, nil); resp.StatusCode != 404 || errorCode(b) != "not_found" {
		t.Fatalf("another client's key: %d %s", resp.StatusCode, b)
	}
	if resp, _ := n.do("DELETE", "/v1/keys/"+info.ID, other, nil); resp.StatusCode != 404 {
		t.Fatalf("another client deleting: %d", resp.StatusCode)
	}
	if resp, _ := n.do("GET", "/v1/keys/"+info.ID, n.tokens[RoleAdmin], nil); resp.StatusCode != 200 {
		t.Fatalf("admin get: %d", resp.StatusCode)
	}
	set, _, err := n.srv.evaluationKeys(context.Background(), "", info.ID)
	if err != nil || set.ID() != info.ID {
		t.Fatalf("evaluation keys: %v", err)
	}
	if resp, _ := n.do("DELETE", "/v1/keys/"+info.ID, client, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := n.do("GET", "/v1/keys/"+info.ID, client, nil); resp.StatusCode != 404 {
		t.Fatalf("get after delete: %d", resp.StatusCode)
	}
	if _, err := n.srv.blobs.Get(info.ID, 1<<30); err == nil {
		t.Fatal("blob kept after its last owner deleted it")
	}
}

func TestKeysBadInput(t *testing.T) {
	n := newTestNode(t, Config{MaxKeyBytes: 4 << 20})
	body, _ := testKeys(t).Evaluation.MarshalBinary()
	client := n.tokens[RoleClient]
	flipped := bytes.Clone(body)
	// Every field after the first flag byte is 8 bytes wide, so offsets
	// ≡ 0 (mod 8) hold the most significant byte of a coefficient: 0xff there
	// makes it far above any n12 modulus.
	flipped[len(flipped)/2/8*8] = 0xff
	cases := []struct {
		name, path string
		body       []byte
		status     int
		code       string
	}{
		{"wrong preset", "/v1/keys?preset=n13", body, 422, "params_mismatch"},
		{"unknown preset", "/v1/keys?preset=n99", body, 400, "unknown_preset"},
		{"no preset", "/v1/keys", body, 400, "unknown_preset"},
		{"truncated", "/v1/keys?preset=n12", body[:len(body)-7], 400, "malformed"},
		{"garbage", "/v1/keys?preset=n12", []byte("hello"), 400, "malformed"},
		{"empty", "/v1/keys?preset=n12", nil, 400, "malformed"},
		{"too large", "/v1/keys?preset=n12", make([]byte, 5<<20), 413, "too_large"},
	}
	for _, c := range cases {
		resp, b := n.do("POST", c.path, client, c.body)
		if resp.StatusCode != c.status || errorCode(b) != c.code {
			t.Errorf("%s: %d %s; want %d %s", c.name, resp.StatusCode, b, c.status, c.code)
		}
	}
	if resp, b := n.do("POST", "/v1/keys?preset=n12", client, flipped); resp.StatusCode != 400 || !strings.Contains(string(b), "not below its modulus") {
		t.Errorf("coefficient above its modulus: %d %s", resp.StatusCode, b)
	}
}

func TestAuthentication(t *testing.T) {
	n := newTestNode(t, Config{})
	for _, tok := range []string{"", "aios_nope", "Basic abc", strings.Repeat("a", 500), n.tokens[RoleClient] + "x"} {
		resp, b := n.do("GET", "/v1/budgets", tok, nil)
		var e schema.ErrorBody
		json.Unmarshal(b, &e)
		if resp.StatusCode != 401 || e.Error.Code != "unauthenticated" || e.Error.Message != ErrUnauthenticated.Error() {
			t.Errorf("token %.12q: %d %s", tok, resp.StatusCode, b)
		}
	}
}

// route is one endpoint with the roles allowed on it.
type route struct {
	method, path string
	allowed      []Role
}

// TestRoleMatrix: every authenticated endpoint × every role. An allowed role
// gets past authorization (any status but 401/403); a denied one gets 403.
func TestRoleMatrix(t *testing.T) {
	n := newTestNode(t, Config{})
	all := []Role{RoleClient, RolePeer, RoleAuditor, RoleAdmin}
	routes := []route{
		{"POST", "/v1/keys?preset=n12", []Role{RoleClient}},
		{"GET", "/v1/keys/" + strings.Repeat("0", 64), []Role{RoleClient, RoleAdmin}},
		{"DELETE", "/v1/keys/" + strings.Repeat("0", 64), []Role{RoleClient, RoleAdmin}},
		{"POST", "/v1/budgets", []Role{RoleAdmin}},
		{"GET", "/v1/budgets", []Role{RoleAdmin, RoleAuditor}},
		{"GET", "/v1/budgets/x", []Role{RoleAdmin, RoleAuditor}},
		{"GET", "/v1/budgets/x/ledger", []Role{RoleAdmin, RoleAuditor}},
		{"GET", "/v1/audit/checkpoint", []Role{RoleAdmin, RoleAuditor}},
		{"GET", "/v1/audit/export", []Role{RoleAdmin, RoleAuditor}},
	}
	routes = append(routes, extraRoleRoutes...)
	for _, rt := range routes {
		for _, role := range all {
			resp, b := n.do(rt.method, rt.path, n.tokens[role], []byte("{}"))
			allowed := false
			for _, a := range rt.allowed {
				allowed = allowed || a == role
			}
			if allowed && (resp.StatusCode == 401 || resp.StatusCode == 403) {
				t.Errorf("%s %s as %s: %d %s, want allowed", rt.method, rt.path, role, resp.StatusCode, b)
			}
			if !allowed && resp.StatusCode != 403 {
				t.Errorf("%s %s as %s: %d, want 403", rt.method, rt.path, role, resp.StatusCode)
			}
		}
	}
}

// extraRoleRoutes is extended by the files that add routes.
var extraRoleRoutes []route

func TestBudgetsOverHTTP(t *testing.T) { eachBackend(t, testBudgetsOverHTTP) }

func testBudgetsOverHTTP(t *testing.T, cfg Config) {
	n := newTestNode(t, cfg)
	admin, auditor := n.tokens[RoleAdmin], n.tokens[RoleAuditor]
	resp, b := n.do("POST", "/v1/budgets", admin, []byte(`{"name":"tenant-a","epsilon":"1.5","description":"test"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	if resp, b := n.do("POST", "/v1/budgets", admin, []byte(`{"name":"tenant-a","epsilon":"1"}`)); resp.StatusCode != 409 {
		t.Fatalf("duplicate: %d %s", resp.StatusCode, b)
	}
	for body, code := range map[string]string{
		`{"name":"Bad Name","epsilon":"1"}`: "bad_request",
		`{"name":"b","epsilon":"-1"}`:       "bad_request",
		`{"name":"b","epsilon":"1","x":1}`:  "bad_request",
		`{"name":"b","epsilon":"1"} {}`:     "bad_request",
		`not json`:                          "bad_request",
	} {
		if resp, b := n.do("POST", "/v1/budgets", admin, []byte(body)); resp.StatusCode != 400 || errorCode(b) != code {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	resp, b = n.do("GET", "/v1/budgets/tenant-a", auditor, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"total_micro_epsilon": 1500000`) {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	resp, b = n.do("GET", "/v1/budgets/tenant-a/ledger?after=0", auditor, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"kind"`) {
		t.Fatalf("ledger: %d %s", resp.StatusCode, b)
	}
	if resp, _ := n.do("GET", "/v1/budgets/tenant-a/ledger?after=-3", auditor, nil); resp.StatusCode != 400 {
		t.Fatalf("bad after: %d", resp.StatusCode)
	}
	if resp, _ := n.do("GET", "/v1/budgets/nope", auditor, nil); resp.StatusCode != 404 {
		t.Fatalf("unknown budget: %d", resp.StatusCode)
	}
	resp, b = n.do("GET", "/v1/audit/export", auditor, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "aios-dp-audit/v1") {
		t.Fatalf("export: %d %.200s", resp.StatusCode, b)
	}
}

func TestRateLimit(t *testing.T) {
	n := newTestNode(t, Config{RatePerSecond: 1, RateBurst: 3})
	codes := map[int]int{}
	var retryAfter string
	for range 6 {
		resp, _ := n.do("GET", "/v1/budgets", n.tokens[RoleAuditor], nil)
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if codes[200] < 3 || codes[429] < 2 || retryAfter == "" {
		t.Fatalf("status counts %v, Retry-After %q", codes, retryAfter)
	}
	// Another token has its own bucket.
	if resp, _ := n.do("GET", "/v1/budgets", n.tokens[RoleAdmin], nil); resp.StatusCode != 200 {
		t.Fatalf("admin limited by the auditor's bucket: %d", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	n := newTestNode(t, Config{})
	n.do("GET", "/v1/health", "", nil)
	n.do("GET", "/v1/budgets", "bad", nil)
	_, b := n.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`aios_http_requests_total{route="/v1/health",method="GET",status="200"} 1`,
		`aios_auth_failures_total 1`,
		`aios_http_request_duration_seconds_bucket{route="/v1/health",method="GET",le="+Inf"} 1`,
		`aios_job_queue_depth`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestKeyCacheBound(t *testing.T) {
	c := newKeyCache(int64(testKeys(t).Evaluation.Size()) * 3 / 2)
	p, _ := he.PresetByName("n12")
	var sets []*he.EvaluationKeySet
	for range 3 {
		km, err := he.GenerateKeys(p, he.KeySpec{Relinearization: true})
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, km.Evaluation)
		c.put(km.Evaluation)
	}
	if c.size() > c.limit || c.get(sets[2].ID()) == nil || c.get(sets[0].ID()) != nil {
		t.Fatalf("cache holds %d of %d bytes; newest present %v", c.size(), c.limit, c.get(sets[2].ID()) != nil)
	}
}

// TestParamsID checks the parameters ID as the document defines it: each
// preset's served id is the SHA-256 of lattigo's MarshalJSON of the
// parameters built from the served lattigo JSON, and of that JSON compacted.
func TestParamsID(t *testing.T) {
	n := newTestNode(t, Config{})
	resp, b := n.do("GET", "/v1/params", "", nil)
	var got struct {
		Presets []struct {
			Name    string          `json:"name"`
			ID      string          `json:"id"`
			Lattigo json.RawMessage `json:"lattigo"`
		} `json:"presets"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || len(got.Presets) == 0 {
		t.Fatalf("params: %d %s", resp.StatusCode, b)
	}
	for _, p := range got.Presets {
		var params ckks.Parameters
		if err := params.UnmarshalJSON(p.Lattigo); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		canon, err := params.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, p.Lattigo); err != nil {
			t.Fatal(err)
		}
		remarshalled, compacted := sha256.Sum256(canon), sha256.Sum256(compact.Bytes())
		if p.ID != hex.EncodeToString(remarshalled[:]) || p.ID != hex.EncodeToString(compacted[:]) {
			t.Errorf("%s: id %s, SHA-256 of the re-encoded lattigo JSON %x, of the compacted %x", p.Name, p.ID, remarshalled, compacted)
		}
		if preset, err := he.PresetByName(p.Name); err != nil || preset.ID() != p.ID {
			t.Errorf("%s: served id %s, he.Parameters.ID %s (%v)", p.Name, p.ID, preset.ID(), err)
		}
	}
}
