package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/store"
)

// TestJobsSchema: on a fresh database and on one that a release before
// internal/jobs migrated (the jobs table from the api component's migration
// 3), the node starts with both components migrated and serves the jobs.
func TestJobsSchema(t *testing.T) {
	ctx := context.Background()
	versions := func(n *testNode) {
		t.Helper()
		for component, want := range map[string]int{"api": 3, "jobs": 2} {
			var v int
			err := n.srv.DB().SQL().QueryRow(`SELECT MAX(version) FROM schema_migrations WHERE component = ?`, component).Scan(&v)
			if err != nil || v != want {
				t.Fatalf("%s at version %d (%v), want %d", component, v, err, want)
			}
		}
	}
	versions(newTestNode(t, Config{}))

	dir := t.TempDir()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for component, list := range map[string][]store.Migration{"auth": authMigrations(), "api": apiMigrations()} {
		if err := db.Migrate(ctx, component, list); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().UnixMicro()
	if _, err := db.SQL().Exec(`INSERT INTO jobs (id, owner, model, key_id, packing, status, done, total, samples, error, input_blob, result_blob, result_bytes, created_at, finished_at)
		VALUES ('old', 'someone', 'm', 'k', 'batch', 'failed', 1, 2, 3, 'it failed', '', '', 0, ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	db.Close()
	n := newTestNode(t, Config{DataDir: dir})
	versions(n)
	resp, b := n.do("GET", "/v1/jobs/old", n.tokens[RoleAdmin], nil)
	var job schema.JobInfo
	if resp.StatusCode != 200 || json.Unmarshal(b, &job) != nil || job.Status != schema.JobFailed || job.Error != "it failed" || job.Samples != 3 {
		t.Fatalf("job of an older release: %d %s", resp.StatusCode, b)
	}
}

// TestKeyDeletedUnderJob: a queued job whose key set is deleted before it
// starts fails with not_found; an evaluation that holds its keys already
// finishes after the delete, which drops the cached keys and evaluators.
func TestKeyDeletedUnderJob(t *testing.T) {
	n, f, info, keyID := inferNode(t, Config{})
	_, body := encryptFor(t, f, inference.Batch, f.samples)

	// Running: the keys and the evaluator are in hand before the delete.
	m, err := n.srv.model(context.Background(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := n.srv.evaluationKeys(context.Background(), "", keyID)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := n.srv.evaluators.get(m, keys, inference.Batch)
	if err != nil {
		t.Fatal(err)
	}
	in, err := m.server.ReadInput(inference.Batch, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}

	// Queued: the job waits for memory before it looks its keys up. All
	// but one byte less than the job's run needs is held here; the upload
	// (it holds scanBytes while it is checked) still fits.
	need, err := m.server.WorkingBytes(inference.Batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	if need <= scanBytes() {
		t.Fatalf("a run needs %d bytes, no more than the upload's check (%d): the job could not be held back", need, scanBytes())
	}
	hold, err := n.srv.mem.reserve(n.srv.mem.limit - need + 1)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := n.do("POST", fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", info.ID, keyID), n.tokens[RoleClient], body)
	var job schema.JobInfo
	if resp.StatusCode != 202 || json.Unmarshal(b, &job) != nil {
		hold()
		t.Fatalf("submit: %d %s", resp.StatusCode, b)
	}
	resp, b = n.do("DELETE", "/v1/keys/"+keyID, n.tokens[RoleClient], nil)
	hold()
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	if n.srv.keys.get(keyID) != nil || len(n.srv.evaluators.byKey) != 0 {
		t.Error("deleted key set still cached")
	}
	if _, err := ev.EvaluateInput(context.Background(), in, nil); err != nil {
		t.Errorf("evaluation holding the deleted keys: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for job.Status != schema.JobFailed {
		if time.Now().After(deadline) || job.Status == schema.JobDone {
			t.Fatalf("job after its key set was deleted: %+v", job)
		}
		time.Sleep(20 * time.Millisecond)
		_, b := n.do("GET", "/v1/jobs/"+job.ID, n.tokens[RoleClient], nil)
		json.Unmarshal(b, &job)
	}
	if !strings.Contains(job.Error, "not found") {
		t.Errorf("job error %q, want not found", job.Error)
	}
}
