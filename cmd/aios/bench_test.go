package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBench(t *testing.T) {
	t.Setenv("AIOS_ACCEL", "cpu")
	code, stdout, stderr := runAios(t, "bench", "--json", "--sizes", "12", "--limbs", "2", "--layer", "8x4", "--runs", "1")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Backend != "cpu" || rep.Device == "" || len(rep.Backends) < 2 {
		t.Fatalf("report: %+v", rep)
	}
	kernels := map[string]bool{}
	for _, r := range rep.Results {
		kernels[r.Kernel] = true
		if r.LogN != 12 || r.Rows != 4 || !(r.Rate > 0) || r.Unit == "" {
			t.Errorf("result %+v", r)
		}
	}
	for _, k := range []string{"NTT", "INTT", "MulCoeffsMontgomeryThenAdd", "DenseLayer"} {
		if !kernels[k] {
			t.Errorf("no %s result", k)
		}
	}

	code, stdout, _ = runAios(t, "bench", "--sizes", "12", "--limbs", "1", "--layer", "2x2", "--runs", "1")
	if code != 0 || !strings.Contains(stdout, "backend cpu") || !strings.Contains(stdout, "cuda") || !strings.Contains(stdout, "DenseLayer 2x2") {
		t.Fatalf("text: exit %d\n%s", code, stdout)
	}

	// An explicitly named backend that does not initialise is an error
	// naming the reason; so is an unknown one; --backend overrides the
	// environment.
	t.Setenv("AIOS_ACCEL", "cuda")
	if code, _, stderr = runAios(t, "bench", "--sizes", "12"); code != 1 || !strings.Contains(stderr, "unavailable") {
		t.Errorf("AIOS_ACCEL=cuda: exit %d %s", code, stderr)
	}
	if code, _, stderr = runAios(t, "bench", "--backend", "tpu", "--sizes", "12"); code != 1 || !strings.Contains(stderr, "unknown backend") {
		t.Errorf("--backend tpu: exit %d %s", code, stderr)
	}
	for _, args := range [][]string{
		{"bench", "--sizes", "3"}, {"bench", "--sizes", "x"}, {"bench", "--layer", "64"},
		{"bench", "--limbs", "0"}, {"bench", "--runs", "0"}, {"bench", "extra"},
	} {
		if code, _, _ := runAios(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
