package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/api/ui"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/jobs"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/mpc"
)

// Config configures a node. The zero value of every limit means its default.
type Config struct {
	DataDir string
	// DB is the node's database when its replicas share one: a postgres://
	// URL (store.Options.URL). Empty: SQLite in DataDir.
	DB      string
	Version string
	Logger  *slog.Logger

	// Accel is the kernel backend of the batch packing's dense layers
	// (default: the pure-Go cpu backend); the caller selects it, e.g. with
	// accel.SelectByName. /v1/health names it.
	Accel accel.Backend

	// KeyLimits bounds uploaded evaluation key sets (Galois keys, degree).
	KeyLimits he.Limits
	// MaxKeyBytes caps an evaluation key upload whatever the preset allows
	// (default 1 GiB).
	MaxKeyBytes int64
	// MaxInferBytes caps a /infer request body (default 64 MiB); larger
	// batches go through /jobs.
	MaxInferBytes int64
	// MaxJobBytes caps a /jobs request body (default 1 GiB).
	MaxJobBytes int64
	// MaxModelBytes caps an uploaded model (default 16 MiB).
	MaxModelBytes int64
	// KeyCacheBytes bounds the deserialized evaluation keys kept in memory
	// (default 2 GiB).
	KeyCacheBytes int64
	// RatePerSecond and RateBurst limit each token (defaults 50/s, 100;
	// negative rate: no limit).
	RatePerSecond float64
	RateBurst     int
	// QueueSize bounds waiting jobs (default 16); JobWorkers evaluates that
	// many jobs at once (default 1: a job already uses every core).
	QueueSize, JobWorkers int
	// JobRetention is how long a finished job and its result are kept
	// (default 24 h); a job's input is deleted as soon as it finishes.
	JobRetention time.Duration
	// JobLease is how long a replica on a shared PostgreSQL database (DB
	// set) holds an asynchronous job before it must renew its lease
	// (default 30s): a job whose replica died is taken over by another
	// that long after its last renewal (see internal/jobs, Config.Lease).
	JobLease time.Duration
	// MaxMemory is the node's memory budget for request bodies and what
	// they decode to (default 2 GiB, for a 4 GiB edge box; see memory.go
	// for what it counts): a request that does not fit now gets 503 with
	// Retry-After.
	MaxMemory int64
	// BodyReadGrace and MinBodyRate bound how long a request body may take
	// to arrive: a body of n bytes gets BodyReadGrace + n/MinBodyRate, its
	// deadline moving as bytes arrive (defaults 10 s and 64 KiB/s); a
	// slower one is cut off with 408.
	BodyReadGrace time.Duration
	MinBodyRate   int64

	// NodeKeyFile is the node key (created if missing); empty: the key in
	// the data directory.
	NodeKeyFile string
	// MPC, when set, hosts an mpc.Node with these peers (see mpc.go).
	MPC *MPCConfig
	// FL configures federated learning, which needs MPC (see fl.go).
	FL *FLConfig
}

func (c *Config) defaults() {
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def64(&c.MaxKeyBytes, 1<<30)
	def64(&c.MaxInferBytes, 64<<20)
	def64(&c.MaxJobBytes, 1<<30)
	def64(&c.MaxModelBytes, 16<<20)
	def64(&c.KeyCacheBytes, 2<<30)
	def64(&c.MinBodyRate, 64<<10)
	def64(&c.MaxMemory, 2<<30)
	if c.BodyReadGrace <= 0 {
		c.BodyReadGrace = 10 * time.Second
	}
	if c.Accel == nil {
		c.Accel = accel.CPU()
	}
	if c.KeyLimits == (he.Limits{}) {
		c.KeyLimits = he.DefaultLimits
	}
	if c.RatePerSecond == 0 {
		c.RatePerSecond = 50
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 100
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 16
	}
	if c.JobWorkers <= 0 {
		c.JobWorkers = 1
	}
	if c.JobLease <= 0 {
		c.JobLease = 30 * time.Second
	}
	if c.JobRetention <= 0 {
		c.JobRetention = 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			c.Version = bi.Main.Version
		}
	}
}

// Server is one aios node's HTTP API. Create it with [New], serve
// [Server.Handler], and call [Server.Close] after the HTTP server has shut
// down.
type Server struct {
	cfg     Config
	log     *slog.Logger
	db      *store.DB
	blobs   *store.Blobs
	key     *nodekey.Key
	ledger  *dp.Ledger
	keys    *keyCache
	limiter *rateLimiter
	metrics *metrics
	router  chi.Router
	started time.Time
	models  models
	jobs    *jobs.Service
	mpc     *mpcHost
	mem     *memBudget
	fl      *flHost

	evaluators *evaluatorCache

	shuttingDown atomic.Bool
	closeOnce    sync.Once
}

// New opens (creating) the node's data directory and database (SQLite in
// the directory, or the PostgreSQL database of Config.DB): the store with
// migrations, blob store, node key and DP ledger.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: no data directory", ErrBadRequest)
	}
	key, err := LoadNodeKey(cfg.DataDir, cfg.NodeKeyFile)
	if err != nil {
		return nil, err
	}
	db, err := store.OpenWithOptions(ctx, cfg.DataDir, store.Options{URL: cfg.DB})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, db: db, key: key, metrics: &metrics{}, started: time.Now(),
		limiter: newRateLimiter(cfg.RatePerSecond, cfg.RateBurst), evaluators: &evaluatorCache{limit: 8},
		mem: newMemBudget(cfg.MaxMemory)}
	fail := func(err error) (*Server, error) {
		db.Close()
		return nil, err
	}
	for _, m := range []struct {
		component string
		list      []store.Migration
	}{{"auth", authMigrations()}, {"api", apiMigrations()}} {
		if err := db.Migrate(ctx, m.component, m.list); err != nil {
			return fail(err)
		}
	}
	// Replicas on one PostgreSQL database share their blobs through it; a
	// node on SQLite keeps them as files beside its database.
	if db.Backend() == store.Postgres {
		s.blobs, err = store.OpenBlobsIn(ctx, db)
	} else {
		s.blobs, err = store.OpenBlobs(cfg.DataDir)
	}
	if err != nil {
		return fail(err)
	}
	if s.ledger, err = dp.NewLedger(ctx, db, key, dp.LedgerOptions{}); err != nil {
		return fail(err)
	}
	s.keys = newKeyCache(cfg.KeyCacheBytes)
	s.metrics.keyCacheSize = s.keys.size
	s.models.byID = map[string]*loadedModel{}
	if err := s.loadModels(ctx); err != nil {
		return fail(err)
	}
	if err := s.startMPC(); err != nil {
		return fail(err)
	}
	if s.jobs, err = s.startJobs(ctx); err != nil {
		return fail(err)
	}
	s.router = s.routes()
	return s, nil
}

// startJobs starts the job service on the node's database and blobs (the
// jobs table's migrations after the api component's: see internal/jobs).
func (s *Server) startJobs(ctx context.Context) (*jobs.Service, error) {
	st, err := jobs.NewSQLStore(ctx, s.db)
	if err != nil {
		return nil, err
	}
	cfg := jobs.Config{QueueSize: s.cfg.QueueSize, Workers: s.cfg.JobWorkers,
		Retention: s.cfg.JobRetention, MaxInputBytes: s.cfg.MaxJobBytes, Resume: s.resumeWork, Public: isPublic, Logger: s.log}
	if s.db.Backend() == store.Postgres {
		// Replicas share the jobs: each runs under a lease.
		cfg.Lease = s.cfg.JobLease
	}
	svc, err := jobs.Start(ctx, st, s.blobs, cfg)
	if err != nil {
		return nil, err
	}
	s.metrics.queueDepth = svc.QueueDepth
	s.metrics.jobsRunning = svc.Running
	return svc, nil
}

// apiMigrations are the API's own tables. Version 3 created the jobs table
// before internal/jobs owned it; it stays, as every released migration does,
// and on a fresh database it still creates the table that the jobs
// component then finds.
func apiMigrations() []store.Migration {
	return []store.Migration{{Version: 1, Name: "evaluation keys", SQL: `
CREATE TABLE eval_keys (
	id         TEXT NOT NULL,
	owner      TEXT NOT NULL,
	preset     TEXT NOT NULL,
	params_id  TEXT NOT NULL,
	size       INTEGER NOT NULL,
	relin      INTEGER NOT NULL,
	galois     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (id, owner)
);`}, {Version: 2, Name: "models", SQL: `
CREATE TABLE models (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);`}, {Version: 3, Name: "jobs", SQL: `
CREATE TABLE jobs (
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
CREATE INDEX jobs_status ON jobs (status);`}}
}

// Handler returns the node's HTTP handler.
func (s *Server) Handler() http.Handler { return s.router }

// NodeID is the node's public key, hex.
func (s *Server) NodeID() string { return s.key.ID() }

// Ledger is the node's DP ledger.
func (s *Server) Ledger() *dp.Ledger { return s.ledger }

// DB is the node's store (for tokens and tests).
func (s *Server) DB() *store.DB { return s.db }

// Shutdown stops taking jobs and waits for running ones until ctx is done;
// then it cancels them (an interrupted asynchronous job is queued again and
// runs after the next start; a synchronous one fails with 503). Call it after
// http.Server.Shutdown, then Close.
func (s *Server) Shutdown(ctx context.Context) {
	if !s.shuttingDown.Swap(true) {
		s.jobs.Shutdown(ctx)
		s.stopMPC()
	}
}

// Close shuts down (immediately, if Shutdown was not called) and releases
// the store.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
	var err error
	s.closeOnce.Do(func() { err = s.db.Close() })
	return err
}

func (s *Server) routes() chi.Router {
	scan := scanBytes()
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.observe, middleware.Recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, fmt.Errorf("%w: no route %s %s", ErrNotFound, r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, schema.NewErrorBody("method_not_allowed", r.Method+" is not allowed on "+r.URL.Path))
	})
	r.Get("/metrics", s.handleMetrics)
	// The auditor's console (package ui): static files, no token needed to
	// load them; the page then calls /v1 with the token it is given.
	console := http.StripPrefix("/ui", ui.Handler())
	r.Get("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently).ServeHTTP)
	r.Get("/ui/*", console.ServeHTTP)
	r.Route("/v1", func(r chi.Router) {
		r.Get("/health", s.handleHealth)
		r.Get("/params", s.handleParams)
		r.Get("/openapi.yaml", s.handleOpenAPI)

		r.With(s.requireRole(RoleClient), s.admit(perByte(uploadFactor), s.cfg.MaxKeyBytes)).Post("/keys", s.handlePostKeys)
		r.With(s.requireRole(RoleClient, RoleAdmin)).Get("/keys/{id}", s.handleGetKey)
		r.With(s.requireRole(RoleClient, RoleAdmin)).Delete("/keys/{id}", s.handleDeleteKey)

		r.With(s.requireRole(RoleClient, RoleAdmin)).Get("/models", s.handleListModels)
		r.With(s.requireRole(RoleClient, RoleAdmin)).Get("/models/{id}", s.handleGetModel)
		r.With(s.requireRole(RoleAdmin), s.admit(perByte(uploadFactor), s.cfg.MaxModelBytes)).Post("/models", s.handlePostModel)
		r.With(s.requireRole(RoleClient), s.admit(perByte(inferFactor), s.cfg.MaxInferBytes)).Post("/models/{id}/infer", s.handleInfer)
		r.With(s.requireRole(RoleClient), s.admit(func(int64) int64 { return scan }, s.cfg.MaxJobBytes)).Post("/jobs", s.handlePostJob)
		r.With(s.requireRole(RoleClient, RoleAdmin)).Get("/jobs/{id}", s.handleGetJob)
		r.With(s.requireRole(RoleClient, RoleAdmin)).Get("/jobs/{id}/result", s.handleJobResult)

		r.With(s.requireRole(RoleAdmin)).Post("/budgets", s.handlePostBudget)
		r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/budgets", s.handleListBudgets)
		r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/budgets/{name}", s.handleGetBudget)
		r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/budgets/{name}/ledger", s.handleBudgetLedger)
		r.With(s.requireRole(RoleAdmin)).Post("/budgets/{name}/grants", s.handlePostGrant)
		r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/budgets/{name}/grants", s.handleListGrants)
		r.With(s.requireRole(RoleAdmin)).Delete("/budgets/{name}/grants/{grantee}", s.handleDeleteGrant)
		r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/audit/checkpoint", s.handleCheckpoint)
		r.With(s.requireRole(RoleAdmin, RoleAuditor)).Get("/audit/export", s.handleAuditExport)

		r.With(s.requireRole(RoleAdmin, RoleClient)).Post("/mpc/sessions", s.handleMPCCreate)
		r.With(s.requireRole(RoleClient, RoleAdmin), s.admit(perByte(mpcInputFactor), maxMPCInputBody)).Post("/mpc/sessions/{id}/input", s.handleMPCInput)
		r.With(s.requireRole(RoleClient, RoleAdmin, RoleAuditor)).Get("/mpc/sessions", s.handleMPCList)
		r.With(s.requireRole(RoleClient, RoleAdmin, RoleAuditor)).Get("/mpc/sessions/{id}", s.handleMPCStatus)
		r.With(s.optionalPeer).Post("/mpc/messages", s.handleMPCMessage)
		s.flRoutes(r)
	})
	return r
}

// observe logs each request (never its body or headers) and records metrics
// under the route pattern.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		labels := fmt.Sprintf(`route="%s",method="%s"`, labelValue(route), r.Method)
		s.metrics.requests.Inc(labels + `,status="` + strconv.Itoa(rec.status) + `"`)
		s.metrics.latency.Observe(labels, d.Seconds())
		s.metrics.bytesOut.Add(rec.bytes)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("id", middleware.GetReqID(r.Context())),
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", rec.status), slog.Float64("seconds", seconds(d)), slog.Int64("bytes_out", rec.bytes))
	})
}

type healthResponse struct {
	Status      string  `json:"status"`
	Version     string  `json:"version"`
	NodeID      string  `json:"node_id"`
	Accel       string  `json:"accel"`
	AccelDevice string  `json:"accel_device"`
	Uptime      float64 `json:"uptime_seconds"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: s.cfg.Version, NodeID: s.NodeID(),
		Accel: s.cfg.Accel.Name(), AccelDevice: s.cfg.Accel.Device(), Uptime: seconds(time.Since(s.started))})
}

// presetInfo is a preset as GET /v1/params lists it: the summary and the
// parameters in lattigo's own JSON, from which any lattigo program builds
// the identical ckks.Parameters. The params ID (Info.ID) is the SHA-256 of
// ckks.Parameters.MarshalJSON's bytes; writeJSON indents Lattigo, so a
// client hashes it re-encoded, not as it arrives.
type presetInfo struct {
	he.Info
	Lattigo json.RawMessage `json:"lattigo"`
}

func (s *Server) handleParams(w http.ResponseWriter, r *http.Request) {
	var infos []presetInfo
	for _, name := range he.PresetNames() {
		p, err := he.PresetByName(name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		js, err := p.MarshalJSON()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		infos = append(infos, presetInfo{Info: p.Info(), Lattigo: js})
	}
	writeJSON(w, http.StatusOK, map[string]any{"presets": infos, "limits": s.limits()})
}

// limits are the body limits the node's routes apply.
func (s *Server) limits() schema.Limits {
	l := schema.Limits{InferBytes: s.cfg.MaxInferBytes, JobBytes: s.cfg.MaxJobBytes,
		ModelBytes: min(s.cfg.MaxModelBytes, inference.MaxModelBytes), KeyBytes: map[string]int64{},
		JSONBytes: maxJSONBody, MPCInputBytes: maxMPCInputBody, MPCMessageBytes: mpc.MaxMessageSize}
	for _, name := range he.PresetNames() {
		if p, err := he.PresetByName(name); err == nil {
			l.KeyBytes[name] = s.keyBodyLimit(p)
		}
	}
	return l
}

// keyBodyLimit is the largest evaluation key upload for preset p: the
// largest set its Galois key limits allow, or MaxKeyBytes if smaller.
func (s *Server) keyBodyLimit(p he.Parameters) int64 {
	return min(int64(he.MaxEvaluationKeySetBytes(p, s.cfg.KeyLimits)), s.cfg.MaxKeyBytes)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.metrics.write(w)
}
