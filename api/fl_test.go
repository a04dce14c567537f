package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/fl"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// flCluster is n nodes with MPC, each training on an IID part of the
// first rows of the breast-cancer data set and accepting every federation
// of node 0, whose coordinator scores every round on held-out rows (the
// next ones). It returns the nodes, the training rows and the held-out
// rows.
func flCluster(t *testing.T, n, rows int) ([]*mpcNode, *dataset.Dataset, *dataset.Dataset) {
	t.Helper()
	all, err := dataset.LoadCSVFile("../testvectors/datasets/breast_cancer.csv", dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows = min(rows, all.Len()-100)
	held := make([]int, min(200, all.Len()-rows))
	for i := range held {
		held[i] = rows + i
	}
	eval := all.Subset(held)
	all = all.Subset(seq(rows))
	parts, err := fl.PartitionIID(all, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	nodes := newMPCClusterEach(t, n, nil, nil, Config{}, func(i int, peers []httptransport.Peer, c *Config) {
		accept, err := fl.ParseAcceptList([]byte(peers[0].ID.String() + " *\n"))
		if err != nil {
			t.Fatal(err)
		}
		c.FL = &FLConfig{TrainData: parts[i], Accept: accept}
		if i == 0 {
			c.FL.EvalData = eval
		}
	})
	return nodes, all, eval
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// dpFederation is a record-dp federation request over d with rounds
// float rounds and no compression rounds.
func dpFederation(name string, d *dataset.Dataset, threshold, rounds, maxSamples int) schema.FLFederationRequest {
	bound := 0.0
	for _, x := range d.X {
		for _, v := range x {
			bound = max(bound, math.Abs(v))
		}
	}
	return schema.FLFederationRequest{Name: name, Threshold: threshold, Inputs: d.Features, Hidden: []int{4}, Classes: d.Classes,
		Activation: "square", Rounds: rounds, LocalEpochs: 1, LR: 0.5, Batch: 16, Aggregation: "fedavg", ClipNorm: 1,
		Privacy: "record-dp", Epsilon: 8, Delta: 1e-5, Bits: 8, MaxSamples: maxSamples, FeatureBound: math.Ceil(bound), PhaseSeconds: 1}
}

// runFederation creates a federation on node 0 and waits until it ends.
func runFederation(t *testing.T, n *mpcNode, req schema.FLFederationRequest) *schema.FLFederationStatus {
	t.Helper()
	var created schema.FLFederationStatus
	if code := n.json("POST", "/v1/fl/federations", "admin", req, &created); code != 201 {
		t.Fatalf("create federation %s: %d", req.Name, code)
	}
	var id [32]byte
	if _, err := hex.Decode(id[:], []byte(created.ID)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := n.srv.fl.coord.Wait(ctx, id); err != nil {
		t.Fatalf("federation %s: %v", req.Name, err)
	}
	var st schema.FLFederationStatus
	if code := n.json("GET", "/v1/fl/federations/"+created.ID, "auditor", nil, &st); code != 200 {
		t.Fatalf("status of %s: %d", req.Name, code)
	}
	return &st
}

// TestFLList: GET /v1/fl/federations lists node 0's federations newest
// first, each line agreeing with the federation's status; limit bounds it.
func TestFLList(t *testing.T) {
	nodes, d, eval := flCluster(t, 3, 150)
	rounds := 2
	first := runFederation(t, nodes[0], dpFederation("first", d, 2, rounds, d.Len()))
	second := runFederation(t, nodes[0], dpFederation("second", d, 2, rounds, d.Len()))
	for _, st := range []*schema.FLFederationStatus{first, second} {
		if st.State != "done" || len(st.Rounds) != st.PlannedRounds || st.Epsilon == "none" {
			t.Fatalf("federation %s: %s (%s), %d of %d rounds, ε %s", st.Name, st.State, st.Error, len(st.Rounds), st.PlannedRounds, st.Epsilon)
		}
		checkRoundAccuracy(t, nodes[0], st, eval)
	}
	for _, role := range []string{"admin", "auditor"} {
		var list schema.FLFederationList
		if code := nodes[0].json("GET", "/v1/fl/federations", role, nil, &list); code != 200 {
			t.Fatalf("list as %s: %d", role, code)
		}
		if list.Total != 2 || list.Limit != defaultListLimit || len(list.Federations) != 2 {
			t.Fatalf("list as %s: %+v", role, list)
		}
		for i, st := range []*schema.FLFederationStatus{second, first} {
			want := schema.FLFederationSummary{ID: st.ID, Name: st.Name, State: st.State, Privacy: st.Privacy, Epsilon: st.Epsilon,
				RoundsDone: len(st.Rounds), PlannedRounds: st.PlannedRounds, Created: st.Created}
			if got := list.Federations[i]; got != want {
				t.Errorf("line %d: %+v, want %+v", i, got, want)
			}
		}
	}
	var one schema.FLFederationList
	if code := nodes[0].json("GET", "/v1/fl/federations?limit=1", "auditor", nil, &one); code != 200 || one.Total != 2 || len(one.Federations) != 1 || one.Federations[0].ID != second.ID {
		t.Errorf("limit=1: %d %+v", code, one)
	}
	for _, bad := range []string{"0", "1001", "x"} {
		if code := nodes[0].json("GET", "/v1/fl/federations?limit="+bad, "auditor", nil, nil); code != 400 {
			t.Errorf("limit=%s: %d, want 400", bad, code)
		}
	}
	// A member lists none: it coordinates none.
	var none schema.FLFederationList
	if code := nodes[1].json("GET", "/v1/fl/federations", "auditor", nil, &none); code != 200 || none.Total != 0 || none.Federations == nil {
		t.Errorf("member's list: %d %+v", code, none)
	}
	// Every round was an MPC session on the coordinator: the auditor's
	// session list holds them all.
	var sessions schema.MPCSessionList
	if code := nodes[0].json("GET", "/v1/mpc/sessions", "auditor", nil, &sessions); code != 200 {
		t.Fatalf("sessions: %d", code)
	}
	for _, st := range []*schema.FLFederationStatus{first, second} {
		for _, r := range st.Rounds {
			if !slices.ContainsFunc(sessions.Sessions, func(s schema.MPCSessionStatus) bool { return s.ID == r.Session }) {
				t.Errorf("round %d of %s: session %s missing from the list", r.Round, st.Name, r.Session)
			}
		}
	}
}

// checkRoundAccuracy: every round of st carries an accuracy, and the
// last one's is the final global model's (GET …/global) on eval.
func checkRoundAccuracy(t *testing.T, n *mpcNode, st *schema.FLFederationStatus, eval *dataset.Dataset) {
	t.Helper()
	for _, r := range st.Rounds {
		if r.Accuracy == nil || *r.Accuracy < 0 || *r.Accuracy > 1 {
			t.Fatalf("federation %s round %d (%s): accuracy %v", st.Name, r.Round, r.Stage, r.Accuracy)
		}
	}
	var g schema.FLGlobal
	if code := n.json("GET", "/v1/fl/federations/"+st.ID+"/global", "admin", nil, &g); code != 200 {
		t.Fatalf("global: %d", code)
	}
	fed, err := fl.DecodeFederation([]byte(st.Spec))
	if err != nil {
		t.Fatal(err)
	}
	want, err := fl.Score(fed, &fl.Global{Mean: g.Mean, Std: g.Std, Params: g.Params}, eval)
	if err != nil {
		t.Fatal(err)
	}
	if got := *st.Rounds[len(st.Rounds)-1].Accuracy; got != want {
		t.Errorf("federation %s: last round's accuracy %v, the final global model scores %v", st.Name, got, want)
	}
}

// TestMPCList: GET /v1/mpc/sessions shows admins and auditors every
// session newest first (the release only where release_to names the
// auditor), a client only the sessions it owns, and limit bounds it.
func TestMPCList(t *testing.T) {
	nodes := newMPCCluster(t, 3, nil, nil)
	done := runHTTPSession(t, nodes, randVectors(3, 2, 5), 2) // owned by the client token, released to auditors
	c := nodes[0]
	bob, carol := c.token(RoleClient), c.token(RoleClient)
	if st := c.json("POST", "/v1/budgets", "admin", map[string]string{"name": "b", "epsilon": "10"}, nil); st != 201 {
		t.Fatalf("budget: %d", st)
	}
	if st := c.json("POST", "/v1/budgets/b/grants", "admin", schema.GrantRequest{Grantee: "role:client"}, nil); st != 201 {
		t.Fatalf("grant: %d", st)
	}
	var running schema.MPCSessionStatus
	resp, b := c.do("POST", "/v1/mpc/sessions", bob, mustJSON(sumRequest("b", "1")))
	if resp.StatusCode != 201 {
		t.Fatalf("bob's session: %d %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &running); err != nil {
		t.Fatal(err)
	}
	list := func(n *mpcNode, token, query string) schema.MPCSessionList {
		t.Helper()
		resp, b := n.do("GET", "/v1/mpc/sessions"+query, token, nil)
		var l schema.MPCSessionList
		if resp.StatusCode != 200 {
			t.Fatalf("list%s: %d %s", query, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	idsOf := func(l schema.MPCSessionList) []string {
		var out []string
		for _, s := range l.Sessions {
			out = append(out, s.ID)
		}
		return out
	}
	for _, tc := range []struct {
		who     string
		n       *mpcNode
		token   string
		want    []string
		release bool // the done session's release is shown
	}{
		{"admin", c, c.tokens[RoleAdmin], []string{running.ID, done.ID}, true},
		{"auditor", c, c.tokens[RoleAuditor], []string{running.ID, done.ID}, true},
		{"owner", c, c.tokens[RoleClient], []string{done.ID}, true},
		{"bob", c, bob, []string{running.ID}, false},
		{"carol", c, carol, nil, false},
		// On a participant the client that gave the input owns the
		// session; no release is made there.
		{"participant's client", nodes[1], nodes[1].tokens[RoleClient], []string{done.ID}, false},
	} {
		l := list(tc.n, tc.token, "")
		if got := idsOf(l); !slices.Equal(got, tc.want) || l.Total != len(tc.want) || l.Limit != defaultListLimit {
			t.Errorf("%s lists %v (total %d, limit %d), want %v", tc.who, got, l.Total, l.Limit, tc.want)
			continue
		}
		for _, s := range l.Sessions {
			var one schema.MPCSessionStatus
			resp, b := tc.n.do("GET", "/v1/mpc/sessions/"+s.ID, tc.token, nil)
			if resp.StatusCode != 200 || json.Unmarshal(b, &one) != nil {
				t.Fatalf("%s reads %s: %d", tc.who, s.ID, resp.StatusCode)
			}
			if s.ID == done.ID {
				one.Stats, s.Stats = schema.MPCStats{}, schema.MPCStats{}
				if !reflect.DeepEqual(one, s) {
					t.Errorf("%s: list shows %+v, GET %+v", tc.who, s, one)
				}
				if (s.Release != nil) != tc.release {
					t.Errorf("%s: release %+v, want shown %v", tc.who, s.Release, tc.release)
				}
			}
			if s.Started.IsZero() {
				t.Errorf("%s: session %s without started_at", tc.who, s.ID)
			}
		}
	}
	if l := list(c, c.tokens[RoleAuditor], "?limit=1"); !slices.Equal(idsOf(l), []string{running.ID}) || l.Total != 2 || l.Limit != 1 {
		t.Errorf("limit=1: %v total %d", idsOf(l), l.Total)
	}
	for _, bad := range []string{"0", "1001", "-1", "x"} {
		if resp, _ := c.do("GET", "/v1/mpc/sessions?limit="+bad, c.tokens[RoleAuditor], nil); resp.StatusCode != 400 {
			t.Errorf("limit=%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}
