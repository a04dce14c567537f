package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/mpc"
)

// TestMPCServeFlags: --peers, --peer-tokens and --require-peer-token reach
// the node's MPC configuration; the token file must be private.
func TestMPCServeFlags(t *testing.T) {
	dir := t.TempDir()
	a := strings.TrimSpace(mustRun(t, "node", "id", "--data-dir", filepath.Join(dir, "a")))
	b := strings.TrimSpace(mustRun(t, "node", "id", "--data-dir", filepath.Join(dir, "b")))
	peers := filepath.Join(dir, "peers")
	os.WriteFile(peers, []byte(a+" http://127.0.0.1:1 a\n"+b+" http://127.0.0.1:2 b\n"), 0o644)
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte(b+" aios_issued_by_b\n"), 0o600)
	parse := func(args ...string) (*api.MPCConfig, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		f := new(mpcServeFlags)
		f.declare(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f.config()
	}
	cfg, err := parse("--peers", peers, "--peer-tokens", tokens, "--require-peer-token")
	if err != nil {
		t.Fatal(err)
	}
	idB, _ := mpc.ParseNodeID(b)
	idA, _ := mpc.ParseNodeID(a)
	if !cfg.RequirePeerToken || cfg.Transport.Token == nil || cfg.Transport.Token(idB) != "aios_issued_by_b" || cfg.Transport.Token(idA) != "" {
		t.Fatalf("config %+v", cfg)
	}
	if _, err := parse("--peer-tokens", tokens); err == nil {
		t.Fatal("--peer-tokens without --peers accepted")
	}
	os.Chmod(tokens, 0o644)
	if _, err := parse("--peers", peers, "--peer-tokens", tokens); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("readable tokens file: %v", err)
	}
}
