package mpc

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc/internal/field"
)

// rewriteReports makes node liar send, in the given phase, a report whose
// entry for each dealer (status u8 | part hash [32]) edit has changed,
// signed with the liar's own key: a lying recipient.
func (c *cluster) rewriteReports(t *testing.T, liar int, phase uint8, edit func(dealer int, entry []byte)) {
	t.Helper()
	key, err := nodekey.Generate(newDetRand(byte(100 + liar))) // as newCluster
	if err != nil {
		t.Fatal(err)
	}
	prev := c.net.Filter
	c.net.Filter = func(from, to NodeID, msg []byte) []byte {
		if prev != nil {
			if msg = prev(from, to, msg); msg == nil {
				return nil
			}
		}
		e, err := DecodeEnvelope(msg)
		if err != nil || from != c.ids[liar] || e.Kind != KindReport || e.Phase != phase {
			return msg
		}
		body := slices.Clone(e.Body)
		for k := 2; k+35 <= len(body); k += 35 {
			edit(int(body[k])<<8|int(body[k+1]), body[k+2:k+35])
		}
		e.Body = body
		sig, _ := key.Sign(e.signedBytes())
		copy(e.Sig[:], sig)
		return e.Marshal()
	}
}

// accuse makes liar report dealer's dealing as failing the share check.
func (c *cluster) accuse(t *testing.T, liar, dealer int, phase uint8) {
	c.rewriteReports(t, liar, phase, func(d int, entry []byte) {
		if d == dealer {
			entry[0] = statusBadShare
		}
	})
}

// countKind counts the messages of a kind on the network.
func (c *cluster) countKind(kind Kind) *atomic.Int32 {
	var n atomic.Int32
	prev := c.net.Filter
	c.net.Filter = func(from, to NodeID, msg []byte) []byte {
		if prev != nil {
			if msg = prev(from, to, msg); msg == nil {
				return nil
			}
		}
		if e, err := DecodeEnvelope(msg); err == nil && e.Kind == kind {
			n.Add(1)
		}
		return msg
	}
	return &n
}

func sumOf(inputs map[int]Input, who []int, j int) float64 {
	s := new(big.Int)
	for _, i := range who {
		s.Add(s, big.NewInt(fx(inputs[i].Values[j])))
	}
	return refDecode(s, 16)
}

// TestFalseAccusationNamesTheAccuser: a recipient reports an honest
// dealer's valid share as bad; the dealer opens it, the opening verifies,
// the dealer stays included and the liar is excluded and named.
func TestFalseAccusationNamesTheAccuser(t *testing.T) {
	c := newCluster(t, 5)
	const liar, dealer = 4, 2
	c.accuse(t, liar, dealer, 1)
	openings := c.countKind(KindOpening)
	inputs := randInputs(rand.New(rand.NewPCG(11, 12)), 5, 10, -100, 100)
	raw, out := c.runRaw(t, c.literal(OpSum, 3, 10, 2*time.Second), inputs)
	if len(out.Excluded) != 1 {
		t.Fatalf("excluded = %v", out.Excluded)
	}
	x := out.Excluded[0]
	if x.Dealer != c.ids[liar] || x.Reporter != c.ids[dealer] || x.Reason != ReasonFalseAccusation || x.Phase != 1 {
		t.Fatalf("excluded = %+v", x)
	}
	if !slices.Contains(out.Included, c.ids[dealer]) || slices.Contains(out.Included, c.ids[liar]) || slices.Contains(out.Holders, c.ids[liar]) {
		t.Fatalf("included %v, holders %v", out.Included, out.Holders)
	}
	if openings.Load() != 1 {
		t.Fatalf("%d openings", openings.Load())
	}
	for j := range 10 {
		if want := sumOf(inputs, []int{0, 1, 2, 3}, j); raw[j] != want {
			t.Fatalf("coordinate %d: got %v want %v", j, raw[j], want)
		}
	}
}

// TestCheatingDealerConvictedByItsOpening: a dealer that really sent a bad
// share cannot open a valid one, and is excluded as cheating with the
// accuser named; a dealer that does not answer is excluded the same way.
func TestCheatingDealerConvictedByItsOpening(t *testing.T) {
	for _, silent := range []bool{false, true} {
		c := newCluster(t, 5)
		const cheater, victim = 2, 4
		c.nodes[cheater].tamperShareForTesting = func(phase uint8, to int, sh []field.Element) {
			if to == victim {
				sh[3] = field.Add(sh[3], field.One())
			}
		}
		if silent {
			c.net.Filter = func(from, to NodeID, msg []byte) []byte {
				if e, err := DecodeEnvelope(msg); err == nil && e.Kind == KindOpening {
					return nil
				}
				return msg
			}
		}
		openings := c.countKind(KindOpening)
		inputs := randInputs(rand.New(rand.NewPCG(13, 14)), 5, 10, -100, 100)
		raw, out := c.runRaw(t, c.literal(OpSum, 3, 10, time.Second), inputs)
		if len(out.Excluded) != 1 || out.Excluded[0].Dealer != c.ids[cheater] || out.Excluded[0].Reporter != c.ids[victim] || out.Excluded[0].Reason != ReasonBadShare {
			t.Fatalf("silent %v: excluded = %v", silent, out.Excluded)
		}
		if want := int32(1); silent {
			want = 0
			if openings.Load() != want {
				t.Fatalf("silent: %d openings delivered", openings.Load())
			}
		} else if openings.Load() != want {
			t.Fatalf("%d openings", openings.Load())
		}
		if want := sumOf(inputs, []int{0, 1, 3, 4}, 0); raw[0] != want {
			t.Fatalf("silent %v: got %v want %v", silent, raw[0], want)
		}
	}
}

// TestTooManyComplaints: when opening every accuser's share would let the
// coordinator hold t shares of the dealer's input, nothing is opened and
// the dealer is excluded for that reason.
func TestTooManyComplaints(t *testing.T) {
	c := newCluster(t, 5)
	c.accuse(t, 3, 2, 1)
	c.accuse(t, 4, 2, 1)
	openings := c.countKind(KindOpening)
	inputs := randInputs(rand.New(rand.NewPCG(15, 16)), 5, 4, -100, 100)
	_, out := c.runRaw(t, c.literal(OpSum, 3, 4, time.Second), inputs)
	if len(out.Excluded) != 1 || out.Excluded[0].Dealer != c.ids[2] || out.Excluded[0].Reason != ReasonTooManyComplaints || openings.Load() != 0 {
		t.Fatalf("excluded = %v, %d openings", out.Excluded, openings.Load())
	}
}

// TestLyingVerifierCannotClaimEquivocation: a recipient that reports a
// dealing verified under a public part nobody else saw does not get the
// dealer excluded; it merely holds no share.
func TestLyingVerifierCannotClaimEquivocation(t *testing.T) {
	c := newCluster(t, 5)
	const liar, dealer = 4, 2
	c.rewriteReports(t, liar, 1, func(d int, entry []byte) {
		if d == dealer {
			entry[1] ^= 1
		}
	})
	inputs := randInputs(rand.New(rand.NewPCG(17, 18)), 5, 4, -100, 100)
	raw, out := c.runRaw(t, c.literal(OpSum, 3, 4, time.Second), inputs)
	if len(out.Excluded) != 0 || len(out.Included) != 5 || slices.Contains(out.Holders, c.ids[liar]) {
		t.Fatalf("excluded %v, included %d, holders %v", out.Excluded, len(out.Included), out.Holders)
	}
	if want := sumOf(inputs, []int{0, 1, 2, 3, 4}, 0); raw[0] != want {
		t.Fatalf("got %v want %v", raw[0], want)
	}
}

// TestFalseAccusationInResharing: the complaint round also settles a false
// accusation of a holder's phase-2 re-sharing of a dot product.
func TestFalseAccusationInResharing(t *testing.T) {
	c := newCluster(t, 7)
	const liar, resharer = 6, 2
	c.accuse(t, liar, resharer, 2)
	lit := c.literal(OpDotProduct, 3, 8, 2*time.Second)
	lit.InputParties = []NodeID{c.ids[1], c.ids[3]}
	lit.Lower, lit.Upper, lit.FracBits = -10, 10, 8
	r := rand.New(rand.NewPCG(19, 20))
	inputs := randInputs(r, 7, 8, -10, 10)
	inputs = map[int]Input{1: inputs[1], 3: inputs[3]}
	raw, out := c.runRaw(t, lit, inputs)
	if len(out.Excluded) != 1 || out.Excluded[0].Dealer != c.ids[liar] || out.Excluded[0].Reason != ReasonFalseAccusation || out.Excluded[0].Phase != 2 {
		t.Fatalf("excluded = %v", out.Excluded)
	}
	s := new(big.Int)
	for j := range 8 {
		a := big.NewInt(fixed(clamp(inputs[1].Values[j], -10, 10), 8))
		b := big.NewInt(fixed(clamp(inputs[3].Values[j], -10, 10), 8))
		s.Add(s, new(big.Int).Mul(a, b))
	}
	if want := refDecode(s, 16); raw[0] != want {
		t.Fatalf("got %v want %v", raw[0], want)
	}
}
