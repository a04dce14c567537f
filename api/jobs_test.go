package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store"
)

// TestJobsSchema: on a fresh database and on one that a release before
// internal/jobs migrated (the jobs table from the api component's migration
// 3), the node starts with both components migrated and serves the jobs.
func TestJobsSchema(t *testing.T) {
	ctx := context.Background()
	versions := func(n *testNode) {
		t.Helper()
		for component, want := range map[string]int{"api": 3, "jobs": 1} {
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
