package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/aios-edge/aios/he"
)

// The he commands: params, keygen, encrypt, decrypt — the CKKS round trip
// from a shell.

func init() {
	register(&command{
		name:    "params",
		summary: "list the CKKS parameter presets with their security level, or check a parameter literal",
		usage:   "[--check literal.json] [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			check := fs.String("check", "", "validate a CKKS parameter literal (lattigo JSON: LogN, Q/P or LogQ/LogP, LogDefaultScale) instead of listing presets")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(_ context.Context, e *env) error {
				var infos []he.Info
				if *check != "" {
					p, err := loadParams(*check)
					if err != nil {
						return err
					}
					infos = append(infos, p.Info())
				}
				for _, name := range he.PresetNames() {
					if *check != "" {
						break
					}
					p, err := he.PresetByName(name)
					if err != nil {
						return err
					}
					infos = append(infos, p.Info())
				}
				return report(e.stdout, *asJSON, infos, func(w io.Writer) error {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
					fmt.Fprintln(tw, "preset\tN\tlog2 QP\t≤ (128-bit)\tlevels\tslots\tlog2 scale\tsecurity\t")
					for _, in := range infos {
						fmt.Fprintf(tw, "%s\t2^%d\t%.2f\t%.0f\t%d\t%d\t%d\t%d-bit\t\n",
							in.Name, in.LogN, in.LogQP, in.MaxLogQP, in.Levels, in.Slots, in.LogScale, in.SecurityBits)
					}
					if err := tw.Flush(); err != nil {
						return err
					}
					for _, pr := range he.Presets() {
						if *check == "" {
							fmt.Fprintf(w, "  %s: %s\n", pr.Name, pr.Summary)
						}
					}
					return nil
				})
			}
		},
	})

	register(&command{
		name:    "keygen",
		summary: "generate a client's CKKS key material (secret, public and evaluation keys)",
		usage:   "--preset NAME|--params literal.json [--rotations 1,2,-1] [--no-relin] --out client.keys [--evk-out client.evk]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			preset := fs.String("preset", "n13", "parameter preset (see aios params)")
			paramsFile := fs.String("params", "", "a CKKS parameter literal (lattigo JSON) instead of a preset; checked for 128-bit security")
			rotations := fs.String("rotations", "", "slot rotations to generate Galois keys for, comma-separated")
			galois := fs.String("galois", "", "Galois elements to generate keys for, comma-separated (as a model lists them)")
			noRelin := fs.Bool("no-relin", false, "do not generate the relinearization key")
			out := fs.String("out", "", "key file to write (holds the secret key; mode 0600)")
			evkOut := fs.String("evk-out", "", "also write the evaluation key set alone (lattigo binary), the blob a node receives")
			force := fs.Bool("force", false, "overwrite existing files")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(_ context.Context, e *env) error {
				if *out == "" {
					return usagef("--out is required")
				}
				p, err := he.PresetByName(*preset)
				if *paramsFile != "" {
					p, err = loadParams(*paramsFile)
				}
				if err != nil {
					return err
				}
				rots, err := parseInts(*rotations)
				if err != nil {
					return usagef("--rotations: %v", err)
				}
				els, err := parseUints(*galois)
				if err != nil {
					return usagef("--galois: %v", err)
				}
				spec := he.KeySpec{Relinearization: !*noRelin, GaloisElements: append(he.GaloisElementsForRotations(p, rots), els...)}
				km, err := he.GenerateKeys(p, spec)
				if err != nil {
					return err
				}
				if err := writeFileWith(*out, 0o600, *force, func(w io.Writer) error { return he.WriteKeyFile(w, km, false) }); err != nil {
					return err
				}
				res := keygenReport{Preset: p.Name(), ParamsID: p.ID(), KeyFile: *out, EvaluationKeyID: km.Evaluation.ID(),
					EvaluationKeyBytes: km.Evaluation.Size(), Relinearization: spec.Relinearization, GaloisElements: km.Evaluation.GaloisElements()}
				if *evkOut != "" {
					b, err := km.Evaluation.MarshalBinary()
					if err != nil {
						return err
					}
					if err := writeFileWith(*evkOut, 0o644, *force, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
						return err
					}
					res.EvaluationKeyFile = *evkOut
				}
				return report(e.stdout, *asJSON, res, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "wrote %s (preset %s)\nevaluation keys %s: %d bytes, relinearization %v, %d Galois keys\n",
						res.KeyFile, res.Preset, res.EvaluationKeyID, res.EvaluationKeyBytes, res.Relinearization, len(res.GaloisElements))
					return err
				})
			}
		},
	})

	register(&command{
		name:    "encrypt",
		summary: "encrypt vectors (CSV lines or JSON arrays) under a key file, one ciphertext per vector",
		usage:   "--keys client.keys --in vectors.csv|- --out vectors.ct",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			keys := fs.String("keys", "", "key file from aios keygen")
			in := fs.String("in", "-", "vectors to encrypt: CSV or JSON file, - for stdin")
			format := fs.String("format", "auto", "input format: csv, json or auto (by extension or content)")
			out := fs.String("out", "", "ciphertext file to write")
			force := fs.Bool("force", false, "overwrite an existing file")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(_ context.Context, e *env) error {
				if *keys == "" || *out == "" {
					return usagef("--keys and --out are required")
				}
				km, err := loadKeyFile(*keys)
				if err != nil {
					return err
				}
				vecs, err := readInput(e, *in, *format, km.Params.MaxSlots())
				if err != nil {
					return err
				}
				var client *he.Client
				if km.SecretKey != nil {
					client = he.NewClient(km)
				} else if km.PublicKey != nil {
					client = he.NewPublicKeyClient(km.Params, km.PublicKey)
				} else {
					return fmt.Errorf("%s holds neither a secret nor a public key", *keys)
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
				if err := writeFileWith(*out, 0o644, *force, func(w io.Writer) error {
					cw := &countingWriter{w: w}
					err := he.WriteCiphertextFile(cw, km.Params, cts)
					size = cw.n
					return err
				}); err != nil {
					return err
				}
				res := cryptReport{Preset: km.Params.Name(), Vectors: len(vecs), File: *out, Bytes: size}
				return report(e.stdout, *asJSON, res, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "encrypted %d vectors under %s into %s (%d bytes)\n", res.Vectors, res.Preset, res.File, res.Bytes)
					return err
				})
			}
		},
	})

	register(&command{
		name:    "decrypt",
		summary: "decrypt a ciphertext file with a key file and print the vectors",
		usage:   "--keys client.keys --in vectors.ct [--format csv|json] [--out FILE]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			keys := fs.String("keys", "", "key file from aios keygen (with its secret key)")
			in := fs.String("in", "-", "ciphertext file, - for stdin")
			format := fs.String("format", "csv", "output format: csv or json")
			out := fs.String("out", "-", "where to write the vectors, - for stdout")
			force := fs.Bool("force", false, "overwrite an existing file")
			return func(_ context.Context, e *env) error {
				if *keys == "" {
					return usagef("--keys is required")
				}
				if *format != "csv" && *format != "json" {
					return usagef("--format must be csv or json")
				}
				km, err := loadKeyFile(*keys)
				if err != nil {
					return err
				}
				if km.SecretKey == nil {
					return fmt.Errorf("%s holds no secret key: %w", *keys, he.ErrNoSecretKey)
				}
				r, closeIn, err := openInput(e, *in)
				if err != nil {
					return err
				}
				defer closeIn()
				cts, err := he.ReadCiphertextFile(r, km.Params, he.DefaultLimits)
				if err != nil {
					return err
				}
				client := he.NewClient(km)
				vecs := make([][]float64, len(cts))
				for i, c := range cts {
					if vecs[i], err = client.Decrypt(c.Ciphertext, c.Values); err != nil {
						return fmt.Errorf("ciphertext %d: %w", i+1, err)
					}
				}
				if *out == "-" {
					return writeVectors(e.stdout, *format, vecs)
				}
				return writeFileWith(*out, 0o600, *force, func(w io.Writer) error { return writeVectors(w, *format, vecs) })
			}
		},
	})
}

type keygenReport struct {
	Preset             string   `json:"preset"`
	ParamsID           string   `json:"params_id"`
	KeyFile            string   `json:"key_file"`
	EvaluationKeyFile  string   `json:"evaluation_key_file,omitempty"`
	EvaluationKeyID    string   `json:"evaluation_key_id"`
	EvaluationKeyBytes int      `json:"evaluation_key_bytes"`
	Relinearization    bool     `json:"relinearization"`
	GaloisElements     []uint64 `json:"galois_elements"`
}

type cryptReport struct {
	Preset  string `json:"preset"`
	Vectors int    `json:"vectors"`
	File    string `json:"file"`
	Bytes   int64  `json:"bytes"`
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func loadParams(path string) (he.Parameters, error) {
	f, err := os.Open(path)
	if err != nil {
		return he.Parameters{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, he.MaxParametersBytes+1))
	if err != nil {
		return he.Parameters{}, err
	}
	p, err := he.DecodeParameters(b)
	if err != nil {
		return he.Parameters{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func loadKeyFile(path string) (*he.KeyMaterial, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	km, err := he.ReadKeyFile(f, he.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return km, nil
}

func openInput(e *env, path string) (io.Reader, func(), error) {
	if path == "-" {
		return e.stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func readInput(e *env, path, format string, maxLen int) ([][]float64, error) {
	r, closeIn, err := openInput(e, path)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	name := path
	if path == "-" {
		name = "stdin"
	}
	return readVectors(r, name, format, maxLen)
}

// writeFileWith writes a file through a temporary file in the same folder
// and renames it into place, so a failure never leaves a partial file.
func writeFileWith(path string, mode os.FileMode, force bool, write func(io.Writer) error) error {
	if !force {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists (use --force to overwrite)", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseUints(s string) ([]uint64, error) {
	var out []uint64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a non-negative integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}
