package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/store"
)

// Commands that only read a node's data directory (audit verify and
// export, budget list, show and grants) or that act on a node that must
// exist already (audit checkpoint signs its ledger; dp query, budget grant
// and revoke need a budget) never create one, so that a mistyped
// --data-dir is an error and not a new empty node. The commands that set a
// node up (serve, token create, budget create, node id) create it.

// errNoDataDir reports a --data-dir that is not a node's data directory.
var errNoDataDir = errors.New("no node data directory")

// existingDataDir fails unless dir is a node's data directory: a
// directory that holds the node's database, or any directory when the
// database is elsewhere (db, a --db URL, is set).
func existingDataDir(dir, db string) error {
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is not a directory, so %w there", dir, errNoDataDir)
	}
	if err == nil && db == "" {
		_, err = os.Stat(filepath.Join(dir, store.FileName))
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w at %s: create it with aios serve --data-dir %s or check the path", errNoDataDir, dir, dir)
	case err != nil:
		return err
	}
	return nil
}

// openLedger opens the ledger of the node whose data directory is dir and
// whose database is db (a --db URL; "": SQLite in dir), creating the
// directory only if create is set.
func openLedger(ctx context.Context, dir, db string, create bool) (*dp.Ledger, error) {
	if !create {
		if err := existingDataDir(dir, db); err != nil {
			return nil, err
		}
	}
	return dp.OpenNodeAt(ctx, dir, db)
}

// openStore opens the database of the node whose data directory is dir and
// whose database is db (a --db URL; "": SQLite in dir).
func openStore(ctx context.Context, dir, db string) (*store.DB, error) {
	return store.OpenWithOptions(ctx, dir, store.Options{URL: db})
}
