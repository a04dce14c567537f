package mpc

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// checkTyped fails unless err is nil or one of the package's typed decode
// errors.
func checkTyped(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge)) {
		t.Fatalf("untyped error: %v", err)
	}
}

func fuzzSession(f *testing.F) *Session {
	c := newCluster(f, 4)
	lit := c.literal(OpSum, 2, 4, time.Hour)
	s, err := NewSessionFromLiteral(lit)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

func FuzzDecodeEnvelope(f *testing.F) {
	e := &Envelope{Kind: KindDeal, Phase: 1, Body: []byte("body")}
	f.Add(e.Marshal())
	f.Add([]byte("AMPC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		checkTyped(t, err)
		if err == nil && string(e.Marshal()) != string(b) {
			t.Fatal("envelope does not re-encode to its input")
		}
	})
}

func FuzzDecodeSession(f *testing.F) {
	s := fuzzSession(f)
	f.Add(s.Canonical())
	f.Fuzz(func(t *testing.T, b []byte) {
		s2, err := DecodeSession(b)
		checkTyped(t, err)
		if err == nil && string(s2.Canonical()) != string(b) {
			t.Fatal("accepted a non-canonical session")
		}
	})
}

func FuzzDecodeRoster(f *testing.F) {
	s := fuzzSession(f)
	f.Add([]byte{0, 1, 0, 0, 0, 4, 'A', 'M', 'P', 'C'})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := decodeRoster(s, b)
		if err != nil && !errors.Is(err, ErrAuth) {
			checkTyped(t, err)
		}
	})
}

func FuzzDecodeDecision(f *testing.F) {
	s := fuzzSession(f)
	members, dealers := []int{0, 1, 2, 3}, []int{0, 1, 2, 3}
	f.Add(judge(s, members, dealers, 4, nil).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		err := decodeDecision(s, 1, members, dealers, b, &phaseResult{})
		if err != nil && !errors.Is(err, ErrTooFewParties) {
			checkTyped(t, err)
		}
	})
}

func FuzzDecide(f *testing.F) {
	s := fuzzSession(f)
	members, dealers := []int{0, 1, 2, 3}, []int{0, 1, 2, 3}
	f.Add([]byte{0, 4, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		reports := map[int]*Envelope{1: {Body: b}, 2: {Body: b}}
		_ = judge(s, members, dealers, 4, reports).encode() // must not panic
	})
}

func FuzzVerifyDeal(f *testing.F) {
	s := fuzzSession(f)
	f.Add(make([]byte, dealSize(4, 2, 4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &run{s: s, me: 1, encPub: nil}
		_, st := r.verifyDeal(&Envelope{Kind: KindDeal, Phase: 1, From: 2, Body: b}, 1, []int{0, 1, 2, 3}, 1, 4)
		if st == statusOK {
			t.Fatal("random dealing verified")
		}
	})
}

func FuzzParseElems(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := parseElems(b, 2, "output")
		checkTyped(t, err)
		_, err = decodePoints(b[:len(b)/pointSize*pointSize], "deal")
		checkTyped(t, err)
	})
}

func FuzzDecodeComplaint(f *testing.F) {
	s := fuzzSession(f)
	members := []int{0, 1, 2, 3}
	f.Add([]byte{0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		acc, err := decodeComplaint(s, members, 1, 4, b)
		checkTyped(t, err)
		if err == nil && (len(acc) == 0 || len(acc) > s.maxOpenings(4, 4) || slices.Contains(acc, 1)) {
			t.Fatalf("accepted accusers %v", acc)
		}
	})
}

func FuzzDecodeOpening(f *testing.F) {
	s := fuzzSession(f)
	members := []int{0, 1, 2, 3}
	seed := make([]byte, openingSize(4, 2, 4, 1))
	seed[1] = 4
	seed[pubSize(4, 2)+1] = 1
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, ops, err := decodeOpening(s, members, 4, b)
		checkTyped(t, err)
		if err == nil && (len(pub) != pubSize(4, 2) || len(ops) == 0 || len(b) != openingSize(4, 2, 4, len(ops))) {
			t.Fatal("accepted a malformed opening")
		}
	})
}
