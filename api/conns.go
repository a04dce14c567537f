package api

import (
	"net"
	"sync"
)

// Connection limits. The body deadlines, the memory budget and the rate
// limits bound what a connection's requests may cost; these bound the
// connections themselves, which cost a goroutine and buffers each even
// when idle or slow to send their headers.

// LimitConnections wraps a listener for s: at most total connections are
// open at once (Accept waits until one closes, so the excess waits in the
// kernel's backlog instead of failing), and at most perAddr from one
// remote IP address (more are closed as they are accepted, and counted in
// aios_connections_refused_total), so that one address cannot take every
// slot. Zero means no limit. Wrap the plain TCP listener, under any TLS.
func (s *Server) LimitConnections(ln net.Listener, total, perAddr int) net.Listener {
	l := &limitListener{Listener: ln, m: s.metrics, perAddr: perAddr, byAddr: map[string]int{}, done: make(chan struct{})}
	if total > 0 {
		l.slots = make(chan struct{}, total)
	}
	return l
}

type limitListener struct {
	net.Listener
	m       *metrics
	slots   chan struct{} // one token per open connection; nil: no limit
	perAddr int
	done    chan struct{} // closed by Close
	close   sync.Once

	mu     sync.Mutex
	byAddr map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		addr := remoteIP(c)
		l.mu.Lock()
		if l.perAddr > 0 && l.byAddr[addr] >= l.perAddr {
			l.mu.Unlock()
			c.Close()
			l.freeSlot()
			l.m.connsRefused.Inc()
			continue
		}
		l.byAddr[addr]++
		l.mu.Unlock()
		l.m.connsOpen.Add(1)
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *limitListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// release gives back what an accepted connection held.
func (l *limitListener) release(addr string) {
	l.mu.Lock()
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
	l.mu.Unlock()
	l.m.connsOpen.Add(-1)
	l.freeSlot()
}

// remoteIP is the connection's remote IP address without its port.
func remoteIP(c net.Conn) string {
	addr := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// limitedConn is an accepted connection; closing it (once) frees its
// slots.
type limitedConn struct {
	net.Conn
	l    *limitListener
	addr string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}
