package main

import (
	"encoding/json"
	"io"
)

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
