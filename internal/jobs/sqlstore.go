package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store"
)

// SQLStore is [Store] and [Leaser] on the node's database (SQLite or
// PostgreSQL), in the portable SQL of package store.
type SQLStore struct {
	db    *sql.DB
	store *store.DB
}

var (
	_ Store  = (*SQLStore)(nil)
	_ Leaser = (*SQLStore)(nil)
)

// migrations are the store component "jobs". Version 1 creates the table
// only where the component "api" (migration 3, "jobs") has not already.
func migrations() []store.Migration {
	return []store.Migration{{Version: 1, Name: "jobs", SQL: `
CREATE TABLE IF NOT EXISTS jobs (
	id           TEXT PRIMARY KEY,
	owner        TEXT NOT NULL,
	model        TEXT NOT NULL,
	key_id       TEXT NOT NULL,
	packing      TEXT NOT NULL,
	status       TEXT NOT NULL,
	done         INTEGER NOT NULL,
	total        INTEGER NOT NULL,
	samples      INTEGER NOT NULL,
	error        TEXT NOT NULL,
	input_blob   TEXT NOT NULL,
	result_blob  TEXT NOT NULL,
	result_bytes INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	finished_at  INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);`}, {Version: 2, Name: "leases", SQL: `
ALTER TABLE jobs ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_expires INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_waiting ON jobs (status, created_at);`}}
}

// NewSQLStore applies the jobs component's migrations to db and returns the
// store on it. Apply the component "api"'s migrations first: on a fresh
// database, its migration 3 creates the same table unconditionally.
func NewSQLStore(ctx context.Context, db *store.DB) (*SQLStore, error) {
	if err := db.Migrate(ctx, "jobs", migrations()); err != nil {
		return nil, err
	}
	return &SQLStore{db: db.SQL(), store: db}, nil
}

// columns are a Record's, in the order scanRecords reads them.
const columns = `id, owner, model, key_id, packing, status, done, total, samples, error, input_blob, result_blob, result_bytes, created_at, finished_at`

// Create implements [Store].
func (s *SQLStore) Create(ctx context.Context, r Record) error {
	return s.create(ctx, s.db, r)
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// CreateReferencing implements [BlobReferences]: the row is recorded in a
// transaction serialized with every Unreference of its input blob, after
// a check there that the blob is still stored ([store.Blobs.ReferenceStored]).
func (s *SQLStore) CreateReferencing(ctx context.Context, blobs *store.Blobs, r Record) error {
	return blobs.ReferenceStored(ctx, s.store, r.InputBlob, func(tx *sql.Tx) error { return s.create(ctx, tx, r) })
}

// DeleteUnreferenced implements [BlobReferences]: the count of the jobs
// that name blob and the blob's removal when there are none are one
// transaction serialized with every CreateReferencing of the blob
// ([store.Blobs.Unreference]).
func (s *SQLStore) DeleteUnreferenced(ctx context.Context, blobs *store.Blobs, blob string) (bool, error) {
	return blobs.Unreference(ctx, s.store, blob, func(tx *sql.Tx) (int, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE input_blob = ? OR result_blob = ?`, blob, blob).Scan(&n); err != nil {
			return 0, fmt.Errorf("jobs: count blob references: %w", err)
		}
		return n, nil
	})
}

func (s *SQLStore) create(ctx context.Context, db execer, r Record) error {
	_, err := db.ExecContext(ctx, `INSERT INTO jobs (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Owner, r.Model, r.Key, r.Packing, r.Status, r.Done, r.Total, r.Samples, r.Error,
		r.InputBlob, r.ResultBlob, r.ResultBytes, r.CreatedAt.UnixMicro(), micros(r.FinishedAt))
	if err != nil {
		return fmt.Errorf("jobs: record job: %w", err)
	}
	return nil
}

func micros(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// Update implements [Store].
func (s *SQLStore) Update(ctx context.Context, id string, u Update) error {
	q := `UPDATE jobs SET status = ?, error = ?, result_blob = ?, result_bytes = ?, finished_at = ?`
	args := []any{u.Status, u.Error, u.ResultBlob, u.ResultBytes, micros(&u.FinishedAt)}
	if !u.FinishedAt.IsZero() {
		q += `, input_blob = ''`
	}
	if u.Lease != "" && u.Status != schema.JobRunning {
		q += `, lease_token = '', lease_expires = 0`
	}
	q += ` WHERE id = ?`
	args = append(args, id)
	if u.Lease != "" {
		q += ` AND lease_token = ?`
		args = append(args, u.Lease)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("jobs: update job: %w", err)
	}
	if u.Lease != "" {
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: job %.24s", ErrLeaseLost, id)
		}
	}
	return nil
}

// Claim implements [Leaser]: one UPDATE of the row that a subquery picks
// (with FOR UPDATE SKIP LOCKED on PostgreSQL, so that replicas claiming at
// once take different jobs), which re-checks that the row is free.
func (s *SQLStore) Claim(ctx context.Context, id, token string, now, expires time.Time) (Record, int, bool, error) {
	free := `(status = ? AND lease_expires < ?) OR (status = ? AND lease_expires < ?)`
	freeArgs := []any{schema.JobQueued, now.UnixMicro(), schema.JobRunning, now.UnixMicro()}
	pick := `SELECT id FROM jobs WHERE (` + free + `)`
	pickArgs := append([]any{}, freeArgs...)
	if id != "" {
		pick += ` AND id = ?`
		pickArgs = append(pickArgs, id)
	}
	pick += ` ORDER BY created_at LIMIT 1` + s.store.SkipLocked()
	q := `UPDATE jobs SET status = ?, lease_token = ?, lease_expires = ?, attempts = attempts + 1, error = ''
		WHERE id = (` + pick + `) AND (` + free + `) RETURNING attempts, ` + columns
	args := append([]any{schema.JobRunning, token, expires.UnixMicro()}, pickArgs...)
	args = append(args, freeArgs...)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Record{}, 0, false, fmt.Errorf("jobs: claim job: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return Record{}, 0, false, rows.Err()
	}
	var attempts int
	r, err := scanRecord(rows, &attempts)
	if err != nil {
		return Record{}, 0, false, err
	}
	return r, attempts, true, rows.Close()
}

// Renew implements [Leaser].
func (s *SQLStore) Renew(ctx context.Context, id, token string, expires time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_token = ? AND status = ?`,
		expires.UnixMicro(), id, token, schema.JobRunning)
	if err != nil {
		return fmt.Errorf("jobs: renew lease: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: job %.24s", ErrLeaseLost, id)
	}
	return nil
}

// SetProgress implements [Store].
func (s *SQLStore) SetProgress(ctx context.Context, id string, done int) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE jobs SET done = ? WHERE id = ?`, done, id); err != nil {
		return fmt.Errorf("jobs: job progress: %w", err)
	}
	return nil
}

// Get implements [Store].
func (s *SQLStore) Get(ctx context.Context, id, owner string) (Record, error) {
	list, err := s.query(ctx, `SELECT `+columns+` FROM jobs WHERE id = ? AND (owner = ? OR ? = '')`, id, owner, owner)
	if err != nil {
		return Record{}, err
	}
	if len(list) == 0 {
		return Record{}, fmt.Errorf("%w: job %.24s", ErrNotFound, id)
	}
	return list[0], nil
}

// Resumable implements [Store].
func (s *SQLStore) Resumable(ctx context.Context) ([]Record, error) {
	return s.query(ctx, `SELECT `+columns+` FROM jobs WHERE status IN (?, ?) ORDER BY created_at`, schema.JobQueued, schema.JobRunning)
}

// Expired implements [Store].
func (s *SQLStore) Expired(ctx context.Context, before time.Time) ([]Record, error) {
	return s.query(ctx, `SELECT `+columns+` FROM jobs WHERE status IN (?, ?) AND finished_at < ?`, schema.JobDone, schema.JobFailed, before.UnixMicro())
}

// Delete implements [Store].
func (s *SQLStore) Delete(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, id); err != nil {
		return fmt.Errorf("jobs: delete job: %w", err)
	}
	return nil
}

// References implements [Store].
func (s *SQLStore) References(ctx context.Context, blob string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE input_blob = ? OR result_blob = ?`, blob, blob).Scan(&n); err != nil {
		return 0, fmt.Errorf("jobs: count blob references: %w", err)
	}
	return n, nil
}

// query runs a SELECT of columns and reads every row.
func (s *SQLStore) query(ctx context.Context, q string, args ...any) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("jobs: look up jobs: %w", err)
	}
	defer rows.Close()
	var list []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: look up jobs: %w", err)
	}
	return list, nil
}

// scanRecord reads a row of extra's columns followed by columns.
func scanRecord(rows *sql.Rows, extra ...any) (Record, error) {
	var r Record
	var created int64
	var finished sql.NullInt64
	if err := rows.Scan(append(extra, &r.ID, &r.Owner, &r.Model, &r.Key, &r.Packing, &r.Status, &r.Done, &r.Total, &r.Samples, &r.Error,
		&r.InputBlob, &r.ResultBlob, &r.ResultBytes, &created, &finished)...); err != nil {
		return Record{}, fmt.Errorf("jobs: look up jobs: %w", err)
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	if finished.Valid {
		t := time.UnixMicro(finished.Int64).UTC()
		r.FinishedAt = &t
	}
	return r, nil
}
