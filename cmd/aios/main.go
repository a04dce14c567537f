// Command aios is the privacy-preserving compute node for edge AI: one binary
// that serves encrypted inference, multi-party aggregation and differentially
// private releases, and the client tools that go with them.
//
// Every subcommand parses its own flag set (never the standard
// flag.CommandLine, on which the DP library's glog dependency registers -v and
// -log_dir), and every subcommand that reports results accepts --json so that
// scripts can read its output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one aios subcommand. Each lives in its own file and registers
// itself from init, so adding a command touches no shared list.
type command struct {
	name    string
	summary string // one line for `aios help`
	usage   string // argument synopsis after the name
	// flags declares the command's flags on fs and returns the function
	// that runs it once fs has parsed the arguments.
	flags func(fs *flag.FlagSet) func(ctx context.Context, env *env) error
}

// env is what a running command may touch: its streams and the positional
// arguments left after flag parsing. Tests substitute all of them.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	args   []string
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("aios: command registered twice: " + c.name) // programmer error
	}
	commands[c.name] = c
}

// errUsage marks a command-line mistake: exit status 2 and a usage hint.
var errUsage = errors.New("usage error")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit status:
// 0 on success, 1 when the command failed, 2 on a usage error.
func run(ctx context.Context, argv []string, e *env) int {
	if len(argv) == 0 {
		printHelp(e.stderr)
		return 2
	}
	name := argv[0]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(argv) > 1 {
			if c, ok := commands[argv[1]]; ok {
				fs := newFlagSet(c, e.stdout)
				c.flags(fs)
				fs.Usage()
				return 0
			}
		}
		printHelp(e.stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "aios: unknown command %q\n\n", name)
		printHelp(e.stderr)
		return 2
	}
	fs := newFlagSet(c, e.stderr)
	runFn := c.flags(fs)
	args, err := parseInterleaved(fs, argv[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	e.args = args
	if err := runFn(ctx, e); err != nil {
		fmt.Fprintf(e.stderr, "aios %s: %v\n", name, err)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(e.stderr, "run 'aios help %s' for usage\n", name)
			return 2
		}
		return 1
	}
	return 0
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (flag.FlagSet stops at the first positional one) and
// returns the positional arguments. After "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("aios "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: aios %s %s\n\n%s\n", c.name, c.usage, c.summary)
		if hasFlags(fs) {
			fmt.Fprintln(out, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "aios %s — privacy-preserving compute node for edge AI\n\nusage: aios <command> [flags] [args]\n\ncommands:\n", version)
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'aios help <command>' for a command's flags. Commands that report results accept --json.")
}
