package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestEval(t *testing.T) {
	model := filepath.Join("..", "..", "testvectors", "models", "digits.aios")
	data := filepath.Join("..", "..", "testvectors", "datasets", "digits.csv.gz")

	code, stdout, stderr := runAios(t, "eval", "--model", model, "--data", data)
	if code != 0 || !strings.Contains(stdout, "359 test samples") || !strings.Contains(stdout, "98.61%") {
		t.Fatalf("plaintext eval: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runAios(t, "eval", "--model", model, "--data", data, "--encrypted", "--limit", "100", "--json")
	if code != 0 {
		t.Fatalf("batch: exit %d\n%s%s", code, stdout, stderr)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	x := rep.Encrypted
	if rep.Samples != 100 || x == nil || x.Packing != "batch" || x.Agreement != 1 || x.MaxLogitError > 0.01 ||
		x.PredictionsPerSecond <= 0 || x.GaloisKeys != 0 || x.KeyBytes == 0 || x.InputBytes == 0 || x.OutputBytes == 0 {
		t.Fatalf("batch report: %+v", x)
	}
	// Issue 13's targets for what travels: one full batch in the compact
	// framing, the seeded key set.
	if x.InputBytes > 8_600_000 || x.KeyBytes > 1_400_000 {
		t.Errorf("batch: %d bytes of input, %d bytes of keys; want ≤ 8.6 MB and ≤ 1.4 MB", x.InputBytes, x.KeyBytes)
	}
	if !strings.Contains(stderr, "batch 1: 100 samples") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}

	n := "6"
	if testing.Short() {
		n = "2"
	}
	code, stdout, stderr = runAios(t, "eval", "--model", model, "--data", data, "--encrypted", "--packing", "single", "--limit", n)
	if code != 0 {
		t.Fatalf("single: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, s := range []string{"single packing", "agreement with reference    100.00%", "p50", "Galois"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("single output lacks %q:\n%s", s, stdout)
		}
	}

	for _, args := range [][]string{
		{"eval", "--data", data},
		{"eval", "--model", model, "--data", data, "--packing", "diagonal"},
		{"eval", "--model", model, "--data", data, "--packing", "single", "--naive"},
		{"eval", "--model", model, "--data", data, "--limit", "-1"},
		{"eval", "--model", model, "--data", data, "extra"},
	} {
		if code, _, stderr := runAios(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	// A model and data set that do not match: a clear error, exit 1.
	bc := filepath.Join("..", "..", "testvectors", "datasets", "breast_cancer.csv")
	if code, _, stderr := runAios(t, "eval", "--model", model, "--data", bc); code != 1 || stderr == "" {
		t.Errorf("digits model on breast cancer data: exit %d %s", code, stderr)
	}
}
