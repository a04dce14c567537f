package main

import (
	"context"
	"flag"
	"io"

	"github.com/aios-edge/aios/api/schema"
)

// mpcCreateCmd is `aios mpc create`.
type mpcCreateCmd struct {
	serverFlags
	sessionFlags
	op, budget, participants, inputParties string
	inputFrom, releaseTo                   string
	fracBits, maxItems                     int
	maxWeight                              float64
	asJSON                                 bool
}

func (c *mpcCreateCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "", "client or admin")
	c.sessionFlags.declare(fs, "", 0, "length of each of the four phases (default 10s, 60s, 30s, 30s)")
	fs.StringVar(&c.op, "op", "sum", "sum, mean, weighted-mean, histogram, variance or dot-product")
	fs.IntVar(&c.fracBits, "frac-bits", 16, "fixed-point fraction bits (0 for a histogram)")
	fs.Float64Var(&c.maxWeight, "max-weight", 0, "weight bound (weighted-mean)")
	fs.IntVar(&c.maxItems, "max-items", 0, "values per party (histogram)")
	fs.StringVar(&c.budget, "budget", "", "the coordinator's privacy budget that pays for the release")
	fs.StringVar(&c.participants, "participants", "", "comma-separated node ids (default: the node, then its peers file)")
	fs.StringVar(&c.inputParties, "input-parties", "", "comma-separated node ids that contribute (default: all)")
	fs.StringVar(&c.inputFrom, "input-from", "", "comma-separated grantees (token:<id>, role:<role>) that may give this node's input besides you")
	fs.StringVar(&c.releaseTo, "release-to", "", "comma-separated grantees (token:<id>, role:<role>) that may read the release besides you")
	jsonFlag(fs, &c.asJSON)
}

func (c *mpcCreateCmd) run(ctx context.Context, e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := noArgs(e); err != nil {
		return err
	}
	if c.budget == "" || c.epsilon == "" {
		return usagef("create needs --budget and --epsilon")
	}
	req := schema.MPCSessionRequest{Participants: splitList(c.participants), InputParties: splitList(c.inputParties),
		Threshold: c.threshold, Operation: c.op, Dimension: c.dim, FracBits: c.fracBits, Lower: c.lower, Upper: c.upper,
		MaxWeight: c.maxWeight, MaxItems: c.maxItems, Budget: c.budget, Epsilon: c.epsilon,
		InputFrom: splitList(c.inputFrom), ReleaseTo: splitList(c.releaseTo)}
	if c.phase > 0 {
		s := c.phase.Seconds()
		req.AcceptSeconds, req.InputSeconds, req.ReportSeconds, req.OutputSeconds = s, s, s, s
	}
	st, err := cl.CreateMPCSession(ctx, req)
	if err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, st, func(w io.Writer) error { return printSession(w, st) })
}
