package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
)

// TestMissingQueryParameters: a request without a required query parameter
// is a 400 that names it, not a 404 for an empty ID.
func TestMissingQueryParameters(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:2])
	for _, path := range []string{
		fmt.Sprintf("/v1/models/%s/infer?packing=batch", info.ID),
		fmt.Sprintf("/v1/jobs?key=%s&packing=batch", keyID),
		fmt.Sprintf("/v1/jobs?model=%s&packing=batch", info.ID),
	} {
		resp, b := n.do("POST", path, n.tokens[RoleClient], body)
		if resp.StatusCode != 400 || errorCode(b) != "bad_request" {
			t.Errorf("POST %s: %d %s, want 400 bad_request", path, resp.StatusCode, b)
		}
	}
}

// TestJobResultSamples: a job's result carries X-Aios-Samples, as /infer's
// answer does, and both announce their Content-Length (so that a client
// can read the answer into one buffer).
func TestJobResultSamples(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{})
	_, body := encryptFor(t, f, inference.Batch, f.samples)
	resp, b := n.do("POST", fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", info.ID, keyID), n.tokens[RoleClient], body)
	var job schema.JobInfo
	if resp.StatusCode != 202 || json.Unmarshal(b, &job) != nil {
		t.Fatalf("submit: %d %s", resp.StatusCode, b)
	}
	for deadline := time.Now().Add(2 * time.Minute); job.Status != schema.JobDone; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || job.Status == schema.JobFailed {
			t.Fatalf("job: %+v", job)
		}
		_, b := n.do("GET", "/v1/jobs/"+job.ID, n.tokens[RoleClient], nil)
		json.Unmarshal(b, &job)
	}
	resp, out := n.do("GET", "/v1/jobs/"+job.ID+"/result", n.tokens[RoleClient], nil)
	if got := resp.Header.Get("X-Aios-Samples"); resp.StatusCode != 200 || got != strconv.Itoa(len(f.samples)) {
		t.Fatalf("result: %d, X-Aios-Samples %q, want %d", resp.StatusCode, got, len(f.samples))
	}
	if resp.ContentLength != int64(len(out)) {
		t.Errorf("result: Content-Length %d for %d bytes", resp.ContentLength, len(out))
	}
	resp, out = n.do("POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, keyID), n.tokens[RoleClient], body)
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(out)) || resp.Header.Get("X-Aios-Samples") != strconv.Itoa(len(f.samples)) {
		t.Errorf("infer: %d, Content-Length %d for %d bytes, X-Aios-Samples %q", resp.StatusCode, resp.ContentLength, len(out), resp.Header.Get("X-Aios-Samples"))
	}
}

// TestEmptyBudgetList: a node without budgets lists [], not null.
func TestEmptyBudgetList(t *testing.T) {
	n := newTestNode(t, Config{})
	resp, b := n.do("GET", "/v1/budgets", n.tokens[RoleAuditor], nil)
	var body struct {
		Budgets json.RawMessage `json:"budgets"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &body) != nil || string(body.Budgets) != "[]" {
		t.Fatalf("GET /v1/budgets on a new node: %d %s", resp.StatusCode, b)
	}
}
