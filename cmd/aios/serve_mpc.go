package main

import (
	"flag"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/internal/fault"
	"github.com/aios-edge/aios/mpc"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// mpcServeFlags are the flags `aios serve` takes for MPC.
type mpcServeFlags struct {
	peers, nodeKey, peerTokens string
	cheat, requirePeerToken    bool
}

func (f *mpcServeFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.peers, "peers", "", "peers `file` (lines of <node id> <URL> [<name>]); enables MPC sessions with those nodes")
	fs.StringVar(&f.nodeKey, "node-key", "", "the node's Ed25519 identity key `file` (created if missing; default: node.key in the data directory)")
	fs.StringVar(&f.peerTokens, "peer-tokens", "", "`file` of <node id> <token> lines (mode 0600): the peer token this node presents to each peer's /v1/mpc/messages")
	fs.BoolVar(&f.requirePeerToken, "require-peer-token", false, "accept MPC messages only with a peer token (otherwise their signatures suffice)")
	fs.BoolVar(&f.cheat, "demo-cheat", false, "DEMO ONLY (aios mpc demo --cheat): deal one share inconsistent with the commitments "+
		"in this node's next MPC session, to show that the others catch it; never use it otherwise")
}

// config returns the MPC configuration, nil without --peers.
func (f *mpcServeFlags) config() (*api.MPCConfig, error) {
	if f.peers == "" {
		if f.cheat || f.peerTokens != "" || f.requirePeerToken {
			return nil, usagef("--demo-cheat, --peer-tokens and --require-peer-token need --peers")
		}
		return nil, nil
	}
	peers, err := httptransport.LoadPeers(f.peers)
	if err != nil {
		return nil, err
	}
	cfg := &api.MPCConfig{Peers: peers, RequirePeerToken: f.requirePeerToken}
	if f.peerTokens != "" {
		tokens, err := httptransport.LoadPeerTokens(f.peerTokens, peers)
		if err != nil {
			return nil, err
		}
		cfg.Transport.Token = func(to mpc.NodeID) string { return tokens[to] }
	}
	return cfg, nil
}

// markCheater carries out --demo-cheat: it marks this node's key in
// internal/fault, so that the mpc node the server creates deals one bad
// share (mpc logs a warning when it does).
func (f *mpcServeFlags) markCheater(dataDir string) error {
	if !f.cheat {
		return nil
	}
	k, err := api.LoadNodeKey(dataDir, f.nodeKey)
	if err != nil {
		return err
	}
	fault.DealBadShareOnceForTesting(k.Public())
	return nil
}
