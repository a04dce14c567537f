package mpc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCheckHeader: a message's header alone tells an unknown session, a
// sender outside the roster, another recipient and a body above its kind's
// limit, each with the error Deliver gives the whole message; a header that
// passes returns the body length it announces.
func TestCheckHeader(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.nodes[0].Propose(ctx, c.literal(OpSum, 2, 4, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	header := func(kind Kind, phase uint8, session [32]byte, from, to uint16, body int) []byte {
		e := &Envelope{Kind: kind, Phase: phase, Session: session, From: from, To: to, Body: make([]byte, body)}
		return e.Marshal()[:HeaderSize]
	}
	var other [32]byte
	other[0] = 1
	limit := dealSize(3, 2, 4)
	cases := []struct {
		name   string
		header []byte
		want   error
		size   int
	}{
		{"deal", header(KindDeal, 1, s.ID(), 1, 0, limit), nil, limit},
		{"unknown session", header(KindDeal, 1, other, 1, 0, 10), ErrUnknownSession, 0},
		{"sender not in the roster", header(KindDeal, 1, s.ID(), 3, 0, 10), ErrAuth, 0},
		{"other recipient", header(KindDeal, 1, s.ID(), 1, 2, 10), ErrMisrouted, 0},
		{"deal above its limit", header(KindDeal, 1, s.ID(), 1, 0, limit+1), ErrTooLarge, 0},
		{"above MaxMessageSize", header(KindDeal, 1, s.ID(), 1, 0, MaxMessageSize), ErrTooLarge, 0},
		{"proposal", header(KindPropose, 0, other, 1, 0, 100), nil, 100},
		{"proposal above the largest session", header(KindPropose, 0, other, 1, 0, maxSessionEncoding+1), ErrTooLarge, 0},
		{"short", []byte("AMPC"), ErrMalformed, 0},
		{"bad magic", append([]byte("XMPC"), header(KindDeal, 1, s.ID(), 1, 0, 1)[4:]...), ErrMalformed, 0},
	}
	for _, tc := range cases {
		size, err := c.nodes[0].CheckHeader(tc.header)
		if !errors.Is(err, tc.want) || (tc.want == nil && size != tc.size) {
			t.Errorf("%s: %d, %v; want %d, %v", tc.name, size, err, tc.size, tc.want)
		}
	}
}
