package api

// MPC over HTTP: the node hosts one mpc.Node when it has peers
// (Config.MPC), receives peer messages on POST /v1/mpc/messages and offers
// client endpoints to create sessions, give this node's input and read a
// session's state.
//
// Roles. Creating a session spends privacy budget of this node's ledger
// (this node coordinates and releases): admin or client. Giving this
// node's private input: client or admin. Reading a session: client, admin
// or auditor. Peer messages are authenticated by their own Ed25519
// signatures (package mpc), so POST /v1/mpc/messages needs no token; a
// request that carries one must carry a peer token, and with
// MPCConfig.RequirePeerToken every request must. A node joins a session
// proposed by another only if every participant is in its peers file.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

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
	// MaxConcurrentMessages bounds the message bodies read at once
	// (default 16; each is at most mpc.MaxMessageSize).
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
		Key: s.key, Transport: httptransport.New(c.Peers, c.Transport), Ledger: s.ledger, Logger: s.log,
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
// peer, handed to the node after a size check.
func (s *Server) handleMPCMessage(w http.ResponseWriter, r *http.Request) {
	h, err := s.mpcHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		s.writeError(w, r, fmt.Errorf("%w: %w", ErrShuttingDown, r.Context().Err()))
		return
	}
	body, err := s.readBody(w, r, mpc.MaxMessageSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := h.node.Deliver(r.Context(), body); err != nil {
		s.logRejected(r, err)
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// MPCSessionRequest is the body of POST /v1/mpc/sessions. This node is the
// coordinator (and output party).
type MPCSessionRequest struct {
	// Participants are node ids; empty: this node, then every peer in the
	// peers file. This node must be one of them.
	Participants []string `json:"participants,omitempty"`
	// InputParties are the participants that contribute (empty: all).
	InputParties []string `json:"input_parties,omitempty"`
	Threshold    int      `json:"threshold"`
	Operation    string   `json:"operation"`
	Dimension    int      `json:"dimension"`
	FracBits     int      `json:"frac_bits"`
	Lower        float64  `json:"lower"`
	Upper        float64  `json:"upper"`
	MaxWeight    float64  `json:"max_weight,omitempty"`
	MaxItems     int      `json:"max_items,omitempty"`
	Budget       string   `json:"budget"`
	// Epsilon is the ε of the release, a decimal such as "0.5".
	Epsilon string `json:"epsilon"`
	// Phase lengths in seconds (defaults 10, 60, 30, 30): the acceptance
	// deadline is now + accept, each later one the previous plus its phase.
	AcceptSeconds float64 `json:"accept_seconds,omitempty"`
	InputSeconds  float64 `json:"input_seconds,omitempty"`
	ReportSeconds float64 `json:"report_seconds,omitempty"`
	OutputSeconds float64 `json:"output_seconds,omitempty"`
}

// MPCInputRequest is the body of POST /v1/mpc/sessions/{id}/input.
type MPCInputRequest struct {
	Values []float64 `json:"values"`
	Weight float64   `json:"weight,omitempty"`
}

// MPCSessionSpec is a session's public specification.
type MPCSessionSpec struct {
	Coordinator  string    `json:"coordinator"`
	Participants []string  `json:"participants"`
	InputParties []string  `json:"input_parties,omitempty"`
	Threshold    int       `json:"threshold"`
	Operation    string    `json:"operation"`
	Dimension    int       `json:"dimension"`
	FracBits     int       `json:"frac_bits"`
	Lower        float64   `json:"lower"`
	Upper        float64   `json:"upper"`
	MaxWeight    float64   `json:"max_weight,omitempty"`
	MaxItems     int       `json:"max_items,omitempty"`
	Budget       string    `json:"budget"`
	EpsilonMicro int64     `json:"epsilon_micro"`
	AcceptBy     time.Time `json:"accept_by"`
	InputBy      time.Time `json:"input_by"`
	ReportBy     time.Time `json:"report_by"`
	OutputBy     time.Time `json:"output_by"`
}

// MPCExcluded is a dealer left out of a session and why.
type MPCExcluded struct {
	Node     string `json:"node"`
	Phase    int    `json:"phase"`
	Reason   string `json:"reason"`
	Reporter string `json:"reporter,omitempty"` // the node that found the fault
	// Cheating is set when the dealer sent something provably wrong (not
	// merely nothing).
	Cheating bool `json:"cheating"`
}

// MPCRelease is a session's released (dp-noised) result.
type MPCRelease struct {
	Operation    string        `json:"operation"`
	Values       []float64     `json:"values"`
	CI           []dp.Interval `json:"ci95"`
	EpsilonMicro int64         `json:"epsilon_micro"`
	Epsilon      string        `json:"epsilon"`
	LedgerSeqs   []int64       `json:"ledger_seqs"`
	Dealers      int           `json:"dealers"`
}

// MPCStats is this node's time per phase and traffic.
type MPCStats struct {
	ShareSeconds       float64 `json:"share_seconds"`
	VerifySeconds      float64 `json:"verify_seconds"`
	CombineSeconds     float64 `json:"combine_seconds"`
	ReconstructSeconds float64 `json:"reconstruct_seconds"`
	TotalSeconds       float64 `json:"total_seconds"`
	BytesSent          int64   `json:"bytes_sent"`
	InputBytes         int64   `json:"input_bytes"`
}

// MPCSessionStatus is a session as this node sees it: never a share or the
// raw aggregate; the release only on the coordinator.
type MPCSessionStatus struct {
	ID          string          `json:"id"`
	State       string          `json:"state"`
	Spec        *MPCSessionSpec `json:"spec,omitempty"`
	Roster      []string        `json:"roster"`
	Included    []string        `json:"included"`
	Excluded    []MPCExcluded   `json:"excluded"`
	Holders     []string        `json:"holders"`
	WrongOutput []string        `json:"wrong_output"`
	Release     *MPCRelease     `json:"release,omitempty"`
	Stats       MPCStats        `json:"stats"`
	Error       string          `json:"error,omitempty"`
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
func (h *mpcHost) literal(req *MPCSessionRequest, now time.Time) (mpc.SessionLiteral, error) {
	lit := mpc.SessionLiteral{Coordinator: h.self, Threshold: req.Threshold, Operation: mpc.Operation(req.Operation),
		Dimension: req.Dimension, FracBits: req.FracBits, Lower: req.Lower, Upper: req.Upper,
		MaxWeight: req.MaxWeight, MaxItems: req.MaxItems, Budget: req.Budget}
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
	var req MPCSessionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	lit, err := h.literal(&req, time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Fail early on a budget that cannot pay; the debit at release time is
	// what counts.
	st, err := s.ledger.Budget(r.Context(), lit.Budget)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if st.Remaining < lit.Epsilon {
		s.writeError(w, r, fmt.Errorf("%w: budget %q has ε = %s left, the session needs %s", dp.ErrBudgetExhausted, lit.Budget, st.Remaining, lit.Epsilon))
		return
	}
	sess, err := h.node.Propose(r.Context(), lit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("mpc: session proposed", "session", sess.IDString(), "operation", lit.Operation, "participants", len(lit.Participants),
		"threshold", lit.Threshold, "dimension", lit.Dimension, "by", principalOf(r.Context()).TokenID)
	st2, err := s.mpcStatus(h, sess.ID())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
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
// vector. It may come before the proposal reaches this node.
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
	b, err := s.readBody(w, r, maxMPCInputBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req MPCInputRequest
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
	err = h.node.SetInput(id, mpc.Input{Values: req.Values, Weight: req.Weight})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"session": hex.EncodeToString(id[:]), "values": len(req.Values)})
}

// handleMPCStatus is GET /v1/mpc/sessions/{id}.
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
	st, err := s.mpcStatus(h, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) mpcStatus(h *mpcHost, id [32]byte) (*MPCSessionStatus, error) {
	o, err := h.node.Status(id)
	if err != nil {
		return nil, err
	}
	st := &MPCSessionStatus{ID: hex.EncodeToString(id[:]), State: string(o.State), Roster: ids(o.Roster), Included: ids(o.Included),
		Holders: ids(o.Holders), WrongOutput: ids(o.WrongOutput), Excluded: []MPCExcluded{}, Error: o.Err,
		Stats: MPCStats{ShareSeconds: seconds(o.Stats.Share), VerifySeconds: seconds(o.Stats.Verify), CombineSeconds: seconds(o.Stats.Combine),
			ReconstructSeconds: seconds(o.Stats.Reconstruct), TotalSeconds: seconds(o.Stats.Total), BytesSent: o.Stats.BytesSent, InputBytes: o.Stats.InputBytes}}
	for _, e := range o.Excluded {
		x := MPCExcluded{Node: e.Dealer.String(), Phase: e.Phase, Reason: e.Reason,
			Cheating: e.Reason != mpc.ReasonMissing && e.Reason != mpc.ReasonTooFewVerify}
		if e.Reporter != (mpc.NodeID{}) {
			x.Reporter = e.Reporter.String()
		}
		st.Excluded = append(st.Excluded, x)
	}
	if rel := o.Release; rel != nil {
		st.Release = &MPCRelease{Operation: string(rel.Operation), Values: rel.Values, CI: rel.CI, EpsilonMicro: int64(rel.Epsilon),
			Epsilon: rel.Epsilon.String(), LedgerSeqs: rel.Seqs, Dealers: rel.Dealers}
	}
	if sess, err := h.node.Session(id); err == nil {
		l := sess.Literal()
		st.Spec = &MPCSessionSpec{Coordinator: l.Coordinator.String(), Participants: ids(l.Participants), InputParties: ids(l.InputParties),
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
