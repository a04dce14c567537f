package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

type evalReport struct {
	Model     string         `json:"model"`
	Data      string         `json:"data"`
	Samples   int            `json:"samples"`  // test samples evaluated
	Accuracy  float64        `json:"accuracy"` // plaintext quantized reference
	Encrypted *encryptedEval `json:"encrypted,omitempty"`
}

type encryptedEval struct {
	Packing       string  `json:"packing"`
	Evaluator     string  `json:"evaluator"` // "optimized" or "naive"
	Preset        string  `json:"preset"`
	InputLevel    int     `json:"input_level"`
	LogInputScale int     `json:"log_input_scale"`
	OutputLevel   int     `json:"output_level"`
	Accuracy      float64 `json:"accuracy"`        // encrypted argmax against the labels
	Agreement     float64 `json:"agreement"`       // encrypted argmax against the reference's
	MaxLogitError float64 `json:"max_logit_error"` // max |encrypted − reference| over all logits

	// Batch packing: server-side evaluation time and throughput; client
	// time separately.
	Batches              int     `json:"batches,omitempty"`
	EvalSeconds          float64 `json:"eval_seconds"`
	PredictionsPerSecond float64 `json:"predictions_per_second,omitempty"`            // samples / eval time
	FullBatchPerSecond   float64 `json:"full_batch_predictions_per_second,omitempty"` // N/2 · batches / eval time
	EncryptSeconds       float64 `json:"encrypt_seconds"`
	DecryptSeconds       float64 `json:"decrypt_seconds"`

	// Single packing: server-side latency per query.
	LatencyP50Ms float64 `json:"latency_p50_ms,omitempty"`
	LatencyP95Ms float64 `json:"latency_p95_ms,omitempty"`

	GaloisKeys  int `json:"galois_keys"`
	KeyBytes    int `json:"evaluation_key_bytes"`
	InputBytes  int `json:"input_ciphertext_bytes"`  // one batch or one query
	OutputBytes int `json:"output_ciphertext_bytes"` // one batch or one query
	KeygenMs    int `json:"keygen_ms"`
	SetupMs     int `json:"setup_ms"` // evaluator construction (diagonal encoding)
}

func init() {
	register(&command{
		name:    "eval",
		summary: "evaluate a model on a data set's test split, in plaintext and optionally encrypted",
		usage:   "--model model.aios --data FILE [--encrypted] [--packing batch|single] [--naive] [--limit N] [--json]",
		new:     func() runner { return new(evalCmd) },
	})
}

// evalCmd is `aios eval`.
type evalCmd struct {
	modelPath, data, packing string
	encrypted, naive, asJSON bool
	limit                    int
	seed                     uint64
	testFrac                 float64
}

func (c *evalCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.modelPath, "model", "", "model file")
	fs.StringVar(&c.data, "data", "", "data set (CSV as for train); its test split is evaluated")
	fs.BoolVar(&c.encrypted, "encrypted", false, "also evaluate under CKKS encryption and compare with the plaintext reference")
	fs.StringVar(&c.packing, "packing", "batch", "encrypted packing: batch (throughput) or single (latency)")
	fs.BoolVar(&c.naive, "naive", false, "batch packing: use the naive baseline evaluator")
	fs.IntVar(&c.limit, "limit", 0, "evaluate at most N test samples (0: all)")
	fs.Uint64Var(&c.seed, "seed", 0, "split seed (default: the model's)")
	fs.Float64Var(&c.testFrac, "test", 0.2, "test fraction of the stratified split")
	jsonFlag(fs, &c.asJSON)
}

func (c *evalCmd) run(ctx context.Context, e *env) error {
	if c.modelPath == "" || c.data == "" {
		return usagef("--model and --data are required")
	}
	if err := noArgs(e); err != nil {
		return err
	}
	if c.limit < 0 {
		return usagef("--limit %d: want ≥ 0", c.limit)
	}
	pk, err := inference.ParsePacking(c.packing)
	if err != nil {
		return usagef("--packing %q: want batch or single", c.packing)
	}
	if c.naive && pk != inference.Batch {
		return usagef("--naive applies to the batch packing")
	}
	m, err := inference.ReadFile(c.modelPath)
	if err != nil {
		return err
	}
	x, y, err := c.testSamples(m)
	if err != nil {
		return err
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		return err
	}
	want, err := ref.Predict(x)
	if err != nil {
		return err
	}
	rep := evalReport{Model: c.modelPath, Data: c.data, Samples: len(x), Accuracy: inference.AccuracyOf(inference.Argmax(want), y)}
	if c.encrypted {
		if rep.Encrypted, err = evalEncrypted(ctx, e.stderr, m, pk, c.naive, x, y, want); err != nil {
			return err
		}
	}
	return report(e.stdout, c.asJSON, rep, func(w io.Writer) error { return printEval(w, rep) })
}

// testSamples loads the data set and returns its test split, cut to
// --limit.
func (c *evalCmd) testSamples(m *inference.Model) ([][]float64, []int, error) {
	d, err := dataset.LoadCSVFile(c.data, dataset.CSVOptions{Features: m.Features()})
	if err != nil {
		return nil, nil, err
	}
	s := m.Meta.Seed
	if c.seed != 0 {
		s = c.seed
	}
	_, test, err := dataset.Split(d, c.testFrac, s)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	x, y := test.X, test.Y
	if c.limit > 0 && c.limit < len(x) {
		x, y = x[:c.limit], y[:c.limit]
	}
	return x, y, nil
}

func printEval(w io.Writer, r evalReport) error {
	fmt.Fprintf(w, "%s on %s: %d test samples\n", r.Model, r.Data, r.Samples)
	fmt.Fprintf(w, "plaintext quantized accuracy  %.2f%%\n", 100*r.Accuracy)
	x := r.Encrypted
	if x == nil {
		return nil
	}
	fmt.Fprintf(w, "encrypted (%s packing, %s, preset %s, input level %d at scale 2^%d, output level %d)\n",
		x.Packing, x.Evaluator, x.Preset, x.InputLevel, x.LogInputScale, x.OutputLevel)
	fmt.Fprintf(w, "  accuracy                    %.2f%%\n", 100*x.Accuracy)
	fmt.Fprintf(w, "  agreement with reference    %.2f%%\n", 100*x.Agreement)
	fmt.Fprintf(w, "  max |logit error|           %.3g\n", x.MaxLogitError)
	if x.Packing == "batch" {
		fmt.Fprintf(w, "  server evaluation           %.3f s for %d batch(es): %.0f predictions/s (%.0f/s at full batches)\n",
			x.EvalSeconds, x.Batches, x.PredictionsPerSecond, x.FullBatchPerSecond)
	} else {
		fmt.Fprintf(w, "  server latency              p50 %.1f ms, p95 %.1f ms (%.3f s in all)\n", x.LatencyP50Ms, x.LatencyP95Ms, x.EvalSeconds)
	}
	fmt.Fprintf(w, "  client encrypt / decrypt    %.3f s / %.3f s\n", x.EncryptSeconds, x.DecryptSeconds)
	fmt.Fprintf(w, "  keys                        %d bytes (relinearization + %d Galois), keygen %d ms, setup %d ms\n", x.KeyBytes, x.GaloisKeys, x.KeygenMs, x.SetupMs)
	_, err := fmt.Fprintf(w, "  ciphertexts                 %d bytes in, %d bytes out per %s\n", x.InputBytes, x.OutputBytes, map[string]string{"batch": "batch", "single": "query"}[x.Packing])
	return err
}

func ctBytes(cts ...*rlwe.Ciphertext) int {
	n := 0
	for _, ct := range cts {
		n += ct.BinarySize()
	}
	return n
}

func evalEncrypted(ctx context.Context, stderr io.Writer, m *inference.Model, packing inference.Packing, naive bool, x [][]float64, y []int, want [][]float64) (*encryptedEval, error) {
	params, err := he.PresetByName(m.Meta.Preset)
	if err != nil {
		return nil, err
	}
	spec, err := m.KeySpec(packing)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	km, err := he.GenerateKeys(params, spec)
	if err != nil {
		return nil, err
	}
	r := &encryptedEval{Packing: packing.String(), Evaluator: "optimized", GaloisKeys: len(spec.GaloisElements),
		KeyBytes: km.Evaluation.Size(), KeygenMs: int(time.Since(t0).Milliseconds())}
	fmt.Fprintf(stderr, "keys: %d bytes, %d Galois keys (%d ms)\n", r.KeyBytes, r.GaloisKeys, r.KeygenMs)
	var got [][]float64
	switch packing {
	case inference.Batch:
		got, err = evalBatch(ctx, stderr, r, m, km, naive, x)
	case inference.Single:
		got, err = evalSingle(ctx, stderr, r, m, km, x)
	}
	if err != nil {
		return nil, err
	}
	compareLogits(r, got, want, y)
	return r, nil
}

// evalBatch evaluates x in the batch packing, as many samples per
// ciphertext as the ring holds, and records throughput in r.
func evalBatch(ctx context.Context, stderr io.Writer, r *encryptedEval, m *inference.Model, km *he.KeyMaterial, naive bool, x [][]float64) ([][]float64, error) {
	var ev *inference.BatchEvaluator
	var err error
	t0 := time.Now()
	if naive {
		r.Evaluator = "naive"
		ev, err = inference.NewNaiveBatchEvaluator(m, km.Evaluation)
	} else {
		ev, err = inference.NewBatchEvaluator(m, km.Evaluation)
	}
	if err != nil {
		return nil, err
	}
	r.SetupMs = int(time.Since(t0).Milliseconds())
	c, err := inference.NewClientForPlan(m, ev.Plan(), km)
	if err != nil {
		return nil, err
	}
	setPlan(r, ev.Plan())
	got := make([][]float64, len(x))
	var enc, eval, dec time.Duration
	for lo := 0; lo < len(x); lo += c.MaxBatch() {
		hi := min(lo+c.MaxBatch(), len(x))
		t := time.Now()
		in, err := c.EncryptBatch(x[lo:hi])
		if err != nil {
			return nil, err
		}
		enc += time.Since(t)
		t = time.Now()
		out, err := ev.Evaluate(ctx, in)
		if err != nil {
			return nil, err
		}
		took := time.Since(t)
		eval += took
		t = time.Now()
		logits, err := c.DecryptBatch(out, hi-lo)
		if err != nil {
			return nil, err
		}
		dec += time.Since(t)
		copy(got[lo:hi], logits)
		r.Batches++
		r.InputBytes, r.OutputBytes = ctBytes(in...), ctBytes(out...)
		fmt.Fprintf(stderr, "batch %d: %d samples, evaluated in %.3f s\n", r.Batches, hi-lo, took.Seconds())
	}
	r.EncryptSeconds, r.EvalSeconds, r.DecryptSeconds = enc.Seconds(), eval.Seconds(), dec.Seconds()
	r.PredictionsPerSecond = float64(len(x)) / eval.Seconds()
	r.FullBatchPerSecond = float64(r.Batches*c.MaxBatch()) / eval.Seconds()
	return got, nil
}

// evalSingle evaluates x in the single-query packing, one sample per
// ciphertext, and records latencies in r.
func evalSingle(ctx context.Context, stderr io.Writer, r *encryptedEval, m *inference.Model, km *he.KeyMaterial, x [][]float64) ([][]float64, error) {
	t0 := time.Now()
	ev, err := inference.NewSingleEvaluator(m, km.Evaluation)
	if err != nil {
		return nil, err
	}
	r.SetupMs = int(time.Since(t0).Milliseconds())
	c, err := inference.NewClient(m, inference.Single, km)
	if err != nil {
		return nil, err
	}
	setPlan(r, ev.Plan())
	got := make([][]float64, len(x))
	lat := make([]float64, len(x))
	var enc, dec time.Duration
	step := max(len(x)/10, 1)
	for n := range x {
		t := time.Now()
		in, err := c.EncryptSingle(x[n])
		if err != nil {
			return nil, err
		}
		enc += time.Since(t)
		t = time.Now()
		out, err := ev.Evaluate(ctx, in)
		if err != nil {
			return nil, err
		}
		lat[n] = float64(time.Since(t).Microseconds()) / 1000
		t = time.Now()
		if got[n], err = c.DecryptSingle(out); err != nil {
			return nil, err
		}
		dec += time.Since(t)
		r.InputBytes, r.OutputBytes = ctBytes(in), ctBytes(out)
		if (n+1)%step == 0 || n+1 == len(x) {
			fmt.Fprintf(stderr, "query %d/%d: %.1f ms\n", n+1, len(x), lat[n])
		}
	}
	for _, l := range lat {
		r.EvalSeconds += l / 1000
	}
	slices.Sort(lat)
	r.LatencyP50Ms, r.LatencyP95Ms = percentile(lat, 0.5), percentile(lat, 0.95)
	r.EncryptSeconds, r.DecryptSeconds = enc.Seconds(), dec.Seconds()
	return got, nil
}

// compareLogits records in r how the encrypted logits got compare with the
// plaintext reference's want and with the labels y.
func compareLogits(r *encryptedEval, got, want [][]float64, y []int) {
	gotArg, wantArg := inference.Argmax(got), inference.Argmax(want)
	same := 0
	for n := range got {
		if gotArg[n] == wantArg[n] {
			same++
		}
		for o := range got[n] {
			r.MaxLogitError = max(r.MaxLogitError, math.Abs(got[n][o]-want[n][o]))
		}
	}
	r.Agreement = float64(same) / float64(len(got))
	r.Accuracy = inference.AccuracyOf(gotArg, y)
}

func setPlan(r *encryptedEval, p inference.Plan) {
	r.Preset, r.InputLevel, r.LogInputScale, r.OutputLevel = p.Preset, p.InputLevel, p.LogInputScale, p.OutputLevel
}

// percentile returns the q-quantile of sorted values (nearest rank).
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
