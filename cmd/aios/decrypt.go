package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/aios-edge/aios/he"
)

func init() {
	register(&command{
		name:    "decrypt",
		summary: "decrypt a ciphertext file with a key file and print the vectors",
		usage:   "--keys client.keys --in vectors.ct [--format csv|json] [--out FILE]",
		new:     func() runner { return new(decryptCmd) },
	})
}

// decryptCmd is `aios decrypt`.
type decryptCmd struct {
	keys, in, format, out string
	force                 bool
}

func (c *decryptCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.keys, "keys", "", "key file from aios keygen (with its secret key)")
	fs.StringVar(&c.in, "in", "-", "ciphertext file, - for stdin")
	fs.StringVar(&c.format, "format", "csv", "output format: csv or json")
	fs.StringVar(&c.out, "out", "-", "where to write the vectors, - for stdout")
	fs.BoolVar(&c.force, "force", false, "overwrite an existing file")
}

func (c *decryptCmd) run(_ context.Context, e *env) error {
	if c.keys == "" {
		return usagef("--keys is required")
	}
	if c.format != "csv" && c.format != "json" {
		return usagef("--format must be csv or json")
	}
	km, err := loadKeyFile(c.keys)
	if err != nil {
		return err
	}
	if km.SecretKey == nil {
		return fmt.Errorf("%s holds no secret key: %w", c.keys, he.ErrNoSecretKey)
	}
	r, closeIn, err := openInput(e, c.in)
	if err != nil {
		return err
	}
	defer closeIn()
	cts, err := he.ReadCiphertextFileFor(r, km, he.DefaultLimits) // refuses a file made for other keys
	if err != nil {
		return err
	}
	client := he.NewClient(km)
	vecs := make([][]float64, len(cts))
	for i, ct := range cts {
		if vecs[i], err = client.Decrypt(ct.Ciphertext, ct.Values); err != nil {
			return fmt.Errorf("ciphertext %d: %w", i+1, err)
		}
	}
	if c.out == "-" {
		return writeVectors(e.stdout, c.format, vecs)
	}
	return writeFileWith(c.out, 0o600, c.force, func(w io.Writer) error { return writeVectors(w, c.format, vecs) })
}
