package api

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// BenchmarkInferHTTPvsInProcess evaluates one full batch of the digits
// model (N/2 = 4096 samples at n13) two ways in the same run: in-process
// with the batch evaluator, and over HTTP through POST /v1/models/{id}/infer
// on loopback as the SDK (api/client) sends it and reads the answer
// (request framing, validation, decoding, queue, evaluation, encoding,
// transfer). It reports predictions/s of each and their ratio,
// for a request in version 1 of the ciphertext framing (framing=full) and
// in the compact version 2 of seeded ciphertexts that the SDK sends
// (framing=compact, where the node also expands every c1 from its seed).
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
	vecs, err := c.Encrypt(samples) // seeded: each carries the seed of its c1
	if err != nil {
		b.Fatal(err)
	}
	cts := make([]*rlwe.Ciphertext, len(vecs))
	for i, v := range vecs {
		cts[i] = v.Ciphertext
	}
	ev, err := inference.NewBatchEvaluator(f.model, f.keys.Evaluation)
	if err != nil {
		b.Fatal(err)
	}
	for _, framing := range []struct {
		name  string
		write func(io.Writer, he.Parameters, []he.EncryptedVector) error
	}{{"full", he.WriteCiphertextFile}, {"compact", he.WriteCompactCiphertextFile}} {
		var body bytes.Buffer
		if err := framing.write(&body, f.keys.Params, vecs); err != nil {
			b.Fatal(err)
		}
		b.Run("framing="+framing.name, func(b *testing.B) {
			benchHTTPvsInProcess(b, n, info.ID, keyID, body.Bytes(), func() {
				if _, err := ev.Evaluate(context.Background(), cts); err != nil {
					b.Fatal(err)
				}
			}, len(samples))
		})
	}
}

// benchHTTPvsInProcess times inProc and the SDK's POST of body to the
// model's /infer under keyID in turns and reports the predictions/s of
// each and their ratio.
func benchHTTPvsInProcess(b *testing.B, n *testNode, modelID, keyID string, body []byte, inProc func(), samples int) {
	c, err := client.New(n.ts.URL, n.tokens[RoleClient], client.Options{HTTPClient: n.ts.Client(), MaxRetries: -1})
	if err != nil {
		b.Fatal(err)
	}
	post := func() { // as the SDK sends a batch and takes the answer
		if _, err := c.Infer(context.Background(), modelID, keyID, "batch", body); err != nil {
			b.Fatalf("infer: %v", err)
		}
	}
	post() // the node builds and caches its evaluator for (model, keys) on first use
	var local, overHTTP time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		inProc()
		t1 := time.Now()
		post()
		t2 := time.Now()
		local += t1.Sub(t0)
		overHTTP += t2.Sub(t1)
	}
	b.StopTimer()
	ip := float64(b.N*samples) / local.Seconds()
	hp := float64(b.N*samples) / overHTTP.Seconds()
	b.ReportMetric(ip, "in-process-pred/s")
	b.ReportMetric(hp, "http-pred/s")
	b.ReportMetric(hp/ip, "http/in-process")
	b.ReportMetric(float64(len(body))/1e6, "request-MB")
}
