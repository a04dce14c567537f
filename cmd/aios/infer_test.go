package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestInferCLI runs `aios infer` against a real `aios serve` process: the
// flow of make demo, on a slice of the test split.
func TestInferCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	dir := t.TempDir()
	model := filepath.Join("..", "..", "testvectors", "models", "digits.aios")
	data := filepath.Join("..", "..", "testvectors", "datasets", "digits.csv.gz")
	tok := createToken(t, dir, "client")
	_, url := startNode(t, dir, "--model", model)
	keys := filepath.Join(t.TempDir(), "client.keys")
	var rep inferReport
	for _, args := range [][]string{
		{"--packing", "batch", "--limit", "100"},
		{"--packing", "batch", "--limit", "50"}, // reuses the key file; the node already has the keys
		{"--packing", "single", "--limit", "3"},
	} {
		out := mustRun(t, append([]string{"infer", "--server", url, "--token", tok, "--keys", keys, "--data", data,
			"--reference", model, "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Agreement == nil || *rep.Agreement != 1 || rep.Accuracy < 0.9 || rep.Stats.Samples == 0 || rep.Stats.BytesUp == 0 {
			t.Fatalf("infer %v: %+v", args, rep)
		}
	}
	code, stdout, stderr := runAios(t, "infer", "--server", url, "--token", "aios_wrong", "--data", data)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "401") {
		t.Fatalf("bad token: exit %d %q %q", code, stdout, stderr)
	}
}
