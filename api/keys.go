package api

import (
	"container/list"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
)

// handlePostKeys: POST /v1/keys?preset=NAME, body = lattigo's
// MemEvaluationKeySet binary or he's seeded key set encoding. The body is
// read up to the largest key set the preset and limits allow, validated
// against the preset, stored in lattigo's encoding under its SHA-256 (the
// set's ID), and recorded as owned by the caller.
func (s *Server) handlePostKeys(w http.ResponseWriter, r *http.Request) {
	owner := principalOf(r.Context()).TokenID
	p, err := he.PresetByName(r.URL.Query().Get("preset"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r, s.keyBodyLimit(p))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	set, err := he.ParseUploadedEvaluationKeySet(p, s.cfg.KeyLimits, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if set.Seeded() {
		// Stored expanded, under the ID of its canonical encoding, as any
		// set: loading it back needs no expansion.
		if body, err = set.MarshalBinary(); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	info := schema.KeyInfo{ID: set.ID(), Preset: p.Name(), ParamsID: p.ID(), Bytes: int64(set.Size()),
		Relinearization: set.HasRelinearizationKey(), GaloisElements: set.GaloisElements(), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	galois, _ := json.Marshal(info.GaloisElements)
	// The row is added with the blob held against a concurrent delete of
	// the same set by its last other holder (store.Blobs.Reference).
	var added int64
	if _, err := s.blobs.Reference(r.Context(), s.db, body, func(tx *sql.Tx, id string) error {
		res, err := tx.ExecContext(r.Context(), `INSERT INTO eval_keys (id, owner, preset, params_id, size, relin, galois, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, owner) DO NOTHING`,
			info.ID, owner, info.Preset, info.ParamsID, info.Bytes, info.Relinearization, string(galois), info.CreatedAt.Unix())
		if err != nil {
			return fmt.Errorf("api: record key: %w", err)
		}
		added, err = res.RowsAffected()
		return err
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.keys.put(set)
	status := http.StatusCreated
	if added == 0 {
		status = http.StatusOK // already uploaded by this client
		if stored, err := s.keyInfo(r.Context(), owner, info.ID); err == nil {
			info = stored
		}
	}
	w.Header().Set("Location", "/v1/keys/"+info.ID)
	writeJSON(w, status, info)
}

// keyInfo returns a key set's metadata if owner uploaded it (any owner for
// "" — admins). Another client's key reads as not found.
func (s *Server) keyInfo(ctx context.Context, owner, id string) (schema.KeyInfo, error) {
	q := `SELECT id, preset, params_id, size, relin, galois, created_at FROM eval_keys WHERE id = ? AND (owner = ? OR ? = '') LIMIT 1`
	var info schema.KeyInfo
	var galois string
	var created int64
	err := s.db.SQL().QueryRowContext(ctx, q, id, owner, owner).Scan(&info.ID, &info.Preset, &info.ParamsID, &info.Bytes, &info.Relinearization, &galois, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return schema.KeyInfo{}, fmt.Errorf("%w: evaluation key set %.16s…", ErrNotFound, id)
	}
	if err != nil {
		return schema.KeyInfo{}, fmt.Errorf("api: look up key: %w", err)
	}
	if err := json.Unmarshal([]byte(galois), &info.GaloisElements); err != nil {
		return schema.KeyInfo{}, fmt.Errorf("api: key %s metadata: %w", id, err)
	}
	info.CreatedAt = time.Unix(created, 0).UTC()
	return info, nil
}

// ownerFilter is the owner a principal may see keys and jobs of: its own,
// or all ("") for an admin.
func ownerFilter(p Principal) string {
	if p.Role == RoleAdmin {
		return ""
	}
	return p.TokenID
}

func (s *Server) handleGetKey(w http.ResponseWriter, r *http.Request) {
	info, err := s.keyInfo(r.Context(), ownerFilter(principalOf(r.Context())), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// handleDeleteKey forgets one of the caller's key sets: its row, and once
// no client holds it, its blob, its cache entry and the evaluators built on
// it (on this replica; another replica's cached copy is never used again,
// since every use looks the caller's row up first). An upload of the same
// set by another client, through any replica, that races the delete
// either keeps the blob or stores it again (store.Blobs.Reference). A job that is running already holds its keys and evaluator and
// finishes; a job that starts afterwards (a queued one) finds no key set
// and fails with not_found (inferenceJob.Run looks its keys up when it
// starts).
func (s *Server) handleDeleteKey(w http.ResponseWriter, r *http.Request) {
	owner := ownerFilter(principalOf(r.Context()))
	id := chi.URLParam(r, "id")
	if _, err := s.keyInfo(r.Context(), owner, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.db.SQL().ExecContext(r.Context(), `DELETE FROM eval_keys WHERE id = ? AND (owner = ? OR ? = '')`, id, owner, owner); err != nil {
		s.writeError(w, r, fmt.Errorf("api: delete key: %w", err))
		return
	}
	// The blob goes with the last row that names it, counted and removed
	// with the blob held against a concurrent upload of the same set
	// (store.Blobs.Unreference).
	removed, err := s.blobs.Unreference(r.Context(), s.db, id, func(tx *sql.Tx) (int, error) {
		var left int
		err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM eval_keys WHERE id = ?`, id).Scan(&left)
		return left, err
	})
	if err != nil {
		s.log.WarnContext(r.Context(), "delete key blob", "err", err)
	}
	if removed {
		s.keys.remove(id)
		s.evaluators.remove(id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// evaluationKeys returns the deserialized key set id for owner (checking
// ownership), from the cache or the blob store.
func (s *Server) evaluationKeys(ctx context.Context, owner, id string) (*he.EvaluationKeySet, schema.KeyInfo, error) {
	info, err := s.keyInfo(ctx, owner, id)
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	if set := s.keys.get(id); set != nil {
		return set, info, nil
	}
	p, err := he.PresetByName(info.Preset)
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	b, err := s.blobs.Get(id, info.Bytes)
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	set, err := he.ParseEvaluationKeySet(p, s.cfg.KeyLimits, b)
	if err != nil {
		return nil, schema.KeyInfo{}, fmt.Errorf("api: stored key %s no longer decodes: %w", id, err)
	}
	s.keys.put(set)
	return set, info, nil
}

// keyCache keeps deserialized evaluation key sets, least recently used
// evicted first, within a byte budget (a set's size in memory is about its
// encoded size).
type keyCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	order *list.List // front = most recent; values *he.EvaluationKeySet
	byID  map[string]*list.Element
}

func newKeyCache(limit int64) *keyCache {
	return &keyCache{limit: limit, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *keyCache) get(id string) *he.EvaluationKeySet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*he.EvaluationKeySet)
	}
	return nil
}

func (c *keyCache) put(set *he.EvaluationKeySet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[set.ID()]; ok || int64(set.Size()) > c.limit {
		return
	}
	c.byID[set.ID()] = c.order.PushFront(set)
	c.used += int64(set.Size())
	for c.used > c.limit {
		e := c.order.Back()
		old := e.Value.(*he.EvaluationKeySet)
		c.order.Remove(e)
		delete(c.byID, old.ID())
		c.used -= int64(old.Size())
	}
}

func (c *keyCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.used -= int64(e.Value.(*he.EvaluationKeySet).Size())
		c.order.Remove(e)
		delete(c.byID, id)
	}
}

func (c *keyCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
