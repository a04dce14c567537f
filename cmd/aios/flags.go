package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/aios-edge/aios/api/client"
)

// The flags that several commands share, declared in one place so that
// they are spelled and behave the same everywhere.

// jsonFlag declares --json.
func jsonFlag(fs *flag.FlagSet, v *bool) {
	fs.BoolVar(v, "json", false, "print JSON")
}

// dataDirFlag declares --data-dir.
func dataDirFlag(fs *flag.FlagSet, v *string) {
	fs.StringVar(v, "data-dir", "", "node data `directory`")
}

// dbFlag declares --db, the database of a node whose replicas share one
// PostgreSQL database; its default is $AIOS_DB.
func dbFlag(fs *flag.FlagSet, v *string) {
	fs.StringVar(v, "db", os.Getenv("AIOS_DB"), "the node's database, a postgres:// `URL` that its replicas share (default $AIOS_DB; unset: SQLite in --data-dir)")
}

// serverFlags are --server and --token, for the commands that talk to a
// node over HTTP.
type serverFlags struct {
	server, token string
}

// declare declares --server with the given default and --token, whose
// default is $AIOS_TOKEN; roles says which tokens the command takes.
func (f *serverFlags) declare(fs *flag.FlagSet, serverDefault, roles string) {
	fs.StringVar(&f.server, "server", serverDefault, "the node's `URL`")
	fs.StringVar(&f.token, "token", os.Getenv("AIOS_TOKEN"), "bearer token (default $AIOS_TOKEN): "+roles)
}

// client returns a client of the node; a missing or malformed --server is
// a usage error.
func (f *serverFlags) client() (*client.Client, error) {
	if f.server == "" {
		return nil, usagef("--server is required")
	}
	c, err := client.New(f.server, f.token, client.Options{})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

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

// noArgs is a usage error when a command that takes no positional
// arguments got some.
func noArgs(e *env) error {
	if len(e.args) > 0 {
		return usagef("unexpected arguments %q", e.args)
	}
	return nil
}

// report writes a command's result: v as indented JSON when asJSON is set,
// otherwise whatever text prints. Every command that reports results goes
// through here so that --json behaves the same everywhere.
func report(w io.Writer, asJSON bool, v any, text func(w io.Writer) error) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(w)
}
