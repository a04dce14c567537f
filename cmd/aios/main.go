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
// results accepts --json so that scripts can read its output.
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
