package dp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// grantsMigration adds the table of grants: who, besides the node's
// operator, may spend which budget (see the package documentation).
const grantsMigration = `
CREATE TABLE dp_grants (
	budget     TEXT    NOT NULL REFERENCES dp_budgets (name),
	grantee    TEXT    NOT NULL,
	granted_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (budget, grantee)
);`

// granteeRE is the form of a grantee: a kind (token or role) and a name of
// the same alphabet as budget names.
var granteeRE = regexp.MustCompile(`^(token|role):[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckGrantee reports whether s is a well-formed grantee, "token:<id>" or
// "role:<name>". The ledger does not know which tokens or roles exist; the
// caller that authenticates them (package api) checks that.
func CheckGrantee(s string) error {
	if !granteeRE.MatchString(s) {
		return specErr("grantee", "must be token:<id> or role:<name> (1-64 of a-z, 0-9, '.', '_', '-')")
	}
	return nil
}

// Grant is the right of a grantee to spend a budget.
type Grant struct {
	Budget    string    `json:"budget"`
	Grantee   string    `json:"grantee"`
	GrantedBy string    `json:"granted_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Spender is a caller who spends a budget and is not the node's operator:
// an API token. A release paid by a Spender needs a grant of its budget to
// one of the spender's Grantees, unless Unrestricted is set.
type Spender struct {
	// Name says who spends (e.g. "token:0123abcd…"), for the record.
	Name string
	// Grantees are the grantee names the spender answers to, e.g. its
	// token and its role: "token:<id>", "role:client".
	Grantees []string
	// Unrestricted spends any budget without a grant (an API admin, who
	// creates budgets and grants and so could grant itself anyway).
	Unrestricted bool
}

// needsGrant reports whether sp must hold a grant; nil is the operator.
func (sp *Spender) needsGrant() bool { return sp != nil && !sp.Unrestricted }

// UnspendableError is the one answer a [Spender] gets for a budget that it
// was not granted or that does not exist, so that the answer says nothing
// about other budgets. It wraps ErrUnknownBudget.
type UnspendableError struct{ Budget string }

func (e *UnspendableError) Error() string {
	return fmt.Sprintf("no budget %q you may spend", e.Budget)
}

func (e *UnspendableError) Unwrap() error { return ErrUnknownBudget }

// queryRower is what checkSpendable reads through: the database or a
// transaction.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkSpendable returns an *UnspendableError unless budget exists and, for
// a spender that needs one, is granted to one of its grantees.
func checkSpendable(ctx context.Context, q queryRower, budget string, sp *Spender) error {
	if !sp.needsGrant() {
		return nil
	}
	if len(sp.Grantees) == 0 {
		return &UnspendableError{Budget: budget}
	}
	args := []any{budget}
	for _, g := range sp.Grantees {
		args = append(args, g)
	}
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM dp_grants g JOIN dp_budgets b ON b.name = g.budget
		WHERE g.budget = ? AND g.grantee IN (?`+strings.Repeat(", ?", len(sp.Grantees)-1)+`)`, args...).Scan(&n)
	if err != nil {
		return fmt.Errorf("dp: read grants: %w", err)
	}
	if n == 0 {
		return &UnspendableError{Budget: budget}
	}
	return nil
}

// SpendableBudget returns the status of a budget that sp may spend. A nil
// or unrestricted sp is the operator and gets what [Ledger.Budget] gives;
// any other gets the same *UnspendableError whether the budget does not
// exist or was not granted to it.
func (l *Ledger) SpendableBudget(ctx context.Context, name string, sp *Spender) (BudgetStatus, error) {
	if err := checkSpendable(ctx, l.db.SQL(), name, sp); err != nil {
		return BudgetStatus{}, err
	}
	return l.Budget(ctx, name)
}

// Grant lets grantee spend budget; grantedBy names who asked. Granting
// again is not an error: the first grant stays and is returned, and
// created is false.
func (l *Ledger) Grant(ctx context.Context, budget, grantee, grantedBy string) (g Grant, created bool, err error) {
	if err := CheckGrantee(grantee); err != nil {
		return Grant{}, false, err
	}
	if err := checkText("granted_by", grantedBy); err != nil {
		return Grant{}, false, err
	}
	now := l.now().UTC()
	err = l.inTx(ctx, func(tx *sql.Tx) error {
		if err := budgetExists(ctx, tx, budget); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO dp_grants (budget, grantee, granted_by, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (budget, grantee) DO NOTHING`, budget, grantee, grantedBy, now.UnixMicro())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		created = n == 1
		return err
	})
	if err != nil {
		return Grant{}, false, err
	}
	gs, err := l.grants(ctx, budget, grantee)
	if err != nil {
		return Grant{}, false, err
	}
	if len(gs) != 1 {
		return Grant{}, false, fmt.Errorf("dp: grant of %q to %s did not apply", budget, grantee)
	}
	return gs[0], created, nil
}

// Revoke ends grantee's right to spend budget, for releases from now on
// (including those of sessions already running). It returns
// ErrUnknownGrant when there was no such grant.
func (l *Ledger) Revoke(ctx context.Context, budget, grantee string) error {
	return l.inTx(ctx, func(tx *sql.Tx) error {
		if err := budgetExists(ctx, tx, budget); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM dp_grants WHERE budget = ? AND grantee = ?`, budget, grantee)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("%w: budget %q is not granted to %q", ErrUnknownGrant, budget, grantee)
		}
		return nil
	})
}

// Grants lists the grants of a budget by grantee.
func (l *Ledger) Grants(ctx context.Context, budget string) ([]Grant, error) {
	if err := budgetExists(ctx, l.db.SQL(), budget); err != nil {
		return nil, err
	}
	return l.grants(ctx, budget, "")
}

func (l *Ledger) grants(ctx context.Context, budget, grantee string) ([]Grant, error) {
	q := `SELECT budget, grantee, granted_by, created_at FROM dp_grants WHERE budget = ?`
	args := []any{budget}
	if grantee != "" {
		q += ` AND grantee = ?`
		args = append(args, grantee)
	}
	rows, err := l.db.SQL().QueryContext(ctx, q+` ORDER BY grantee`, args...)
	if err != nil {
		return nil, fmt.Errorf("dp: read grants: %w", err)
	}
	defer rows.Close()
	out := []Grant{}
	for rows.Next() {
		var g Grant
		var created int64
		if err := rows.Scan(&g.Budget, &g.Grantee, &g.GrantedBy, &created); err != nil {
			return nil, fmt.Errorf("dp: read grants: %w", err)
		}
		g.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dp: read grants: %w", err)
	}
	return out, nil
}

// budgetExists returns ErrUnknownBudget unless the ledger holds budget.
func budgetExists(ctx context.Context, q queryRower, budget string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM dp_budgets WHERE name = ?`, budget).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %q", ErrUnknownBudget, budget)
	}
	if err != nil {
		return fmt.Errorf("dp: read budgets: %w", err)
	}
	return nil
}
