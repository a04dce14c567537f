package mpc

import (
	"testing"
	"time"
)

// TestPruneFinished: finished sessions beyond the count limit or older
// than the retention are forgotten (oldest first), but never one whose
// acceptance deadline has not passed, nor a running one.
func TestPruneFinished(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	n := &Node{sessions: map[[32]byte]*run{}}
	add := func(i int, finishedAt, acceptBy time.Time, finished bool) [32]byte {
		var id [32]byte
		id[0], id[1] = byte(i), byte(i>>8)
		n.sessions[id] = &run{s: &Session{lit: SessionLiteral{AcceptBy: acceptBy}}}
		if finished {
			n.finished = append(n.finished, finishedSession{id: id, at: finishedAt})
		}
		return id
	}
	old := add(0, now.Add(-25*time.Hour), now.Add(-26*time.Hour), true)
	young := add(1, now.Add(-time.Hour), now.Add(-2*time.Hour), true)
	open := add(2, now.Add(-30*time.Hour), now.Add(time.Hour), true) // old, but its deadline is ahead
	running := add(3, time.Time{}, now.Add(-time.Hour), false)
	var bulk [][32]byte
	for i := range maxFinishedSessions {
		bulk = append(bulk, add(10+i, now.Add(-time.Minute), now.Add(-time.Hour), true))
	}
	n.pruneFinished(now)
	for name, c := range map[string]struct {
		id   [32]byte
		kept bool
	}{"old": {old, false}, "young but over the count": {young, false}, "deadline ahead": {open, true}, "running": {running, true},
		"newest": {bulk[len(bulk)-1], true}} {
		if _, ok := n.sessions[c.id]; ok != c.kept {
			t.Errorf("%s: kept %v, want %v", name, ok, c.kept)
		}
	}
	if len(n.finished) != maxFinishedSessions+1 { // the bulk plus the one whose deadline is ahead
		t.Errorf("%d finished sessions kept", len(n.finished))
	}
}
