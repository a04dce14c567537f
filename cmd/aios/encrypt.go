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
		name:    "encrypt",
		summary: "encrypt vectors (CSV lines or JSON arrays) under a key file, one ciphertext per vector",
		usage:   "--keys client.keys --in vectors.csv|- --out vectors.ct",
		new:     func() runner { return new(encryptCmd) },
	})
}

// encryptCmd is `aios encrypt`.
type encryptCmd struct {
	keys, in, format, out string
	force, asJSON         bool
}

type cryptReport struct {
	Preset  string `json:"preset"`
	Vectors int    `json:"vectors"`
	File    string `json:"file"`
	Bytes   int64  `json:"bytes"`
}

func (c *encryptCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.keys, "keys", "", "key file from aios keygen")
	fs.StringVar(&c.in, "in", "-", "vectors to encrypt: CSV or JSON file, - for stdin")
	fs.StringVar(&c.format, "format", "auto", "input format: csv, json or auto (by extension or content)")
	fs.StringVar(&c.out, "out", "", "ciphertext file to write")
	fs.BoolVar(&c.force, "force", false, "overwrite an existing file")
	jsonFlag(fs, &c.asJSON)
}

func (c *encryptCmd) run(_ context.Context, e *env) error {
	if c.keys == "" || c.out == "" {
		return usagef("--keys and --out are required")
	}
	km, err := loadKeyFile(c.keys)
	if err != nil {
		return err
	}
	vecs, err := readInput(e, c.in, c.format, km.Params.MaxSlots())
	if err != nil {
		return err
	}
	var client *he.Client
	switch {
	case km.SecretKey != nil:
		client = he.NewClient(km)
	case km.PublicKey != nil:
		client = he.NewPublicKeyClient(km.Params, km.PublicKey)
	default:
		return fmt.Errorf("%s holds neither a secret nor a public key", c.keys)
	}
	cts := make([]he.EncryptedVector, len(vecs))
	for i, v := range vecs {
		ct, err := client.Encrypt(v)
		if err != nil {
			return fmt.Errorf("vector %d: %w", i+1, err)
		}
		cts[i] = he.EncryptedVector{Values: len(v), Ciphertext: ct}
	}
	var size int64
	if err := writeFileWith(c.out, 0o644, c.force, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		err := he.WriteKeyedCiphertextFile(cw, km, cts) // with the keys' fingerprint, which decrypt checks
		size = cw.n
		return err
	}); err != nil {
		return err
	}
	res := cryptReport{Preset: km.Params.Name(), Vectors: len(vecs), File: c.out, Bytes: size}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "encrypted %d vectors under %s into %s (%d bytes)\n", res.Vectors, res.Preset, res.File, res.Bytes)
		return err
	})
}
