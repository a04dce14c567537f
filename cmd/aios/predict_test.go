package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/inference"
)

// writeRows writes rows as an unlabelled CSV file and returns its path.
func writeRows(t *testing.T, rows [][]float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rows.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeVectors(f, "csv", rows); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPredict runs `aios predict` on the digits test split with its labels
// removed, on a real `aios serve` process in both packings, and compares
// every row's class with the local plaintext `aios predict` (scores within
// CKKS error). Under -short the single packing runs on a few rows.
func TestPredict(t *testing.T) {
	_, _, test := apitest.Digits(t)
	model := filepath.Join("..", "..", "testvectors", "models", "digits.aios")
	dir := t.TempDir()
	tok := createToken(t, dir, "client")
	_, url := startNode(t, dir, "--model", model)
	// One key file per packing: a file that does not fit a packing is
	// never replaced (issue 12, item 11).
	keys := filepath.Join(t.TempDir(), "client.keys")
	keyFiles := map[string]string{"batch": keys, "single": filepath.Join(t.TempDir(), "client-single.keys")}

	single := len(test.X)
	if testing.Short() {
		single = 4
	}
	for _, tc := range []struct {
		packing string
		rows    [][]float64
	}{{"batch", test.X}, {"single", test.X[:single]}} {
		data := writeRows(t, tc.rows)
		want := mustRun(t, "predict", "--model", model, "--data", data)
		got := mustRun(t, "predict", "--server", url, "--token", tok, "--model", "digits", "--keys", keyFiles[tc.packing],
			"--packing", tc.packing, "--data", data)
		comparePredictions(t, tc.packing, got, want, len(tc.rows))
	}

	// JSON, probabilities, the model by its ID, and --out.
	cl, _ := client.New(url, tok, client.Options{})
	models, err := cl.Models(context.Background())
	if err != nil || len(models) != 1 {
		t.Fatalf("models: %v", err)
	}
	out := filepath.Join(t.TempDir(), "p.json")
	mustRun(t, "predict", "--server", url, "--token", tok, "--model", models[0].ID, "--keys", keys,
		"--data", writeRows(t, test.X[:3]), "--probabilities", "--json", "--out", out)
	var res predictions
	if b, err := os.ReadFile(out); err != nil || json.Unmarshal(b, &res) != nil || len(res.Predictions) != 3 || res.Scores != "probabilities" {
		t.Fatalf("--json --out: %+v %v", res, err)
	}

	if len(res.Warnings) != 0 {
		t.Fatalf("test rows warned: %v", res.Warnings)
	}

	// The contract publishes the training ranges; rows rescaled to [0, 1]
	// (the wrong units, which the node cannot see) get a warning.
	m, err := inference.ReadFile(model)
	if err != nil || len(models[0].FeatureRanges) != 64 || fmt.Sprint(models[0].FeatureRanges) != fmt.Sprint(m.Meta.Bounds.Features) {
		t.Fatalf("feature_ranges %v, the model records %v (%v)", models[0].FeatureRanges, m.Meta.Bounds.Features, err)
	}
	scaled := make([][]float64, 8)
	for i := range scaled {
		scaled[i] = make([]float64, len(test.X[i]))
		for j, v := range test.X[i] {
			scaled[i][j] = v / 16
		}
	}
	code, _, stderr := runAios(t, "predict", "--server", url, "--token", tok, "--keys", keys, "--data", writeRows(t, scaled))
	if code != 0 || !strings.Contains(stderr, "warning: the rows' values span [0, 1] but the model was trained on [0, 16]") {
		t.Fatalf("rescaled rows: exit %d, stderr %s", code, stderr)
	}

	code, _, stderr = runAios(t, "predict", "--server", url, "--token", tok, "--model", "nope", "--keys", keys, "--data", out)
	if code != 1 || !strings.Contains(stderr, `no model "nope"; it has digits (`) {
		t.Fatalf("unknown model: exit %d %s", code, stderr)
	}
}

// comparePredictions checks that the encrypted path's CSV got and the
// plaintext one want give every one of n rows the same class, with scores
// within 0.05.
func comparePredictions(t *testing.T, packing, got, want string, n int) {
	t.Helper()
	g, w := strings.Split(strings.TrimSpace(got), "\n"), strings.Split(strings.TrimSpace(want), "\n")
	if len(g) != n+1 || len(w) != n+1 || g[0] != w[0] {
		t.Fatalf("%s: %d and %d lines for %d rows; headers %q, %q", packing, len(g), len(w), n, g[0], w[0])
	}
	for i := 1; i <= n; i++ {
		gf, wf := strings.Split(g[i], ","), strings.Split(w[i], ",")
		if gf[0] != wf[0] || gf[1] != wf[1] {
			t.Fatalf("%s: line %d: %q, plaintext %q", packing, i, g[i], w[i])
		}
		for j := 2; j < len(wf); j++ {
			a, _ := strconv.ParseFloat(gf[j], 64)
			b, _ := strconv.ParseFloat(wf[j], 64)
			if math.Abs(a-b) > 0.05 {
				t.Errorf("%s: line %d score %d: %s, plaintext %s", packing, i, j-2, gf[j], wf[j])
			}
		}
	}
}
