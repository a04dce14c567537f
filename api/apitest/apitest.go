// Package apitest starts in-process aios nodes and loads the bundled digits
// model for the tests of API clients (the SDK, the raw lattigo client, the
// CLI). It is for tests only.
package apitest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

// TestVectors is the repository's testvectors directory.
func TestVectors() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testvectors")
}

// Digits returns the bundled digits model file, the model, and the test
// split of its data set (the model's seeded stratified 80/20 split).
func Digits(t testing.TB) (file []byte, m *inference.Model, test *dataset.Dataset) {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(TestVectors(), "models", "digits.aios"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err = inference.Decode(file); err != nil {
		t.Fatal(err)
	}
	d, err := dataset.LoadCSVFile(filepath.Join(TestVectors(), "datasets", m.Meta.Dataset), dataset.CSVOptions{Features: m.Features()})
	if err != nil {
		t.Fatal(err)
	}
	if _, test, err = dataset.Split(d, 0.2, m.Meta.Seed); err != nil {
		t.Fatal(err)
	}
	return file, m, test
}

// Node starts a node on a temporary data directory serving the model files
// over an httptest server, and returns its URL and a client token. Both
// stop at the end of the test.
func Node(t testing.TB, models ...[]byte) (url, clientToken string) {
	t.Helper()
	url, clientToken, stop, err := Start(models...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, clientToken
}

// Start is [Node] for code without a testing.TB (an Example): stop closes
// the node and removes its data directory.
func Start(models ...[]byte) (url, clientToken string, stop func(), err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "aios-apitest-")
	if err != nil {
		return "", "", nil, err
	}
	srv, err := api.New(ctx, api.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	fail := func(err error) (string, string, func(), error) {
		srv.Close()
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	for _, m := range models {
		if _, err := srv.AddModel(ctx, m); err != nil {
			return fail(err)
		}
	}
	tok, _, err := api.CreateToken(ctx, srv.DB(), api.RoleClient, "test")
	if err != nil {
		return fail(err)
	}
	ts := httptest.NewServer(srv.Handler())
	return ts.URL, tok, func() { ts.Close(); srv.Close(); os.RemoveAll(dir) }, nil
}
