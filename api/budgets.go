package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/dp"
)

// maxJSONBody bounds small JSON request bodies.
const maxJSONBody = 64 << 10

// decodeJSON reads a small JSON body into v, refusing unknown fields and
// trailing data.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.readBody(w, r, maxJSONBody)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: JSON body: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON body", ErrBadRequest)
	}
	return nil
}

type budgetRequest struct {
	Name        string `json:"name"`
	Epsilon     string `json:"epsilon"` // decimal, up to 6 places: exact micro-ε
	Description string `json:"description"`
}

func (s *Server) handlePostBudget(w http.ResponseWriter, r *http.Request) {
	var req budgetRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	eps, err := dp.ParseEpsilon(req.Epsilon)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: req.Name, Total: eps, Description: req.Description})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.ledger.CreateBudget(r.Context(), b, "token:"+principalOf(r.Context()).TokenID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/budgets/"+req.Name)
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) handleListBudgets(w http.ResponseWriter, r *http.Request) {
	list, err := s.ledger.Budgets(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []dp.BudgetStatus{} // an empty list, as the document says, not null
	}
	writeJSON(w, http.StatusOK, map[string]any{"budgets": list})
}

func (s *Server) handleGetBudget(w http.ResponseWriter, r *http.Request) {
	st, err := s.ledger.Budget(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleBudgetLedger: GET /v1/budgets/{name}/ledger?after=SEQ&limit=N, the
// budget's audit entries after a sequence number, oldest first.
func (s *Server) handleBudgetLedger(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if _, err := s.ledger.Budget(r.Context(), name); err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", 1000, 1, 10000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, err := s.ledger.Entries(r.Context(), name, after, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	next := after
	if len(entries) > 0 {
		next = entries[len(entries)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"budget": name, "entries": entries, "next_after": next})
}

// signedHead returns a checkpoint covering every entry, signing a new one
// when entries were appended since the latest (so an auditor always gets a
// signed statement of the current head).
func (s *Server) signedHead(ctx context.Context) (*dp.Checkpoint, error) {
	cp, err := s.ledger.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	var after int64
	if cp != nil {
		after = cp.EntryCount
	}
	newer, err := s.ledger.Entries(ctx, "", after, 1)
	if err != nil {
		return nil, err
	}
	if cp == nil || len(newer) > 0 {
		return s.ledger.Checkpoint(ctx)
	}
	return cp, nil
}

func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := s.signedHead(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node_id": s.NodeID(), "checkpoint": cp})
}

// handleAuditExport: the whole ledger as the dp package's audit document,
// which `aios audit verify --server` checks offline against the node ID.
func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request) {
	if _, err := s.signedHead(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, err := s.ledger.Export(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := dp.WriteExport(w, doc); err != nil {
		s.log.WarnContext(r.Context(), "write audit export", "err", err)
	}
}

func queryInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s must be an integer in [%d, %d]", ErrBadRequest, name, lo, hi)
	}
	return n, nil
}
