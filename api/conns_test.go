package api

import (
	"net"
	"testing"
	"time"
)

// TestLimitConnections: past the per-address limit a connection is closed
// as it is accepted and counted; closing one frees its place.
func TestLimitConnections(t *testing.T) {
	s, raw, accepted := limitedListener(t, 3, 2)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	take := func(what string) net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not accepted", what)
			return nil
		}
	}
	a, b := dial(), dial()
	sa, sb := take("first"), take("second")
	c := dial()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection from one address was kept open")
	}
	for deadline := time.Now().Add(5 * time.Second); s.metrics.connsRefused.v.Load() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("refused %d, want 1", s.metrics.connsRefused.v.Load())
		}
	}
	if open := s.metrics.connsOpen.v.Load(); open != 2 {
		t.Errorf("%d open, want 2", open)
	}
	sa.Close()
	a.Close()
	d := dial()
	sd := take("after one closed")
	if open := s.metrics.connsOpen.v.Load(); open != 2 {
		t.Errorf("%d open after a close and a dial, want 2", open)
	}
	sb.Close()
	sd.Close()
	b.Close()
	d.Close()
	c.Close()
}

// TestLimitConnectionsTotal: past the total, a connection waits to be
// accepted until another closes.
func TestLimitConnectionsTotal(t *testing.T) {
	_, raw, accepted := limitedListener(t, 1, 0)
	c1, _ := net.Dial("tcp", raw.Addr().String())
	defer c1.Close()
	first := <-accepted
	c2, _ := net.Dial("tcp", raw.Addr().String())
	defer c2.Close()
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted past the total of 1")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not accepted after the first closed")
	}
}

// limitedListener listens on loopback through LimitConnections(total,
// perAddr) of a bare Server and passes what it accepts to the channel,
// until the test ends.
func limitedListener(t *testing.T, total, perAddr int) (*Server, net.Listener, <-chan net.Conn) {
	s := &Server{metrics: &metrics{}}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := s.LimitConnections(raw, total, perAddr)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return s, raw, accepted
}
