package schema

import "time"

// GrantRequest is the body of POST /v1/budgets/{name}/grants: the grantee,
// "token:<id>" or "role:<role>", that may then spend the budget.
type GrantRequest struct {
	Grantee string `json:"grantee"`
}

// Grant is the right of a token or a role to spend a budget.
type Grant struct {
	Budget    string    `json:"budget"`
	Grantee   string    `json:"grantee"`
	GrantedBy string    `json:"granted_by"`
	CreatedAt time.Time `json:"created_at"`
}

// GrantList is the answer of GET /v1/budgets/{name}/grants.
type GrantList struct {
	Budget string  `json:"budget"`
	Grants []Grant `json:"grants"`
}
