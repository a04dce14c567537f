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
	"strings"
	"time"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/internal/store"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func init() {
	register(&command{
		name:    "serve",
		summary: "run the node's HTTP API on a data directory",
		usage:   "--data-dir DIR [--addr 127.0.0.1:8080] [--model FILE]… [--tls-cert F --tls-key F] [--peers FILE [--peer-tokens FILE] [--require-peer-token]] [--node-key FILE]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			dataDir := fs.String("data-dir", "", "the node's data directory (created if missing)")
			addr := fs.String("addr", "127.0.0.1:8080", "listen address (port 0 picks a free port; the address is logged)")
			var modelFiles stringList
			fs.Var(&modelFiles, "model", "model file to serve (repeatable; also kept in the data directory)")
			certFile := fs.String("tls-cert", "", "TLS certificate (PEM)")
			keyFile := fs.String("tls-key", "", "TLS private key (PEM)")
			logFormat := fs.String("log-format", "text", "log format: text or json")
			logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
			grace := fs.Duration("shutdown-grace", 30*time.Second, "how long running jobs get to finish on shutdown")
			queue := fs.Int("queue", 16, "bounded job queue size")
			retention := fs.Duration("job-retention", 24*time.Hour, "how long finished jobs and their encrypted results are kept")
			rate := fs.Float64("rate", 50, "requests per second per token (negative: unlimited)")
			burst := fs.Int("burst", 100, "burst per token")
			maxInfer := fs.Int64("max-infer-bytes", 64<<20, "largest /infer request body")
			keyCache := fs.Int64("key-cache-bytes", 2<<30, "memory for deserialized evaluation keys")
			readyFile := fs.String("ready-file", "", "write the listening address to this file once serving (for scripts)")
			mpcFlags := declareMPCServeFlags(fs)
			return func(ctx context.Context, e *env) error {
				if *dataDir == "" {
					return usagef("--data-dir is required")
				}
				if (*certFile == "") != (*keyFile == "") {
					return usagef("--tls-cert and --tls-key go together")
				}
				logger, err := newLogger(e.stderr, *logFormat, *logLevel)
				if err != nil {
					return err
				}
				backend, err := accel.Select()
				if err != nil {
					return err
				}
				mpcCfg, err := mpcFlags.config()
				if err != nil {
					return err
				}
				srv, err := api.New(ctx, api.Config{DataDir: *dataDir, Version: version, Logger: logger, NodeKeyFile: *mpcFlags.nodeKey, MPC: mpcCfg,
					AccelName: backend.Name(), AccelDevice: backend.Device(), QueueSize: *queue, JobRetention: *retention,
					RatePerSecond: *rate, RateBurst: *burst, MaxInferBytes: *maxInfer, KeyCacheBytes: *keyCache})
				if err != nil {
					return err
				}
				defer srv.Close()
				for _, f := range modelFiles {
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
				ln, err := net.Listen("tcp", *addr)
				if err != nil {
					return err
				}
				hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
					ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
				scheme := "http"
				if *certFile != "" {
					cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
					if err != nil {
						return err
					}
					hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
					ln = tls.NewListener(ln, hs.TLSConfig)
					scheme = "https"
				}
				url := scheme + "://" + ln.Addr().String()
				logger.Info("serving", "url", url, "node_id", srv.NodeID(), "accel", backend.Name(), "data_dir", *dataDir)
				if *readyFile != "" {
					if err := os.WriteFile(*readyFile, []byte(url+"\n"), 0o644); err != nil {
						return err
					}
				}
				errc := make(chan error, 1)
				go func() { errc <- hs.Serve(ln) }()
				select {
				case err := <-errc:
					return err
				case <-ctx.Done():
				}
				logger.Info("shutting down", "grace", grace.String())
				sctx, cancel := context.WithTimeout(context.Background(), *grace)
				defer cancel()
				srv.Shutdown(sctx) // let running jobs finish, or requeue them
				if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				logger.Info("stopped")
				return nil
			}
		},
	})

	register(&command{
		name:    "token",
		summary: "create a bearer token for a role (client, peer, auditor, admin) on a node's data directory",
		usage:   "create --role ROLE [--name NAME] --data-dir DIR [--json]",
		flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
			dataDir := fs.String("data-dir", "", "the node's data directory")
			role := fs.String("role", "", "client, peer, auditor or admin")
			name := fs.String("name", "", "a label for the token")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *env) error {
				if len(e.args) != 1 || e.args[0] != "create" {
					return usagef("the only subcommand is create")
				}
				if *dataDir == "" || *role == "" {
					return usagef("--data-dir and --role are required")
				}
				r, err := api.ParseRole(*role)
				if err != nil {
					return usagef("%v", err)
				}
				db, err := store.Open(ctx, *dataDir)
				if err != nil {
					return err
				}
				defer db.Close()
				tok, info, err := api.CreateToken(ctx, db, r, *name)
				if err != nil {
					return err
				}
				res := struct {
					Token string `json:"token"`
					api.TokenInfo
				}{tok, info}
				return report(e.stdout, *asJSON, res, func(w io.Writer) error {
					_, err := fmt.Fprintln(w, tok)
					return err
				})
			}
		},
	})
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
