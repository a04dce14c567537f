package inference_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/inference"
)

// fullBatch repeats the test samples to fill every slot.
func fullBatch(x [][]float64, n int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = x[i%len(x)]
	}
	return out
}

// BenchmarkBatchDigits measures server-side evaluation of full batches
// (N/2 = 4096 samples at n13) of the bundled digits model: the optimized
// evaluator and the naive baseline in the same run.
func BenchmarkBatchDigits(b *testing.B) {
	m, test := digits(b)
	km := keysFor(b, m, inference.Batch)
	for _, name := range []string{"optimized", "naive"} {
		b.Run(name, func(b *testing.B) {
			var ev *inference.BatchEvaluator
			var err error
			if name == "naive" {
				ev, err = inference.NewNaiveBatchEvaluator(m, km.Evaluation)
			} else {
				ev, err = inference.NewBatchEvaluator(m, km.Evaluation)
			}
			if err != nil {
				b.Fatal(err)
			}
			c, err := inference.NewClientForPlan(m, ev.Plan(), km)
			if err != nil {
				b.Fatal(err)
			}
			x := fullBatch(test.X, c.MaxBatch())
			t0 := time.Now()
			in, err := c.EncryptBatch(x)
			if err != nil {
				b.Fatal(err)
			}
			enc := time.Since(t0)
			var out []*rlwe.Ciphertext
			b.ResetTimer()
			for b.Loop() {
				if out, err = ev.Evaluate(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			t0 = time.Now()
			if _, err := c.DecryptBatch(out, len(x)); err != nil {
				b.Fatal(err)
			}
			dec := time.Since(t0)
			perOp := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(len(x))/perOp, "predictions/s")
			b.ReportMetric(enc.Seconds()*1000, "client-encrypt-ms")
			b.ReportMetric(dec.Seconds()*1000, "client-decrypt-ms")
		})
	}
}

// BenchmarkSingleDigits measures the server-side latency of one query.
func BenchmarkSingleDigits(b *testing.B) {
	m, test := digits(b)
	km := keysFor(b, m, inference.Single)
	ev, err := inference.NewSingleEvaluator(m, km.Evaluation)
	if err != nil {
		b.Fatal(err)
	}
	c, err := inference.NewClient(m, inference.Single, km)
	if err != nil {
		b.Fatal(err)
	}
	in, err := c.EncryptSingle(test.X[0])
	if err != nil {
		b.Fatal(err)
	}
	var lat []float64
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := ev.Evaluate(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(lat)
	b.ReportMetric(lat[(len(lat)-1)/2], "p50-ms")
	b.ReportMetric(lat[min(len(lat)-1, int(0.95*float64(len(lat))))], "p95-ms")
}
