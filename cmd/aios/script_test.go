package main

import (
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs the terminal sessions in testdata/script: each runs
// aios (this test binary, see TestMain) and compares its output and exit
// status with what the script expects. $TESTVECTORS is the repository's
// testvectors directory.
func TestScripts(t *testing.T) {
	vectors, err := filepath.Abs(filepath.Join("..", "..", "testvectors"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(e *testscript.Env) error {
			e.Setenv("TESTVECTORS", vectors)
			return nil
		},
	})
}
