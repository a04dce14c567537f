// Package store holds a node's durable state: the embedded database, with
// the schema migrations of the components that keep state in it (the dp
// ledger, api's tokens, keys, models and jobs), and [Blobs], the
// content-addressed files of large objects (evaluation keys, models, job
// inputs and results). [LockDir] locks a data directory for the one process
// that serves it.
//
// Most callers want [Open] (or [OpenWithOptions] with the node's --db URL)
// followed by [DB.Migrate] with their own list of [Migration]s.
//
// # Backends
//
// The default database is SQLite through modernc.org/sqlite (pure Go, no
// cgo), in one file under the node's data directory, opened with
//
//   - journal_mode=WAL, so that readers do not block the single writer;
//   - synchronous=FULL, so that a committed transaction survives a power loss
//     (the DP ledger relies on this: a release is returned only after its
//     debit is durable);
//   - busy_timeout, so that a writer waits for the lock instead of failing;
//   - foreign_keys=ON;
//   - BEGIN IMMEDIATE for read-write transactions, so that a transaction that
//     will write takes the write lock when it starts and cannot fail later on
//     a lock upgrade.
//
// Several replicas of a node share one PostgreSQL database instead
// (Options.URL, a postgres:// URL: the --db flag or $AIOS_DB of the
// commands), through jackc/pgx v5's database/sql driver (pure Go too). The
// callers' statements and migrations are the same on both: they are written
// in SQLite's SQL as far as it is portable, and the few differences are
// translated in one place, dialect.go (placeholders, column types, the
// serialization of writers: [DB.BeginSerial]).
//
// PostgreSQL's default isolation, READ COMMITTED, is kept: a transaction
// that reads a row in order to write it back takes a row lock (SELECT … FOR
// UPDATE, which SQLite does not need: its writers are serialized) or runs
// under [DB.BeginSerial].
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// FileName is the name of the SQLite database inside the data directory.
const FileName = "aios.db"

// DefaultBusyTimeout is how long a connection waits for a lock held by
// another connection or process before it reports SQLITE_BUSY.
const DefaultBusyTimeout = 10 * time.Second

var (
	// ErrMigration reports an invalid migration list or a failed migration.
	ErrMigration = errors.New("store: migration failed")
	// ErrSchemaTooNew reports a database migrated by a newer aios than this
	// one: it has versions of a component that this binary does not know.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
)

// Migration is one numbered schema change of one component. Versions of a
// component start at 1 and increase by one; a version, once released, is never
// edited (add a new one instead). SQL may hold several statements separated
// by semicolons.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// DB is an open node database. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	backend Backend
}

// Options tunes [OpenWithOptions]. The zero value gives the defaults.
type Options struct {
	// URL, when set, is the database to open instead of the SQLite file in
	// the data directory: a PostgreSQL URL,
	// postgres://user:password@host:port/database?sslmode=… (see
	// [IsPostgresURL]). The data directory is then not used by the store.
	URL string
	// BusyTimeout overrides DefaultBusyTimeout when positive (SQLite).
	BusyTimeout time.Duration
	// MaxConns bounds the pool of PostgreSQL connections; 0 means
	// DefaultMaxConns.
	MaxConns int
}

// DefaultMaxConns is the default size of a PostgreSQL connection pool.
const DefaultMaxConns = 16

// Open opens (creating if needed) the database in dataDir, which is created
// with mode 0700 when it does not exist.
func Open(ctx context.Context, dataDir string) (*DB, error) {
	return OpenWithOptions(ctx, dataDir, Options{})
}

// OpenWithOptions is [Open] with explicit options.
func OpenWithOptions(ctx context.Context, dataDir string, opt Options) (*DB, error) {
	if opt.URL != "" {
		return openURL(ctx, opt)
	}
	if dataDir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	path := filepath.Join(abs, FileName)
	busy := DefaultBusyTimeout
	if opt.BusyTimeout > 0 {
		busy = opt.BusyTimeout
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	// The file holds the ledger and node metadata: owner only.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return initialize(ctx, &DB{sql: db, backend: SQLite})
}

func openURL(ctx context.Context, opt Options) (*DB, error) {
	if !IsPostgresURL(opt.URL) {
		return nil, errors.New("store: --db must be a postgres:// or postgresql:// URL (without it, the node uses SQLite in its data directory)")
	}
	n := opt.MaxConns
	if n <= 0 {
		n = DefaultMaxConns
	}
	db, err := openPostgres(ctx, opt.URL, n)
	if err != nil {
		return nil, err
	}
	return initialize(ctx, &DB{sql: db, backend: Postgres})
}

// initialize creates the table of applied migrations.
func initialize(ctx context.Context, s *DB) (*DB, error) {
	if _, err := s.sql.ExecContext(ctx, s.backend.ddl(`CREATE TABLE IF NOT EXISTS schema_migrations (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL,
		PRIMARY KEY (component, version)
	)`)); err != nil && !(s.backend == Postgres && IsUniqueViolation(err)) {
		// (Two replicas creating the table at once: one of them fails on
		// the catalog's unique index, and finds the table made.)
		s.sql.Close()
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	return s, nil
}

// SQL returns the underlying pool for the components' own statements.
func (db *DB) SQL() *sql.DB { return db.sql }

// Backend returns the database's engine.
func (db *DB) Backend() Backend { return db.backend }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

var componentRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Migrate applies, in order and each in its own transaction, the migrations
// of component that the database has not applied yet, and records each in
// the schema_migrations table under (component, version). It fails with
// [ErrMigration] if the list is malformed or an applied version has another
// name than the one in the list, and with [ErrSchemaTooNew] if the database
// holds a version of component beyond the end of the list.
//
// Migrate is safe to call from several processes at once: each migration
// runs in a serialized transaction ([DB.BeginSerial]) that re-checks
// whether it was applied. On PostgreSQL, INTEGER and BLOB in a migration's
// SQL become BIGINT and BYTEA (see dialect.go).
func (db *DB) Migrate(ctx context.Context, component string, migrations []Migration) error {
	if !componentRE.MatchString(component) {
		return fmt.Errorf("%w: invalid component name %q", ErrMigration, component)
	}
	for i, m := range migrations {
		if m.Version != i+1 {
			return fmt.Errorf("%w: %s: migration %d has version %d, want %d", ErrMigration, component, i, m.Version, i+1)
		}
		if m.Name == "" || m.SQL == "" {
			return fmt.Errorf("%w: %s: migration %d has an empty name or SQL", ErrMigration, component, m.Version)
		}
	}
	applied, err := db.applied(ctx, component)
	if err != nil {
		return err
	}
	for v, name := range applied {
		if v > len(migrations) {
			return fmt.Errorf("%w: %s is at version %d, this binary knows %d", ErrSchemaTooNew, component, v, len(migrations))
		}
		if migrations[v-1].Name != name {
			return fmt.Errorf("%w: %s version %d is %q in the database, %q here", ErrMigration, component, v, name, migrations[v-1].Name)
		}
	}
	for _, m := range migrations {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		if err := db.apply(ctx, component, m); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applied(ctx context.Context, component string) (map[int]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT version, name FROM schema_migrations WHERE component = ?`, component)
	if err != nil {
		return nil, fmt.Errorf("%w: read schema_migrations: %w", ErrMigration, err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("%w: read schema_migrations: %w", ErrMigration, err)
		}
		out[v] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: read schema_migrations: %w", ErrMigration, err)
	}
	return out, nil
}

func (db *DB) apply(ctx context.Context, component string, m Migration) error {
	tx, err := db.BeginSerial(ctx, "migrations")
	if err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrMigration, component, m.Version, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`,
		component, m.Version).Scan(&n); err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrMigration, component, m.Version, err)
	}
	if n > 0 { // another process applied it meanwhile
		return nil
	}
	if _, err := tx.ExecContext(ctx, db.backend.ddl(m.SQL)); err != nil {
		return fmt.Errorf("%w: %s %d (%s): %w", ErrMigration, component, m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)`,
		component, m.Version, m.Name, time.Now().UTC().UnixMicro()); err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrMigration, component, m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrMigration, component, m.Version, err)
	}
	return nil
}
