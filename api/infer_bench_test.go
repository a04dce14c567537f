package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// BenchmarkInferHTTPvsInProcess evaluates one full batch of the digits
// model (N/2 = 4096 samples at n13) two ways in the same run: in-process
// with the batch evaluator, and over HTTP through POST /v1/models/{id}/infer
// on loopback (request framing, validation, decoding, queue, evaluation,
// encoding, transfer). It reports predictions/s of each and their ratio.
//
//	go test ./api -run '^$' -bench HTTPvsInProcess -benchtime 5x
func BenchmarkInferHTTPvsInProcess(b *testing.B) {
	n, f, info, keyID := inferNode(b, Config{MaxInferBytes: 256 << 20})
	samples := make([][]float64, 4096)
	for i := range samples {
		samples[i] = f.samples[i%len(f.samples)]
	}
	c, err := inference.NewClient(f.model, inference.Batch, f.keys)
	if err != nil {
		b.Fatal(err)
	}
	cts, err := c.EncryptBatch(samples)
	if err != nil {
		b.Fatal(err)
	}
	vecs := make([]he.EncryptedVector, len(cts))
	for i, ct := range cts {
		vecs[i] = he.EncryptedVector{Values: len(samples), Ciphertext: ct}
	}
	var body bytes.Buffer
	if err := he.WriteCiphertextFile(&body, f.keys.Params, vecs); err != nil {
		b.Fatal(err)
	}
	ev, err := inference.NewBatchEvaluator(f.model, f.keys.Evaluation)
	if err != nil {
		b.Fatal(err)
	}
	url := fmt.Sprintf("%s/v1/models/%s/infer?key=%s&packing=batch", n.ts.URL, info.ID, keyID)
	post := func() {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body.Bytes()))
		req.Header.Set("Authorization", "Bearer "+n.tokens[RoleClient])
		resp, err := n.ts.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("infer: %d %s", resp.StatusCode, out.Bytes())
		}
	}
	post() // the node builds and caches its evaluator for (model, keys) on first use
	var inProc, overHTTP time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := ev.Evaluate(context.Background(), cts); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		post()
		t2 := time.Now()
		inProc += t1.Sub(t0)
		overHTTP += t2.Sub(t1)
	}
	b.StopTimer()
	ip := float64(b.N*len(samples)) / inProc.Seconds()
	hp := float64(b.N*len(samples)) / overHTTP.Seconds()
	b.ReportMetric(ip, "in-process-pred/s")
	b.ReportMetric(hp, "http-pred/s")
	b.ReportMetric(hp/ip, "http/in-process")
	b.ReportMetric(float64(body.Len())/1e6, "request-MB")
}
