package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

// mpcStatusCmd is `aios mpc status`.
type mpcStatusCmd struct {
	serverFlags
	wait, asJSON bool
}

func (c *mpcStatusCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "", "client, auditor or admin")
	fs.BoolVar(&c.wait, "wait", false, "wait until the session is done or failed")
	jsonFlag(fs, &c.asJSON)
}

func (c *mpcStatusCmd) run(ctx context.Context, e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	id, err := sessionArg(e, "status")
	if err != nil {
		return err
	}
	var st *schema.MPCSessionStatus
	if c.wait {
		st, err = cl.WaitMPCSession(ctx, id, 200*time.Millisecond, nil)
		if err != nil && (st == nil || st.State != "failed") {
			return err
		}
	} else if st, err = cl.MPCSession(ctx, id); err != nil {
		return err
	}
	return report(e.stdout, c.asJSON, st, func(w io.Writer) error { return printSession(w, st) })
}
