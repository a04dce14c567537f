package mpc

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aios-edge/aios/mpc/internal/field"
)

// Session returns the specification of a session this node runs.
func (n *Node) Session(id [32]byte) (*Session, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.sessions[id]
	if r == nil {
		return nil, ErrUnknownSession
	}
	return r.s, nil
}

// SessionInfo names a session this node runs and when it started it.
type SessionInfo struct {
	ID      [32]byte
	Started time.Time
}

// Sessions lists the sessions this node knows (running, and finished ones
// it still keeps for Status), newest first.
func (n *Node) Sessions() []SessionInfo {
	n.mu.Lock()
	out := make([]SessionInfo, 0, len(n.sessions))
	for id, r := range n.sessions {
		out = append(out, SessionInfo{ID: id, Started: r.started})
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return cmp.Compare(string(a.ID[:]), string(b.ID[:]))
	})
	return out
}

// Close ends every running session (they fail with the context's error)
// and drops their state. The node must not be used afterwards.
func (n *Node) Close() {
	n.cancel()
	n.mu.Lock()
	runs := make([]*run, 0, len(n.sessions))
	for _, r := range n.sessions {
		runs = append(runs, r)
	}
	n.mu.Unlock()
	for _, r := range runs {
		<-r.done
	}
}

// cheatOnce makes this node a dishonest dealer, once: in its next phase-1
// dealing it gives one other member (the lowest-numbered one) a share
// vector that is inconsistent with the commitments, so that the member
// reports the dealer and the coordinator excludes it. NewNode calls it when
// the node's key is marked in internal/fault, which only tests and
// `aios mpc demo --cheat` do; it assumes one session is dealing at a time.
func (n *Node) cheatOnce() {
	var done atomic.Bool
	n.tamperShareForTesting = func(phase uint8, to int, sh []field.Element) {
		if phase != 1 || len(sh) == 0 || done.Load() || n.dealingAs(to) {
			return
		}
		if done.CompareAndSwap(false, true) {
			sh[0] = field.Add(sh[0], field.One())
		}
	}
}

// dealingAs reports whether participant index i is this node in a session
// that is dealing.
func (n *Node) dealingAs(i int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.sessions {
		r.mu.Lock()
		st := r.outcome.State
		r.mu.Unlock()
		if st == StateSharing && r.me == i {
			return true
		}
	}
	return false
}
