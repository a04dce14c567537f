package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aios-edge/aios/api/apitest"
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
	keys, single := filepath.Join(t.TempDir(), "client.keys"), filepath.Join(t.TempDir(), "single.keys")
	var rep inferReport
	for _, args := range [][]string{
		{"--keys", keys, "--packing", "batch", "--limit", "100"},
		{"--keys", keys, "--packing", "batch", "--limit", "50"},   // reuses the key file; the node already has the keys
		{"--keys", single, "--packing", "single", "--limit", "3"}, // the batch keys lack its Galois keys
	} {
		out := mustRun(t, append([]string{"infer", "--server", url, "--token", tok, "--data", data,
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

// TestInferKeepsKeyFile: a --keys file that does not fit the model (another
// preset, or without the Galois keys of the single packing) is never
// replaced, and the error says what the model needs and what to do; only
// --force replaces it.
func TestInferKeepsKeyFile(t *testing.T) {
	file, _, _ := apitest.Digits(t)
	url, tok := apitest.Node(t, file)
	dir := t.TempDir()
	data := filepath.Join("..", "..", "testvectors", "datasets", "digits.csv.gz")
	infer := func(keys string, args ...string) (int, string) {
		code, _, stderr := runAios(t, append([]string{"infer", "--server", url, "--token", tok, "--keys", keys, "--data", data, "--limit", "1"}, args...)...)
		return code, stderr
	}
	unchanged := func(path string, want []byte) {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s was changed (%v)", path, err)
		}
	}

	other := filepath.Join(dir, "n12.keys")
	mustRun(t, "keygen", "--preset", "n12", "--out", other)
	before, _ := os.ReadFile(other)
	code, stderr := infer(other)
	if code != exitFailure || !strings.Contains(stderr, "it holds keys of preset n12, the model needs preset n13") || !strings.Contains(stderr, "--force") {
		t.Errorf("another preset: exit %d, %s", code, stderr)
	}
	unchanged(other, before)

	batch := filepath.Join(dir, "batch.keys")
	if code, stderr := infer(batch, "--packing", "batch"); code != exitOK {
		t.Fatalf("batch: exit %d, %s", code, stderr)
	}
	before, _ = os.ReadFile(batch)
	code, stderr = infer(batch, "--packing", "single")
	if code != exitFailure || !strings.Contains(stderr, "the single packing needs keys of preset n13 with the Galois keys of") {
		t.Errorf("single packing with batch keys: exit %d, %s", code, stderr)
	}
	unchanged(batch, before)
	if code, stderr := infer(batch, "--packing", "single", "--force"); code != exitOK {
		t.Fatalf("--force: exit %d, %s", code, stderr)
	}
	if after, _ := os.ReadFile(batch); bytes.Equal(after, before) {
		t.Error("--force did not replace the key file")
	}
}
