package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aios-edge/aios/api/client"
)

// PollInterval is how often the session waits poll a node.
const PollInterval = 10 * time.Millisecond

// Change is a state change of an MPC session, as one node saw it.
type Change struct {
	State string        // the new state: sharing, combining, done or failed
	At    time.Duration // since the watch began
}

// WatchSession polls session id on n every PollInterval from now on and
// sends each change of its state, starting from "accepting" (the state of
// a new proposal). The channel is closed after "done" or "failed", or when
// ctx is done.
func (n *Node) WatchSession(ctx context.Context, id string) <-chan Change {
	changes := make(chan Change, 8)
	start := time.Now()
	go func() {
		defer close(changes)
		last := "accepting"
		for {
			st, err := n.Client.MPCSession(ctx, id)
			if err == nil && st.State != last {
				last = st.State
				select {
				case changes <- Change{last, time.Since(start)}:
				case <-ctx.Done():
					return
				}
				if last == "done" || last == "failed" {
					return
				}
			}
			if sleep(ctx, PollInterval) != nil {
				return
			}
		}
	}()
	return changes
}

// WaitSent waits until n has sent at least bytes bytes in session id (its
// dealing, once bytes is the size of a dealing to every other member). It
// fails when the session fails on n, when by passes, or when ctx is done.
func (n *Node) WaitSent(ctx context.Context, id string, bytes int64, by time.Time) error {
	for {
		st, err := n.Client.MPCSession(ctx, id)
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			return err
		}
		if err == nil && st.Stats.BytesSent >= bytes {
			return nil
		}
		if err == nil && (st.State == "failed" || time.Now().After(by)) {
			return fmt.Errorf("node %d did not send its dealing by %s (%s)", n.Index, by.Format(time.TimeOnly), st.State)
		}
		if err := sleep(ctx, PollInterval); err != nil {
			return err
		}
	}
}

// KillAfterSent waits as WaitSent does, lets the node's last request land
// (settle), then kills the node: it dies after dealing and before it can
// report or send an output share.
func (n *Node) KillAfterSent(ctx context.Context, id string, bytes int64, by time.Time, settle time.Duration) error {
	if err := n.WaitSent(ctx, id, bytes, by); err != nil {
		return err
	}
	if err := sleep(ctx, settle); err != nil {
		return err
	}
	n.Kill()
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
