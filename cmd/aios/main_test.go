package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the aios binary: run with
// AIOS_TEST_MAIN=1 it executes its arguments as an aios command line, so
// tests can start real `aios serve` processes (and kill them) without a
// separate build.
func TestMain(m *testing.M) {
	if os.Getenv("AIOS_TEST_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// aiosProcess starts `aios args…` as a child process (the test binary in
// main mode), with its output in the test log on failure.
func aiosProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AIOS_TEST_MAIN=1")
	logf, err := os.Create(filepath.Join(t.TempDir(), "process.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("output of aios %s:\n%s", strings.Join(args, " "), b)
		}
	})
	return cmd
}

// startNode runs `aios serve` on dataDir and returns its URL once it
// listens.
func startNode(t *testing.T, dataDir string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	args := append([]string{"serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--ready-file", ready, "--log-level", "warn"}, extra...)
	cmd := aiosProcess(t, args...)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(b), "\n") {
			return cmd, strings.TrimSpace(string(b))
		}
		if cmd.ProcessState != nil {
			t.Fatal("aios serve exited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("aios serve did not come up")
	return nil, ""
}
