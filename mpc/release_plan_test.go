package mpc

import (
	"errors"
	"testing"
	"time"
)

// TestReleaseChecksRunAtCreation: every check that could fail when the
// coordinator releases (issue 12, item 5) refuses the session when it is
// created, before any party shares.
func TestReleaseChecksRunAtCreation(t *testing.T) {
	c := newCluster(t, 4)
	cases := []struct {
		name  string
		edit  func(*SessionLiteral)
		field string
	}{
		// 2^20 coordinates are released in 16 chunks; 1 µε cannot be split.
		{"ε too small for the chunks", func(l *SessionLiteral) { l.Dimension, l.Epsilon = 1<<20, 1 }, "epsilon"},
		{"variance doubles the chunks", func(l *SessionLiteral) {
			l.Operation, l.Dimension, l.Epsilon, l.Lower, l.Upper = OpVariance, 1<<20, 31, -1, 1
		}, "epsilon"},
		// Each coordinate fits dp's 2^52 range, but the ℓ1 sensitivity of a
		// full chunk (2^16 · 100 · 2^30) does not.
		{"chunk ℓ1 overflows", func(l *SessionLiteral) { l.Dimension, l.FracBits = 1<<16, 30 }, "release"},
		{"budget dp cannot name", func(l *SessionLiteral) { l.Budget = "Team Budget" }, "budget"},
	}
	for _, tc := range cases {
		lit := c.literal(OpSum, 2, 4, time.Second)
		tc.edit(&lit)
		_, err := NewSessionFromLiteral(lit)
		var se *SpecError
		if !errors.As(err, &se) || se.Field != tc.field || !errors.Is(err, ErrInvalidSession) {
			t.Errorf("%s: got %v, want a SpecError on %s", tc.name, err, tc.field)
		}
	}
	lit := c.literal(OpSum, 2, 1<<20, time.Second)
	lit.Epsilon = 16 // one µε per chunk is enough
	if _, err := NewSessionFromLiteral(lit); err != nil {
		t.Fatal(err)
	}
}
