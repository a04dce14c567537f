package mpc

import (
	"context"
	"fmt"
	"sync"
)

var _ Transport = (*MemEndpoint)(nil)

// MemNetwork is an in-memory network of nodes for tests and benchmarks.
// Each destination has a FIFO inbox drained by one goroutine, so a sender
// never runs the receiver's code.
type MemNetwork struct {
	mu    sync.Mutex
	nodes map[NodeID]*memInbox
	// Filter, when set, sees every message before it is queued and returns
	// what to deliver (nil drops it). Tests use it to drop, corrupt or
	// replay messages.
	Filter func(from, to NodeID, msg []byte) []byte
	// Errors receives every error a receiver's Deliver returned, when set.
	Errors func(from, to NodeID, err error)
}

type memInbox struct {
	ch chan memMsg
}

type memMsg struct {
	from NodeID
	b    []byte
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork { return &MemNetwork{nodes: map[NodeID]*memInbox{}} }

// Endpoint returns the transport for the node id.
func (m *MemNetwork) Endpoint(id NodeID) *MemEndpoint { return &MemEndpoint{net: m, from: id} }

// Attach starts delivering messages for id to r until ctx ends.
func (m *MemNetwork) Attach(ctx context.Context, id NodeID, r Receiver) {
	in := &memInbox{ch: make(chan memMsg, 4096)}
	m.mu.Lock()
	m.nodes[id] = in
	m.mu.Unlock()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-in.ch:
				if err := r.Deliver(ctx, msg.b); err != nil && m.Errors != nil {
					m.Errors(msg.from, id, err)
				}
			}
		}
	}()
}

// MemEndpoint is one node's side of a MemNetwork.
type MemEndpoint struct {
	net  *MemNetwork
	from NodeID
}

// Send queues a copy of msg for to.
func (e *MemEndpoint) Send(ctx context.Context, to NodeID, msg []byte) error {
	if len(msg) > MaxMessageSize {
		return fmt.Errorf("%w: %w", ErrTransport, tooLarge("envelope", len(msg), MaxMessageSize))
	}
	e.net.mu.Lock()
	in := e.net.nodes[to]
	filter := e.net.Filter
	e.net.mu.Unlock()
	if in == nil {
		return fmt.Errorf("%w: node %s is not attached", ErrTransport, to.Short())
	}
	if filter != nil {
		if msg = filter(e.from, to, msg); msg == nil {
			return nil
		}
	}
	select {
	case in.ch <- memMsg{from: e.from, b: msg}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTransport, ctx.Err())
	}
}
