package dp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
)

// Component is the name under which the ledger's migrations are recorded.
const Component = "dp"

// Migrations returns the ledger's schema migrations, for [store.DB.Migrate].
func Migrations() []store.Migration {
	return []store.Migration{{Version: 1, Name: "ledger", SQL: `
CREATE TABLE dp_budgets (
	name        TEXT    PRIMARY KEY,
	total_micro INTEGER NOT NULL CHECK (total_micro > 0),
	spent_micro INTEGER NOT NULL DEFAULT 0 CHECK (spent_micro >= 0 AND spent_micro <= total_micro),
	description TEXT    NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE TABLE dp_entries (
	seq             INTEGER PRIMARY KEY,
	kind            TEXT    NOT NULL,
	budget          TEXT    NOT NULL,
	epsilon_micro   INTEGER NOT NULL,
	mechanism       TEXT    NOT NULL,
	l0              INTEGER NOT NULL,
	linf            INTEGER NOT NULL,
	frac_bits       INTEGER NOT NULL,
	lower_bound     INTEGER NOT NULL,
	upper_bound     INTEGER NOT NULL,
	requester       TEXT    NOT NULL,
	purpose         TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	idempotency_key TEXT    NOT NULL,
	prev_hash       BLOB    NOT NULL,
	hash            BLOB    NOT NULL
);
CREATE UNIQUE INDEX dp_entries_idempotency ON dp_entries (budget, idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX dp_entries_budget ON dp_entries (budget, seq);
CREATE TABLE dp_releases (
	seq          INTEGER PRIMARY KEY REFERENCES dp_entries (seq),
	request_hash BLOB    NOT NULL,
	result       TEXT    NOT NULL
);
CREATE TABLE dp_checkpoints (
	id          INTEGER PRIMARY KEY,
	entry_count INTEGER NOT NULL,
	head_hash   BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	signature   BLOB    NOT NULL
);`}, {Version: 2, Name: "release commitments", SQL: `
ALTER TABLE dp_entries ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE dp_entries ADD COLUMN release_commitment BLOB NOT NULL DEFAULT x'';
ALTER TABLE dp_releases ADD COLUMN nonce BLOB NOT NULL DEFAULT x'';`}, {Version: 3, Name: "grants", SQL: grantsMigration},
		{Version: 4, Name: "rdp accounting", SQL: rdpMigrationSQL}}
}

// DefaultCheckpointEvery is how many entries pass between automatic
// checkpoints.
const DefaultCheckpointEvery = 64

// LedgerOptions tunes [NewLedger]. The zero value gives the defaults.
type LedgerOptions struct {
	// CheckpointEvery signs a checkpoint in the same transaction as every
	// n-th entry; 0 means DefaultCheckpointEvery, negative disables.
	CheckpointEvery int
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Ledger is the privacy-budget ledger and audit log of one node. It is safe
// for concurrent use, and several processes (tools beside a node on SQLite,
// a node's replicas on PostgreSQL) may share one database: every write runs
// in a transaction serialized on the chain head ([store.DB.BeginSerial]:
// BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so checks and
// debits are atomic and the chain has one order across processes.
type Ledger struct {
	db    *store.DB
	key   *nodekey.Key
	owned bool // Close closes db
	every int
	now   func() time.Time
	// The group commit of inTx: pending transactions and whether a
	// committer runs.
	gmu     sync.Mutex
	pending []*txRequest
	leading bool
	group   int // the most writers of one group: maxGroup, or 1 in benchmarks' baseline
	// The chain head as the running group has it, so that only the
	// group's first entry reads it from the database (under the chain's
	// lock, which the group holds): head after the writers that succeeded,
	// tentative after the running writer's entries. Only the committer
	// touches them.
	head, tentative chainHead
	stmts           map[string]*sql.Stmt // prepared by prepare
	spend           *store.CheckedWrite  // a pure-ε release's read, debit and inserts, prepared by prepare
	// The savepoints of the running group (see savepoint): whether one is
	// open in its transaction, whether the running writer has its own,
	// and whether the group takes none (a group of one).
	spOpen, spMine, spNone bool
}

// chainHead is the last entry's seq and hash; known is false until read.
type chainHead struct {
	seq   int64
	hash  [32]byte
	known bool
}

// NewLedger applies the ledger's migrations to db and returns a ledger that
// signs checkpoints with key.
func NewLedger(ctx context.Context, db *store.DB, key *nodekey.Key, opt LedgerOptions) (*Ledger, error) {
	if err := db.Migrate(ctx, Component, Migrations()); err != nil {
		return nil, err
	}
	l := &Ledger{db: db, key: key, every: opt.CheckpointEvery, now: opt.Now, group: maxGroup}
	if l.every == 0 {
		l.every = DefaultCheckpointEvery
	}
	if l.now == nil {
		l.now = time.Now
	}
	if err := l.prepare(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenNode opens the ledger in a node's data directory: its store and its
// node key (created on first use). Close closes the store.
func OpenNode(ctx context.Context, dataDir string) (*Ledger, error) {
	return OpenNodeAt(ctx, dataDir, "")
}

// OpenNodeAt is [OpenNode] for a node whose database is dbURL (a
// PostgreSQL URL shared by its replicas; "" is SQLite in dataDir). The
// node key is still the one in dataDir.
func OpenNodeAt(ctx context.Context, dataDir, dbURL string) (*Ledger, error) {
	key, err := nodekey.LoadOrCreate(dataDir, nil)
	if err != nil {
		return nil, err
	}
	db, err := store.OpenWithOptions(ctx, dataDir, store.Options{URL: dbURL})
	if err != nil {
		return nil, err
	}
	l, err := NewLedger(ctx, db, key, LedgerOptions{})
	if err != nil {
		db.Close()
		return nil, err
	}
	l.owned = true
	return l, nil
}

// Close frees the ledger's prepared statements, and closes the store if
// the ledger opened it.
func (l *Ledger) Close() error {
	l.closeStmts()
	if l.owned {
		return l.db.Close()
	}
	return nil
}

// PublicKey returns the key that verifies this ledger's checkpoints.
func (l *Ledger) PublicKey() nodekey.PublicKey { return l.key.Public() }

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	keyRE  = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
)

const maxTextLen = 512

func checkText(field, s string) error {
	if len(s) > maxTextLen || !utf8.ValidString(s) {
		return specErr(field, "must be valid UTF-8 of at most %d bytes", maxTextLen)
	}
	return nil
}

// BudgetLiteral declares a budget: a named scope (a dataset, a tenant) with
// a total ε, and for an (ε, δ) budget a δ.
type BudgetLiteral struct {
	Name        string       // 1–64 of [a-z0-9._-], starting with a letter or digit
	Total       MicroEpsilon // in (0, MaxEpsilon]
	Description string       // free text, at most 512 bytes, no control characters but tab
	// Delta is 0 for a pure-ε budget (sequential composition of ε), or the
	// δ, in (0, MaxDelta], of an (ε, δ) budget accounted in RDP.
	Delta PicoDelta
}

// Budget is a validated [BudgetLiteral]. It is immutable.
type Budget struct{ lit BudgetLiteral }

// NewBudgetFromLiteral validates lit once.
func NewBudgetFromLiteral(lit BudgetLiteral) (*Budget, error) {
	if !nameRE.MatchString(lit.Name) {
		return nil, specErr("name", "must be 1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
	}
	if lit.Total <= 0 || lit.Total > MaxEpsilon {
		return nil, specErr("total", "must be in (0, %s]", MaxEpsilon)
	}
	if err := checkText("description", lit.Description); err != nil {
		return nil, err
	}
	for i, r := range lit.Description {
		if unicode.IsControl(r) && r != '\t' {
			return nil, specErr("description", "must not contain control characters other than tab (U+%04X at byte %d)", r, i)
		}
	}
	if lit.Delta != 0 {
		if err := CheckDelta(lit.Delta); err != nil {
			return nil, err
		}
	}
	return &Budget{lit: lit}, nil
}

// Name returns the budget's name.
func (b *Budget) Name() string { return b.lit.Name }

// Total returns the budget's total ε.
func (b *Budget) Total() MicroEpsilon { return b.lit.Total }

// BudgetStatus is a budget as the ledger holds it now.
type BudgetStatus struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Total       MicroEpsilon `json:"total_micro_epsilon"`
	Spent       MicroEpsilon `json:"spent_micro_epsilon"`
	Remaining   MicroEpsilon `json:"remaining_micro_epsilon"`
	Releases    int64        `json:"releases"`
	CreatedAt   time.Time    `json:"created_at"`
	// Delta is the δ of an (ε, δ) budget (its Spent is then the composed
	// ε at that δ), 0 for a pure-ε budget.
	Delta PicoDelta `json:"delta_pico"`
}

// CreateBudget records a new budget and its creation entry in the chain;
// createdBy names who asked (an operator, an API principal).
func (l *Ledger) CreateBudget(ctx context.Context, b *Budget, createdBy string) (BudgetStatus, error) {
	if b == nil {
		return BudgetStatus{}, specErr("budget", "nil")
	}
	if err := checkText("requester", createdBy); err != nil {
		return BudgetStatus{}, err
	}
	now := l.now().UTC()
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dp_budgets WHERE name = ?`, b.lit.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %q", ErrBudgetExists, b.lit.Name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dp_budgets (name, total_micro, spent_micro, description, created_at) VALUES (?, ?, 0, ?, ?)`,
			b.lit.Name, int64(b.lit.Total), b.lit.Description, now.UnixMicro()); err != nil {
			return err
		}
		e := &Entry{
			Version: EntryV2, Kind: KindBudget, Budget: b.lit.Name, Epsilon: b.lit.Total,
			Requester: createdBy, Purpose: b.lit.Description, Time: now.UnixMicro(),
		}
		if err := createRDPBudget(ctx, tx, b, e); err != nil {
			return err
		}
		_, err := l.appendEntry(ctx, tx, e)
		return err
	})
	if err != nil {
		return BudgetStatus{}, err
	}
	return l.Budget(ctx, b.lit.Name)
}

// Budget returns one budget's status.
func (l *Ledger) Budget(ctx context.Context, name string) (BudgetStatus, error) {
	bs, err := l.budgets(ctx, name)
	if err != nil {
		return BudgetStatus{}, err
	}
	if len(bs) == 0 {
		return BudgetStatus{}, fmt.Errorf("%w: %q", ErrUnknownBudget, name)
	}
	return bs[0], nil
}

// Budgets lists all budgets by name.
func (l *Ledger) Budgets(ctx context.Context) ([]BudgetStatus, error) { return l.budgets(ctx, "") }

func (l *Ledger) budgets(ctx context.Context, name string) ([]BudgetStatus, error) {
	q := `SELECT b.name, b.description, b.total_micro, b.spent_micro, b.created_at, b.delta_pico,
		(SELECT COUNT(*) FROM dp_entries e WHERE e.budget = b.name AND e.kind = 'spend')
		FROM dp_budgets b`
	var args []any
	if name != "" {
		q += ` WHERE b.name = ?`
		args = append(args, name)
	}
	rows, err := l.db.SQL().QueryContext(ctx, q+` ORDER BY b.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("dp: read budgets: %w", err)
	}
	defer rows.Close()
	var out []BudgetStatus
	for rows.Next() {
		var b BudgetStatus
		var created int64
		if err := rows.Scan(&b.Name, &b.Description, &b.Total, &b.Spent, &created, &b.Delta, &b.Releases); err != nil {
			return nil, fmt.Errorf("dp: read budgets: %w", err)
		}
		b.Remaining = b.Total - b.Spent
		b.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dp: read budgets: %w", err)
	}
	return out, nil
}

// ReleaseRequest is one release against one budget.
type ReleaseRequest struct {
	Budget string
	Query  Query
	// Requester and Purpose are recorded in the ledger entry (free text, at
	// most 512 bytes each).
	Requester string
	Purpose   string
	// IdempotencyKey makes a retry free: a second request with the same key
	// on the same budget returns the first release's value without a debit
	// or a new draw. Empty means the ledger picks a random key (returned in
	// the Release). 1–128 of [A-Za-z0-9._:-].
	IdempotencyKey string
	// Spender, when set, must hold a grant of the budget (unless it is
	// unrestricted); it is checked in the debit's transaction, before a
	// replay is answered. Nil is the node's operator, who needs none.
	Spender *Spender
}

// Release is a committed release.
type Release struct {
	Seq            int64        `json:"seq"`
	Budget         string       `json:"budget"`
	Epsilon        MicroEpsilon `json:"epsilon_micro"`
	IdempotencyKey string       `json:"idempotency_key"`
	Time           time.Time    `json:"time"`
	// Replayed is true when the release was found under its idempotency key
	// and nothing was spent this time.
	Replayed bool `json:"replayed"`
	// Remaining is the budget's remaining ε after this release.
	Remaining MicroEpsilon `json:"remaining_micro_epsilon"`
	// Nonce opens the release commitment in the release's ledger entry:
	// with it, whoever is shown the release can check it against the
	// verified chain ([Entry.CheckRelease]). Empty for a release whose entry
	// is of version 1.
	Nonce HexBytes `json:"release_nonce,omitempty"`
	Result
}

// Release debits the query's ε from the budget and releases the query's
// noised result, in one transaction:
//
//  1. draw the noise, and make the spend entry, with the
//     [ReleaseCommitment] to the released value;
//  2. if the idempotency key is known on this budget, return the stored
//     release (or ErrIdempotencyConflict if the request differs);
//  3. check and debit the budget (*ExhaustedError if too little remains):
//     a pure-ε budget by the query's ε, an (ε, δ) budget by the growth of
//     its composed ε once the query's RDP is added (see the package doc);
//  4. append the entry to the hash chain, and store the value under it
//     (for a pure-ε budget, 2 to 4 are one statement on PostgreSQL);
//  5. commit (durably: synchronous=FULL), and only then return the value.
//
// If anything fails before the commit, or the request is refused or
// replayed, nothing is spent and the drawn value is discarded unseen. There
// are no refunds.
func (l *Ledger) Release(ctx context.Context, req ReleaseRequest) (*Release, error) {
	if req.Query == nil {
		return nil, specErr("query", "required")
	}
	if !nameRE.MatchString(req.Budget) {
		return nil, specErr("budget", "invalid name")
	}
	if err := checkText("requester", req.Requester); err != nil {
		return nil, err
	}
	if err := checkText("purpose", req.Purpose); err != nil {
		return nil, err
	}
	if req.IdempotencyKey == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("dp: idempotency key: %w", err)
		}
		req.IdempotencyKey = hex.EncodeToString(b[:])
	} else if !keyRE.MatchString(req.IdempotencyKey) {
		return nil, specErr("idempotency_key", "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'")
	}
	eps := req.Query.Epsilon()
	sens := req.Query.Sensitivity()
	fp := requestHash(req, sens)

	// 1. The noise, drawn before the transaction (outside the chain's
	// lock, which serializes what follows), and the commitment to it, so
	// that the entry can be made ahead of the debit and a pure-ε budget's
	// check, debit and both inserts be one [store.CheckedWrite]. The value
	// is seen by no one unless the transaction commits with it.
	out, err := req.Query.release()
	if err != nil {
		return nil, err
	}
	enc, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("dp: encode release: %w", err)
	}
	// The value is stored as JSON, which gives back the same float64s
	// (encoding/json writes the shortest form that parses back to the
	// same value), so the commitment to out holds for what is stored.
	nonce := make([]byte, ReleaseNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("dp: release nonce: %w", err)
	}
	commitment := ReleaseCommitment(nonce, out)

	_, gaussian := req.Query.(rdpQuery)
	p := &spendPlan{
		e: Entry{Version: EntryV2, Kind: KindSpend, Budget: req.Budget, Epsilon: eps, Mechanism: req.Query.Mechanism(),
			L0: sens.L0, LInf: sens.LInf, FracBits: sens.FracBits, Lower: sens.Lower, Upper: sens.Upper,
			Requester: req.Requester, Purpose: req.Purpose, IdempotencyKey: req.IdempotencyKey,
			ReleaseCommitment: commitment[:]},
		fp: fp[:], enc: string(enc), nonce: nonce, unrestricted: 1,
	}
	// A spender's grant is checked by l.spend's statement when it answers
	// to one or two grantees (an API token and its role), else apart.
	if sp := req.Spender; sp.needsGrant() && len(sp.Grantees) > 0 && len(sp.Grantees) <= 2 {
		p.unrestricted, p.grantees = 0, [2]string{sp.Grantees[0], sp.Grantees[len(sp.Grantees)-1]}
	}
	var rel *Release
	p.admitted = func(e *Entry) {
		rel = &Release{Seq: e.Seq, Budget: req.Budget, Epsilon: e.Epsilon, IdempotencyKey: req.IdempotencyKey,
			Time: time.UnixMicro(e.Time).UTC(), Remaining: p.read.total - p.read.spent - e.Epsilon, Nonce: nonce, Result: *out}
	}
	// On PostgreSQL a release runs without a savepoint of its own (one
	// round trip less): it writes with one statement, l.spend, which writes
	// all or nothing, and refuses only before it writes or after l.spend
	// wrote nothing. See commitGroup.
	lazy := l.spend.OneStatement()
	batch := p
	if gaussian || (req.Spender.needsGrant() && p.unrestricted == 1) {
		batch = nil
	}
	err = l.inTxOpt(ctx, lazy, batch, func(tx *sql.Tx) error {
		rel = nil
		ctx := ctx
		if lazy {
			// Once its group runs it, a release without a savepoint runs to
			// the end: a statement cancelled half-way would abort the
			// group's transaction.
			ctx = context.WithoutCancel(ctx)
		}
		// 0. The spender's grant, unless l.spend checks it.
		if gaussian || p.unrestricted == 1 {
			if err := checkSpendable(ctx, tx, req.Budget, req.Spender); err != nil {
				return err
			}
		}
		// 2. The idempotent replay, read with the budget's row, and for a
		// pure-ε budget the check and debit and the entry's and value's
		// inserts, if the key is new and the budget has room: one
		// statement on PostgreSQL.
		rd := &p.read
		var (
			e       *Entry
			applied bool
			err     error
		)
		if gaussian { // never for a pure-ε budget: only the read
			e = p.entry(chainHead{}, l.now())
			err = l.stmt(ctx, tx, sqlReleaseRead).QueryRowContext(ctx, req.IdempotencyKey, req.Budget).Scan(rd.dest()...)
		} else {
			var head chainHead
			if head, err = l.chainHead(ctx, tx); err != nil {
				return err
			}
			e = p.entry(head, l.now())
			applied, err = l.spend.Exec(ctx, tx, rd.spendDest(), p.args(e, head)...)
		}
		inlineGrant := !gaussian && p.unrestricted == 0
		if errors.Is(err, sql.ErrNoRows) {
			if inlineGrant {
				return &UnspendableError{Budget: req.Budget}
			}
			return fmt.Errorf("%w: %q", ErrUnknownBudget, req.Budget)
		}
		if err != nil {
			return fmt.Errorf("dp: release: %w", err)
		}
		if inlineGrant && rd.granted == 0 {
			return &UnspendableError{Budget: req.Budget}
		}
		if rd.rSeq.Valid { // the key's release
			if string(rd.stored) != string(fp[:]) {
				return ErrIdempotencyConflict
			}
			r := &Release{Seq: rd.rSeq.Int64, Budget: req.Budget, Epsilon: MicroEpsilon(rd.rEps.Int64), IdempotencyKey: req.IdempotencyKey,
				Time: time.UnixMicro(rd.rTime.Int64).UTC(), Replayed: true, Nonce: rd.nonce, Remaining: rd.total - rd.spent}
			if err := json.Unmarshal([]byte(rd.result.String), &r.Result); err != nil {
				return fmt.Errorf("dp: stored release %d: %w", r.Seq, err)
			}
			rel = r
			return nil
		}
		total, spent := rd.total, rd.spent
		switch {
		case applied:
			if err := l.appended(ctx, tx, e); err != nil {
				return err
			}
		case rd.cols.delta == 0 && !gaussian:
			if eps > total-spent {
				return &ExhaustedError{Budget: req.Budget, Requested: eps, Remaining: total - spent}
			}
			return fmt.Errorf("dp: debit of %q did not apply", req.Budget)
		default:
			// 3. An (ε, δ) budget, or a Gaussian query: the debit is
			// computed from the budget's accounting, in statements of their
			// own, under a savepoint.
			if err := l.savepoint(tx); err != nil {
				return fmt.Errorf("dp: savepoint: %w", err)
			}
			acct, err := rdpDebit(ctx, tx, req.Budget, req.Query, spent, rd.cols)
			if err != nil {
				return err
			}
			eps := eps
			if acct != nil {
				eps = acct.debit
			}
			if eps > total-spent {
				return &ExhaustedError{Budget: req.Budget, Requested: eps, Remaining: total - spent}
			}
			res, err := l.stmt(ctx, tx, sqlDebit).ExecContext(ctx,
				int64(eps), req.Budget, int64(eps))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("dp: debit of %q did not apply", req.Budget)
			}
			e.Epsilon = eps
			if acct != nil {
				acct.apply(e)
			}
			if _, err := l.appendEntry(ctx, tx, e); err != nil {
				return err
			}
			if _, err := l.stmt(ctx, tx, sqlInsertRelease).ExecContext(ctx,
				e.Seq, fp[:], string(enc), nonce); err != nil {
				return err
			}
		}
		p.admitted(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rel, nil
}

// spendPlan is what a release writes if it is admitted, made before its
// transaction, and what its statement read.
type spendPlan struct {
	e        Entry // but for Seq, PrevHash, Hash and Time
	fp       []byte
	enc      string
	nonce    []byte
	read     spendRead
	admitted func(e *Entry) // records the admitted release, after read
	// unrestricted is 1 when l.spend need not check a grant (the operator,
	// an unrestricted spender, or a grant checked apart), else 0 and
	// grantees are the spender's (the one twice if it has one).
	unrestricted int64
	grantees     [2]string
}

// entry is p's entry after head at now.
func (p *spendPlan) entry(head chainHead, now time.Time) *Entry {
	e := p.e
	e.Time = now.UTC().UnixMicro()
	chain(&e, head)
	return &e
}

// args are l.spend's arguments for p's entry e after head.
func (p *spendPlan) args(e *Entry, head chainHead) []any {
	args := append(make([]any, 0, 48), p.grantees[0], p.grantees[1], e.IdempotencyKey, e.Budget, // the read
		int64(e.Epsilon), e.Budget, int64(e.Epsilon), head.seq, e.Budget, e.IdempotencyKey, // the guard
		p.unrestricted, e.Budget, p.grantees[0], p.grantees[1])
	args = append(args, entryArgs(e)...)
	return append(args, e.Seq, p.fp, p.enc, p.nonce)
}

// spendRead is the row of sqlReleaseRead, and granted that of sqlSpendRead.
type spendRead struct {
	total, spent      MicroEpsilon
	cols              rdpColumns
	rSeq, rEps, rTime sql.NullInt64
	stored, nonce     []byte
	result            sql.NullString
	granted           int64
}

func (r *spendRead) spendDest() []any { return append(r.dest(), &r.granted) }

func (r *spendRead) dest() []any {
	return []any{&r.total, &r.spent, &r.cols.delta, &r.cols.logInv, &r.cols.orders, &r.cols.sums,
		&r.rSeq, &r.rEps, &r.rTime, &r.stored, &r.result, &r.nonce}
}

// requestHash fingerprints everything about a request except its raw data,
// so that a reused idempotency key with another request is caught without
// storing anything derived from the data.
func requestHash(req ReleaseRequest, s Sensitivity) [32]byte {
	var b canonicalBuilder
	b.str("aios/dp/release-request/v1")
	b.str(req.Budget)
	b.i64(int64(req.Query.Epsilon()))
	b.str(req.Query.Mechanism())
	b.i64(int64(req.Query.Dimension()))
	b.i64(s.L0)
	b.i64(s.LInf)
	b.i64(s.FracBits)
	b.i64(s.Lower)
	b.i64(s.Upper)
	b.str(req.Requester)
	b.str(req.Purpose)
	if g, ok := req.Query.(rdpQuery); ok { // nothing is added for pure-ε queries
		r, p := g.rdp(), g.params()
		b.i64s(r[:])
		b.i64s([]int64{p.noiseMultiplier, p.sampleRate, p.steps, p.noiseShares})
	}
	return sha256.Sum256(b.buf)
}

// The statements every release runs, prepared once per ledger (see
// [Ledger.prepare]): SQLite otherwise parses each statement anew, which
// was half of a grouped release's CPU time.
const (
	sqlReleaseRead = `SELECT b.total_micro, b.spent_micro, b.delta_pico, b.log_inv_delta_micro, b.rdp_orders, b.rdp_micro,
			r.seq, e.epsilon_micro, e.created_at, r.request_hash, r.result, r.nonce
			FROM dp_budgets b
			LEFT JOIN dp_entries e ON e.budget = b.name AND e.idempotency_key = ? AND e.idempotency_key <> ''
			LEFT JOIN dp_releases r ON r.seq = e.seq
			WHERE b.name = ?`
	sqlDebit       = `UPDATE dp_budgets SET spent_micro = spent_micro + ? WHERE name = ? AND spent_micro + ? <= total_micro`
	sqlInsertEntry = `INSERT INTO dp_entries (seq, version, kind, budget, epsilon_micro, mechanism, l0, linf, frac_bits,
		lower_bound, upper_bound, requester, purpose, created_at, idempotency_key, release_commitment, prev_hash, hash,
		delta_pico, log_inv_delta_micro, rdp_orders, noise_multiplier_micro, sample_rate_ppb, steps, noise_shares, rdp_micro)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertRelease = `INSERT INTO dp_releases (seq, request_hash, result, nonce) VALUES (?, ?, ?, ?)`
	// sqlSpendGuard is the debit of a pure-ε budget's release, which
	// applies only if the budget has room and the request's idempotency key
	// is new, and the spender holds a grant of it if it needs one: the guard
	// of l.spend (sqlSpendRead, then this, then the
	// entry's and the value's inserts).
	//
	// It also applies only if the chain's head is the entry that the
	// release's entry was chained onto, which the chain's lock makes sure
	// of, but for the releases that a group sends together ahead of the
	// answers (see spendBatch): there, a release chained onto one that
	// was refused is refused too, and sent again.
	sqlSpendGuard = `UPDATE dp_budgets SET spent_micro = spent_micro + ?
		WHERE name = ? AND spent_micro + ? <= total_micro AND delta_pico = 0
		AND (SELECT COALESCE(MAX(seq), 0) FROM dp_entries) = ?
		AND NOT EXISTS (SELECT 1 FROM dp_entries e WHERE e.budget = ? AND e.idempotency_key = ? AND e.idempotency_key <> '')
		AND (? = 1 OR EXISTS (SELECT 1 FROM dp_grants g WHERE g.budget = ? AND g.grantee IN (?, ?)))`
	// sqlSpendRead is sqlReleaseRead with the spender's grants of the
	// budget (up to two grantees: a token and its role), the read of l.spend.
	sqlSpendRead = `SELECT b.total_micro, b.spent_micro, b.delta_pico, b.log_inv_delta_micro, b.rdp_orders, b.rdp_micro,
			r.seq, e.epsilon_micro, e.created_at, r.request_hash, r.result, r.nonce,
			(SELECT COUNT(*) FROM dp_grants g WHERE g.budget = b.name AND g.grantee IN (?, ?))
			FROM dp_budgets b
			LEFT JOIN dp_entries e ON e.budget = b.name AND e.idempotency_key = ? AND e.idempotency_key <> ''
			LEFT JOIN dp_releases r ON r.seq = e.seq
			WHERE b.name = ?`
)

// prepare prepares the ledger's hot statements on its database.
func (l *Ledger) prepare(ctx context.Context) error {
	l.stmts = map[string]*sql.Stmt{}
	for _, q := range []string{sqlReleaseRead, sqlDebit, sqlInsertEntry, sqlInsertRelease} {
		st, err := l.db.SQL().PrepareContext(ctx, q)
		if err != nil {
			l.closeStmts()
			return fmt.Errorf("dp: prepare: %w", err)
		}
		l.stmts[q] = st
	}
	w, err := l.db.PrepareCheckedWrite(ctx, sqlSpendRead, sqlSpendGuard, sqlInsertEntry, sqlInsertRelease)
	if err != nil {
		l.closeStmts()
		return fmt.Errorf("dp: prepare: %w", err)
	}
	l.spend = w
	return nil
}

func (l *Ledger) closeStmts() {
	for _, st := range l.stmts {
		st.Close() //nolint:errcheck // closing a prepared statement frees it; nothing to report
	}
	if l.spend != nil {
		l.spend.Close()
	}
}

// stmt returns the prepared statement q in tx (database/sql prepares it
// again only on a connection that has not had it yet).
func (l *Ledger) stmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	return tx.StmtContext(ctx, l.stmts[q])
}

// chainLock is the name of the lock that serializes the ledger's writers
// across processes ([store.DB.BeginSerial]): one chain per node, so one
// lock.
const chainLock = "dp/chain"

// inTx runs f in a read-write transaction serialized with every other
// writer of the ledger, in this process and in others, and returns once
// the transaction committed (durably) or failed.
//
// Writers are committed in groups: while one transaction commits, the
// writers that arrive meanwhile wait, and the next committer runs all of
// them (up to maxGroup) in one transaction, each inside its own savepoint,
// so that one fsync makes the group durable. A writer whose f fails is
// rolled back to its savepoint and gets its error, and the others commit;
// each gets its outcome only after the commit, and the chain's order is the
// order in which the group ran, which is its commit order.
func (l *Ledger) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	return l.inTxLazy(ctx, false, f)
}

// inTxLazy is inTx for a writer that, if lazy, takes no savepoint of its
// own unless it calls l.savepoint: it promises that when it fails with a
// refusal (see isRefusal) it has written nothing since the savepoint it
// did not take. A lazy writer that fails otherwise without a savepoint
// fails its group (nothing of it is committed, and each writer of the
// group gets an error).
func (l *Ledger) inTxLazy(ctx context.Context, lazy bool, f func(*sql.Tx) error) error {
	return l.inTxOpt(ctx, lazy, nil, f)
}

// inTxOpt is inTxLazy for a release with a spend plan, if p is not nil: the
// group may then run the plan's statement with those of the releases next
// to it (spendBatch) instead of f, and if the plan is admitted there, f
// does not run.
func (l *Ledger) inTxOpt(ctx context.Context, lazy bool, p *spendPlan, f func(*sql.Tx) error) error {
	r := &txRequest{ctx: ctx, f: f, lazy: lazy, spend: p, done: make(chan error, 1)}
	l.gmu.Lock()
	l.pending = append(l.pending, r)
	lead := !l.leading
	l.leading = true
	l.gmu.Unlock()
	if lead {
		go l.commitGroups()
	}
	return <-r.done
}

// txRequest is a writer waiting for inTx's group commit.
type txRequest struct {
	ctx   context.Context
	f     func(*sql.Tx) error
	lazy  bool       // see inTxLazy
	spend *spendPlan // see inTxOpt
	done  chan error
}

// maxGroup bounds the writers of one group commit.
const maxGroup = 256

// commitGroups commits the pending writers, a group at a time, until none
// is left.
func (l *Ledger) commitGroups() {
	for {
		l.gmu.Lock()
		n := min(len(l.pending), l.group)
		group := l.pending[:n:n]
		l.pending = l.pending[n:]
		if n == 0 {
			l.pending = nil
			l.leading = false
		}
		l.gmu.Unlock()
		if n == 0 {
			return
		}
		l.commitGroup(group)
	}
}

func (l *Ledger) commitGroup(group []*txRequest) {
	errs := make([]error, len(group))
	finish := func(err error) {
		for i, r := range group {
			if errs[i] == nil {
				errs[i] = err
			}
			r.done <- errs[i]
		}
	}
	// The transaction outlives any one writer's context: a writer whose
	// context ends fails its own statements, not the group's.
	tx, err := l.db.BeginSerialConn(context.Background(), chainLock)
	if err != nil {
		finish(fmt.Errorf("dp: begin: %w", err))
		return
	}
	// The head is read afresh in each group: another process may have
	// appended since this one's last group.
	l.head = chainHead{}
	defer func() { l.head, l.tentative = chainHead{}, chainHead{} }()
	single := len(group) == 1
	l.spOpen, l.spNone = false, single
	unbatched := -1 // a writer that a batch refused runs alone
	for i := 0; i < len(group); i++ {
		r := group[i]
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if r.spend != nil && r.lazy && !single && i != unbatched {
			// The run of releases from i, sent together.
			j := i + 1
			for j < len(group) && group[j].spend != nil && group[j].lazy && group[j].ctx.Err() == nil {
				j++
			}
			if j-i > 1 {
				n, err := l.spendBatch(tx, group[i:j])
				if err != nil {
					tx.Rollback() //nolint:errcheck // the first error matters
					finish(fmt.Errorf("dp: release: %w", err))
					return
				}
				// The first n were admitted; the next, if any, runs alone.
				i += n - 1
				unbatched = i + 1
				continue
			}
		}
		l.spMine = false
		if !r.lazy {
			if err := l.savepoint(tx.Tx); err != nil {
				tx.Rollback() //nolint:errcheck // the first error matters
				finish(fmt.Errorf("dp: savepoint: %w", err))
				return
			}
		}
		l.tentative = l.head
		errs[i] = r.f(tx.Tx)
		switch {
		case errs[i] == nil:
			l.head = l.tentative
		case single:
			tx.Rollback() //nolint:errcheck // the writer's error matters
			finish(nil)
			return
		case !l.spMine && isRefusal(errs[i]):
			// A lazy writer's refusal: it wrote nothing.
		case !l.spMine:
			// A lazy writer failed otherwise: what it wrote, or on
			// PostgreSQL the transaction its failed statement aborted,
			// has no savepoint to go back to.
			tx.Rollback() //nolint:errcheck // the writer's error matters
			finish(fmt.Errorf("dp: the group's transaction failed with another writer: %w", errs[i]))
			return
		default:
			if _, err := tx.ExecContext(context.Background(), `ROLLBACK TO SAVEPOINT dp_writer`); err != nil {
				tx.Rollback() //nolint:errcheck // the first error matters
				finish(fmt.Errorf("dp: roll back a failed writer: %w", err))
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		// Nothing of the group was written: those that succeeded fail.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("dp: commit: %w", err)
			}
		}
	}
	finish(nil)
}

// spendBatch runs the releases of run, each with a spend plan, in one round
// trip (on PostgreSQL, where the group's statements are pipelined: see
// [store.CheckedWrite.ExecBatch]), each entry chained onto the previous
// one's, and reports how many of them, from the first, were admitted. The
// first that is not (a replay, a refusal, or an (ε, δ) budget's) makes the
// ones after it not apply either (sqlSpendGuard checks the chain's head),
// and is left, with them, for the caller to run again.
func (l *Ledger) spendBatch(tx *store.SerialTx, run []*txRequest) (int, error) {
	ctx := context.Background()
	l.tentative = l.head
	head, err := l.chainHead(ctx, tx.Tx)
	if err != nil {
		return 0, err
	}
	now := l.now()
	entries := make([]*Entry, len(run))
	dests := make([][]any, len(run))
	args := make([][]any, len(run))
	for k, r := range run {
		e := r.spend.entry(head, now)
		entries[k], dests[k], args[k] = e, r.spend.read.spendDest(), r.spend.args(e, head)
		head = chainHead{seq: e.Seq, hash: e.Hash, known: true}
	}
	n, err := l.spend.ExecBatch(ctx, tx, dests, args)
	if err != nil {
		return 0, err
	}
	for k := range n {
		if err := l.appended(ctx, tx.Tx, entries[k]); err != nil {
			return 0, err
		}
		l.head = l.tentative
		run[k].spend.admitted(entries[k])
	}
	return n, nil
}

// savepoint opens the running writer's savepoint, unless it has one or
// the group takes none. A writer's savepoint is released by the statement
// that opens the next one (one round trip for both), and the last one by
// the commit, which commits the savepoints still open. (A lazy writer that
// takes none writes inside the savepoint still open, if any, which the
// next savepoint or the commit releases with the rest.)
func (l *Ledger) savepoint(tx *sql.Tx) error {
	if l.spNone || l.spMine {
		return nil
	}
	q := `SAVEPOINT dp_writer`
	if l.spOpen {
		q = `RELEASE SAVEPOINT dp_writer; SAVEPOINT dp_writer`
	}
	if _, err := tx.ExecContext(context.Background(), q); err != nil {
		return err
	}
	l.spOpen, l.spMine = true, true
	return nil
}

// isRefusal reports whether err is one of the refusals of a release, which
// the ledger returns after reading and before writing.
func isRefusal(err error) bool {
	for _, r := range []error{ErrBudgetExhausted, ErrUnknownBudget, ErrIdempotencyConflict, ErrDeltaRequired, ErrInvalidSpec} {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// appendEntry chains e after the current head, inserts it and, every
// l.every entries, signs a checkpoint in the same transaction.
func (l *Ledger) appendEntry(ctx context.Context, tx *sql.Tx, e *Entry) (int64, error) {
	head, err := l.chainHead(ctx, tx)
	if err != nil {
		return 0, err
	}
	chain(e, head)
	if _, err := l.stmt(ctx, tx, sqlInsertEntry).ExecContext(ctx, entryArgs(e)...); err != nil {
		return 0, fmt.Errorf("dp: append entry: %w", err)
	}
	return e.Seq, l.appended(ctx, tx, e)
}

// chain makes e the entry after head.
func chain(e *Entry, head chainHead) {
	e.Seq = head.seq + 1
	e.PrevHash = head.hash
	e.Hash = e.ChainHash()
}

// entryArgs are the arguments of sqlInsertEntry for e.
func entryArgs(e *Entry) []any {
	commitment := append([]byte{}, e.ReleaseCommitment...) // an empty blob, not NULL, when there is none
	return []any{e.Seq, e.version(), e.Kind, e.Budget, int64(e.Epsilon), e.Mechanism, e.L0, e.LInf, e.FracBits, e.Lower, e.Upper,
		e.Requester, e.Purpose, e.Time, e.IdempotencyKey, commitment, e.PrevHash[:], e.Hash[:],
		int64(e.Delta), e.LogInvDelta, encodeInt64s(e.Orders), e.NoiseMultiplier, e.SampleRate, e.Steps, e.NoiseShares,
		encodeInt64s(e.RDP)}
}

// appended follows e's insert: every l.every entries it signs a
// checkpoint in the same transaction, and e is the group's new head.
func (l *Ledger) appended(ctx context.Context, tx *sql.Tx, e *Entry) error {
	if l.every > 0 && e.Seq%int64(l.every) == 0 {
		if _, err := l.checkpointTx(ctx, tx, e.Seq, e.Hash); err != nil {
			return err
		}
	}
	l.tentative = chainHead{seq: e.Seq, hash: e.Hash, known: true}
	return nil
}

// chainHead returns the chain's head in the running writer's transaction:
// the group's, or read from the database for the group's first entry.
func (l *Ledger) chainHead(ctx context.Context, tx *sql.Tx) (chainHead, error) {
	if l.tentative.known {
		return l.tentative, nil
	}
	var seq int64
	prev := make([]byte, 32)
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM dp_entries ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return chainHead{}, fmt.Errorf("dp: read chain head: %w", err)
	}
	if len(prev) != 32 {
		return chainHead{}, fmt.Errorf("%w: chain head %d has a malformed hash", ErrAuditFailed, seq)
	}
	h := chainHead{seq: seq, known: true}
	copy(h.hash[:], prev)
	l.tentative = h
	return h, nil
}

// Checkpoint signs and records a checkpoint of the current head.
func (l *Ledger) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	var cp *Checkpoint
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		head, err := l.chainHead(ctx, tx)
		if err != nil {
			return err
		}
		cp, err = l.checkpointTx(ctx, tx, head.seq, head.hash)
		return err
	})
	return cp, err
}

func (l *Ledger) checkpointTx(ctx context.Context, tx *sql.Tx, count int64, head [32]byte) (*Checkpoint, error) {
	cp := &Checkpoint{EntryCount: count, HeadHash: head, Time: l.now().UTC().UnixMicro()}
	sig, err := l.key.Sign(cp.Message(l.key.Public()))
	if err != nil {
		return nil, err
	}
	cp.Signature = sig
	if _, err := tx.ExecContext(ctx, `INSERT INTO dp_checkpoints (entry_count, head_hash, created_at, signature) VALUES (?, ?, ?, ?)`,
		cp.EntryCount, cp.HeadHash[:], cp.Time, cp.Signature); err != nil {
		return nil, fmt.Errorf("dp: record checkpoint: %w", err)
	}
	return cp, nil
}

// LatestCheckpoint returns the most recent checkpoint, or nil if none.
func (l *Ledger) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	cps, err := l.checkpoints(ctx, ` ORDER BY id DESC LIMIT 1`)
	if err != nil || len(cps) == 0 {
		return nil, err
	}
	return &cps[0], nil
}

func (l *Ledger) checkpoints(ctx context.Context, tail string) ([]Checkpoint, error) {
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT entry_count, head_hash, created_at, signature FROM dp_checkpoints`+tail)
	if err != nil {
		return nil, fmt.Errorf("dp: read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var cp Checkpoint
		var head []byte
		if err := rows.Scan(&cp.EntryCount, &head, &cp.Time, &cp.Signature); err != nil {
			return nil, fmt.Errorf("dp: read checkpoints: %w", err)
		}
		copy(cp.HeadHash[:], head) // a wrong length shows up as a bad signature
		out = append(out, cp)
	}
	return out, rows.Err()
}

// Entries returns up to limit entries with seq > after, in order; budget ""
// means all budgets. limit ≤ 0 means 1000.
func (l *Ledger) Entries(ctx context.Context, budget string, after int64, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT ` + entryColumns + ` FROM dp_entries WHERE seq > ?`
	args := []any{after}
	if budget != "" {
		q += ` AND budget = ?`
		args = append(args, budget)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, limit)
	return l.scanEntries(ctx, q, args...)
}

func (l *Ledger) scanEntries(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := l.db.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("dp: read entries: %w", err)
	}
	return collectEntries(rows)
}

// entryColumns are the dp_entries columns that collectEntries scans.
const entryColumns = `seq, version, kind, budget, epsilon_micro, mechanism, l0, linf, frac_bits, lower_bound, upper_bound,
	requester, purpose, created_at, idempotency_key, release_commitment, prev_hash, hash,
	delta_pico, log_inv_delta_micro, rdp_orders, noise_multiplier_micro, sample_rate_ppb, steps, noise_shares, rdp_micro`

func collectEntries(rows *sql.Rows) ([]Entry, error) {
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var prev, hash, commitment, orders, rdp []byte
		if err := rows.Scan(&e.Seq, &e.Version, &e.Kind, &e.Budget, &e.Epsilon, &e.Mechanism, &e.L0, &e.LInf, &e.FracBits,
			&e.Lower, &e.Upper, &e.Requester, &e.Purpose, &e.Time, &e.IdempotencyKey, &commitment, &prev, &hash,
			&e.Delta, &e.LogInvDelta, &orders, &e.NoiseMultiplier, &e.SampleRate, &e.Steps, &e.NoiseShares, &rdp); err != nil {
			return nil, fmt.Errorf("dp: read entries: %w", err)
		}
		var err1, err2 error
		if e.Orders, err1 = decodeInt64s(orders); len(e.Orders) == 0 {
			e.Orders = nil
		}
		if e.RDP, err2 = decodeInt64s(rdp); len(e.RDP) == 0 {
			e.RDP = nil
		}
		if err1 != nil || err2 != nil {
			return nil, &AuditError{Seq: e.Seq, Reason: "malformed RDP column"}
		}
		if len(prev) != 32 || len(hash) != 32 {
			return nil, &AuditError{Seq: e.Seq, Reason: "malformed hash column"}
		}
		if len(commitment) > 0 {
			e.ReleaseCommitment = commitment
		}
		copy(e.PrevHash[:], prev)
		copy(e.Hash[:], hash)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dp: read entries: %w", err)
	}
	return out, nil
}

func scanEntriesTx(ctx context.Context, tx *sql.Tx) ([]Entry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+entryColumns+` FROM dp_entries ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("dp: read entries: %w", err)
	}
	return collectEntries(rows)
}
