package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store"
)

// SQLStore is [Store] on the node's database, in portable SQL (the `?`
// placeholder aside).
type SQLStore struct {
	db *sql.DB
}

var _ Store = (*SQLStore)(nil)

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
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);`}}
}

// NewSQLStore applies the jobs component's migrations to db and returns the
// store on it. Apply the component "api"'s migrations first: on a fresh
// database, its migration 3 creates the same table unconditionally.
func NewSQLStore(ctx context.Context, db *store.DB) (*SQLStore, error) {
	if err := db.Migrate(ctx, "jobs", migrations()); err != nil {
		return nil, err
	}
	return &SQLStore{db: db.SQL()}, nil
}

// columns are a Record's, in the order scanRecords reads them.
const columns = `id, owner, model, key_id, packing, status, done, total, samples, error, input_blob, result_blob, result_bytes, created_at, finished_at`

// Create implements [Store].
func (s *SQLStore) Create(ctx context.Context, r Record) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO jobs (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
	q := `UPDATE jobs SET status = ?, error = ?, result_blob = ?, result_bytes = ?, finished_at = ? WHERE id = ?`
	if !u.FinishedAt.IsZero() {
		q = `UPDATE jobs SET status = ?, error = ?, result_blob = ?, result_bytes = ?, finished_at = ?, input_blob = '' WHERE id = ?`
	}
	if _, err := s.db.ExecContext(ctx, q, u.Status, u.Error, u.ResultBlob, u.ResultBytes, micros(&u.FinishedAt), id); err != nil {
		return fmt.Errorf("jobs: update job: %w", err)
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
		var r Record
		var created int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Owner, &r.Model, &r.Key, &r.Packing, &r.Status, &r.Done, &r.Total, &r.Samples, &r.Error,
			&r.InputBlob, &r.ResultBlob, &r.ResultBytes, &created, &finished); err != nil {
			return nil, fmt.Errorf("jobs: look up jobs: %w", err)
		}
		r.CreatedAt = time.UnixMicro(created).UTC()
		if finished.Valid {
			t := time.UnixMicro(finished.Int64).UTC()
			r.FinishedAt = &t
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: look up jobs: %w", err)
	}
	return list, nil
}
