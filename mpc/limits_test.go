package mpc

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
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

// earlyNode is a node on its own with a clock the test moves.
func earlyNode(t *testing.T, lim EarlyInputLimits) (*Node, *time.Time) {
	t.Helper()
	k, err := nodekey.Generate(newDetRand(1))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	n, err := NewNode(Config{Key: k, Transport: NewMemNetwork().Endpoint(NodeID(k.Public())), Now: func() time.Time { return now }, EarlyInputs: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n, &now
}

func sessionNo(i int) (id [32]byte) {
	binary.BigEndian.PutUint64(id[:], uint64(i)+1)
	return id
}

// TestEarlyInputsBounded (issue 12, item 2): one token posting inputs for
// sessions that do not exist is stopped at its own quota while another
// token's early input is still taken; the bytes kept stay within the
// bounds; early inputs expire, after which the first token may post again.
func TestEarlyInputsBounded(t *testing.T) {
	n, now := earlyNode(t, EarlyInputLimits{})
	lim := n.inputs.lim
	values := make([]float64, 1000) // shared: the node keeps the slice, not a copy
	size := int64(8*len(values) + earlyInputOverhead)
	posted := 0
	var err error
	for ; posted < 10_000; posted++ {
		if err = n.SetInputAs("garbage", sessionNo(posted), Input{Values: values}); err != nil {
			break
		}
	}
	t.Logf("one token: %d early inputs of %d values taken, then %v", posted, len(values), err)
	if !errors.Is(err, ErrInput) || int64(posted) != lim.PerOwner/size {
		t.Fatalf("after %d inputs: %v; want ErrInput after %d", posted, err, lim.PerOwner/size)
	}
	if err := n.SetInputAs("admin", sessionNo(20_000), Input{Values: values}); err != nil {
		t.Fatalf("another token's early input: %v", err)
	}
	if got, most := n.inputs.bytes(), lim.PerOwner+size; got > most || got > lim.Total {
		t.Fatalf("early inputs hold %d bytes, more than %d", got, most)
	}
	*now = now.Add(lim.TTL + time.Second)
	if err := n.SetInputAs("garbage", sessionNo(30_000), Input{Values: values}); err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
	if got := n.inputs.bytes(); got != size {
		t.Fatalf("after the TTL early inputs hold %d bytes, want %d (only the new one)", got, size)
	}
	if _, ok := n.inputs.take(*now, sessionNo(20_000)); ok {
		t.Fatal("an expired input was handed to its session")
	}
}

// TestEarlyInputsTotal: when all owners together reach the total bound,
// a new early input is refused with ErrInputsFull until older ones expire;
// replacing one's own input does not count twice.
func TestEarlyInputsTotal(t *testing.T) {
	size := int64(8*10 + earlyInputOverhead)
	n, now := earlyNode(t, EarlyInputLimits{TTL: time.Minute, PerOwner: 2 * size, Total: 3 * size})
	in := Input{Values: make([]float64, 10)}
	for i, owner := range []string{"a", "a", "b"} {
		if err := n.SetInputAs(owner, sessionNo(i), in); err != nil {
			t.Fatalf("input %d of %s: %v", i, owner, err)
		}
	}
	if err := n.SetInputAs("a", sessionNo(0), in); err != nil {
		t.Fatalf("replacing a's own input: %v", err)
	}
	if err := n.SetInputAs("c", sessionNo(5), in); !errors.Is(err, ErrInputsFull) {
		t.Fatalf("over the total: %v, want ErrInputsFull", err)
	}
	*now = now.Add(2 * time.Minute)
	if err := n.SetInputAs("c", sessionNo(5), in); err != nil || n.inputs.bytes() != size {
		t.Fatalf("after expiry: %v, %d bytes", err, n.inputs.bytes())
	}
}
