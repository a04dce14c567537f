package api

// MPC over HTTP: the node hosts one mpc.Node when it has peers
// (Config.MPC), receives peer messages on POST /v1/mpc/messages and offers
// client endpoints to create sessions, give this node's input and read a
// session's state.
//
// Roles. Creating a session spends privacy budget of this node's ledger
// (this node coordinates and releases): admin, or a client that holds a
// grant of the budget (grants.go); the client is recorded as the
// session's spender, and dp checks the grant again at the release. Giving
// this node's private input: client or admin. Reading a session: client,
// admin or auditor. Which of them may do so for a given session is its
// owner's and access lists' business (mpcacl.go). Peer messages are authenticated by their own Ed25519
// signatures (package mpc), so POST /v1/mpc/messages needs no token; a
// request that carries one must carry a peer token, and with
// MPCConfig.RequirePeerToken every request must. A node joins a session
// proposed by another only if every participant is in its peers file.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// ErrMPCDisabled reports an MPC request to a node started without peers.
var ErrMPCDisabled = errors.New("mpc is not enabled on this node (start it with a peers file)")

// MPCConfig enables MPC on a node.
type MPCConfig struct {
	// Peers are the nodes this one may run sessions with (it may be listed
	// itself; that entry is ignored).
	Peers []httptransport.Peer
	// Transport tunes the outgoing HTTP transport.
	Transport httptransport.Options
	// RequirePeerToken makes POST /v1/mpc/messages require a peer token
	// (otherwise the messages' signatures suffice).
	RequirePeerToken bool
	// EarlyInputs bound the inputs given for sessions this node does not
	// know yet, per token and in total, and how long they wait (see
	// mpc.EarlyInputLimits for the defaults).
	EarlyInputs mpc.EarlyInputLimits
	// MaxConcurrentMessages bounds the messages verified and delivered at
	// once (default 16; each is at most mpc.MaxMessageSize). A message
	// takes its slot only after its header passed mpc.Node.CheckHeader and
	// its body arrived.
	MaxConcurrentMessages int
}

// mpcHost is the node's MPC state.
type mpcHost struct {
	node         *mpc.Node
	self         mpc.NodeID
	others       []mpc.NodeID // peers other than this node, in file order
	known        map[mpc.NodeID]bool
	sem          chan struct{}
	requireToken bool
	acls         sessionACLs
}

// Limits of the MPC client endpoints.
const (
	// maxMPCInputBody bounds POST /v1/mpc/sessions/{id}/input: a vector of
	// mpc.MaxDimension numbers in JSON.
	maxMPCInputBody = 32 << 20
	// maxPhase bounds each deadline of a session created over the API.
	maxPhase = time.Hour
)

// LoadNodeKey returns a node's key: the file given, created if missing, or
// the one in the data directory (created if missing).
func LoadNodeKey(dataDir, keyFile string) (*nodekey.Key, error) {
	if keyFile == "" {
		return nodekey.LoadOrCreate(dataDir, nil)
	}
	return nodekey.LoadOrCreateFile(keyFile, nil)
}

// startMPC creates the node's mpc.Node when cfg.MPC is set.
func (s *Server) startMPC() error {
	c := s.cfg.MPC
	if c == nil {
		return nil
	}
	h := &mpcHost{self: mpc.NodeID(s.key.Public()), known: map[mpc.NodeID]bool{}, requireToken: c.RequirePeerToken}
	h.known[h.self] = true
	for _, p := range c.Peers {
		if p.ID != h.self {
			h.others = append(h.others, p.ID)
			h.known[p.ID] = true
		}
	}
	n := c.MaxConcurrentMessages
	if n <= 0 {
		n = 16
	}
	h.sem = make(chan struct{}, n)
	node, err := mpc.NewNode(mpc.Config{
		Key: s.key, Transport: httptransport.New(c.Peers, c.Transport), Ledger: s.ledger, Logger: s.log, EarlyInputs: c.EarlyInputs,
		Policy: func(sess *mpc.Session) error {
			for _, p := range sess.Literal().Participants {
				if !h.known[p] {
					return fmt.Errorf("participant %s is not in this node's peers file", p.Short())
				}
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	h.node = node
	s.mpc = h
	return nil
}

// stopMPC ends running sessions.
func (s *Server) stopMPC() {
	if s.mpc != nil {
		s.mpc.node.Close()
	}
}

// mpcNode returns the host or ErrMPCDisabled.
func (s *Server) mpcHost() (*mpcHost, error) {
	if s.mpc == nil {
		return nil, ErrMPCDisabled
	}
	return s.mpc, nil
}

// MPCNode is the node's mpc.Node (nil without MPC).
func (s *Server) MPCNode() *mpc.Node {
	if s.mpc == nil {
		return nil
	}
	return s.mpc.node
}

// optionalPeer lets requests without a token through (their messages are
// signed) unless RequirePeerToken is set; a request with a token needs a
// peer token.
func (s *Server) optionalPeer(next http.Handler) http.Handler {
	peer := s.requireRole(RolePeer)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && (s.mpc == nil || !s.mpc.requireToken) {
			next.ServeHTTP(w, r)
			return
		}
		peer.ServeHTTP(w, r)
	})
}

// handleMPCMessage is POST /v1/mpc/messages: one signed message from a
// peer. Its header is read and checked first (mpc.Node.CheckHeader: a live
// session, a sender of its roster, this node as recipient, a body within
// its kind's limit), then its body under the body deadline; only then does
// it take one of the node's message slots, for the signature check and
// delivery. A message for an unknown session is refused on its header, and
// a slow or unknown sender never holds a slot.
func (s *Server) handleMPCMessage(w http.ResponseWriter, r *http.Request) {
	h, err := s.mpcHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msg, release, err := s.readMessage(w, r, h)
	if err != nil {
		s.logRejected(r, err)
		s.writeError(w, r, err)
		return
	}
	defer release()
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		s.writeError(w, r, fmt.Errorf("%w: %w", ErrShuttingDown, r.Context().Err()))
		return
	}
	if err := h.node.Deliver(r.Context(), msg); err != nil {
		s.logRejected(r, err)
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readMessage reads a peer message: its header, which h's node judges
// before anything else is read, then (with the message's memory reserved
// until release is called) the body and signature the header announces,
// and one byte more, so that Deliver sees a message longer than announced
// as malformed. A message shorter than a header is returned as it is, for
// Deliver to refuse.
func (s *Server) readMessage(w http.ResponseWriter, r *http.Request, h *mpcHost) (msg []byte, release func(), err error) {
	br, err := s.newBodyReader(w, r, mpc.MaxMessageSize)
	if err != nil {
		return nil, nil, err
	}
	defer br.close()
	header := make([]byte, mpc.HeaderSize)
	n, err := io.ReadFull(br, header)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return header[:n], func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	size, err := h.node.CheckHeader(header)
	if err != nil {
		return nil, nil, err
	}
	rest := int64(size + mpc.SignatureSize)
	if release, err = s.mem.reserve((mpc.HeaderSize + rest) * mpcMessageFactor); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 0, mpc.HeaderSize+min(rest+1, maxPrealloc))
	if msg, err = readAll(io.LimitReader(br, rest+1), append(buf, header...)); err != nil {
		release()
		return nil, nil, err
	}
	return msg, release, nil
}

func ids(in []mpc.NodeID) []string {
	out := make([]string, len(in))
	for i, id := range in {
		out[i] = id.String()
	}
	return out
}

func parseIDs(field string, in []string) ([]mpc.NodeID, error) {
	out := make([]mpc.NodeID, 0, len(in))
	for _, s := range in {
		id, err := mpc.ParseNodeID(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %q is not a node id", ErrBadRequest, field, truncate(s, 80))
		}
		out = append(out, id)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func phase(sec, def float64) (time.Duration, error) {
	if sec == 0 {
		sec = def
	}
	d := time.Duration(sec * float64(time.Second))
	if !(sec > 0) || d > maxPhase || d < time.Millisecond {
		return 0, fmt.Errorf("%w: phase lengths must be between 1 ms and %s", ErrBadRequest, maxPhase)
	}
	return d, nil
}

// literal turns a request into a session literal coordinated by h.
func (h *mpcHost) literal(req *schema.MPCSessionRequest, now time.Time) (mpc.SessionLiteral, error) {
	lit := mpc.SessionLiteral{Coordinator: h.self, Threshold: req.Threshold, Operation: mpc.Operation(req.Operation),
		Dimension: req.Dimension, FracBits: req.FracBits, Lower: req.Lower, Upper: req.Upper,
		MaxWeight: req.MaxWeight, MaxItems: req.MaxItems, Budget: req.Budget}
	// A random nonce makes the session id unpredictable, so that nobody
	// can post an early input for it before it is created.
	rand.Read(lit.Nonce[:])
	var err error
	if len(req.Participants) == 0 {
		lit.Participants = append([]mpc.NodeID{h.self}, h.others...)
	} else if lit.Participants, err = parseIDs("participants", req.Participants); err != nil {
		return lit, err
	}
	if len(lit.Participants) > mpc.MaxParticipants {
		return lit, fmt.Errorf("%w: more than %d participants (list them explicitly)", ErrBadRequest, mpc.MaxParticipants)
	}
	for _, p := range lit.Participants {
		if !h.known[p] {
			return lit, fmt.Errorf("%w: participant %s is not in this node's peers file", ErrBadRequest, p.Short())
		}
	}
	if lit.InputParties, err = parseIDs("input_parties", req.InputParties); err != nil {
		return lit, err
	}
	if lit.Epsilon, err = dp.ParseEpsilon(req.Epsilon); err != nil {
		return lit, err
	}
	var ph [4]time.Duration
	for i, p := range []struct{ v, def float64 }{{req.AcceptSeconds, 10}, {req.InputSeconds, 60}, {req.ReportSeconds, 30}, {req.OutputSeconds, 30}} {
		if ph[i], err = phase(p.v, p.def); err != nil {
			return lit, err
		}
	}
	lit.AcceptBy = now.Add(ph[0])
	lit.InputBy = lit.AcceptBy.Add(ph[1])
	lit.ReportBy = lit.InputBy.Add(ph[2])
	lit.OutputBy = lit.ReportBy.Add(ph[3])
	return lit, nil
}

// handleMPCCreate is POST /v1/mpc/sessions.
func (s *Server) handleMPCCreate(w http.ResponseWriter, r *http.Request) {
	h, err := s.mpcHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req schema.MPCSessionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	lit, err := h.literal(&req, time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principalOf(r.Context())
	acl, err := newSessionACL(p, &req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Fail early on a budget that the caller may not spend or that cannot
	// pay; the debit at release time is what counts. Without a grant the
	// answer is the same as for a budget that does not exist.
	st, err := s.ledger.SpendableBudget(r.Context(), lit.Budget, p.spender())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if st.Remaining < lit.Epsilon {
		s.writeError(w, r, fmt.Errorf("%w: budget %q has ε = %s left, the session needs %s", dp.ErrBudgetExhausted, lit.Budget, st.Remaining, lit.Epsilon))
		return
	}
	sess, err := h.node.ProposeAs(r.Context(), lit, p.spender())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h.put(sess.ID(), acl)
	s.log.Info("mpc: session proposed", "session", sess.IDString(), "operation", lit.Operation, "participants", len(lit.Participants),
		"threshold", lit.Threshold, "dimension", lit.Dimension, "by", p.TokenID)
	st2, err := s.mpcStatus(h, sess.ID())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st2.Access = h.describe(sess.ID())
	w.Header().Set("Location", "/v1/mpc/sessions/"+sess.IDString())
	writeJSON(w, http.StatusCreated, st2)
}

func sessionID(r *http.Request) ([32]byte, error) {
	var id [32]byte
	s := chi.URLParam(r, "id")
	if len(s) != 64 {
		return id, fmt.Errorf("%w: a session id is 64 hex digits", ErrBadRequest)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: a session id is 64 hex digits", ErrBadRequest)
	}
	return id, nil
}

// handleMPCInput is POST /v1/mpc/sessions/{id}/input: this node's private
// vector, from a caller the session's access lets give it (mpcacl.go). It
// may come before the proposal reaches this node.
func (s *Server) handleMPCInput(w http.ResponseWriter, r *http.Request) {
	h, err := s.mpcHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := sessionID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principalOf(r.Context())
	if err := h.inputAllowed(p, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.readBody(w, r, maxMPCInputBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req schema.MPCInputRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		// Do not quote the decoder's message: it may hold input values.
		s.writeError(w, r, fmt.Errorf("%w: the body must be one JSON object {\"values\": [numbers], \"weight\": number}", ErrBadRequest))
		return
	}
	clear(b)
	if len(req.Values) > max(mpc.MaxDimension, mpc.MaxItems) {
		s.writeError(w, r, fmt.Errorf("%w: more than %d values", mpc.ErrInput, mpc.MaxDimension))
		return
	}
	ok, undo := h.claim(p, id)
	if !ok {
		s.writeError(w, r, mpc.ErrUnknownSession)
		return
	}
	err = h.node.SetInputAs(p.TokenID, id, mpc.Input{Values: req.Values, Weight: req.Weight})
	if err != nil {
		undo()
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"session": hex.EncodeToString(id[:]), "values": len(req.Values)})
}

// handleMPCStatus is GET /v1/mpc/sessions/{id}: 404 to a caller who may
// not see the session, and the release only to those who may read it.
func (s *Server) handleMPCStatus(w http.ResponseWriter, r *http.Request) {
	h, err := s.mpcHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := sessionID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	acc := h.access(principalOf(r.Context()), id)
	if !acc.see {
		s.writeError(w, r, mpc.ErrUnknownSession)
		return
	}
	st, err := s.visibleStatus(h, id, acc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// Bounds of GET /v1/mpc/sessions and GET /v1/fl/federations: the limit
// query parameter's default and maximum.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// handleMPCList is GET /v1/mpc/sessions?limit=N: the sessions this node
// keeps that the caller may see (admins and auditors: all; a client: the
// ones it owns or whose access lists name it), newest first, each as GET
// /v1/mpc/sessions/{id} would show it to the caller.
func (s *Server) handleMPCList(w http.ResponseWriter, r *http.Request) {
	h, err := s.mpcHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principalOf(r.Context())
	out := schema.MPCSessionList{Sessions: []schema.MPCSessionStatus{}, Limit: int(limit)}
	for _, info := range h.node.Sessions() {
		acc := h.access(p, info.ID)
		if !acc.see {
			continue
		}
		out.Total++
		if len(out.Sessions) == int(limit) {
			continue
		}
		st, err := s.visibleStatus(h, info.ID, acc)
		if errors.Is(err, mpc.ErrUnknownSession) { // forgotten since it was listed
			out.Total--
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out.Sessions = append(out.Sessions, *st)
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleStatus is a session's status as a caller with access acc may
// see it: the release only when acc lets it read the release.
func (s *Server) visibleStatus(h *mpcHost, id [32]byte, acc access) (*schema.MPCSessionStatus, error) {
	st, err := s.mpcStatus(h, id)
	if err != nil {
		return nil, err
	}
	if !acc.release {
		st.Release = nil
	}
	st.Access = h.describe(id)
	return st, nil
}

func (s *Server) mpcStatus(h *mpcHost, id [32]byte) (*schema.MPCSessionStatus, error) {
	o, err := h.node.Status(id)
	if err != nil {
		return nil, err
	}
	st := &schema.MPCSessionStatus{ID: hex.EncodeToString(id[:]), State: string(o.State), Started: o.Started.UTC(), Roster: ids(o.Roster), Included: ids(o.Included),
		Holders: ids(o.Holders), WrongOutput: ids(o.WrongOutput), Excluded: []schema.MPCExcluded{}, Error: o.Err,
		Stats: schema.MPCStats{ShareSeconds: seconds(o.Stats.Share), VerifySeconds: seconds(o.Stats.Verify), CombineSeconds: seconds(o.Stats.Combine),
			ReconstructSeconds: seconds(o.Stats.Reconstruct), TotalSeconds: seconds(o.Stats.Total), BytesSent: o.Stats.BytesSent, InputBytes: o.Stats.InputBytes}}
	for _, e := range o.Excluded {
		x := schema.MPCExcluded{Node: e.Dealer.String(), Phase: e.Phase, Reason: e.Reason,
			Cheating: e.Cheating()}
		if e.Reporter != (mpc.NodeID{}) {
			x.Reporter = e.Reporter.String()
		}
		st.Excluded = append(st.Excluded, x)
	}
	if rel := o.Release; rel != nil {
		ci := make([]schema.Interval, len(rel.CI))
		for i, c := range rel.CI {
			ci[i] = schema.Interval{Lower: c.Lower, Upper: c.Upper}
		}
		st.Release = &schema.MPCRelease{Operation: string(rel.Operation), Values: rel.Values, CI: ci, EpsilonMicro: int64(rel.Epsilon),
			Epsilon: rel.Epsilon.String(), LedgerSeqs: rel.Seqs, Dealers: rel.Dealers}
	}
	if sess, err := h.node.Session(id); err == nil {
		l := sess.Literal()
		st.Spec = &schema.MPCSessionSpec{Coordinator: l.Coordinator.String(), Participants: ids(l.Participants), InputParties: ids(l.InputParties),
			Threshold: l.Threshold, Operation: string(l.Operation), Dimension: l.Dimension, FracBits: l.FracBits, Lower: l.Lower, Upper: l.Upper,
			MaxWeight: l.MaxWeight, MaxItems: l.MaxItems, Budget: l.Budget, EpsilonMicro: int64(l.Epsilon),
			AcceptBy: l.AcceptBy.UTC(), InputBy: l.InputBy.UTC(), ReportBy: l.ReportBy.UTC(), OutputBy: l.OutputBy.UTC()}
		if len(st.Spec.InputParties) == 0 {
			st.Spec.InputParties = nil
		}
	}
	return st, nil
}

// logRejected logs a rejected peer message: its error names the check
// that failed, never message contents.
func (s *Server) logRejected(r *http.Request, err error) {
	level := slog.LevelInfo
	if errors.Is(err, mpc.ErrAuth) || errors.Is(err, mpc.ErrMalformed) {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(r.Context(), level, "mpc: message rejected", slog.String("err", err.Error()))
}
