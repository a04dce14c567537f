package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aios-edge/aios/api/schema"
)

// TestExitStatuses checks the exit statuses of exitStatuses that need no
// ledger tampering (audit failures are in TestAuditVerifyPin), the "did you
// mean" of unknown commands, and the JSON errors of --json.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "r.csv")
	if err := os.WriteFile(csv, []byte("temp\n1\n2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "node")
	mustRun(t, "budget", "create", "b", "--epsilon", "1", "--data-dir", node)
	query := []string{"dp", "query", "--data", csv, "--column", "temp", "--agg", "count", "--budget", "b", "--data-dir", node}
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"help", "bugdet"}, exitUsage, `unknown command "bugdet"; did you mean "aios budget"?`},
		{[]string{"help", "verfy"}, exitUsage, `did you mean "aios audit verify"?`},
		{[]string{"help", "mpc", "craete"}, exitUsage, `did you mean "aios mpc create"?`},
		{[]string{"help", "frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"kegen"}, exitUsage, `did you mean "aios keygen"?`},
		{[]string{"budget", "lst"}, exitUsage, `did you mean "aios budget list"?`},
		{[]string{"budget", "create", "x", "--epsilon", "1", "--description", "a\x1b[2Jb", "--data-dir", node}, exitFailure,
			"description: must not contain control characters other than tab (U+001B at byte 1)"},
		{append(query, "--epsilon", "0.75"), exitOK, ""},
		{append(query, "--epsilon", "0.5"), exitBudget, "privacy budget exhausted"},
	}
	for _, c := range cases {
		code, _, stderr := runAios(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("aios %s: exit %d, stderr %q; want exit %d with %q", strings.Join(c.args, " "), code, stderr, c.code, c.stderr)
		}
	}

	// Under --json an error is on stdout in the API's shape, and on stderr.
	for _, c := range []struct {
		args      []string
		code      int
		errorCode string
		inMessage string
	}{
		{append(query, "--epsilon", "0.5", "--json"), exitBudget, "budget_exhausted", "privacy budget exhausted"},
		{[]string{"budget", "show", "nope", "--data-dir", node, "--json"}, exitFailure, "failed", "unknown budget"},
		{[]string{"budget", "show", "--data-dir", node, "--json"}, exitUsage, "usage_error", "takes 1 argument"},
		{[]string{"budget", "frob", "--json"}, exitUsage, "usage_error", "unknown subcommand"},
		{[]string{"budget", "list", "--frob", "--json"}, exitUsage, "usage_error", "flag provided but not defined"},
		{[]string{"frob", "--json"}, exitUsage, "usage_error", "unknown command"},
	} {
		code, stdout, stderr := runAios(t, c.args...)
		var body schema.ErrorBody
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || code != c.code || body.Error.Code != c.errorCode ||
			!strings.Contains(body.Error.Message, c.inMessage) || !strings.Contains(stderr, c.inMessage) {
			t.Errorf("aios %s: exit %d, stdout %q (%v), stderr %q; want exit %d and code %q", strings.Join(c.args, " "),
				code, stdout, err, stderr, c.code, c.errorCode)
		}
	}

	// aios help documents every status of the table.
	help := mustRun(t, "help")
	for _, x := range exitStatuses {
		if line := fmt.Sprintf("  %d  %s", x.status, x.meaning); !strings.Contains(help, line) {
			t.Errorf("aios help does not document %q", line)
		}
	}
}
