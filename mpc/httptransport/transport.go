package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aios-edge/aios/mpc"
)

// MessagesPath is where a node receives mpc messages (POST, body: one
// message's wire form, at most mpc.MaxMessageSize bytes).
const MessagesPath = "/v1/mpc/messages"

// ContentType is the media type of a message body.
const ContentType = "application/x-aios-mpc"

var (
	// ErrUnknownPeer reports a recipient that is not in the peers list.
	ErrUnknownPeer = errors.New("httptransport: recipient is not a known peer")
	// ErrRejected reports a message the peer refused (a 4xx answer); it is
	// not retried.
	ErrRejected = errors.New("httptransport: peer rejected the message")
	// ErrUnavailable reports a peer that could not be reached, or answered
	// with a transient error, on every attempt.
	ErrUnavailable = errors.New("httptransport: peer unavailable")
)

// Options tunes a Transport. Zero values mean the defaults.
type Options struct {
	// Client sends the requests (default: a client of its own).
	Client *http.Client
	// AttemptTimeout bounds one attempt, body upload included (default
	// 30 s); the context passed to Send bounds them all.
	AttemptTimeout time.Duration
	// Retries is how many times a transient failure (a network error,
	// 429, 502, 503, 504) is retried (default 3; negative: never).
	Retries int
	// Backoff is the wait before the first retry, doubled after each
	// (default 100 ms).
	Backoff time.Duration
	// Token, when set, returns a bearer token to send to a peer ("" for
	// none): for peers whose API requires a peer token on messages.
	Token func(to mpc.NodeID) string
}

// Transport is an mpc.Transport over HTTP. It is safe for concurrent use.
type Transport struct {
	peers map[mpc.NodeID]Peer
	opt   Options
}

var _ mpc.Transport = (*Transport)(nil)

// New returns a transport that reaches the given peers.
func New(peers []Peer, opt Options) *Transport {
	if opt.Client == nil {
		opt.Client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 0,
		}}
	}
	if opt.AttemptTimeout <= 0 {
		opt.AttemptTimeout = 30 * time.Second
	}
	if opt.Retries == 0 {
		opt.Retries = 3
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 100 * time.Millisecond
	}
	m := make(map[mpc.NodeID]Peer, len(peers))
	for _, p := range peers {
		m[p.ID] = p
	}
	return &Transport{peers: m, opt: opt}
}

// Peer returns the peer with id, if known.
func (t *Transport) Peer(id mpc.NodeID) (Peer, bool) {
	p, ok := t.peers[id]
	return p, ok
}

// Send POSTs msg to the peer's MessagesPath and returns once the peer has
// accepted it (2xx). A 409 "replay" answer to a retry counts as delivered:
// the earlier attempt arrived and only its answer was lost.
func (t *Transport) Send(ctx context.Context, to mpc.NodeID, msg []byte) error {
	p, ok := t.peers[to]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, to.Short())
	}
	if len(msg) > mpc.MaxMessageSize {
		return fmt.Errorf("%w: %s: message of %d bytes exceeds %d", ErrRejected, p.Label(), len(msg), mpc.MaxMessageSize)
	}
	target := p.URL.JoinPath(MessagesPath).String()
	wait := t.opt.Backoff
	var last error
	for attempt := 0; ; attempt++ {
		status, code, err := t.attempt(ctx, target, to, msg)
		switch {
		case err == nil && status/100 == 2:
			return nil
		case err == nil && status == http.StatusConflict && code == "replay" && attempt > 0:
			return nil
		case err == nil && !transientStatus(status):
			return fmt.Errorf("%w: %s answered %d %s", ErrRejected, p.Label(), status, code)
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %s: %w", ErrUnavailable, p.Label(), ctx.Err())
			}
			last = err
		default:
			last = fmt.Errorf("answered %d %s", status, code)
		}
		if t.opt.Retries < 0 || attempt >= t.opt.Retries {
			return fmt.Errorf("%w: %s after %d attempts: %v", ErrUnavailable, p.Label(), attempt+1, last)
		}
		select {
		case <-time.After(wait):
			wait *= 2
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, p.Label(), ctx.Err())
		}
	}
}

// attempt makes one request and returns the status and the error code of
// the answer (from the API's JSON error body, if any).
func (t *Transport) attempt(ctx context.Context, target string, to mpc.NodeID, msg []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opt.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(msg))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", ContentType)
	if t.opt.Token != nil {
		if tok := t.opt.Token(to); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := t.opt.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, errorCode(b), nil
}

func transientStatus(s int) bool {
	switch s {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// errorCode extracts a short error code from an API error body; it keeps
// only [a-z0-9_] so that a peer cannot inject text into our logs.
func errorCode(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	c := e.Error.Code
	if len(c) > 32 {
		return ""
	}
	for _, r := range []byte(c) {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_') {
			return ""
		}
	}
	return c
}
