package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenPragmas(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data dir?#") // URI-special characters in the path
	db := open(t, dir)
	ctx := context.Background()
	var mode string
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk, sync, busy int
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if fk != 1 || sync != 2 || busy != int(DefaultBusyTimeout.Milliseconds()) {
		t.Errorf("foreign_keys=%d synchronous=%d busy_timeout=%d; want 1, 2 (FULL), %d", fk, sync, busy, DefaultBusyTimeout.Milliseconds())
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", st.Mode().Perm())
	}
}

var v1 = []Migration{
	{Version: 1, Name: "things", SQL: `CREATE TABLE things (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES things(id)); CREATE INDEX things_parent ON things(parent)`},
}
var v2 = append(v1[:1:1], Migration{Version: 2, Name: "things name", SQL: `ALTER TABLE things ADD COLUMN name TEXT`})

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	if err := db.Migrate(ctx, "test", v1); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "test", v1); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "test", v2); err != nil {
		t.Fatal(err)
	}
	if v, err := db.AppliedVersion(ctx, "test"); err != nil || v != 2 {
		t.Fatalf("AppliedVersion = %d, %v; want 2", v, err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO things (id, name) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	// Foreign keys are enforced.
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO things (id, parent) VALUES (2, 99)`); err == nil {
		t.Error("foreign key violation accepted")
	}
	// An older binary refuses a newer schema.
	if err := db.Migrate(ctx, "test", v1); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("older list on newer schema: %v, want ErrSchemaTooNew", err)
	}
	// Components are independent.
	if err := db.Migrate(ctx, "other", v1[:0]); err != nil {
		t.Error(err)
	}
	// A renamed applied migration is refused.
	renamed := []Migration{{Version: 1, Name: "renamed", SQL: v1[0].SQL}, v2[1]}
	if err := db.Migrate(ctx, "test", renamed); !errors.Is(err, ErrMigration) {
		t.Errorf("renamed migration: %v, want ErrMigration", err)
	}
	// Reopening sees the applied versions.
	db.Close()
	db2 := open(t, dir)
	if v, err := db2.AppliedVersion(ctx, "test"); err != nil || v != 2 {
		t.Fatalf("after reopen AppliedVersion = %d, %v; want 2", v, err)
	}
}

func TestMigrateRejectsBadLists(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	for name, tc := range map[string]struct {
		component string
		ms        []Migration
	}{
		"gap":            {"test", []Migration{{Version: 1, Name: "a", SQL: "SELECT 1"}, {Version: 3, Name: "b", SQL: "SELECT 1"}}},
		"zero":           {"test", []Migration{{Version: 0, Name: "a", SQL: "SELECT 1"}}},
		"empty name":     {"test", []Migration{{Version: 1, SQL: "SELECT 1"}}},
		"bad component":  {"Bad-Name", nil},
		"failing SQL":    {"test", []Migration{{Version: 1, Name: "bad", SQL: "CREATE TABLE"}}},
		"empty SQL text": {"test", []Migration{{Version: 1, Name: "a"}}},
	} {
		if err := db.Migrate(ctx, tc.component, tc.ms); !errors.Is(err, ErrMigration) {
			t.Errorf("%s: %v, want ErrMigration", name, err)
		}
	}
	// A failed migration is not recorded.
	if v, _ := db.AppliedVersion(ctx, "test"); v != 0 {
		t.Errorf("failed migration recorded: version %d", v)
	}
}

// AppliedVersion returns the highest applied migration version of component,
// 0 if none.
func (db *DB) AppliedVersion(ctx context.Context, component string) (int, error) {
	var v sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations WHERE component = ?`, component).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return int(v.Int64), nil
}
