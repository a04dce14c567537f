// Package storetest gives tests a fresh node database on each backend:
// SQLite in a temporary directory always, and PostgreSQL when the
// environment variable AIOS_TEST_POSTGRES holds the URL of a server on which
// the test may create databases (scripts/with-postgres.sh starts a
// throwaway one and sets it; `make test` runs the tests under it).
//
// Most tests want [Each], which runs a test once per backend, skipping the
// PostgreSQL run with the reason when AIOS_TEST_POSTGRES is unset.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvVar names the variable that holds the test server's URL.
const EnvVar = "AIOS_TEST_POSTGRES"

// DB is where one test's node database lives: SQLite in Dir when URL is "",
// PostgreSQL at URL otherwise (Dir is then the node's data directory for
// everything else: its node key, its lock). Pass both on as a node's
// --data-dir and --db, or as store.Options.URL.
type DB struct {
	Backend string // "sqlite" or "postgres"
	Dir     string
	URL     string
}

// Each runs f as two subtests, "sqlite" and "postgres", each with a fresh
// database.
func Each(t *testing.T, f func(t *testing.T, db DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

// SQLite returns a fresh SQLite database: an empty data directory.
func SQLite(t testing.TB) DB {
	return DB{Backend: "sqlite", Dir: t.TempDir()}
}

// Postgres returns a fresh, empty PostgreSQL database, dropped when the test
// ends, and an empty data directory; it skips t when AIOS_TEST_POSTGRES is
// unset.
func Postgres(t testing.TB) DB {
	t.Helper()
	return DB{Backend: "postgres", Dir: t.TempDir(), URL: PostgresURL(t)}
}

// PostgresURL creates a fresh database on the AIOS_TEST_POSTGRES server and
// returns its URL; the database is dropped (with its connections) when the
// test ends. It skips t when AIOS_TEST_POSTGRES is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		t.Skip(EnvVar + " is unset: no PostgreSQL server to test against (run the tests under scripts/with-postgres.sh, as make test does)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	defer db.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "aios_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database on %s: %v", EnvVar, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
