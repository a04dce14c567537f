package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/aios-edge/aios/internal/store/storetest"
)

// TestCheckedWrite runs a guarded counter with a log on both backends:
// the read sees the row as it was before the guard, the inserts run only
// when the guard applies, a missing row reports sql.ErrNoRows, and a batch
// stops applying at the first guard that does not (each guard here checks
// the log's length, as the ledger's checks its chain's head).
func TestCheckedWrite(t *testing.T) { storetest.Each(t, testCheckedWrite) }

func testCheckedWrite(t *testing.T, loc storetest.DB) {
	ctx := context.Background()
	db := openOn(t, loc)
	if err := db.Migrate(ctx, "checked", []Migration{{Version: 1, Name: "t", SQL: `
CREATE TABLE ct_counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL, cap INTEGER NOT NULL);
CREATE TABLE ct_log (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, note BLOB NOT NULL);
CREATE TABLE ct_notes (seq INTEGER PRIMARY KEY REFERENCES ct_log (seq), note TEXT NOT NULL);
INSERT INTO ct_counters (name, n, cap) VALUES ('a', 0, 3);`}}); err != nil {
		t.Fatal(err)
	}
	w, err := db.PrepareCheckedWrite(ctx, `SELECT n, cap FROM ct_counters WHERE name = ?`,
		`UPDATE ct_counters SET n = n + 1 WHERE name = ? AND n < cap AND (SELECT COALESCE(MAX(seq), 0) FROM ct_log) = ?`,
		`INSERT INTO ct_log (seq, name, note) VALUES (?, ?, ?)`,
		`INSERT INTO ct_notes (seq, note) VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.OneStatement() != (db.Backend() == Postgres) {
		t.Errorf("OneStatement = %v on %s", w.OneStatement(), db.Backend())
	}
	if _, err := db.PrepareCheckedWrite(ctx, `SELECT 1`, `DELETE FROM ct_log`); err == nil {
		t.Error("a DELETE guard was accepted")
	}
	args := func(name string, seq int64) []any {
		return []any{name, name, seq - 1, seq, name, []byte{byte(seq)}, seq, "note"}
	}
	tx, err := db.BeginSerialConn(ctx, "checked")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after the commit, nothing to roll back
	var n, limit int64
	applied, err := w.Exec(ctx, tx.Tx, []any{&n, &limit}, args("a", 1)...)
	if err != nil || !applied || n != 0 || limit != 3 {
		t.Fatalf("first: applied %v, read n=%d cap=%d, %v", applied, n, limit, err)
	}
	// The guard does not apply when the log's head is not the expected one.
	applied, err = w.Exec(ctx, tx.Tx, []any{&n, &limit}, args("a", 1)...)
	if err != nil || applied || n != 1 {
		t.Fatalf("stale head: applied %v, read n=%d, %v", applied, n, err)
	}
	if _, err := w.Exec(ctx, tx.Tx, []any{&n, &limit}, args("none", 2)...); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("missing row: %v", err)
	}
	// A batch of four: the counter's cap admits two more, the rest stop.
	var dests, all [][]any
	reads := make([][2]int64, 4)
	for k := range 4 {
		dests = append(dests, []any{&reads[k][0], &reads[k][1]})
		all = append(all, args("a", int64(k)+2))
	}
	got, err := w.ExecBatch(ctx, tx, dests, all)
	if err != nil || got != 2 {
		t.Fatalf("batch: %d applied, %v", got, err)
	}
	if reads[0][0] != 1 || reads[1][0] != 2 || reads[2][0] != 3 {
		t.Errorf("batch reads %v", reads)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var logs, notes int
	if err := db.SQL().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM ct_log), (SELECT COUNT(*) FROM ct_notes), (SELECT n FROM ct_counters)`).Scan(&logs, &notes, &n); err != nil {
		t.Fatal(err)
	}
	if logs != 3 || notes != 3 || n != 3 {
		t.Errorf("after the commit: %d log rows, %d notes, counter %d; want 3, 3, 3", logs, notes, n)
	}
}
