package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runAios(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &env{stdin: strings.NewReader(""), stdout: &o, stderr: &e})
	return code, o.String(), e.String()
}

func TestTrainAndInspect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bc.aios")
	data := filepath.Join("..", "..", "testvectors", "datasets", "breast_cancer.csv")
	code, stdout, stderr := runAios(t, "train", "--data", data, "--hidden", "8", "--epochs", "5", "--finetune", "2",
		"--distill", "--teacher-hidden", "16", "--activation", "poly", "--out", out)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, s := range []string{"float", "teacher", "distilled", "pruned", "quantized", "preset"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("train output lacks %q:\n%s", s, stdout)
		}
	}
	if !strings.Contains(stderr, "epoch   5/5") {
		t.Errorf("no per-epoch progress on stderr:\n%s", stderr)
	}
	code, stdout, stderr = runAios(t, "model", "inspect", out, "--json")
	if code != 0 {
		t.Fatalf("inspect: exit %d %s", code, stderr)
	}
	var info modelInfo
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.Meta.Features != 30 || len(info.Layers) != 2 || info.Layers[0].Activation != "poly" || info.Meta.Depth != 1 || info.Meta.Preset == "" {
		t.Fatalf("inspect: %+v", info)
	}
	if code, stdout, _ = runAios(t, "model", "inspect", out); code != 0 || !strings.Contains(stdout, "malignant, benign") {
		t.Fatalf("inspect text: %d\n%s", code, stdout)
	}

	// A corrupt file fails with exit status 1 and names the problem.
	b, _ := os.ReadFile(out)
	b[len(b)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.aios")
	os.WriteFile(bad, b, 0o644)
	if code, _, stderr = runAios(t, "model", "inspect", bad); code != 1 || !strings.Contains(stderr, "SHA-256") {
		t.Fatalf("corrupt: exit %d %s", code, stderr)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"train", "--data", data},
		{"train", "--data", data, "--out", out, "--hidden", "8,x"},
		{"train", "--data", data, "--out", out, "--activation", "relu"},
		{"model", "show", out},
	} {
		if code, _, _ := runAios(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
