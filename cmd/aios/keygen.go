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
		name:    "keygen",
		summary: "generate a client's CKKS key material (secret, public and evaluation keys)",
		usage:   "--preset NAME|--params literal.json [--rotations 1,2,-1] [--no-relin] --out client.keys [--evk-out client.evk]",
		new:     func() runner { return new(keygenCmd) },
	})
}

// keygenCmd is `aios keygen`.
type keygenCmd struct {
	preset, paramsFile, rotations, galois, out, evkOut string
	noRelin, force, asJSON                             bool
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

func (c *keygenCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.preset, "preset", "n13", "parameter preset (see aios params)")
	fs.StringVar(&c.paramsFile, "params", "", "a CKKS parameter literal (lattigo JSON) instead of a preset; checked for 128-bit security")
	fs.StringVar(&c.rotations, "rotations", "", "slot rotations to generate Galois keys for, comma-separated")
	fs.StringVar(&c.galois, "galois", "", "Galois elements to generate keys for, comma-separated (as a model lists them)")
	fs.BoolVar(&c.noRelin, "no-relin", false, "do not generate the relinearization key")
	fs.StringVar(&c.out, "out", "", "key file to write (holds the secret key; mode 0600)")
	fs.StringVar(&c.evkOut, "evk-out", "", "also write the evaluation key set alone (lattigo binary), the blob a node receives")
	fs.BoolVar(&c.force, "force", false, "overwrite existing files")
	jsonFlag(fs, &c.asJSON)
}

func (c *keygenCmd) run(_ context.Context, e *env) error {
	if c.out == "" {
		return usagef("--out is required")
	}
	p, spec, err := c.spec()
	if err != nil {
		return err
	}
	km, err := he.GenerateSeededKeys(p, spec) // the seeds make its upload a third of the bytes
	if err != nil {
		return err
	}
	if err := writeFileWith(c.out, 0o600, c.force, func(w io.Writer) error { return he.WriteKeyFile(w, km, false) }); err != nil {
		return err
	}
	res := keygenReport{Preset: p.Name(), ParamsID: p.ID(), KeyFile: c.out, EvaluationKeyID: km.Evaluation.ID(),
		EvaluationKeyBytes: km.Evaluation.Size(), Relinearization: spec.Relinearization, GaloisElements: km.Evaluation.GaloisElements()}
	if c.evkOut != "" {
		b, err := km.Evaluation.MarshalBinary()
		if err != nil {
			return err
		}
		if err := writeFileWith(c.evkOut, 0o644, c.force, writeBytes(b)); err != nil {
			return err
		}
		res.EvaluationKeyFile = c.evkOut
	}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "wrote %s (preset %s)\nevaluation keys %s: %d bytes, relinearization %v, %d Galois keys\n",
			res.KeyFile, res.Preset, res.EvaluationKeyID, res.EvaluationKeyBytes, res.Relinearization, len(res.GaloisElements))
		return err
	})
}

// spec returns the parameters and the evaluation keys the flags ask for.
func (c *keygenCmd) spec() (he.Parameters, he.KeySpec, error) {
	p, err := he.PresetByName(c.preset)
	if c.paramsFile != "" {
		p, err = loadParams(c.paramsFile)
	}
	if err != nil {
		return p, he.KeySpec{}, err
	}
	rots, err := parseInts(c.rotations)
	if err != nil {
		return p, he.KeySpec{}, usagef("--rotations: %v", err)
	}
	els, err := parseUints(c.galois)
	if err != nil {
		return p, he.KeySpec{}, usagef("--galois: %v", err)
	}
	return p, he.KeySpec{Relinearization: !c.noRelin, GaloisElements: append(he.GaloisElementsForRotations(p, rots), els...)}, nil
}
