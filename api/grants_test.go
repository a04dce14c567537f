package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

func init() {
	extraRoleRoutes = append(extraRoleRoutes,
		route{"POST", "/v1/budgets/b/grants", []Role{RoleAdmin}},
		route{"GET", "/v1/budgets/b/grants", []Role{RoleAdmin, RoleAuditor}},
		route{"DELETE", "/v1/budgets/b/grants/role:client", []Role{RoleAdmin}},
	)
}

// tokenGrantee is the grantee name of a token: "token:<id>".
func tokenGrantee(tok string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(tok, tokenPrefix), "_")
	return "token:" + id
}

// sumRequest is a small sum session on budget.
func sumRequest(budget, eps string) schema.MPCSessionRequest {
	return schema.MPCSessionRequest{Threshold: 2, Operation: "sum", Dimension: 3, FracBits: 8, Lower: 0, Upper: 1, Budget: budget, Epsilon: eps,
		AcceptSeconds: 5, InputSeconds: 10, ReportSeconds: 5, OutputSeconds: 5}
}

// TestBudgetGrantsOverHTTP: a client without a grant cannot create a
// session on a budget and learns nothing of its ε (the same status and
// message as for a budget that does not exist); with a grant (to its token
// or its role) it can, and an exhausted budget still says what is left; a
// revoked grant stops the next session and the release of one already
// running. On main, any client spent any budget and the 409 told its ε.
func TestBudgetGrantsOverHTTP(t *testing.T) {
	nodes := newMPCCluster(t, 2, nil, nil)
	c := nodes[0]
	alice, bob := c.tokens[RoleClient], c.token(RoleClient)
	admin, auditor := c.tokens[RoleAdmin], c.tokens[RoleAuditor]
	if st := c.json("POST", "/v1/budgets", "admin", map[string]string{"name": "tenant-a", "epsilon": "50"}, nil); st != 201 {
		t.Fatalf("budget: %d", st)
	}
	create := func(tok string, req schema.MPCSessionRequest) (int, string) {
		resp, b := c.do("POST", "/v1/mpc/sessions", tok, mustJSON(req))
		return resp.StatusCode, string(b)
	}
	// Not granted and nonexistent read the same.
	stA, bodyA := create(alice, sumRequest("tenant-a", "60"))
	stN, bodyN := create(alice, sumRequest("no-such", "60"))
	if stA != 404 || stN != 404 || strings.ReplaceAll(bodyA, "tenant-a", "X") != strings.ReplaceAll(bodyN, "no-such", "X") {
		t.Fatalf("not granted %d %s; unknown %d %s: want the same 404", stA, bodyA, stN, bodyN)
	}
	if !strings.Contains(bodyA, `no budget \"tenant-a\" you may spend`) || strings.Contains(bodyA, "50") || strings.Contains(bodyA, "ε") {
		t.Fatalf("not granted: %s", bodyA)
	}

	// Grant alice's token: 201, then 200 for the same grant.
	var g schema.Grant
	if st := c.json("POST", "/v1/budgets/tenant-a/grants", "admin", schema.GrantRequest{Grantee: tokenGrantee(alice)}, &g); st != 201 || g.Grantee != tokenGrantee(alice) {
		t.Fatalf("grant: %d %+v", st, g)
	}
	if st := c.json("POST", "/v1/budgets/tenant-a/grants", "admin", schema.GrantRequest{Grantee: tokenGrantee(alice)}, nil); st != 200 {
		t.Fatalf("grant again: %d", st)
	}
	for grantee, want := range map[string]int{"role:nobody": 400, "user:x": 400, "token:0123456789abcdef": 404} {
		if resp, b := c.do("POST", "/v1/budgets/tenant-a/grants", admin, mustJSON(schema.GrantRequest{Grantee: grantee})); resp.StatusCode != want {
			t.Errorf("grant to %s: %d %s, want %d", grantee, resp.StatusCode, b, want)
		}
	}
	if resp, b := c.do("POST", "/v1/budgets/no-such/grants", admin, mustJSON(schema.GrantRequest{Grantee: "role:client"})); resp.StatusCode != 404 {
		t.Errorf("grant on an unknown budget: %d %s", resp.StatusCode, b)
	}
	var list schema.GrantList
	if st := c.json("GET", "/v1/budgets/tenant-a/grants", "auditor", nil, &list); st != 200 || len(list.Grants) != 1 || list.Grants[0].GrantedBy != tokenGrantee(admin) {
		t.Fatalf("grants: %d %+v", st, list)
	}
	// Granted: a session that the budget cannot pay is told what is left.
	if st, body := create(alice, sumRequest("tenant-a", "60")); st != 409 || !strings.Contains(body, "budget_exhausted") || !strings.Contains(body, "50") {
		t.Fatalf("granted, too much: %d %s", st, body)
	}
	if st, body := create(alice, sumRequest("tenant-a", "1")); st != 201 {
		t.Fatalf("granted: %d %s", st, body)
	}
	if st, body := create(bob, sumRequest("tenant-a", "1")); st != 404 {
		t.Fatalf("another client: %d %s", st, body)
	}
	if st, body := create(admin, sumRequest("tenant-a", "1")); st != 201 {
		t.Fatalf("admin without a grant: %d %s", st, body)
	}
	// A session created while granted does not release once revoked.
	var running schema.MPCSessionStatus
	if st := c.json("POST", "/v1/mpc/sessions", "client", sumRequest("tenant-a", "1"), &running); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if resp, b := c.do("DELETE", "/v1/budgets/tenant-a/grants/"+tokenGrantee(alice), admin, nil); resp.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	if resp, _ := c.do("DELETE", "/v1/budgets/tenant-a/grants/"+tokenGrantee(alice), admin, nil); resp.StatusCode != 404 {
		t.Fatalf("revoke again: %d", resp.StatusCode)
	}
	if st, body := create(alice, sumRequest("tenant-a", "1")); st != 404 || strings.ReplaceAll(body, "tenant-a", "X") != strings.ReplaceAll(bodyN, "no-such", "X") {
		t.Fatalf("revoked: %d %s", st, body)
	}
	for i, n := range nodes {
		if st := n.json("POST", "/v1/mpc/sessions/"+running.ID+"/input", "client", schema.MPCInputRequest{Values: []float64{0.5, 0.5, 0.5}}, nil); st != 202 {
			t.Fatalf("input %d: %d", i, st)
		}
	}
	final := waitSession(t, c, "client", running.ID)
	if final.State != "failed" || !strings.Contains(final.Error, "you may spend") || final.Release != nil {
		t.Fatalf("revoked session: %s %q %+v", final.State, final.Error, final.Release)
	}
	var b struct {
		Spent int64 `json:"spent_micro_epsilon"`
	}
	if resp, body := c.do("GET", "/v1/budgets/tenant-a", auditor, nil); resp.StatusCode != 200 || mustUnmarshal(t, body, &b) != nil || b.Spent != 0 {
		t.Fatalf("budget after a revoked release: %d %s", resp.StatusCode, body)
	}
	// A grant to the role lets every client spend.
	if st := c.json("POST", "/v1/budgets/tenant-a/grants", "admin", schema.GrantRequest{Grantee: "role:client"}, nil); st != 201 {
		t.Fatalf("grant role: %d", st)
	}
	if st, body := create(bob, sumRequest("tenant-a", "1")); st != 201 {
		t.Fatalf("role grant: %d %s", st, body)
	}
}

// TestMPCSessionOwner: the creator owns a session; another client can
// neither give the coordinator's input nor read the session (404, as for
// an unknown one) unless input_from or release_to names it; the auditor
// reads the status but the release only when named; on a participant the
// first client to give the input owns the session there. On main, any
// client gave any session's input and read any release.
func TestMPCSessionOwner(t *testing.T) {
	nodes := newMPCCluster(t, 2, nil, nil)
	c, p := nodes[0], nodes[1]
	alice, bob := c.tokens[RoleClient], c.token(RoleClient)
	if st := c.json("POST", "/v1/budgets", "admin", map[string]string{"name": "b", "epsilon": "10"}, nil); st != 201 {
		t.Fatalf("budget: %d", st)
	}
	if st := c.json("POST", "/v1/budgets/b/grants", "admin", schema.GrantRequest{Grantee: "role:client"}, nil); st != 201 {
		t.Fatalf("grant: %d", st)
	}
	var sess, sess2 schema.MPCSessionStatus
	if st := c.json("POST", "/v1/mpc/sessions", "client", sumRequest("b", "1"), &sess); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if sess.Access == nil || sess.Access.Owner != tokenGrantee(alice) {
		t.Fatalf("access: %+v", sess.Access)
	}
	in := mustJSON(schema.MPCInputRequest{Values: []float64{0.25, 0.5, 0.75}})
	path := "/v1/mpc/sessions/" + sess.ID
	if resp, b := c.do("POST", path+"/input", bob, in); resp.StatusCode != 404 {
		t.Fatalf("another client's input: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("GET", path, bob, nil); resp.StatusCode != 404 {
		t.Fatalf("another client reads: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("POST", path+"/input", alice, in); resp.StatusCode != 202 {
		t.Fatalf("owner's input: %d %s", resp.StatusCode, b)
	}
	// On the participant, the first client to give the input owns it there.
	pAlice, pBob := p.tokens[RoleClient], p.token(RoleClient)
	if resp, b := p.do("GET", path, pAlice, nil); resp.StatusCode != 404 {
		t.Fatalf("participant, before the input: %d %s", resp.StatusCode, b)
	}
	if resp, b := p.do("POST", path+"/input", pAlice, in); resp.StatusCode != 202 {
		t.Fatalf("participant's input: %d %s", resp.StatusCode, b)
	}
	if resp, b := p.do("POST", path+"/input", pBob, in); resp.StatusCode != 404 {
		t.Fatalf("participant, another client's input: %d %s", resp.StatusCode, b)
	}
	done := waitSession(t, c, "client", sess.ID)
	if done.State != "done" || done.Release == nil {
		t.Fatalf("owner's view: %s %q %+v", done.State, done.Error, done.Release)
	}
	if resp, b := c.do("GET", path, bob, nil); resp.StatusCode != 404 {
		t.Fatalf("another client reads the release: %d %s", resp.StatusCode, b)
	}
	if code, st := c.status("auditor", path); code != 200 || st.State != "done" || st.Release != nil {
		t.Fatalf("auditor: %d %s %+v", code, st.State, st.Release)
	}
	if code, st := c.status("admin", path); code != 200 || st.Release == nil {
		t.Fatalf("admin: %d %+v", code, st.Release)
	}
	if code, pst := p.status("client", path); code != 200 || pst.Access == nil || pst.Access.Owner != tokenGrantee(pAlice) {
		t.Fatalf("participant owner: %d %+v", code, pst.Access)
	}
	if resp, b := p.do("GET", path, pBob, nil); resp.StatusCode != 404 {
		t.Fatalf("participant, another client reads: %d %s", resp.StatusCode, b)
	}

	// Named in input_from, bob gives the input; named in release_to, the
	// auditors read the release; bob may not read it.
	req := sumRequest("b", "1")
	req.InputFrom, req.ReleaseTo = []string{tokenGrantee(bob)}, []string{"role:auditor"}
	if st := c.json("POST", "/v1/mpc/sessions", "client", req, &sess2); st != 201 {
		t.Fatalf("create with lists: %d", st)
	}
	path = "/v1/mpc/sessions/" + sess2.ID
	if resp, b := c.do("POST", path+"/input", bob, in); resp.StatusCode != 202 {
		t.Fatalf("named client's input: %d %s", resp.StatusCode, b)
	}
	if resp, b := p.do("POST", path+"/input", pAlice, in); resp.StatusCode != 202 {
		t.Fatalf("participant's input: %d %s", resp.StatusCode, b)
	}
	waitSession(t, c, "client", sess2.ID)
	if code, st := c.status("auditor", path); code != 200 || st.Release == nil {
		t.Fatalf("named auditor: %d %+v", code, st.Release)
	}
	var bobs schema.MPCSessionStatus
	resp, b := c.do("GET", path, bob, nil)
	if resp.StatusCode != 200 || mustUnmarshal(t, b, &bobs) != nil || bobs.Release != nil {
		t.Fatalf("input giver reads: %d %s", resp.StatusCode, b)
	}
	for _, bad := range [][]string{{"user:x"}, {"role:root"}} {
		req.InputFrom = bad
		if resp, b := c.do("POST", "/v1/mpc/sessions", alice, mustJSON(req)); resp.StatusCode != 400 {
			t.Errorf("input_from %v: %d %s", bad, resp.StatusCode, b)
		}
	}
}

// TestForbiddenNamesRoles: a 403 says which roles the route needs.
func TestForbiddenNamesRoles(t *testing.T) {
	n := newTestNode(t, Config{})
	resp, b := n.do("GET", "/v1/budgets", n.tokens[RoleClient], nil)
	if resp.StatusCode != 403 || errorCode(b) != "forbidden" || !strings.Contains(string(b), "this route needs role admin or auditor (this token's role is client)") {
		t.Fatalf("403: %d %s", resp.StatusCode, b)
	}
	resp, b = n.do("POST", "/v1/keys", n.tokens[RoleAdmin], nil)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "this route needs role client (") {
		t.Fatalf("403 of a one-role route: %d %s", resp.StatusCode, b)
	}
}

// TestBudgetDescriptionControlCharacters: NUL and ESC in a description are
// refused with 400 (dp refuses control characters other than tab).
func TestBudgetDescriptionControlCharacters(t *testing.T) {
	n := newTestNode(t, Config{})
	for _, d := range []string{"a\x00b", "\x1b[31mred", "line\nbreak"} {
		resp, b := n.do("POST", "/v1/budgets", n.tokens[RoleAdmin], mustJSON(map[string]string{"name": "b", "epsilon": "1", "description": d}))
		if resp.StatusCode != 400 || errorCode(b) != "bad_request" || !strings.Contains(string(b), "description") {
			t.Errorf("description %q: %d %s", d, resp.StatusCode, b)
		}
	}
	if resp, b := n.do("POST", "/v1/budgets", n.tokens[RoleAdmin], mustJSON(map[string]string{"name": "b", "epsilon": "1", "description": "tab\there"})); resp.StatusCode != 201 {
		t.Errorf("tab: %d %s", resp.StatusCode, b)
	}
}

// status is GET path as role, decoded into a fresh status.
func (n *mpcNode) status(role, path string) (int, schema.MPCSessionStatus) {
	var st schema.MPCSessionStatus
	return n.json("GET", path, role, nil, &st), st
}

// waitSession polls a session as role until it is done or failed.
func waitSession(t *testing.T, n *mpcNode, role, id string) *schema.MPCSessionStatus {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		var st schema.MPCSessionStatus
		if code := n.json("GET", "/v1/mpc/sessions/"+id, role, nil, &st); code != 200 {
			t.Fatalf("status: %d", code)
		}
		if st.State == "done" || st.State == "failed" {
			return &st
		}
		if time.Now().After(deadline) {
			t.Fatalf("session still %s", st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) error {
	t.Helper()
	err := json.Unmarshal(b, v)
	if err != nil {
		t.Errorf("decode %s: %v", b, err)
	}
	return err
}
