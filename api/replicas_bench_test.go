package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store/storetest"
)

// BenchmarkJobsTwoReplicas runs digits batch inference as jobs (full
// batches of N/2 = 4096 samples at n13), submitted through one replica, on
// one replica and then on two replicas of a node on one PostgreSQL
// database (each with one job worker and the default 1 s poll; each
// builds its evaluator before the clock starts), and reports the predictions/s of each and their ratio in the same run. An
// iteration submits 16 jobs and waits until all are done.
//
//	scripts/with-postgres.sh go test ./api -run '^$' -bench JobsTwoReplicas -benchtime 2x
func BenchmarkJobsTwoReplicas(b *testing.B) {
	const jobsPer = 16
	f := loadDigits(b)
	samples := make([][]float64, 4096)
	for i := range samples {
		samples[i] = f.samples[i%len(f.samples)]
	}
	c, err := inference.NewClient(f.model, inference.Batch, f.keys)
	if err != nil {
		b.Fatal(err)
	}
	vecs, err := c.Encrypt(samples)
	if err != nil {
		b.Fatal(err)
	}
	var body bytes.Buffer
	if err := he.WriteCompactCiphertextFile(&body, f.keys.Params, vecs); err != nil {
		b.Fatal(err)
	}
	evk, _ := f.keys.Evaluation.MarshalBinary()
	rate := map[int]float64{}
	for _, replicas := range []int{1, 2} {
		loc := storetest.Postgres(b)
		cfg := Config{DataDir: loc.Dir, DB: loc.URL, MaxJobBytes: 256 << 20, MaxInferBytes: 256 << 20, QueueSize: 64}
		a := newTestNode(b, cfg)
		nodes := []*testNode{a}
		if replicas == 2 {
			cfg.DataDir, cfg.NodeKeyFile = b.TempDir(), filepath.Join(loc.Dir, nodekey.FileName)
			nodes = append(nodes, newTestNode(b, cfg))
		}
		resp, out := a.do("POST", "/v1/models", a.tokens[RoleAdmin], f.file)
		var info schema.ModelInfo
		if resp.StatusCode != 201 || json.Unmarshal(out, &info) != nil {
			b.Fatalf("add model: %d %s", resp.StatusCode, out)
		}
		if resp, out := a.do("POST", "/v1/keys?preset="+info.Preset, a.tokens[RoleClient], evk); resp.StatusCode != 201 {
			b.Fatalf("upload keys: %d %s", resp.StatusCode, out)
		}
		// Each replica builds its evaluator for (model, keys) before the
		// clock starts: one synchronous inference through each.
		for _, n := range nodes {
			if resp, out := n.do("POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, f.keys.Evaluation.ID()), a.tokens[RoleClient], body.Bytes()); resp.StatusCode != 200 {
				b.Fatalf("warm-up inference: %d %.200s", resp.StatusCode, out)
			}
		}
		path := fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=batch", info.ID, f.keys.Evaluation.ID())
		var elapsed time.Duration
		for range b.N {
			t0 := time.Now()
			ids := make([]string, jobsPer)
			for i := range ids {
				resp, out := a.do("POST", path, a.tokens[RoleClient], body.Bytes())
				var job schema.JobInfo
				if resp.StatusCode != 202 || json.Unmarshal(out, &job) != nil {
					b.Fatalf("submit: %d %s", resp.StatusCode, out)
				}
				ids[i] = job.ID
			}
			for _, id := range ids {
				for {
					_, out := a.do("GET", "/v1/jobs/"+id, a.tokens[RoleClient], nil)
					var job schema.JobInfo
					if err := json.Unmarshal(out, &job); err != nil || job.Status == schema.JobFailed {
						b.Fatalf("job %s: %v %s", id, err, out)
					}
					if job.Status == schema.JobDone {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			elapsed += time.Since(t0)
		}
		rate[replicas] = float64(b.N*jobsPer*len(samples)) / elapsed.Seconds()
	}
	b.ReportMetric(rate[1], "1-replica-pred/s")
	b.ReportMetric(rate[2], "2-replicas-pred/s")
	b.ReportMetric(rate[2]/rate[1], "2/1")
}
