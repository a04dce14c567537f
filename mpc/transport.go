package mpc

import "context"

// Transport carries signed, already encoded messages to peers. It needs no
// security of its own: every message is signed, and shares are encrypted to
// their recipient. The HTTP transport (package mpc/httptransport) POSTs msg
// to the peer's /v1/mpc/messages, whose handler calls the peer Node's
// Deliver.
type Transport interface {
	// Send delivers msg (at most MaxMessageSize bytes) to the node to. It
	// may return before the peer has processed it.
	Send(ctx context.Context, to NodeID, msg []byte) error
}

// Receiver is what a transport hands incoming messages to; *Node is one.
type Receiver interface {
	Deliver(ctx context.Context, msg []byte) error
}

var _ Receiver = (*Node)(nil)
