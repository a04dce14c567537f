// Package fault holds the one misbehaviour that aios can be told to show on
// purpose: an MPC node that deals one share inconsistent with its
// commitments, so that the other members catch it and the coordinator
// excludes it as a cheater.
//
// It exists for `aios mpc demo --cheat` (through the serve flag
// --demo-cheat, documented as demo-only) and for tests only. It is an
// internal package so that it is no part of the public API of mpc or api:
// the demo's node process marks its own node key here before it starts its
// server, and mpc.NewNode takes the mark of the key it is given.
package fault

import (
	"sync"

	"github.com/aios-edge/aios/internal/nodekey"
)

var (
	mu         sync.Mutex
	badDealers = map[nodekey.PublicKey]bool{}
)

// DealBadShareOnceForTesting marks the node with key id as a dishonest
// dealer: the next mpc.Node created with that key gives, in its first
// phase-1 dealing, one other member a share vector inconsistent with the
// commitments. Call it before the node is created.
func DealBadShareOnceForTesting(id nodekey.PublicKey) {
	mu.Lock()
	defer mu.Unlock()
	badDealers[id] = true
}

// TakeBadDealer reports whether id was marked by
// DealBadShareOnceForTesting and clears the mark, so that one mark makes
// one node cheat.
func TakeBadDealer(id nodekey.PublicKey) bool {
	mu.Lock()
	defer mu.Unlock()
	marked := badDealers[id]
	delete(badDealers, id)
	return marked
}
