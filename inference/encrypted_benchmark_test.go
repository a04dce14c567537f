package inference_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/accel"
	_ "github.com/aios-edge/aios/accel/cuda" // so AIOS_ACCEL=cuda selects the GPU where there is one
	"github.com/aios-edge/aios/he"
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

// selectedBackend is the kernel backend AIOS_ACCEL names (the cpu backend
// by default), as `aios serve` selects it.
func selectedBackend(b *testing.B) accel.Backend {
	be, err := accel.Select()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("backend %s (%s)", be.Name(), be.Device())
	return be
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
				ev, err = inference.NewBatchEvaluatorOn(selectedBackend(b), m, km.Evaluation)
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

// wideModel is a synthetic 784→128→10 model (MNIST-sized, x² activation,
// half the weights pruned, int8) with random weights: for throughput only.
// Its bounds, preset and input level come from a trace over random inputs
// in [0, 1], as training would set them.
func wideModel(b *testing.B, inputs [][]float64) *inference.Model {
	rng := rand.New(rand.NewPCG(7, 8))
	layer := func(in, out int, act inference.Activation, scale float64) inference.Layer {
		l := inference.Layer{In: in, Out: out, W: make([]int8, in*out), Scale: make([]float64, out), Bias: make([]float64, out), Act: act}
		for i := range l.W {
			if rng.IntN(2) == 0 {
				l.W[i] = int8(rng.IntN(255) - 127)
			}
		}
		for o := range out {
			l.Scale[o] = scale
		}
		return l
	}
	m := &inference.Model{
		// Preset and level are provisional until the trace below.
		Meta: inference.Metadata{Name: "wide-synthetic", Dataset: "random", Features: 784, Depth: 1, Preset: "n13", InputLevel: 1,
			Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		Layers: []inference.Layer{
			layer(784, 128, inference.Square, 1.0/(127*28)),
			layer(128, 10, inference.Activation{}, 1.0/(127*12)),
		},
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		b.Fatal(err)
	}
	if m.Meta.Bounds, err = ref.Trace(inputs[:256]); err != nil {
		b.Fatal(err)
	}
	if m.Meta.Preset, m.Meta.InputLevel, err = inference.ChoosePreset(m.Meta.Bounds); err != nil {
		b.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkBatchWide measures server-side evaluation of one full batch of
// a 784→128→10 model on the backend AIOS_ACCEL selects (the issue's
// cuda-vs-cpu figure is this benchmark run with AIOS_ACCEL=cpu and =cuda).
//
//	go test ./inference -run '^$' -bench BatchWide -benchtime 1x
func BenchmarkBatchWide(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([][]float64, 4096)
	for i := range x {
		x[i] = make([]float64, 784)
		for j := range x[i] {
			x[i][j] = rng.Float64()
		}
	}
	m := wideModel(b, x)
	km := keysFor(b, m, inference.Batch)
	ev, err := inference.NewBatchEvaluatorOn(selectedBackend(b), m, km.Evaluation)
	if err != nil {
		b.Fatal(err)
	}
	c, err := inference.NewClient(m, inference.Batch, km)
	if err != nil {
		b.Fatal(err)
	}
	x = x[:c.MaxBatch()]
	in, err := c.EncryptBatch(x)
	if err != nil {
		b.Fatal(err)
	}
	var out []*rlwe.Ciphertext
	b.ResetTimer()
	for b.Loop() {
		if out, err = ev.Evaluate(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	logits, err := c.DecryptBatch(out, len(x))
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := inference.NewEvaluator(m)
	want, _ := ref.Predict(x[:64])
	if agree := inference.AccuracyOf(inference.Argmax(logits[:64]), inference.Argmax(want)); agree < 0.95 {
		b.Fatalf("agreement with the plaintext model %.2f", agree)
	}
	b.ReportMetric(float64(len(x))/(b.Elapsed().Seconds()/float64(b.N)), "predictions/s")
	b.ReportMetric(0, "ns/op")
	b.Logf("preset %s, input level %d, backend %s", m.Meta.Preset, m.Meta.InputLevel, ev.Backend())
}

// BenchmarkEncryptVsEvaluate: the client's side of one full digits batch
// (N/2 = 4096 samples at n13) against the node's evaluation of the same
// batch, in the same run: Client.Encrypt (seeded, as the SDK encrypts),
// the compact write of the request body (he.WriteCompactCiphertextFile)
// and the batch evaluator on the backend AIOS_ACCEL selects. It reports
// each in ms and the ratios encrypt/eval and (encrypt+write)/eval.
//
//	go test ./inference -run '^$' -bench EncryptVsEvaluate -benchtime 5x
func BenchmarkEncryptVsEvaluate(b *testing.B) {
	m, test := digits(b)
	km := keysFor(b, m, inference.Batch)
	ev, err := inference.NewBatchEvaluatorOn(selectedBackend(b), m, km.Evaluation)
	if err != nil {
		b.Fatal(err)
	}
	c, err := inference.NewClientForPlan(m, ev.Plan(), km)
	if err != nil {
		b.Fatal(err)
	}
	x := fullBatch(test.X, c.MaxBatch())
	var body bytes.Buffer
	var enc, write, eval time.Duration
	for b.Loop() {
		t0 := time.Now()
		vecs, err := c.Encrypt(x)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		body.Reset()
		if err := he.WriteCompactCiphertextFile(&body, km.Params, vecs); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		cts := make([]*rlwe.Ciphertext, len(vecs))
		for i, v := range vecs {
			cts[i] = v.Ciphertext
		}
		if _, err := ev.Evaluate(context.Background(), cts); err != nil {
			b.Fatal(err)
		}
		enc, write, eval = enc+t1.Sub(t0), write+t2.Sub(t1), eval+time.Since(t2)
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(b.N) }
	b.ReportMetric(ms(enc), "encrypt-ms")
	b.ReportMetric(ms(write), "write-ms")
	b.ReportMetric(ms(eval), "eval-ms")
	b.ReportMetric(enc.Seconds()/eval.Seconds(), "encrypt/eval")
	b.ReportMetric((enc+write).Seconds()/eval.Seconds(), "encrypt+write/eval")
}
