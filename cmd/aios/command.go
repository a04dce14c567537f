package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
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

// Exit statuses of aios; [exitStatuses] says which errors give which.
const (
	exitOK           = 0
	exitFailure      = 1
	exitUsage        = 2
	exitBudget       = 3
	exitAudit        = 4
	exitUnsignedHead = 5
)

// exitStatuses is the one table from errors to exit statuses, documented in
// `aios help` and the package doc. The first entry whose err errors.Is
// matches, or whose nodeCode is the code of a node's error answer
// (*client.Error), wins; anything else is exitFailure. code is the error
// code that --json prints.
var exitStatuses = []struct {
	err      error
	nodeCode string
	status   int
	code     string
	meaning  string
}{
	{errUsage, "", exitUsage, "usage_error", "usage error: an unknown command or flag, a missing or bad argument"},
	{dp.ErrBudgetExhausted, "budget_exhausted", exitBudget, "budget_exhausted", "the privacy budget has too little ε left"},
	{dp.ErrAuditFailed, "", exitAudit, "audit_failed", "the audit log does not verify: tampered, rolled back or forked"},
	{dp.ErrInvalidPin, "", exitAudit, "invalid_pin", "the audit pin file is not a valid pin of the trusted node"},
	{dp.ErrUnsignedHead, "", exitUnsignedHead, "unsigned_head", "the audit log verifies but its head is not covered by a signed checkpoint"},
}

// exitStatusOf maps err through exitStatuses and returns the exit status
// and the error code for --json.
func exitStatusOf(err error) (status int, code string) {
	var ce *client.Error
	isNode := errors.As(err, &ce)
	for _, x := range exitStatuses {
		if errors.Is(err, x.err) || (isNode && x.nodeCode != "" && ce.Code == x.nodeCode) {
			return x.status, x.code
		}
	}
	if isNode && ce.Code != "" {
		return exitFailure, ce.Code
	}
	return exitFailure, "failed"
}

// run executes one command line and returns the process exit status, from
// [exitStatuses]: 0 on success, 1 when the command failed, 2 on a usage
// error, and a status of its own for the errors an operator or a script
// must tell apart.
func run(ctx context.Context, argv []string, e *env) int {
	if len(argv) == 0 {
		printHelp(e.stderr)
		return exitUsage
	}
	switch argv[0] {
	case "help", "-h", "--help", "-help":
		return help(e, argv[1:])
	}
	c, ok := commands[argv[0]]
	if !ok {
		msg := unknownCommand(argv[0])
		fmt.Fprintf(e.stderr, "aios: %s\n\n", msg)
		printHelp(e.stderr)
		if wantsJSON(argv) {
			writeErrorJSON(e.stdout, "usage_error", msg)
		}
		return exitUsage
	}
	name, args := c.name, argv[1:]
	if c.subs != nil {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fail(e, name, wantsJSON(args), usagef("expected %s", c.subNames()))
		}
		sub := c.sub(args[0])
		if sub == nil {
			return fail(e, name, wantsJSON(args), c.unknownSub(args[0]))
		}
		c, name, args = sub, name+" "+sub.name, args[1:]
	}
	r := c.new()
	fs := newFlagSet(name, c, r, e.stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		// The flag package has printed the error and the usage.
		if wantsJSON(args) {
			writeErrorJSON(e.stdout, "usage_error", err.Error())
		}
		return exitUsage
	}
	e.args = pos
	if err := r.run(ctx, e); err != nil {
		return fail(e, name, jsonSet(fs), err)
	}
	return exitOK
}

// fail reports the error of command name: one line on stderr, with a hint for a usage error, and under --json the
// error in the API's shape, {"error": {"code", "message"}}, on stdout. It
// returns the exit status that [exitStatuses] gives err.
func fail(e *env, name string, asJSON bool, err error) int {
	status, code := exitStatusOf(err)
	fmt.Fprintf(e.stderr, "aios %s: %v\n", name, err)
	switch {
	case status != exitUsage:
	case name == "help":
		fmt.Fprintln(e.stderr, "run 'aios help' for the commands")
	default:
		fmt.Fprintf(e.stderr, "run 'aios help %s' for usage\n", name)
	}
	if asJSON {
		writeErrorJSON(e.stdout, code, err.Error())
	}
	return status
}

// writeErrorJSON writes an error in the API's shape.
func writeErrorJSON(w io.Writer, code, message string) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(schema.NewErrorBody(code, message)) //nolint:errcheck // the error is reported on stderr too
}

// jsonSet reports whether the parsed flag set has --json set.
func jsonSet(fs *flag.FlagSet) bool {
	f := fs.Lookup("json")
	return f != nil && f.Value.String() == "true"
}

// wantsJSON reports whether unparsed arguments ask for --json, for the
// errors that come before their flags are parsed.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true":
			return true
		}
	}
	return false
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

// help prints `aios help [command [subcommand]]` to e.stdout; an unknown
// command or subcommand is a usage error with a suggestion.
func help(e *env, args []string) int {
	if len(args) == 0 {
		printHelp(e.stdout)
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		return fail(e, "help", false, usagef("%s", unknownCommand(args[0])))
	}
	name := c.name
	if c.subs != nil {
		if len(args) == 1 {
			printSubcommands(e.stdout, c)
			return exitOK
		}
		sub := c.sub(args[1])
		if sub == nil {
			return fail(e, "help", false, c.unknownSub(args[1]))
		}
		c, name = sub, name+" "+sub.name
	}
	r := c.new()
	newFlagSet(name, c, r, e.stdout).Usage()
	return exitOK
}

// unknownCommand says that word is not a command, with the commands and
// subcommands it is closest to.
func unknownCommand(word string) string {
	var names []string
	for n, c := range commands {
		names = append(names, n)
		for _, s := range c.subs {
			names = append(names, n+" "+s.name)
		}
	}
	return fmt.Sprintf("unknown command %q%s", word, didYouMean(word, names))
}

// unknownSub is the usage error for an unknown subcommand of c.
func (c *command) unknownSub(word string) error {
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		names[i] = c.name + " " + s.name
	}
	return usagef("unknown subcommand %q (want %s)%s", word, c.subNames(), didYouMean(word, names))
}

// didYouMean returns "; did you mean …?" naming the names (commands, or
// "command subcommand") whose last word is within a small edit distance of
// word, closest first, or "" if there is none.
func didYouMean(word string, names []string) string {
	limit := max(1, min(2, len(word)/3))
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range names {
		last := n[strings.LastIndexByte(n, ' ')+1:]
		if d := editDistance(word, last); d <= limit {
			cs = append(cs, cand{n, d})
		}
	}
	if len(cs) == 0 {
		return ""
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	quoted := make([]string, len(cs))
	for i, c := range cs {
		quoted[i] = fmt.Sprintf("%q", "aios "+c.name)
	}
	return "; did you mean " + strings.Join(quoted, " or ") + "?"
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein with transpositions of adjacent letters), over bytes: the
// command names are ASCII.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
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
	fmt.Fprintln(w, "\nRun 'aios help <command>' for a command's flags. Commands that report results accept --json;")
	fmt.Fprintln(w, "with it, an error is also written to stdout as {\"error\": {\"code\": …, \"message\": …}}.")
	fmt.Fprintf(w, "\nexit status:\n  %d  success\n  %d  failure (any error not listed here)\n", exitOK, exitFailure)
	for _, x := range exitStatuses {
		fmt.Fprintf(w, "  %d  %s (code %q)\n", x.status, x.meaning, x.code)
	}
}
