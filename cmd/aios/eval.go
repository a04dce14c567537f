package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/aios-edge/aios/accel"
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

	// Server-side evaluation time, throughput and latency per encrypted
	// batch (N/2 samples in the batch packing, one query in the single
	// packing); client time separately.
	Batches              int     `json:"batches,omitempty"`
	EvalSeconds          float64 `json:"eval_seconds"`
	PredictionsPerSecond float64 `json:"predictions_per_second,omitempty"`            // samples / eval time
	FullBatchPerSecond   float64 `json:"full_batch_predictions_per_second,omitempty"` // N/2 · batches / eval time
	EncryptSeconds       float64 `json:"encrypt_seconds"`
	DecryptSeconds       float64 `json:"decrypt_seconds"`

	LatencyP50Ms float64 `json:"latency_p50_ms,omitempty"`
	LatencyP95Ms float64 `json:"latency_p95_ms,omitempty"`

	GaloisKeys int `json:"galois_keys"`
	// KeyBytes is what a client uploads to POST /v1/keys: the seeded
	// encoding of the evaluation key set (he.GenerateSeededKeys,
	// EvaluationKeySet.MarshalSeeded), about half of lattigo's.
	KeyBytes int `json:"evaluation_key_bytes"`
	// InputBytes is the request body of one batch (one query in the
	// single packing) as the SDK sends it: the compact ciphertext file
	// (he.WriteCompactCiphertextFile, version 2) of seeded ciphertexts.
	InputBytes int `json:"input_ciphertext_bytes"`
	// OutputBytes is lattigo's encoding of one batch's outputs (one
	// query's in the single packing), which the node answers in version 1
	// of the ciphertext file.
	OutputBytes int `json:"output_ciphertext_bytes"`
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
	fmt.Fprintf(w, "  server evaluation           %.3f s for %d batch(es): %.0f predictions/s (%.0f/s at full batches)\n",
		x.EvalSeconds, x.Batches, x.PredictionsPerSecond, x.FullBatchPerSecond)
	fmt.Fprintf(w, "  server latency per batch    p50 %.1f ms, p95 %.1f ms\n", x.LatencyP50Ms, x.LatencyP95Ms)
	fmt.Fprintf(w, "  client encrypt / decrypt    %.3f s / %.3f s\n", x.EncryptSeconds, x.DecryptSeconds)
	fmt.Fprintf(w, "  keys                        %d bytes seeded (relinearization + %d Galois), keygen %d ms, setup %d ms\n", x.KeyBytes, x.GaloisKeys, x.KeygenMs, x.SetupMs)
	_, err := fmt.Fprintf(w, "  ciphertexts                 %d bytes in (compact, seeded), %d bytes out per batch\n", x.InputBytes, x.OutputBytes)
	return err
}

// vectorBytes is the encoded size of the ciphertexts of one batch.
func vectorBytes(vecs []he.EncryptedVector) int {
	n := 0
	for _, v := range vecs {
		n += v.Ciphertext.BinarySize()
	}
	return n
}

// compactBytes is the size of the compact ciphertext file of vecs, the
// request body the SDK sends for them.
func compactBytes(p he.Parameters, vecs []he.EncryptedVector) (int, error) {
	cw := &countingWriter{w: io.Discard}
	if err := he.WriteCompactCiphertextFile(cw, p, vecs); err != nil {
		return 0, err
	}
	return int(cw.n), nil
}

func evalEncrypted(ctx context.Context, stderr io.Writer, m *inference.Model, packing inference.Packing, naive bool, x [][]float64, y []int, want [][]float64) (*encryptedEval, error) {
	backend, err := accel.Select() // as `aios serve` selects it
	if err != nil {
		return nil, err
	}
	srv, err := inference.NewServer(m, backend)
	if err != nil {
		return nil, err
	}
	contract, err := srv.Contract(packing)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	km, err := he.GenerateSeededKeys(srv.Params(), contract.Keys)
	if err != nil {
		return nil, err
	}
	seeded, err := km.Evaluation.MarshalSeeded()
	if err != nil {
		return nil, err
	}
	r := &encryptedEval{Packing: packing.String(), Evaluator: "optimized", GaloisKeys: len(contract.Keys.GaloisElements),
		KeyBytes: len(seeded), KeygenMs: int(time.Since(t0).Milliseconds())}
	fmt.Fprintf(stderr, "keys: %d bytes, %d Galois keys (%d ms)\n", r.KeyBytes, r.GaloisKeys, r.KeygenMs)
	t0 = time.Now()
	ev, err := newEvalEvaluator(srv, packing, km, naive)
	if err != nil {
		return nil, err
	}
	if naive {
		r.Evaluator = "naive"
	}
	r.SetupMs = int(time.Since(t0).Milliseconds())
	got, err := evalBatches(ctx, stderr, r, srv, ev, km, x)
	if err != nil {
		return nil, err
	}
	compareLogits(r, got, want, y)
	return r, nil
}

// newEvalEvaluator is the node's evaluator of packing on km's keys, or the
// naive baseline (the flags allow it for the batch packing only).
func newEvalEvaluator(srv *inference.Server, packing inference.Packing, km *he.KeyMaterial, naive bool) (inference.EncryptedEvaluator, error) {
	if naive {
		return inference.NewNaiveBatchEvaluator(srv.Model(), km.Evaluation)
	}
	return srv.NewEvaluator(packing, km.Evaluation)
}

// evalBatches encrypts x batch by batch (as many samples as one encrypted
// batch holds: N/2 in the batch packing, one in the single packing), has
// ev evaluate each as a node would, decrypts, and records sizes,
// throughput and per-batch latency in r.
func evalBatches(ctx context.Context, stderr io.Writer, r *encryptedEval, srv *inference.Server, ev inference.EncryptedEvaluator, km *he.KeyMaterial, x [][]float64) ([][]float64, error) {
	c, err := inference.NewClientForPlan(srv.Model(), ev.Plan(), km)
	if err != nil {
		return nil, err
	}
	setPlan(r, ev.Plan())
	size := c.BatchSize()
	batches := (len(x) + size - 1) / size
	step := max(batches/10, 1)
	got := make([][]float64, 0, len(x))
	lat := make([]float64, 0, batches)
	var enc, eval, dec time.Duration
	for lo := 0; lo < len(x); lo += size {
		part := x[lo:min(lo+size, len(x))]
		t := time.Now()
		vecs, err := c.Encrypt(part)
		if err != nil {
			return nil, err
		}
		in, err := srv.CheckInputAt(ev.Plan(), vecs)
		if err != nil {
			return nil, err
		}
		enc += time.Since(t)
		t = time.Now()
		out, err := ev.EvaluateInput(ctx, in, nil)
		if err != nil {
			return nil, err
		}
		took := time.Since(t)
		eval += took
		lat = append(lat, float64(took.Microseconds())/1000)
		t = time.Now()
		logits, err := c.Decrypt(out, len(part))
		if err != nil {
			return nil, err
		}
		dec += time.Since(t)
		got = append(got, logits...)
		r.Batches++
		if r.InputBytes, err = compactBytes(km.Params, vecs); err != nil {
			return nil, err
		}
		r.OutputBytes = vectorBytes(out)
		if r.Batches%step == 0 || r.Batches == batches {
			fmt.Fprintf(stderr, "batch %d: %d samples, evaluated in %.3f s\n", r.Batches, len(part), took.Seconds())
		}
	}
	r.EncryptSeconds, r.EvalSeconds, r.DecryptSeconds = enc.Seconds(), eval.Seconds(), dec.Seconds()
	r.PredictionsPerSecond = float64(len(x)) / eval.Seconds()
	r.FullBatchPerSecond = float64(r.Batches*size) / eval.Seconds()
	slices.Sort(lat)
	r.LatencyP50Ms, r.LatencyP95Ms = percentile(lat, 0.5), percentile(lat, 0.95)
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
