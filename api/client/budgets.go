package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/aios-edge/aios/api/schema"
)

// GrantBudget is POST /v1/budgets/{name}/grants (admin): grantee
// ("token:<id>" or "role:<role>") may then spend the budget. Granting
// again returns the existing grant.
func (c *Client) GrantBudget(ctx context.Context, budget, grantee string) (schema.Grant, error) {
	var g schema.Grant
	body, err := json.Marshal(schema.GrantRequest{Grantee: grantee})
	if err != nil {
		return g, err
	}
	b, _, err := c.do(ctx, http.MethodPost, "/v1/budgets/"+url.PathEscape(budget)+"/grants", nil, "application/json", body)
	if err != nil {
		return g, err
	}
	return g, json.Unmarshal(b, &g)
}

// RevokeBudget is DELETE /v1/budgets/{name}/grants/{grantee} (admin).
func (c *Client) RevokeBudget(ctx context.Context, budget, grantee string) error {
	_, _, err := c.do(ctx, http.MethodDelete, "/v1/budgets/"+url.PathEscape(budget)+"/grants/"+url.PathEscape(grantee), nil, "", nil)
	return err
}

// BudgetGrants is GET /v1/budgets/{name}/grants (admin, auditor).
func (c *Client) BudgetGrants(ctx context.Context, budget string) ([]schema.Grant, error) {
	var res schema.GrantList
	return res.Grants, c.getJSON(ctx, "/v1/budgets/"+url.PathEscape(budget)+"/grants", nil, &res)
}
