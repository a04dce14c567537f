package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// runner is one command (or subcommand) with its flags: declare binds the
// flags to the runner's fields, run executes it once they are parsed.
type runner interface {
	declare(fs *flag.FlagSet)
	run(ctx context.Context, e *env) error
}

// command is one aios command. Each lives in its own file and registers
// itself from init, so adding a command touches no shared list.
type command struct {
	name    string
	summary string // one line for `aios help`
	usage   string // argument synopsis after the name
	// new returns a fresh runner; nil for a command with subcommands.
	new func() runner
	// subs are the subcommands, each with its own flags.
	subs []*command
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

// run executes one command line and returns the process exit status:
// 0 on success, 1 when the command failed, 2 on a usage error.
func run(ctx context.Context, argv []string, e *env) int {
	if len(argv) == 0 {
		printHelp(e.stderr)
		return 2
	}
	switch argv[0] {
	case "help", "-h", "--help", "-help":
		return help(e.stdout, argv[1:])
	}
	c, ok := commands[argv[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "aios: unknown command %q\n\n", argv[0])
		printHelp(e.stderr)
		return 2
	}
	name, args := c.name, argv[1:]
	if c.subs != nil {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError(e.stderr, name, usagef("expected %s", c.subNames()))
		}
		sub := c.sub(args[0])
		if sub == nil {
			return usageError(e.stderr, name, usagef("unknown subcommand %q (want %s)", args[0], c.subNames()))
		}
		c, name, args = sub, name+" "+sub.name, args[1:]
	}
	r := c.new()
	fs := newFlagSet(name, c, r, e.stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package has printed the error and the usage
	}
	e.args = pos
	if err := r.run(ctx, e); err != nil {
		if errors.Is(err, errUsage) {
			return usageError(e.stderr, name, err)
		}
		fmt.Fprintf(e.stderr, "aios %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usageError(w io.Writer, name string, err error) int {
	fmt.Fprintf(w, "aios %s: %v\nrun 'aios help %s' for usage\n", name, err, name)
	return 2
}

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (c *command) subNames() string {
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// help prints `aios help [command [subcommand]]` to w.
func help(w io.Writer, args []string) int {
	if len(args) == 0 {
		printHelp(w)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		printHelp(w)
		return 0
	}
	name := c.name
	if c.subs != nil {
		sub := (*command)(nil)
		if len(args) > 1 {
			sub = c.sub(args[1])
		}
		if sub == nil {
			printSubcommands(w, c)
			return 0
		}
		c, name = sub, name+" "+sub.name
	}
	r := c.new()
	newFlagSet(name, c, r, w).Usage()
	return 0
}

// newFlagSet returns the flag set of command c (called name on the command
// line) with r's flags declared on it.
func newFlagSet(name string, c *command, r runner, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("aios "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	r.declare(fs)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: aios %s %s\n\n%s\n", name, c.usage, c.summary)
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

func printSubcommands(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: aios %s <subcommand> [flags] [args]\n\n%s\n\nsubcommands:\n", c.name, c.summary)
	for _, s := range c.subs {
		fmt.Fprintf(w, "  %s %s\n      %s\n", s.name, s.usage, s.summary)
	}
	fmt.Fprintf(w, "\nRun 'aios help %s <subcommand>' for a subcommand's flags.\n", c.name)
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
