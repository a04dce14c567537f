package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/store"
)

// Role is what a bearer token may do.
type Role string

// The roles. A client owns evaluation keys and inference jobs and sees only
// its own; a peer takes part in MPC sessions; an auditor reads budgets and
// the audit log; an admin manages models, budgets and tokens.
const (
	RoleClient  Role = "client"
	RolePeer    Role = "peer"
	RoleAuditor Role = "auditor"
	RoleAdmin   Role = "admin"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleClient, RolePeer, RoleAuditor, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("%w: unknown role %q (client, peer, auditor, admin)", ErrBadRequest, s)
}

// Principal is the authenticated caller.
type Principal struct {
	TokenID string
	Role    Role
}

// grantees are the names a grant or a session's access list may give p:
// its token and its role.
func (p Principal) grantees() []string {
	return []string{p.token(), "role:" + string(p.Role)}
}

// token is p's grantee name, "token:<id>".
func (p Principal) token() string { return "token:" + p.TokenID }

// spender is p as the payer of a release: it needs a grant of the budget,
// unless it is an admin (admins create budgets and grants, so they could
// grant themselves anyway).
func (p Principal) spender() *dp.Spender {
	return &dp.Spender{Name: p.token(), Grantees: p.grantees(), Unrestricted: p.Role == RoleAdmin}
}

// RoleError is the 403 of a route that the caller's role may not use; it
// names the roles the route needs.
type RoleError struct {
	Need []Role
	Have Role
}

func (e *RoleError) Error() string {
	names := make([]string, len(e.Need))
	for i, r := range e.Need {
		names[i] = string(r)
	}
	need := names[len(names)-1]
	if len(names) > 1 {
		need = strings.Join(names[:len(names)-1], ", ") + " or " + need
	}
	return fmt.Sprintf("this route needs role %s (this token's role is %s)", need, e.Have)
}

func (e *RoleError) Unwrap() error { return ErrForbidden }

type principalKey struct{}

func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

const tokenPrefix = "aios_"

// tokenHash is what the store keeps of a token: SHA-256 of the whole token.
// Tokens carry 256 random bits, so a fast hash is enough (there is nothing
// to brute-force).
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func authMigrations() []store.Migration {
	return []store.Migration{{Version: 1, Name: "tokens", SQL: `
CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	role       TEXT NOT NULL,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);`}}
}

// TokenInfo describes a token without its secret.
type TokenInfo struct {
	ID        string    `json:"id"`
	Role      Role      `json:"role"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateToken makes a token with role, stores its hash and returns the
// token, shown this once.
func CreateToken(ctx context.Context, db *store.DB, role Role, name string) (string, TokenInfo, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return "", TokenInfo{}, err
	}
	if err := db.Migrate(ctx, "auth", authMigrations()); err != nil {
		return "", TokenInfo{}, err
	}
	var idb [8]byte
	var secret [32]byte
	rand.Read(idb[:])
	rand.Read(secret[:])
	info := TokenInfo{ID: hex.EncodeToString(idb[:]), Role: role, Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	token := tokenPrefix + info.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	_, err := db.SQL().ExecContext(ctx, `INSERT INTO tokens (id, hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)`,
		info.ID, tokenHash(token), string(role), name, info.CreatedAt.Unix())
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("api: store token: %w", err)
	}
	return token, info, nil
}

// LookupToken returns the token with the given ID, or ErrNotFound.
func LookupToken(ctx context.Context, db *store.DB, id string) (TokenInfo, error) {
	if err := db.Migrate(ctx, "auth", authMigrations()); err != nil {
		return TokenInfo{}, err
	}
	info := TokenInfo{ID: id}
	var role string
	var created int64
	err := db.SQL().QueryRowContext(ctx, `SELECT role, name, created_at FROM tokens WHERE id = ?`, id).Scan(&role, &info.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("%w: no token with id %q", ErrNotFound, id)
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("api: look up token: %w", err)
	}
	info.Role, info.CreatedAt = Role(role), time.Unix(created, 0).UTC()
	return info, nil
}

// authenticate resolves a bearer token; every failure is the same opaque
// ErrUnauthenticated.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return Principal{}, ErrUnauthenticated
	}
	var p Principal
	var role string
	err := s.db.SQL().QueryRowContext(r.Context(), `SELECT id, role FROM tokens WHERE hash = ?`, tokenHash(token)).Scan(&p.TokenID, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("api: look up token: %w", err)
	}
	p.Role = Role(role)
	return p, nil
}

// requireRole authenticates the caller, applies its rate limit, and lets
// through only the given roles.
func (s *Server) requireRole(roles ...Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := s.authenticate(r)
			if err != nil {
				s.metrics.authFailures.Inc()
				s.writeError(w, r, err)
				return
			}
			if !s.limiter.allow(p.TokenID) {
				w.Header().Set("Retry-After", "1")
				s.writeError(w, r, ErrRateLimited)
				return
			}
			for _, role := range roles {
				if p.Role == role {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
					return
				}
			}
			s.writeError(w, r, &RoleError{Need: roles, Have: p.Role})
		})
	}
}

// rateLimiter is a token bucket per token ID: rate requests per second with
// bursts of burst.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}, now: time.Now}
}

func (l *rateLimiter) allow(key string) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
