package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/aios-edge/aios/internal/cluster"
)

// TestMain lets the test binary stand in for the aios binary: run with
// AIOS_TEST_MAIN=1 it executes its arguments as an aios command line, so
// tests can start real `aios serve` processes (and kill them) without a
// separate build. testscript.Main does the same for the scripts in
// testdata/script, where the binary is on $PATH as aios.
func TestMain(m *testing.M) {
	if os.Getenv("AIOS_TEST_MAIN") == "1" {
		os.Exit(aiosMain())
	}
	testscript.Main(m, map[string]func(){"aios": func() { os.Exit(aiosMain()) }})
}

func aiosMain() int {
	return run(context.Background(), os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
}

// startNode runs `aios serve` (this test binary in main mode) on dataDir
// and returns it with its URL once it listens; its output goes to the test
// log on failure.
func startNode(t *testing.T, dataDir string, extra ...string) (*cluster.Process, string) {
	t.Helper()
	return startNodeAt(t, dataDir, "", extra...)
}

// startNodeAt is startNode listening on addr (host:port; "" for a free
// port).
func startNodeAt(t *testing.T, dataDir, addr string, extra ...string) (*cluster.Process, string) {
	t.Helper()
	p, err := cluster.Serve(context.Background(), cluster.ProcessOptions{Exe: os.Args[0], Env: append(os.Environ(), "AIOS_TEST_MAIN=1"),
		DataDir: dataDir, Addr: addr, Args: append([]string{"--log-level", "warn"}, extra...), Log: filepath.Join(t.TempDir(), "serve.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of aios serve %s:\n%s", strings.Join(extra, " "), p.Log())
		}
	})
	return p, p.URL()
}
