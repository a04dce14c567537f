package api

// Budget grants over HTTP. A budget is spent over the API only by a token
// that holds a grant of it, to the token itself or to its role; dp keeps
// the grants beside the budgets and checks them at every debit (see dp's
// package documentation). Admins grant and revoke, and spend any budget
// without a grant; auditors may read the grants.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
)

// maxACLNames bounds the grantees a session request may list.
const maxACLNames = 64

// checkGrantee validates a grantee name, "token:<id>" or "role:<role>",
// with a role this node knows.
func checkGrantee(g string) error {
	if err := dp.CheckGrantee(g); err != nil {
		return fmt.Errorf("%w: %q", err, truncate(g, 80))
	}
	if role, ok := strings.CutPrefix(g, "role:"); ok {
		if _, err := ParseRole(role); err != nil {
			return err
		}
	}
	return nil
}

func toSchemaGrant(g dp.Grant) schema.Grant {
	return schema.Grant{Budget: g.Budget, Grantee: g.Grantee, GrantedBy: g.GrantedBy, CreatedAt: g.CreatedAt}
}

// handlePostGrant is POST /v1/budgets/{name}/grants: 201 with the new
// grant, 200 with the existing one when it was granted already.
func (s *Server) handlePostGrant(w http.ResponseWriter, r *http.Request) {
	var req schema.GrantRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkGrantee(req.Grantee); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id, ok := strings.CutPrefix(req.Grantee, "token:"); ok {
		if _, err := LookupToken(r.Context(), s.db, id); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	name := chi.URLParam(r, "name")
	g, created, err := s.ledger.Grant(r.Context(), name, req.Grantee, principalOf(r.Context()).token())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/budgets/"+name+"/grants/"+url.PathEscape(g.Grantee))
	writeJSON(w, status, toSchemaGrant(g))
}

// handleDeleteGrant is DELETE /v1/budgets/{name}/grants/{grantee}.
func (s *Server) handleDeleteGrant(w http.ResponseWriter, r *http.Request) {
	grantee, err := url.PathUnescape(chi.URLParam(r, "grantee"))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: grantee: %v", ErrBadRequest, err))
		return
	}
	if err := s.ledger.Revoke(r.Context(), chi.URLParam(r, "name"), grantee); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleListGrants is GET /v1/budgets/{name}/grants.
func (s *Server) handleListGrants(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	gs, err := s.ledger.Grants(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := schema.GrantList{Budget: name, Grants: make([]schema.Grant, len(gs))}
	for i, g := range gs {
		out.Grants[i] = toSchemaGrant(g)
	}
	writeJSON(w, http.StatusOK, out)
}
