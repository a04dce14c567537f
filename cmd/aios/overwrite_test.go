package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoOverwriteWithoutForce: no command replaces an existing output file
// (a key file, a ciphertext, a model, an audit export, decrypted vectors)
// without --force, and the file is left as it was (issue 12, item 11).
func TestNoOverwriteWithoutForce(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	keep := func(name string) string {
		if err := os.WriteFile(path(name), []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path(name)
	}
	keys := path("c.keys")
	mustRun(t, "keygen", "--preset", "n12", "--out", keys)
	if err := os.WriteFile(path("v.csv"), []byte("1,2,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ct := path("v.ct")
	mustRun(t, "encrypt", "--keys", keys, "--in", path("v.csv"), "--out", ct)
	node := path("node")
	mustRun(t, "budget", "create", "b", "--epsilon", "1", "--data-dir", node)
	data := filepath.Join("..", "..", "testvectors", "datasets", "breast_cancer.csv")

	for _, c := range []struct {
		args     []string
		out      string
		canForce bool // --force is quick enough to run here
	}{
		{[]string{"keygen", "--preset", "n12", "--out"}, "k.keys", true},
		{[]string{"keygen", "--preset", "n12", "--out", path("k2.keys"), "--evk-out"}, "k.evk", false},
		{[]string{"encrypt", "--keys", keys, "--in", path("v.csv"), "--out"}, "e.ct", true},
		{[]string{"decrypt", "--keys", keys, "--in", ct, "--out"}, "d.csv", true},
		{[]string{"train", "--data", data, "--out"}, "m.aios", false},
		{[]string{"audit", "export", "--data-dir", node, "--out"}, "ledger.json", true},
	} {
		out := keep(c.out)
		args := append(c.args, out)
		code, _, stderr := runAios(t, args...)
		if b, _ := os.ReadFile(out); code != exitFailure || !strings.Contains(stderr, "exists (use --force to overwrite)") || string(b) != "keep me" {
			t.Errorf("aios %s: exit %d, %s; file now %.20q", strings.Join(args, " "), code, stderr, b)
		}
		if c.canForce {
			mustRun(t, append(args, "--force")...)
			if b, _ := os.ReadFile(out); string(b) == "keep me" {
				t.Errorf("aios %s --force did not replace the file", strings.Join(args, " "))
			}
		}
	}
}
