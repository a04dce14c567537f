package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/inference"
)

// TestInferSamples runs the SDK's whole flow against an in-process node,
// through /infer and, with a small sync limit, through /jobs, and checks
// the predictions against the plaintext model.
func TestInferSamples(t *testing.T) {
	ctx := context.Background()
	file, m, test := apitest.Digits(t)
	url, tok := apitest.Node(t, file)
	x := test.X[:20]
	ref, _ := inference.NewEvaluator(m)
	want, _ := ref.Predict(x)

	keyFile := filepath.Join(t.TempDir(), "c.keys")
	for _, syncLimit := range []int64{0, 1 << 20} { // default: /infer; 1 MiB: every batch is a job
		c, err := client.New(url, tok, client.Options{MaxSyncRequestBytes: syncLimit})
		if err != nil {
			t.Fatal(err)
		}
		models, err := c.Models(ctx)
		if err != nil || len(models) != 1 {
			t.Fatalf("models: %v", err)
		}
		km, key, err := c.EnsureKeys(ctx, models[0], inference.Batch, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		logits, st, err := c.InferSamples(ctx, models[0], key.ID, km, inference.Batch, x, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, wantPred := inference.Argmax(logits), inference.Argmax(want)
		for i := range got {
			if got[i] != wantPred[i] {
				t.Errorf("sync limit %d: sample %d: %d, want %d", syncLimit, i, got[i], wantPred[i])
			}
		}
		if st.Samples != len(x) || st.Requests != 1 || st.BytesUp == 0 {
			t.Errorf("stats %+v", st)
		}
	}
	c, _ := client.New(url, tok, client.Options{})
	if _, err := c.Model(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
	bad, err := client.New(url, "aios_bad", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	if _, err := bad.Models(ctx); !errors.As(err, &ce) || ce.Status != 401 || ce.Code != "unauthenticated" {
		t.Fatalf("bad token: %v", err)
	}
}
