package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

// TestRawClient runs the lattigo-only client against a real node serving the
// bundled digits model and checks its predictions against the plaintext
// quantized model.
func TestRawClient(t *testing.T) {
	ctx := context.Background()
	srv, err := api.New(ctx, api.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	file, err := os.ReadFile(filepath.Join("..", "..", "testvectors", "models", "digits.aios"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := srv.AddModel(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := api.CreateToken(ctx, srv.DB(), api.RoleClient, "raw")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	m, _ := inference.Decode(file)
	d, err := dataset.LoadCSVFile(filepath.Join("..", "..", "testvectors", "datasets", "digits.csv.gz"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, test, _ := dataset.Split(d, 0.2, m.Meta.Seed)
	samples := test.X[:32]
	ref, _ := inference.NewEvaluator(m)
	logits, _ := ref.Predict(samples)
	want := inference.Argmax(logits)

	got, err := Run(&Node{URL: ts.URL, Token: tok}, info.ID, samples)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: %d, plaintext model %d", i, got[i], want[i])
		}
	}
}
