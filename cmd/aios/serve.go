package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/internal/store"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the node's HTTP API on a data directory",
		usage:   "--data-dir DIR [--addr 127.0.0.1:8080] [--model FILE]… [--tls-cert F --tls-key F | --insecure] [--peers FILE [--peer-tokens FILE] [--require-peer-token]] [--node-key FILE]",
		new:     func() runner { return new(serveCmd) },
	})
}

// serveCmd is `aios serve`.
type serveCmd struct {
	dataDir, db, addr, certFile, keyFile, logFormat, logLevel, readyFile string
	modelFiles                                                           stringList
	grace, retention, jobLease                                           time.Duration
	queue, burst                                                         int
	rate                                                                 float64
	maxInfer, keyCache, maxMemory, minBodyRate                           int64
	bodyGrace, earlyInputTTL                                             time.Duration
	insecure                                                             bool
	maxConns, maxConnsPerAddr                                            int
	mpc                                                                  mpcServeFlags
	fl                                                                   flServeFlags
}

func (c *serveCmd) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "", "the node's data directory (created if missing)")
	dbFlag(fs, &c.db)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port; the address is logged)")
	fs.Var(&c.modelFiles, "model", "model file to serve (repeatable; also kept in the data directory)")
	fs.StringVar(&c.certFile, "tls-cert", "", "TLS certificate (PEM)")
	fs.StringVar(&c.keyFile, "tls-key", "", "TLS private key (PEM)")
	fs.BoolVar(&c.insecure, "insecure", false, "serve plain HTTP on an address that is not loopback (tokens, keys and results cross the network in the clear)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.grace, "shutdown-grace", 30*time.Second, "how long running jobs get to finish on shutdown")
	fs.IntVar(&c.queue, "queue", 16, "bounded job queue size")
	fs.DurationVar(&c.retention, "job-retention", 24*time.Hour, "how long finished jobs and their encrypted results are kept")
	fs.DurationVar(&c.jobLease, "job-lease", 30*time.Second, "with --db: how long a replica holds a job between renewals; a job whose replica died is taken over that long after")
	fs.Float64Var(&c.rate, "rate", 50, "requests per second per token (negative: unlimited)")
	fs.IntVar(&c.burst, "burst", 100, "burst per token")
	fs.Int64Var(&c.maxInfer, "max-infer-bytes", 64<<20, "largest /infer request body")
	fs.Int64Var(&c.keyCache, "key-cache-bytes", 2<<30, "memory for deserialized evaluation keys")
	fs.Int64Var(&c.maxMemory, "max-memory", 2<<30, "memory budget for request bodies and what they decode to; beyond it requests get 503 with Retry-After")
	fs.DurationVar(&c.bodyGrace, "body-grace", 10*time.Second, "time every request body gets before --min-body-rate applies")
	fs.Int64Var(&c.minBodyRate, "min-body-rate", 64<<10, "bytes per second a request body must average after --body-grace (slower: 408)")
	fs.DurationVar(&c.earlyInputTTL, "early-input-ttl", 5*time.Minute, "how long an MPC input given before its session is known waits for it")
	fs.IntVar(&c.maxConns, "max-conns", 1024, "connections open at once (more wait to be accepted; 0: no limit)")
	fs.IntVar(&c.maxConnsPerAddr, "max-conns-per-addr", 256, "connections open at once from one IP address (more are closed; 0: no limit)")
	fs.StringVar(&c.readyFile, "ready-file", "", "write the listening address to this file once serving (for scripts)")
	c.mpc.declare(fs)
	c.fl.declare(fs)
}

func (c *serveCmd) run(ctx context.Context, e *env) error {
	if c.dataDir == "" {
		return usagef("--data-dir is required")
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if err := c.checkPlaintext(e); err != nil {
		return err
	}
	logger, err := newLogger(e.stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	// Two nodes on one data directory would both run its jobs and answer
	// for its key: the directory has one server, for the process's life.
	lock, err := store.LockDir(c.dataDir)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w: stop that aios serve first, or give this node a data directory of its own", err)
	}
	if err != nil {
		return err
	}
	defer lock.Unlock()
	backend, err := accel.Select()
	if err != nil {
		return err
	}
	srv, err := c.newServer(ctx, logger, backend)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := c.addModels(ctx, srv, logger); err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	ln, url, err := c.listen(hs, srv)
	if err != nil {
		return err
	}
	logger.Info("serving", "url", url, "node_id", srv.NodeID(), "accel", backend.Name(), "data_dir", c.dataDir,
		"console", url+"/ui/")
	if c.readyFile != "" {
		if err := os.WriteFile(c.readyFile, []byte(url+"\n"), 0o644); err != nil {
			return err
		}
	}
	return c.serve(ctx, hs, ln, srv, logger)
}

func (c *serveCmd) newServer(ctx context.Context, logger *slog.Logger, backend accel.Backend) (*api.Server, error) {
	mpcCfg, err := c.mpc.config()
	if err != nil {
		return nil, err
	}
	if err := c.mpc.markCheater(c.dataDir); err != nil {
		return nil, err
	}
	if mpcCfg != nil {
		mpcCfg.EarlyInputs.TTL = c.earlyInputTTL
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Let the collector work harder before the heap outgrows what the
		// node budgets for: requests, the key cache and a base.
		debug.SetMemoryLimit(c.maxMemory + c.keyCache + 512<<20)
	}
	flCfg, err := c.fl.config(mpcCfg != nil)
	if err != nil {
		return nil, err
	}
	return api.New(ctx, api.Config{DataDir: c.dataDir, DB: c.db, Version: version, Logger: logger, NodeKeyFile: c.mpc.nodeKey, MPC: mpcCfg, FL: flCfg,
		Accel: backend, QueueSize: c.queue, JobRetention: c.retention, JobLease: c.jobLease,
		RatePerSecond: c.rate, RateBurst: c.burst, MaxInferBytes: c.maxInfer, KeyCacheBytes: c.keyCache,
		MaxMemory: c.maxMemory, BodyReadGrace: c.bodyGrace, MinBodyRate: c.minBodyRate})
}

func (c *serveCmd) addModels(ctx context.Context, srv *api.Server, logger *slog.Logger) error {
	for _, f := range c.modelFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		info, err := srv.AddModel(ctx, b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		logger.Info("model", "id", info.ID, "name", info.Name, "preset", info.Preset, "features", info.Features, "classes", len(info.Classes))
	}
	return nil
}

// checkPlaintext refuses plain HTTP on an address that other machines can
// reach, unless --insecure is given, and then warns: bearer tokens would
// cross the network in the clear. Loopback needs no TLS.
func (c *serveCmd) checkPlaintext(e *env) error {
	if c.certFile != "" || isLoopback(c.addr) {
		return nil
	}
	if !c.insecure {
		return usagef("--addr %s is not a loopback address and no --tls-cert is given: bearer tokens would cross the network in the clear; "+
			"give --tls-cert and --tls-key, or --insecure to serve plain HTTP anyway", c.addr)
	}
	fmt.Fprintf(e.stderr, "WARNING: serving plain HTTP on %s, which is not a loopback address (--insecure): "+
		"bearer tokens, evaluation keys and results cross the network unencrypted and unauthenticated; use --tls-cert and --tls-key\n", c.addr)
	return nil
}

// isLoopback reports whether the listen address addr is on a loopback
// interface only: 127.0.0.0/8, ::1 or localhost. An empty host (every
// interface) is not; an address that does not parse is left to net.Listen
// to refuse.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listen opens the listener, with the connection limits and TLS when a
// certificate is given, and returns it with the node's URL.
func (c *serveCmd) listen(hs *http.Server, srv *api.Server) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, "", err
	}
	ln = srv.LimitConnections(ln, c.maxConns, c.maxConnsPerAddr)
	scheme := "http"
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			ln.Close()
			return nil, "", err
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	return ln, scheme + "://" + ln.Addr().String(), nil
}

// serve serves until ctx is done, then shuts down within --shutdown-grace.
func (c *serveCmd) serve(ctx context.Context, hs *http.Server, ln net.Listener, srv *api.Server, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", c.grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.grace)
	defer cancel()
	srv.Shutdown(sctx) // let running jobs finish, or requeue them
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	logger.Info("stopped")
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format must be text or json")
}
