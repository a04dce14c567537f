package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/aios-edge/aios/he"
)

func init() {
	register(&command{
		name:    "params",
		summary: "list the CKKS parameter presets with their security level, or check a parameter literal",
		usage:   "[--check literal.json] [--json]",
		new:     func() runner { return new(paramsCmd) },
	})
}

// paramsCmd is `aios params`.
type paramsCmd struct {
	check  string
	asJSON bool
}

func (c *paramsCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.check, "check", "", "validate a CKKS parameter literal (lattigo JSON: LogN, Q/P or LogQ/LogP, LogDefaultScale) instead of listing presets")
	jsonFlag(fs, &c.asJSON)
}

func (c *paramsCmd) run(_ context.Context, e *env) error {
	infos, err := c.infos()
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, infos, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "preset\tN\tlog2 QP\t≤ (128-bit)\tlevels\tslots\tlog2 scale\tsecurity\t")
		for _, in := range infos {
			fmt.Fprintf(tw, "%s\t2^%d\t%.2f\t%.0f\t%d\t%d\t%d\t%d-bit\t\n",
				in.Name, in.LogN, in.LogQP, in.MaxLogQP, in.Levels, in.Slots, in.LogScale, in.SecurityBits)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if c.check == "" {
			for _, pr := range he.Presets() {
				fmt.Fprintf(w, "  %s: %s\n", pr.Name, pr.Summary)
			}
		}
		return nil
	})
}

// infos describes the literal given by --check, or else every preset.
func (c *paramsCmd) infos() ([]he.Info, error) {
	if c.check != "" {
		p, err := loadParams(c.check)
		if err != nil {
			return nil, err
		}
		return []he.Info{p.Info()}, nil
	}
	var infos []he.Info
	for _, name := range he.PresetNames() {
		p, err := he.PresetByName(name)
		if err != nil {
			return nil, err
		}
		infos = append(infos, p.Info())
	}
	return infos, nil
}
