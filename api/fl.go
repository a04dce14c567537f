package api

// Federated learning over HTTP (package fl). A node with peers hosts an
// fl.Member (joining the federations FLConfig.Accept lists, training on
// FLConfig.TrainData) and an fl.Coordinator (for federations it creates).
//
// Roles. Creating a federation: admin. Reading a federation's status
// (rounds, members included and excluded, ε): admin or auditor. Reading
// its current global model: admin. Round messages from the coordinator
// (POST /v1/fl/rounds) are authenticated by the coordinator's signature,
// like MPC messages, so they need no token; one that carries a token must
// carry a peer token.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/fl"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/mpc"
)

// FLConfig enables federated learning on a node with MPC.
type FLConfig struct {
	// TrainData is this node's own training data, read only by local
	// training; nil: the node coordinates but does not train.
	TrainData *dataset.Dataset
	// Accept lists the federations this node joins as a member.
	Accept *fl.AcceptList
	// EvalData, given, is held-out data the coordinator scores each
	// round's global model on (fl.CoordinatorConfig.EvalData).
	EvalData *dataset.Dataset
}

// RoundsPath is where a node receives round messages.
const RoundsPath = "/v1/fl/rounds"

// flHost is the node's federated-learning state.
type flHost struct {
	member *fl.Member
	coord  *fl.Coordinator
	client *http.Client
}

// flRoutes starts the fl host (with MPC) and registers the fl routes.
func (s *Server) flRoutes(r chi.Router) {
	if s.mpc != nil {
		if err := s.startFL(); err != nil {
			s.log.Warn("fl: disabled", "err", err)
		}
	}
	r.With(s.requireRole(RoleAdmin)).Post("/fl/federations", s.handleFLCreate)
	r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/fl/federations", s.handleFLList)
	r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/fl/federations/{id}", s.handleFLStatus)
	r.With(s.requireRole(RoleAdmin)).Get("/fl/federations/{id}/global", s.handleFLGlobal)
	r.With(s.requireRole(RoleAdmin)).Get("/fl/federations/{id}/model", s.handleFLModel)
	r.With(s.optionalPeer).Post("/fl/rounds", s.handleFLRound)
}

func (s *Server) startFL() error {
	c := s.cfg.FL
	if c == nil {
		c = &FLConfig{}
	}
	h := &flHost{client: &http.Client{Timeout: 30 * time.Second}}
	var err error
	if h.member, err = fl.NewMember(fl.MemberConfig{Node: s.mpc.node, Accept: c.Accept, Data: c.TrainData, Logger: s.log}); err != nil {
		return err
	}
	h.coord, err = fl.NewCoordinator(fl.CoordinatorConfig{Node: s.mpc.node, Key: s.key, Publish: s.publishRound, Local: h.member, Ledger: s.ledger, Logger: s.log,
		EvalData: c.EvalData,
		Register: func(ctx context.Context, model []byte) (string, error) {
			info, err := s.AddModel(ctx, model)
			return info.ID, err
		}})
	if err != nil {
		return err
	}
	s.fl = h
	return nil
}

// publishRound POSTs a signed round message to a peer.
func (s *Server) publishRound(ctx context.Context, to mpc.NodeID, msg []byte) error {
	for _, p := range s.cfg.MPC.Peers {
		if p.ID != to {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL.JoinPath(RoundsPath).String(), bytes.NewReader(msg))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		if tok := s.cfg.MPC.Transport.Token; tok != nil {
			if t := tok(to); t != "" {
				req.Header.Set("Authorization", "Bearer "+t)
			}
		}
		resp, err := s.fl.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("peer %s answered %s", to.Short(), resp.Status)
		}
		return nil
	}
	return fmt.Errorf("peer %s is not in the peers file", to.Short())
}

func (s *Server) flHost() (*flHost, error) {
	if s.fl == nil {
		return nil, fmt.Errorf("%w: federated learning needs MPC (start the node with a peers file)", ErrNotFound)
	}
	return s.fl, nil
}

// flErr maps fl's errors onto the API's.
func flErr(err error) error {
	switch {
	case errors.Is(err, fl.ErrAuth):
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	case errors.Is(err, fl.ErrNotAccepted):
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	case errors.Is(err, fl.ErrUnknownFederation):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, fl.ErrSpec), errors.Is(err, fl.ErrMalformed), errors.Is(err, fl.ErrNoData),
		errors.Is(err, mpc.ErrInvalidSession), errors.Is(err, mpc.ErrMalformed):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return err
}

// flLiteral turns a request into a federation coordinated by this node.
func (s *Server) flLiteral(req *schema.FLFederationRequest) (fl.FederationLiteral, error) {
	lit := fl.FederationLiteral{Name: req.Name, Coordinator: s.mpc.self, Threshold: req.Threshold,
		Model:  fl.ModelLiteral{Inputs: req.Inputs, Hidden: req.Hidden, Classes: req.Classes, Activation: req.Activation},
		Rounds: req.Rounds, LocalEpochs: req.LocalEpochs, LR: req.LR, LRSchedule: fl.Schedule(req.LRSchedule), LRFinal: req.LRFinal, Batch: req.Batch, Aggregation: fl.Aggregation(req.Aggregation),
		ProxMu: req.ProxMu, Momentum: req.Momentum, ClipNorm: req.ClipNorm, Privacy: fl.Privacy(req.Privacy), Budget: req.Budget,
		Epsilon: dp.MicroEpsilon(math.Round(req.Epsilon * float64(dp.MicroPerEpsilon))), Delta: dp.PicoDelta(math.Round(req.Delta * float64(dp.PicoPerUnit))),
		NoiseMultiplier: req.NoiseMultiplier,
		Compression:     fl.CompressionLiteral{Prune: req.Prune, PruneRounds: req.PruneRounds, Bits: req.Bits, QATRounds: req.QATRounds},
		MaxSamples:      req.MaxSamples, FeatureBound: req.FeatureBound, PhaseSeconds: req.PhaseSeconds, Seed: req.Seed}
	var err error
	if len(req.Members) == 0 {
		lit.Members = append([]mpc.NodeID{s.mpc.self}, s.mpc.others...)
	} else if lit.Members, err = parseIDs("members", req.Members); err != nil {
		return lit, err
	}
	for _, m := range lit.Members {
		if !s.mpc.known[m] {
			return lit, fmt.Errorf("%w: member %s is not in this node's peers file", ErrBadRequest, m.Short())
		}
	}
	if _, err := rand.Read(lit.Nonce[:]); err != nil {
		return lit, err
	}
	if lit.Privacy == fl.RecordDP {
		if lit.Budget == "" {
			lit.Budget = "fl-" + hex.EncodeToString(lit.Nonce[:8])
		}
		if lit.NoiseMultiplier == 0 {
			if lit.NoiseMultiplier, err = fl.NoiseMultiplierFor(lit); err != nil {
				return lit, err
			}
		}
	}
	return lit, nil
}

// handleFLCreate is POST /v1/fl/federations.
func (s *Server) handleFLCreate(w http.ResponseWriter, r *http.Request) {
	h, err := s.flHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req schema.FLFederationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	lit, err := s.flLiteral(&req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	fed, err := fl.NewFederationFromLiteral(lit)
	if err == nil {
		err = h.coord.Start(fed)
	}
	if err != nil {
		s.writeError(w, r, flErr(err))
		return
	}
	s.log.Info("fl: federation created", "federation", fed.IDString(), "name", lit.Name, "members", len(lit.Members),
		"threshold", lit.Threshold, "by", principalOf(r.Context()).TokenID)
	st, err := s.flStatus(h, fed.ID())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/fl/federations/"+fed.IDString())
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) flStatus(h *flHost, id [32]byte) (*schema.FLFederationStatus, error) {
	st, err := h.coord.Status(id)
	if err != nil {
		return nil, flErr(err)
	}
	fed, _, err := h.coord.Global(id)
	if err != nil {
		return nil, flErr(err)
	}
	sig, err := fed.Sign(s.key)
	if err != nil {
		return nil, err
	}
	out := &schema.FLFederationStatus{ID: st.ID, Name: st.Name, State: st.State, Privacy: string(st.Privacy), Epsilon: flEpsilon(st),
		Spec: string(fed.Canonical()), Signature: hex.EncodeToString(sig), PlannedRounds: st.Planned, Rounds: []schema.FLRound{},
		ModelID: st.ModelID, Error: st.Err, Stopped: st.Stopped, Created: st.Created.UTC()}
	dpFed := st.Privacy == fl.RecordDP
	if dpFed {
		lit := fed.Literal()
		out.EpsilonTotal, out.Delta, out.Budget, out.NoiseMultiplier = lit.Epsilon.String(), lit.Delta.Float64(), lit.Budget, lit.NoiseMultiplier
	}
	for _, rs := range st.Rounds {
		fr := schema.FLRound{Round: rs.Index, Stage: rs.Stage.String(), Session: rs.Session, Members: len(rs.Included), Included: ids(rs.Included),
			Excluded: []schema.FLExcluded{}, Samples: rs.Samples, Seconds: rs.Seconds, BytesSent: rs.BytesSent, Epsilon: "none", Accuracy: rs.Accuracy, Error: rs.Err}
		if dpFed {
			fr.Epsilon, fr.LedgerSeq = rs.Spent.String(), rs.Seq
			if rs.Seq != 0 {
				fr.EpsilonRound = rs.Epsilon.String()
			}
		}
		for _, e := range rs.Excluded {
			fr.Excluded = append(fr.Excluded, schema.FLExcluded{Node: e.Node.String(), Reason: e.Reason, Cheating: e.Cheating})
		}
		out.Rounds = append(out.Rounds, fr)
	}
	return out, nil
}

// flEpsilon is a federation's composed ε spent so far, "none" without
// record-level DP.
func flEpsilon(st *fl.Status) string {
	if st.Privacy != fl.RecordDP {
		return "none"
	}
	return st.Spent.String()
}

// handleFLList is GET /v1/fl/federations?limit=N: the federations this
// node coordinates, newest first.
func (s *Server) handleFLList(w http.ResponseWriter, r *http.Request) {
	h, err := s.flHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, total := h.coord.List(int(limit))
	out := schema.FLFederationList{Federations: make([]schema.FLFederationSummary, 0, len(list)), Limit: int(limit), Total: total}
	for _, st := range list {
		out.Federations = append(out.Federations, schema.FLFederationSummary{ID: st.ID, Name: st.Name, State: st.State,
			Privacy: string(st.Privacy), Epsilon: flEpsilon(st), RoundsDone: len(st.Rounds), PlannedRounds: st.Planned, Created: st.Created.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
}

// flFederation is the fl host and the federation id of a request to a
// federation's route; it writes the error and reports false when either
// is missing.
func (s *Server) flFederation(w http.ResponseWriter, r *http.Request) (*flHost, [32]byte, bool) {
	h, err := s.flHost()
	if err != nil {
		s.writeError(w, r, err)
		return nil, [32]byte{}, false
	}
	id, err := federationID(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, [32]byte{}, false
	}
	return h, id, true
}

func federationID(r *http.Request) ([32]byte, error) {
	var id [32]byte
	v := chi.URLParam(r, "id")
	if n, err := hex.Decode(id[:], []byte(v)); err != nil || n != 32 || len(v) != 64 {
		return id, fmt.Errorf("%w: a federation id is 64 hex digits", ErrBadRequest)
	}
	return id, nil
}

// handleFLStatus is GET /v1/fl/federations/{id}.
func (s *Server) handleFLStatus(w http.ResponseWriter, r *http.Request) {
	h, id, ok := s.flFederation(w, r)
	if !ok {
		return
	}
	st, err := s.flStatus(h, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleFLGlobal is GET /v1/fl/federations/{id}/global.
func (s *Server) handleFLGlobal(w http.ResponseWriter, r *http.Request) {
	h, id, ok := s.flFederation(w, r)
	if !ok {
		return
	}
	fed, g, err := h.coord.Global(id)
	if err != nil {
		s.writeError(w, r, flErr(err))
		return
	}
	st, err := h.coord.Status(id)
	if err != nil {
		s.writeError(w, r, flErr(err))
		return
	}
	lit := fed.Literal()
	writeJSON(w, http.StatusOK, schema.FLGlobal{Round: len(st.Rounds) - 1, Sizes: fed.Sizes(), Activation: lit.Model.Activation,
		Mean: g.Mean, Std: g.Std, Params: g.Params})
}

// handleFLModel is GET /v1/fl/federations/{id}/model: the final .aios
// model, once the federation is done.
func (s *Server) handleFLModel(w http.ResponseWriter, r *http.Request) {
	h, id, ok := s.flFederation(w, r)
	if !ok {
		return
	}
	st, err := h.coord.Status(id)
	if err != nil {
		s.writeError(w, r, flErr(err))
		return
	}
	if st.Model == nil {
		s.writeError(w, r, fmt.Errorf("%w: the federation has no final model yet (%s)", ErrNotFound, st.State))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(st.Model)
}

// maxRoundBody bounds a round message (fl's own limit is checked too).
const maxRoundBody = 16 << 20

// handleFLRound is POST /v1/fl/rounds: a signed round message from a
// coordinator.
func (s *Server) handleFLRound(w http.ResponseWriter, r *http.Request) {
	h, err := s.flHost()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r, maxRoundBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := h.member.HandleRound(context.WithoutCancel(r.Context()), body); err != nil {
		s.logRejected(r, err)
		s.writeError(w, r, flErr(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
