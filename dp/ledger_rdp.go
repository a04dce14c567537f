package dp

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// rdpMigration adds (ε, δ) budgets: a budget's δ, conversion constant,
// orders and per-order RDP sums (8-byte big-endian integers), and the
// version-3 fields of entries.
const rdpMigrationSQL = `
ALTER TABLE dp_budgets ADD COLUMN delta_pico INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_budgets ADD COLUMN log_inv_delta_micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_budgets ADD COLUMN rdp_orders BLOB NOT NULL DEFAULT x'';
ALTER TABLE dp_budgets ADD COLUMN rdp_micro BLOB NOT NULL DEFAULT x'';
ALTER TABLE dp_entries ADD COLUMN delta_pico INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_entries ADD COLUMN log_inv_delta_micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_entries ADD COLUMN rdp_orders BLOB NOT NULL DEFAULT x'';
ALTER TABLE dp_entries ADD COLUMN noise_multiplier_micro INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_entries ADD COLUMN sample_rate_ppb INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_entries ADD COLUMN steps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_entries ADD COLUMN noise_shares INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_entries ADD COLUMN rdp_micro BLOB NOT NULL DEFAULT x'';`

// maxOrders bounds the orders of a budget in an entry.
const maxOrders = 64

// rdpQuery is a Query whose privacy loss is stated in RDP (a Gaussian
// release); its Epsilon is 0 and it needs an (ε, δ) budget.
type rdpQuery interface {
	Query
	rdp() RDP
	params() gaussianParams
}

// gaussianParams are a Gaussian release's parameters as its entry records
// them (see [Entry]).
type gaussianParams struct{ noiseMultiplier, sampleRate, steps, noiseShares int64 }

// rdpSpend is the (ε, δ) side of one spend: the ε it debits and the
// version-3 fields of its entry.
type rdpSpend struct {
	debit MicroEpsilon
	rdp   []int64
	p     gaussianParams
}

// apply makes e a version-3 spend entry carrying s.
func (s *rdpSpend) apply(e *Entry) {
	e.Version = EntryV3
	e.Epsilon = s.debit
	e.RDP = s.rdp
	e.NoiseMultiplier, e.SampleRate, e.Steps, e.NoiseShares = s.p.noiseMultiplier, s.p.sampleRate, s.p.steps, s.p.noiseShares
}

// rdpColumns are a budget's accounting columns, which the spend's
// transaction reads with the budget's row (one statement) for rdpDebit.
type rdpColumns struct {
	delta, logInv int64
	orders, sums  []byte
}

// rdpDebit is the (ε, δ) part of a spend's check and debit, inside the
// spend's transaction, given the budget's current spent ε and accounting
// columns. For a pure-ε
// budget it returns nil, or ErrDeltaRequired for a Gaussian query. For an
// (ε, δ) budget it adds the query's RDP (a Laplace or aggregate query's
// from [LaplaceRDP]) to the budget's per-order sums, stores them, and
// returns the increase of the budget's composed ε, which the caller debits
// (and checks against the total) as it debits a pure ε.
func rdpDebit(ctx context.Context, tx *sql.Tx, budget string, q Query, spent MicroEpsilon, c rdpColumns) (*rdpSpend, error) {
	delta, logInv, ob, sb := c.delta, c.logInv, c.orders, c.sums
	g, gaussian := q.(rdpQuery)
	if delta == 0 {
		if gaussian {
			return nil, fmt.Errorf("%w: budget %q is pure ε", ErrDeltaRequired, budget)
		}
		return nil, nil
	}
	orders, sums, err := decodeAccounting(ob, sb)
	if err != nil {
		return nil, fmt.Errorf("dp: budget %q: %w", budget, err)
	}
	if string(ob) != string(encodeInt64s(rdpOrdersMilli[:])) {
		return nil, fmt.Errorf("dp: budget %q accounts at other Rényi orders than this version of the ledger", budget)
	}
	s := &rdpSpend{}
	var r RDP
	if gaussian {
		r, s.p = g.rdp(), g.params()
	} else {
		r = LaplaceRDP(q.Epsilon())
	}
	s.rdp = r[:]
	for i := range sums {
		sums[i] = satAdd(sums[i], r[i])
	}
	after, _ := convertRDP(sums, orders, logInv)
	s.debit = after - spent
	if s.debit <= 0 {
		return nil, fmt.Errorf("dp: budget %q: composed ε did not grow (%s after %s)", budget, after, spent)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE dp_budgets SET rdp_micro = ? WHERE name = ?`, encodeInt64s(sums), budget); err != nil {
		return nil, err
	}
	return s, nil
}

// createRDPBudget records an (ε, δ) budget's accounting columns after its
// row was inserted, and makes its creation entry e one of version 3.
func createRDPBudget(ctx context.Context, tx *sql.Tx, b *Budget, e *Entry) error {
	if b.lit.Delta == 0 {
		return nil
	}
	e.Version, e.Delta, e.LogInvDelta, e.Orders = EntryV3, b.lit.Delta, LogInvDeltaMicro(b.lit.Delta), rdpOrdersMilli[:]
	_, err := tx.ExecContext(ctx, `UPDATE dp_budgets SET delta_pico = ?, log_inv_delta_micro = ?, rdp_orders = ?, rdp_micro = ? WHERE name = ?`,
		int64(e.Delta), e.LogInvDelta, encodeInt64s(e.Orders), encodeInt64s(make([]int64, NumRDPOrders)), b.lit.Name)
	return err
}

// BudgetAccounting is what a budget has spent, in the terms of its
// accounting: for an (ε, δ) budget, its δ and per-order RDP sums.
type BudgetAccounting struct {
	Budget string
	Total  MicroEpsilon
	// Spent is the composed ε: for an (ε, δ) budget, RDP.Epsilon(Delta).
	Spent MicroEpsilon
	// Delta is 0 for a pure-ε budget, whose RDP is zero.
	Delta PicoDelta
	RDP   RDP
}

// Admits returns the budget's composed ε after a release of RDP r and
// whether that stays within the total, as [Ledger.Release] would decide
// for an (ε, δ) budget. It is false for a pure-ε budget.
func (a *BudgetAccounting) Admits(r RDP) (MicroEpsilon, bool) {
	if a.Delta == 0 {
		return 0, false
	}
	eps, _, err := a.RDP.Add(r).Epsilon(a.Delta)
	return eps, err == nil && eps <= a.Total
}

// Accounting returns one budget's [BudgetAccounting].
func (l *Ledger) Accounting(ctx context.Context, name string) (*BudgetAccounting, error) {
	a := &BudgetAccounting{Budget: name}
	var ob, sb []byte
	err := l.db.SQL().QueryRowContext(ctx, `SELECT total_micro, spent_micro, delta_pico, rdp_orders, rdp_micro FROM dp_budgets WHERE name = ?`,
		name).Scan(&a.Total, &a.Spent, &a.Delta, &ob, &sb)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBudget, name)
	}
	if err != nil {
		return nil, fmt.Errorf("dp: read budget accounting: %w", err)
	}
	if a.Delta == 0 {
		return a, nil
	}
	_, sums, err := decodeAccounting(ob, sb)
	if err != nil || len(sums) != NumRDPOrders {
		return nil, fmt.Errorf("dp: budget %q has malformed accounting columns", name)
	}
	copy(a.RDP[:], sums)
	return a, nil
}

func encodeInt64s(vs []int64) []byte {
	out := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		out = binary.BigEndian.AppendUint64(out, uint64(v))
	}
	return out
}

func decodeInt64s(b []byte) ([]int64, error) {
	if len(b)%8 != 0 {
		return nil, errors.New("integer column length is not a multiple of 8")
	}
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

// decodeAccounting decodes a budget's orders and sums columns.
func decodeAccounting(ob, sb []byte) (orders, sums []int64, err error) {
	if orders, err = decodeInt64s(ob); err != nil {
		return nil, nil, err
	}
	if sums, err = decodeInt64s(sb); err != nil {
		return nil, nil, err
	}
	if len(orders) != len(sums) || checkOrders(orders) != "" {
		return nil, nil, errors.New("malformed accounting columns")
	}
	return orders, sums, nil
}

// checkOrders returns why orders are not a valid order set, or "".
func checkOrders(orders []int64) string {
	if len(orders) == 0 || len(orders) > maxOrders {
		return fmt.Sprintf("has %d Rényi orders, want 1 to %d", len(orders), maxOrders)
	}
	prev := int64(1000)
	for _, a := range orders {
		if a <= prev || a > 1_000_000 {
			return "Rényi orders are not increasing in (1, 1000]"
		}
		prev = a
	}
	return ""
}

// hasV3Fields reports whether any version-3 field of e is set.
func (e *Entry) hasV3Fields() bool {
	return e.Delta != 0 || e.LogInvDelta != 0 || len(e.Orders) != 0 || e.NoiseMultiplier != 0 || e.SampleRate != 0 ||
		e.Steps != 0 || e.NoiseShares != 0 || len(e.RDP) != 0
}

// rdpAcc is the verifier's running account of an (ε, δ) budget.
type rdpAcc struct {
	orders []int64
	logInv int64
	sums   []int64
}

// newRDPAcc checks a budget creation entry's version-3 fields and returns
// its account, or nil for a pure-ε budget (version 1 or 2).
func newRDPAcc(e *Entry) (*rdpAcc, error) {
	if e.version() < EntryV3 {
		return nil, nil
	}
	bad := func(reason string) error { return &AuditError{Seq: e.Seq, Reason: "(ε, δ) budget " + reason} }
	if err := CheckDelta(e.Delta); err != nil {
		return nil, bad("has δ out of range")
	}
	// The constant is ⌈10^6·ln(1/δ)⌉ + 1 as the node computed it; another
	// platform's logarithm may differ in the last bit, hence ±1.
	if want := LogInvDeltaMicro(e.Delta); e.LogInvDelta < want-1 || e.LogInvDelta > want+1 {
		return nil, bad(fmt.Sprintf("has conversion constant %d, want %d for δ = %s", e.LogInvDelta, want, e.Delta))
	}
	if why := checkOrders(e.Orders); why != "" {
		return nil, bad(why)
	}
	if e.NoiseMultiplier != 0 || e.SampleRate != 0 || e.Steps != 0 || e.NoiseShares != 0 || len(e.RDP) != 0 {
		return nil, bad("creation carries spend fields")
	}
	return &rdpAcc{orders: e.Orders, logInv: e.LogInvDelta, sums: make([]int64, len(e.Orders))}, nil
}

// spend checks a spend entry against the account a (nil for a pure-ε
// budget) and the budget's spent ε before it, and adds its RDP.
func (a *rdpAcc) spend(e *Entry, spent MicroEpsilon) error {
	if a == nil {
		if e.version() == EntryV3 {
			return &AuditError{Seq: e.Seq, Reason: "version-3 spend on a pure-ε budget"}
		}
		return nil
	}
	if e.version() != EntryV3 {
		return &AuditError{Seq: e.Seq, Reason: "spend on an (ε, δ) budget is not of version 3"}
	}
	if e.Delta != 0 || e.LogInvDelta != 0 || len(e.Orders) != 0 {
		return &AuditError{Seq: e.Seq, Reason: "spend carries budget fields"}
	}
	if len(e.RDP) != len(a.orders) {
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("spend has %d RDP values, its budget %d orders", len(e.RDP), len(a.orders))}
	}
	for i, v := range e.RDP {
		if v < 0 || v > MaxRDPMicro {
			return &AuditError{Seq: e.Seq, Reason: "RDP value out of range"}
		}
		a.sums[i] = satAdd(a.sums[i], v)
	}
	after, _ := convertRDP(a.sums, a.orders, a.logInv)
	if spent > math.MaxInt64-e.Epsilon || after != spent+e.Epsilon {
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("spend of ε=%s does not match its RDP: the composed ε goes from %s to %s", e.Epsilon, spent, after)}
	}
	return nil
}
