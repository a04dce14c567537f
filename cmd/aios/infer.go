package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

type inferReport struct {
	Server    string             `json:"server"`
	Model     string             `json:"model"`
	ModelName string             `json:"model_name"`
	Packing   string             `json:"packing"`
	Preset    string             `json:"preset"`
	KeyID     string             `json:"key_id"`
	KeyBytes  int64              `json:"key_bytes"`        // the set on the node (lattigo's encoding)
	KeyUpload int                `json:"key_upload_bytes"` // what the upload sent (seeded where the keys are)
	Data      string             `json:"data"`
	Split     string             `json:"split"`
	Accuracy  float64            `json:"accuracy"`
	Agreement *float64           `json:"agreement,omitempty"` // with the plaintext model given by --reference
	Seconds   float64            `json:"seconds"`
	PerSecond float64            `json:"predictions_per_second"`
	Stats     client.InferStats  `json:"stats"`
	Accel     string             `json:"node_accel,omitempty"`
	Expected  inference.Accuracy `json:"model_accuracy"`
}

func init() {
	register(&command{
		name:    "infer",
		summary: "classify a data set on a node under encryption: keys, upload, encrypt, infer, decrypt, accuracy",
		usage:   "--server URL --token T --model ID --keys client.keys [--force] --data FILE [--packing batch|single] [--split test|all] [--limit N] [--reference model.aios] [--json]",
		new:     func() runner { return new(inferCmd) },
	})
}

// inferCmd is `aios infer`.
type inferCmd struct {
	serverFlags
	modelID, keys, data, packing, split, reference string
	limit                                          int
	force, asJSON                                  bool
}

func (c *inferCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "http://127.0.0.1:8080", "a client token")
	fs.StringVar(&c.modelID, "model", "", "model ID (default: the node's only model)")
	fs.StringVar(&c.keys, "keys", "", "key file: read if it exists, else generated and written (mode 0600); one that does not fit the model is an error")
	fs.BoolVar(&c.force, "force", false, "replace a --keys file that does not fit the model (its secret key is lost)")
	fs.StringVar(&c.data, "data", "", "labelled data set (CSV as for train)")
	fs.StringVar(&c.packing, "packing", "batch", "batch (throughput) or single (latency)")
	fs.StringVar(&c.split, "split", "test", "which samples: test (the model's 80/20 test split) or all")
	fs.IntVar(&c.limit, "limit", 0, "classify at most N samples (0: all)")
	fs.StringVar(&c.reference, "reference", "", "the model file, to report agreement with the plaintext quantized model")
	jsonFlag(fs, &c.asJSON)
}

func (c *inferCmd) run(ctx context.Context, e *env) error {
	if c.data == "" {
		return usagef("--data is required")
	}
	pk, err := inference.ParsePacking(c.packing)
	if err != nil {
		return usagef("%v", err)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	info, err := pickModel(ctx, cl, c.modelID)
	if err != nil {
		return err
	}
	d, err := c.samples(info)
	if err != nil {
		return err
	}
	km, key, err := cl.EnsureKeysWith(ctx, info, pk, c.keys, client.EnsureKeysOptions{Replace: c.force})
	if errors.Is(err, client.ErrKeyFileMismatch) {
		return fmt.Errorf("%w\nthe file is kept: give another --keys path to generate keys for this model, "+
			"or --force to replace it (whatever was encrypted under its secret key can then no longer be decrypted)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "model %s (%s), %d samples, packing %s, keys %.16s… (%d bytes) on the node\n",
		info.Name, info.Preset, d.Len(), pk, key.ID, key.Bytes)
	start := time.Now()
	logits, st, err := cl.InferSamples(ctx, info, key.ID, km, pk, d.X, func(done int) {
		fmt.Fprintf(e.stderr, "\r%d/%d samples", done, d.Len())
	})
	fmt.Fprintln(e.stderr)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	evk, err := client.UploadEncoding(km.Evaluation)
	if err != nil {
		return err
	}
	pred := inference.Argmax(logits)
	res := inferReport{Server: c.server, Model: info.ID, ModelName: info.Name, Packing: pk.String(), Preset: info.Preset,
		KeyID: key.ID, KeyBytes: key.Bytes, KeyUpload: len(evk), Data: c.data, Split: c.split, Accuracy: inference.AccuracyOf(pred, d.Y),
		Seconds: elapsed.Seconds(), PerSecond: float64(d.Len()) / elapsed.Seconds(), Stats: st, Expected: info.Accuracy}
	if h, err := cl.Health(ctx); err == nil {
		res.Accel, _ = h["accel"].(string)
	}
	if c.reference != "" {
		agree, err := agreement(c.reference, d.X, pred)
		if err != nil {
			return err
		}
		res.Agreement = &agree
	}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error { return c.printReport(w, res, d.Len(), info) })
}

// samples loads --data and picks the samples --split and --limit ask for.
func (c *inferCmd) samples(info schema.ModelInfo) (*dataset.Dataset, error) {
	d, err := dataset.LoadCSVFile(c.data, dataset.CSVOptions{Features: info.Features})
	if err != nil {
		return nil, err
	}
	switch c.split {
	case "test":
		if _, d, err = dataset.Split(d, 0.2, info.SplitSeed); err != nil {
			return nil, err
		}
	case "all":
	default:
		return nil, usagef("--split must be test or all")
	}
	if c.limit > 0 && c.limit < d.Len() {
		d.X, d.Y = d.X[:c.limit], d.Y[:c.limit]
	}
	return d, nil
}

func (c *inferCmd) printReport(w io.Writer, res inferReport, n int, info schema.ModelInfo) error {
	st := res.Stats
	fmt.Fprintf(w, "%d samples of %s (%s split) classified on %s under encryption (%s packing, %s)\n",
		n, c.data, c.split, c.server, res.Packing, info.Preset)
	fmt.Fprintf(w, "accuracy:  %.2f%% (the model's plaintext test accuracy: %.2f%%)\n", 100*res.Accuracy, 100*info.Accuracy.Quantized)
	if res.Agreement != nil {
		fmt.Fprintf(w, "agreement: %.2f%% with the plaintext quantized model\n", 100**res.Agreement)
	}
	fmt.Fprintf(w, "time:      %.2f s end to end, %.0f predictions/s (encrypt %.2f s, node round trips %.2f s, decrypt %.2f s)\n",
		res.Seconds, res.PerSecond, st.EncryptSeconds, st.ServerSeconds, st.DecryptSeconds)
	fmt.Fprintf(w, "traffic:   %.1f MB up, %.1f MB down in %d requests; evaluation keys %.1f MB uploaded once (%.1f MB on the node)\n",
		float64(st.BytesUp)/1e6, float64(st.BytesDown)/1e6, st.Requests, float64(res.KeyUpload)/1e6, float64(res.KeyBytes)/1e6)
	return nil
}

// agreement returns the fraction of pred that the plaintext quantized
// model in the file reference predicts too.
func agreement(reference string, x [][]float64, pred []int) (float64, error) {
	m, err := inference.ReadFile(reference)
	if err != nil {
		return 0, err
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		return 0, err
	}
	want, err := ref.Predict(x)
	if err != nil {
		return 0, err
	}
	return inference.AccuracyOf(pred, inference.Argmax(want)), nil
}

func pickModel(ctx context.Context, c *client.Client, id string) (schema.ModelInfo, error) {
	if id != "" {
		return c.Model(ctx, id)
	}
	models, err := c.Models(ctx)
	if err != nil {
		return schema.ModelInfo{}, err
	}
	if len(models) != 1 {
		return schema.ModelInfo{}, usagef("the node has %d models: pick one with --model", len(models))
	}
	return models[0], nil
}
