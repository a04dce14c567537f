package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
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
	KeyBytes  int64              `json:"key_bytes"`
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
		usage:   "--server URL --token T --model ID --keys client.keys --data FILE [--packing batch|single] [--split test|all] [--limit N] [--reference model.aios] [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			server := fs.String("server", "http://127.0.0.1:8080", "node URL")
			token := fs.String("token", os.Getenv("AIOS_TOKEN"), "client token (default $AIOS_TOKEN)")
			modelID := fs.String("model", "", "model ID (default: the node's only model)")
			keys := fs.String("keys", "", "key file: read if it fits the model, else generated and written (mode 0600)")
			data := fs.String("data", "", "labelled data set (CSV as for train)")
			packing := fs.String("packing", "batch", "batch (throughput) or single (latency)")
			split := fs.String("split", "test", "which samples: test (the model's 80/20 test split) or all")
			limit := fs.Int("limit", 0, "classify at most N samples (0: all)")
			reference := fs.String("reference", "", "the model file, to report agreement with the plaintext quantized model")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if *data == "" {
					return usagef("--data is required")
				}
				pk, err := inference.ParsePacking(*packing)
				if err != nil {
					return usagef("%v", err)
				}
				c, err := client.New(*server, *token, client.Options{})
				if err != nil {
					return usagef("%v", err)
				}
				info, err := pickModel(ctx, c, *modelID)
				if err != nil {
					return err
				}
				d, err := dataset.LoadCSVFile(*data, dataset.CSVOptions{Features: info.Features})
				if err != nil {
					return err
				}
				switch *split {
				case "test":
					if _, d, err = dataset.Split(d, 0.2, info.SplitSeed); err != nil {
						return err
					}
				case "all":
				default:
					return usagef("--split must be test or all")
				}
				if *limit > 0 && *limit < d.Len() {
					d.X, d.Y = d.X[:*limit], d.Y[:*limit]
				}
				km, key, err := c.EnsureKeys(ctx, info, pk, *keys)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "model %s (%s), %d samples, packing %s, keys %.16s… (%d bytes) on the node\n",
					info.Name, info.Preset, d.Len(), pk, key.ID, key.Bytes)
				start := time.Now()
				logits, st, err := c.InferSamples(ctx, info, key.ID, km, pk, d.X, func(done int) {
					fmt.Fprintf(e.stderr, "\r%d/%d samples", done, d.Len())
				})
				fmt.Fprintln(e.stderr)
				if err != nil {
					return err
				}
				elapsed := time.Since(start)
				pred := inference.Argmax(logits)
				res := inferReport{Server: *server, Model: info.ID, ModelName: info.Name, Packing: pk.String(), Preset: info.Preset,
					KeyID: key.ID, KeyBytes: key.Bytes, Data: *data, Split: *split, Accuracy: inference.AccuracyOf(pred, d.Y),
					Seconds: elapsed.Seconds(), PerSecond: float64(d.Len()) / elapsed.Seconds(), Stats: st, Expected: info.Accuracy}
				if h, err := c.Health(ctx); err == nil {
					res.Accel, _ = h["accel"].(string)
				}
				if *reference != "" {
					m, err := inference.ReadFile(*reference)
					if err != nil {
						return err
					}
					ref, err := inference.NewEvaluator(m)
					if err != nil {
						return err
					}
					want, err := ref.Predict(d.X)
					if err != nil {
						return err
					}
					agree := inference.AccuracyOf(pred, inference.Argmax(want))
					res.Agreement = &agree
				}
				return report(e.stdout, *asJSON, res, func(w io.Writer) error {
					fmt.Fprintf(w, "%d samples of %s (%s split) classified on %s under encryption (%s packing, %s)\n",
						d.Len(), *data, *split, *server, pk, info.Preset)
					fmt.Fprintf(w, "accuracy:  %.2f%% (the model's plaintext test accuracy: %.2f%%)\n", 100*res.Accuracy, 100*info.Accuracy.Quantized)
					if res.Agreement != nil {
						fmt.Fprintf(w, "agreement: %.2f%% with the plaintext quantized model\n", 100**res.Agreement)
					}
					fmt.Fprintf(w, "time:      %.2f s end to end, %.0f predictions/s (encrypt %.2f s, node round trips %.2f s, decrypt %.2f s)\n",
						res.Seconds, res.PerSecond, st.EncryptSeconds, st.ServerSeconds, st.DecryptSeconds)
					fmt.Fprintf(w, "traffic:   %.1f MB up, %.1f MB down in %d requests; evaluation keys %.1f MB (uploaded once)\n",
						float64(st.BytesUp)/1e6, float64(st.BytesDown)/1e6, st.Requests, float64(res.KeyBytes)/1e6)
					return nil
				})
			}
		},
	})
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
