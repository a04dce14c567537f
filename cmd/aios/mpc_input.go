package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/aios-edge/aios/api/schema"
)

// mpcInputCmd is `aios mpc input`.
type mpcInputCmd struct {
	serverFlags
	values, valuesFile string
	weight             float64
	asJSON             bool
}

func (c *mpcInputCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "", "client or admin")
	fs.StringVar(&c.values, "values", "", "comma-separated numbers")
	fs.StringVar(&c.valuesFile, "values-file", "", "a `file` of numbers separated by commas or white space")
	fs.Float64Var(&c.weight, "weight", 0, "this party's weight (weighted-mean)")
	jsonFlag(fs, &c.asJSON)
}

func (c *mpcInputCmd) run(ctx context.Context, e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	id, err := sessionArg(e, "input")
	if err != nil {
		return err
	}
	vals, err := readValues(c.values, c.valuesFile)
	if err != nil {
		return err
	}
	if err := cl.MPCInput(ctx, id, schema.MPCInputRequest{Values: vals, Weight: c.weight}); err != nil {
		return err
	}
	res := map[string]any{"session": id, "values": len(vals)}
	return report(e.stdout, c.asJSON, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "input of %d values given to session %s\n", len(vals), id)
		return err
	})
}
