package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aios-edge/aios/internal/store/storetest"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	return openOn(t, storetest.DB{Dir: dir})
}

func openOn(t *testing.T, loc storetest.DB) *DB {
	t.Helper()
	db, err := OpenWithOptions(context.Background(), loc.Dir, Options{URL: loc.URL})
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

func TestMigrate(t *testing.T) { storetest.Each(t, testMigrate) }

func testMigrate(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	db := openOn(t, loc)
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
	db2 := openOn(t, loc)
	if v, err := db2.AppliedVersion(ctx, "test"); err != nil || v != 2 {
		t.Fatalf("after reopen AppliedVersion = %d, %v; want 2", v, err)
	}
}

func TestMigrateRejectsBadLists(t *testing.T) { storetest.Each(t, testMigrateRejectsBadLists) }

func testMigrateRejectsBadLists(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	db := openOn(t, loc)
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

// TestMigrateConcurrent: replicas starting at once apply each migration
// once.
func TestMigrateConcurrent(t *testing.T) { storetest.Each(t, testMigrateConcurrent) }

func testMigrateConcurrent(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	const n = 4
	dbs := make([]*DB, n)
	for i := range dbs {
		dbs[i] = openOn(t, loc)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Migrate(ctx, "test", v2)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	var applied int
	if err := dbs[0].SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = ?`, "test").Scan(&applied); err != nil || applied != 2 {
		t.Errorf("%d migrations recorded (%v), want 2", applied, err)
	}
}

// TestBeginSerial: increments of a counter read and written back in
// serialized transactions from several connections are none of them lost.
func TestBeginSerial(t *testing.T) { storetest.Each(t, testBeginSerial) }

func testBeginSerial(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	db := openOn(t, loc)
	if err := db.Migrate(ctx, "test", []Migration{{Version: 1, Name: "counter", SQL: `CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter (n) VALUES (0)`}}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				tx, err := db.BeginSerial(ctx, "counter")
				if err != nil {
					errs <- err
					return
				}
				var n int64
				if err := tx.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if _, err := tx.ExecContext(ctx, `UPDATE counter SET n = ?`, n+1); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil || n != workers*each {
		t.Errorf("counter = %d (%v), want %d", n, err, workers*each)
	}
}

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                              `SELECT 1`,
		`SELECT ? , ?`:                          `SELECT $1 , $2`,
		`SELECT '?', "a?b", ? -- what?` + "\n?": `SELECT '?', "a?b", $1 -- what?` + "\n$2",
		`SELECT /* ? */ ?, 'it''s ?', ?`:        `SELECT /* ? */ $1, 'it''s ?', $2`,
		`SELECT 'unterminated ?`:                `SELECT 'unterminated ?`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDDL(t *testing.T) {
	in := `CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, b BLOB NOT NULL DEFAULT x'', big_integer TEXT)`
	want := `CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, b BYTEA NOT NULL DEFAULT ''::bytea, big_integer TEXT)`
	if got := Postgres.ddl(in); got != want {
		t.Errorf("ddl:\n got %s\nwant %s", got, want)
	}
	if got := SQLite.ddl(in); got != in {
		t.Errorf("SQLite ddl changed the SQL: %s", got)
	}
	if !strings.Contains(Postgres.ddl("x INTEGER"), "BIGINT") {
		t.Error("INTEGER not widened")
	}
}
