package api

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
)

type loadedModel struct {
	info   schema.ModelInfo
	server *inference.Server
}

// models holds the node's models in memory (they are small); the files live
// in the blob store and the table models.
type models struct {
	mu   sync.RWMutex
	byID map[string]*loadedModel
}

func describeModel(id string, size int, srv *inference.Server, created time.Time) (schema.ModelInfo, error) {
	m, params := srv.Model(), srv.Params()
	info := schema.ModelInfo{ID: id, Name: m.Meta.Name, Features: m.Features(), Classes: slices.Clone(m.Meta.Classes),
		Preset: params.Name(), ParamsID: params.ID(), Depth: m.Depth(), Bytes: size, Accuracy: m.Meta.Accuracy, Dataset: m.Meta.Dataset, SplitSeed: m.Meta.Seed,
		FeatureRanges: slices.Clone(m.Meta.Bounds.Features),
		Packings:      map[string]schema.PackingInfo{}, CreatedAt: created}
	for _, packing := range inference.Packings() {
		c, err := srv.Contract(packing)
		if err != nil {
			return schema.ModelInfo{}, err
		}
		info.Packings[packing.String()] = schema.NewPackingInfo(c)
	}
	return info, nil
}

// AddModel validates a model file, stores it and makes it available. Adding
// the same file again is a no-op that returns the same info.
func (s *Server) AddModel(ctx context.Context, file []byte) (schema.ModelInfo, error) {
	if int64(len(file)) > s.cfg.MaxModelBytes {
		return schema.ModelInfo{}, fmt.Errorf("%w: model of %d bytes, the limit is %d", ErrTooLarge, len(file), s.cfg.MaxModelBytes)
	}
	m, err := inference.Decode(file)
	if err != nil {
		return schema.ModelInfo{}, err
	}
	id, err := s.blobs.Put(file)
	if err != nil {
		return schema.ModelInfo{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := s.db.SQL().ExecContext(ctx, `INSERT INTO models (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		id, m.Meta.Name, now.Unix()); err != nil {
		return schema.ModelInfo{}, fmt.Errorf("api: record model: %w", err)
	}
	var created int64
	if err := s.db.SQL().QueryRowContext(ctx, `SELECT created_at FROM models WHERE id = ?`, id).Scan(&created); err != nil {
		return schema.ModelInfo{}, fmt.Errorf("api: record model: %w", err)
	}
	lm, err := s.cacheModel(id, m, len(file), created)
	if err != nil {
		return schema.ModelInfo{}, err
	}
	return lm.info, nil
}

// cacheModel builds the server of a stored model and keeps it in memory.
func (s *Server) cacheModel(id string, m *inference.Model, size int, created int64) (*loadedModel, error) {
	srv, err := inference.NewServer(m, s.cfg.Accel)
	if err != nil {
		return nil, err
	}
	info, err := describeModel(id, size, srv, time.Unix(created, 0).UTC())
	if err != nil {
		return nil, err
	}
	lm := &loadedModel{info: info, server: srv}
	s.models.mu.Lock()
	s.models.byID[id] = lm
	s.models.mu.Unlock()
	return lm, nil
}

// storedModels lists the IDs in the table models: the node's models, added
// through this replica or any other on the same database.
func (s *Server) storedModels(ctx context.Context) ([]string, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id FROM models`)
	if err != nil {
		return nil, fmt.Errorf("api: list models: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("api: list models: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("api: list models: %w", err)
	}
	return ids, nil
}

// loadModels reads every stored model back at start.
func (s *Server) loadModels(ctx context.Context) error {
	ids, err := s.storedModels(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.model(ctx, id); err != nil {
			return fmt.Errorf("api: model %s: %w", id, err)
		}
	}
	return nil
}

// model returns model id from memory or, on a miss, from the store: a
// model added through another replica on the same database is read from
// the table models and the blob store when first asked for, and kept.
func (s *Server) model(ctx context.Context, id string) (*loadedModel, error) {
	s.models.mu.RLock()
	m, ok := s.models.byID[id]
	s.models.mu.RUnlock()
	if ok {
		return m, nil
	}
	var created int64
	err := s.db.SQL().QueryRowContext(ctx, `SELECT created_at FROM models WHERE id = ?`, id).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: model %.16s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("api: look up model: %w", err)
	}
	file, err := s.blobs.Get(id, s.cfg.MaxModelBytes)
	if err != nil {
		return nil, fmt.Errorf("api: model %.16s: %w", id, err)
	}
	dec, err := inference.Decode(file)
	if err != nil {
		return nil, fmt.Errorf("api: stored model %.16s no longer decodes: %w", id, err)
	}
	return s.cacheModel(id, dec, len(file), created)
}

// handleListModels lists the models in the table models (those added
// through other replicas too), loading the ones not yet in memory.
func (s *Server) handleListModels(w http.ResponseWriter, r *http.Request) {
	ids, err := s.storedModels(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := make([]schema.ModelInfo, 0, len(ids))
	for _, id := range ids {
		m, err := s.model(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		list = append(list, m.info)
	}
	slices.SortFunc(list, func(a, b schema.ModelInfo) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	writeJSON(w, http.StatusOK, map[string]any{"models": list})
}

func (s *Server) handleGetModel(w http.ResponseWriter, r *http.Request) {
	m, err := s.model(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m.info)
}

func (s *Server) handlePostModel(w http.ResponseWriter, r *http.Request) {
	b, err := s.readBody(w, r, s.cfg.MaxModelBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.AddModel(r.Context(), b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/models/"+info.ID)
	writeJSON(w, http.StatusCreated, info)
}
