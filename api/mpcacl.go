package api

// Who may use an MPC session on this node.
//
// A session's owner and access lists are this node's business, not the
// protocol's: tokens are local to a node, so peers could not use them, and
// the session's canonical encoding (which every participant signs off)
// never carries them. They are kept here, in memory beside the mpc.Node's
// session registry, because sessions do not survive a restart either.
//
// On the coordinator the token that creates a session (POST
// /v1/mpc/sessions) owns it. The request's input_from names who else may
// give this node's input and release_to who else may read the release
// ("token:<id>" or "role:<role>"); by default nobody else. Auditors read
// every session's status, but its release only when release_to names them;
// admins do everything. Anyone else gets 404 for the session, as if it did
// not exist.
//
// On a participant node (the session was proposed by another node) there
// is no local creator. The first token of this node to give the input
// (before or after the proposal arrives) becomes the session's owner here:
// from then on only it (and admins) may give the input or read the
// session, and auditors read its status; no release is made on a
// participant. Until then clients get 404 and any client token may claim
// it, so a session id is what lets a client give a participant's input:
// share it only with whoever should. A session this node coordinates that
// was not created through the API (none is in `aios serve`) cannot be
// claimed: only auditors and admins see it.

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/mpc"
)

// sessionACL is who may use one session on this node. Its fields are not
// changed once it is stored.
type sessionACL struct {
	owner     string   // "token:<id>" of the creator or claimer
	inputFrom []string // may give this node's input, besides the owner
	releaseTo []string // may read the release, besides the owner
	at        time.Time
}

// allows reports whether a caller with the grantee names names is the
// owner or in list.
func (a *sessionACL) allows(names, list []string) bool {
	for _, n := range names {
		if n == a.owner || slices.Contains(list, n) {
			return true
		}
	}
	return false
}

// claimRetention is how long an ACL is kept, from when it was stored, for
// a session the node does not know: a claim made by an early input waits
// this long for its proposal, and a created session's lists outlive the
// node's record of the session by at most this much.
const claimRetention = 2 * maxPhase

// sessionACLs maps session ids to their ACLs.
type sessionACLs struct {
	mu sync.Mutex
	m  map[[32]byte]*sessionACL
}

// access is what one caller may do with one session.
type access struct{ see, input, release bool }

// newSessionACL validates a session request's lists; p owns the session.
func newSessionACL(p Principal, req *schema.MPCSessionRequest) (*sessionACL, error) {
	a := &sessionACL{owner: p.token(), inputFrom: []string{}, releaseTo: []string{}, at: time.Now()}
	for _, l := range []struct {
		field string
		in    []string
		out   *[]string
	}{{"input_from", req.InputFrom, &a.inputFrom}, {"release_to", req.ReleaseTo, &a.releaseTo}} {
		if len(l.in) > maxACLNames {
			return nil, fmt.Errorf("%w: %s: more than %d names", ErrBadRequest, l.field, maxACLNames)
		}
		for _, g := range l.in {
			if err := checkGrantee(g); err != nil {
				return nil, fmt.Errorf("%s: %w", l.field, err)
			}
			if !slices.Contains(*l.out, g) {
				*l.out = append(*l.out, g)
			}
		}
	}
	return a, nil
}

// access says what p may do with session id.
func (h *mpcHost) access(p Principal, id [32]byte) access {
	if p.Role == RoleAdmin {
		return access{see: true, input: true, release: true}
	}
	h.acls.mu.Lock()
	a := h.acls.m[id]
	h.acls.mu.Unlock()
	if a == nil {
		return access{see: p.Role == RoleAuditor, input: p.Role == RoleClient && h.claimable(id)}
	}
	names := p.grantees()
	in, rel := a.allows(names, a.inputFrom), a.allows(names, a.releaseTo)
	return access{see: in || rel || p.Role == RoleAuditor, input: in, release: rel}
}

// inputAllowed returns nil if p may give session id's input on this node
// (or claim it), ErrForbidden if p may only see the session, and
// mpc.ErrUnknownSession if p may not even see it.
func (h *mpcHost) inputAllowed(p Principal, id [32]byte) error {
	acc := h.access(p, id)
	switch {
	case acc.input:
		return nil
	case acc.see:
		return fmt.Errorf("%w: this token may not give this node's input to session %x (see the session's access.input_from)", ErrForbidden, id[:8])
	}
	return mpc.ErrUnknownSession
}

// claimable reports whether a session without an ACL may be claimed: it is
// not one this node coordinates.
func (h *mpcHost) claimable(id [32]byte) bool {
	sess, err := h.node.Session(id)
	return err != nil || sess.Literal().Coordinator != h.self
}

// put stores the ACL of a session created here.
func (h *mpcHost) put(id [32]byte, a *sessionACL) {
	h.acls.mu.Lock()
	defer h.acls.mu.Unlock()
	h.pruneLocked(time.Now())
	h.acls.m[id] = a
}

// claim makes p the owner of a session that has no ACL, and reports
// whether p may give its input now; undo drops a claim that this call
// made (when the input is refused after all).
func (h *mpcHost) claim(p Principal, id [32]byte) (ok bool, undo func()) {
	h.acls.mu.Lock()
	defer h.acls.mu.Unlock()
	if a := h.acls.m[id]; a != nil {
		return p.Role == RoleAdmin || a.allows(p.grantees(), a.inputFrom), func() {}
	}
	if p.Role != RoleAdmin && !h.claimable(id) {
		return false, func() {}
	}
	h.pruneLocked(time.Now())
	a := &sessionACL{owner: p.token(), inputFrom: []string{}, releaseTo: []string{}, at: time.Now()}
	h.acls.m[id] = a
	return true, func() {
		h.acls.mu.Lock()
		defer h.acls.mu.Unlock()
		if h.acls.m[id] == a {
			delete(h.acls.m, id)
		}
	}
}

// pruneLocked forgets the ACLs of sessions that the node does not know,
// once claimRetention has passed since they were stored; h.acls.mu must be
// held. A claim of a session the node does not know yet is made only for
// an early input that mpc stored (a refused input drops its claim), so
// there are no more of them than early inputs over claimRetention.
func (h *mpcHost) pruneLocked(now time.Time) {
	if h.acls.m == nil {
		h.acls.m = map[[32]byte]*sessionACL{}
	}
	for id, a := range h.acls.m {
		if now.Sub(a.at) < claimRetention {
			continue
		}
		if _, err := h.node.Session(id); err != nil {
			delete(h.acls.m, id)
		}
	}
}

// describe returns the session's access on this node, nil without an ACL.
func (h *mpcHost) describe(id [32]byte) *schema.MPCAccess {
	h.acls.mu.Lock()
	a := h.acls.m[id]
	h.acls.mu.Unlock()
	if a == nil {
		return nil
	}
	return &schema.MPCAccess{Owner: a.owner, InputFrom: a.inputFrom, ReleaseTo: a.releaseTo}
}
