// Command aios is the privacy-preserving compute node for edge AI: one binary
// that serves encrypted inference, multi-party aggregation and differentially
// private releases, and the client tools that go with them.
//
// Each command is a small type in a file of its own (keygen.go,
// mpc_create.go, …): its flags are fields it binds to a flag set of its own
// in declare, and run does the work by calling into the packages, which
// hold the logic. A command with subcommands (mpc, audit, budget, …) gives
// every subcommand its own flag set, so a flag of one is an error on
// another. Flag sets are never the standard flag.CommandLine, on which the
// DP library's glog dependency registers -v and -log_dir. The flags that
// several commands share (--json, --data-dir, --server and --token) and the
// parsing of the command line live in flags.go; every command that reports
// results accepts --json so that scripts can read its output; under --json
// an error is written to stdout too, in the API's shape {"error": {"code",
// "message"}}, besides the line on stderr.
//
// # Exit status
//
// One table in command.go (exitStatuses) maps errors to exit statuses, and
// `aios help` prints it:
//
//	0  success
//	1  failure: any error not listed below
//	2  usage error: an unknown command, subcommand or flag, a missing or bad argument
//	3  privacy budget exhausted (dp.ErrBudgetExhausted, or a node's "budget_exhausted")
//	4  the audit log does not verify (dp.ErrAuditFailed, which includes a
//	   rolled-back or forked log, dp.ErrRollback and dp.ErrFork), or the audit
//	   pin is not valid for the trusted node (dp.ErrInvalidPin)
//	5  the audit log verifies but its head is not covered by a signed
//	   checkpoint (dp.ErrUnsignedHead; aios audit verify --allow-unsigned-head
//	   accepts it)
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}
