// Package client is the Go SDK of the aios node API (see the OpenAPI
// document served at /v1/openapi.yaml). [New] makes a client for a node URL
// and bearer token; its methods map one-to-one onto the routes, and
// [Client.EnsureKeys] then [Client.InferSamples] run the whole
// encrypted-inference flow for the caller's samples: keys, encrypt,
// submit, decrypt (see the example).
//
// Requests answered 429 (rate limit, full queue) are retried after the
// server's Retry-After, up to Options.MaxRetries times.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

// Error is a non-2xx answer of the node.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("aios node: %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrNotFound is matched (errors.Is) by a 404 Error.
var ErrNotFound = errors.New("not found")

// Is lets errors.Is(err, ErrNotFound) hold for 404s.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// Options tunes a client.
type Options struct {
	HTTPClient *http.Client  // default: http.DefaultClient
	MaxRetries int           // retries of a 429; default 5, negative for none
	MaxBackoff time.Duration // cap on one wait; default 10s
	// MaxResponseBytes bounds a response body (default 1 GiB).
	MaxResponseBytes int64
	// MaxSyncRequestBytes is the largest request InferSamples sends to the
	// synchronous /infer route (default 48 MiB; the node's default limit
	// there is 64 MiB); larger ones go through /jobs and are polled.
	MaxSyncRequestBytes int64
}

// Client talks to one node with one token. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	opt   Options
}

// New returns a client for the node at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL, token string, opt Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: bad node URL %q", baseURL)
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = http.DefaultClient
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 5
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 10 * time.Second
	}
	if opt.MaxResponseBytes <= 0 {
		opt.MaxResponseBytes = 1 << 30
	}
	if opt.MaxSyncRequestBytes <= 0 {
		opt.MaxSyncRequestBytes = 48 << 20
	}
	return &Client{base: u, token: token, opt: opt}, nil
}

// do sends a request and returns the response body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) ([]byte, http.Header, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.opt.HTTPClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		b, err := readResponse(resp, c.opt.MaxResponseBytes)
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		if int64(len(b)) > c.opt.MaxResponseBytes {
			return nil, nil, fmt.Errorf("client: response larger than %d bytes", c.opt.MaxResponseBytes)
		}
		if resp.StatusCode/100 == 2 {
			return b, resp.Header, nil
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < c.opt.MaxRetries {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			wait = min(wait<<min(attempt, 4), c.opt.MaxBackoff)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		e := &Error{Status: resp.StatusCode}
		var eb schema.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		} else {
			e.Code, e.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(b[:min(len(b), 200)]))
		}
		return nil, nil, e
	}
}

// readResponse reads resp's body, at most limit+1 bytes of it (so that a
// longer one shows): into one buffer of the announced length where the
// node sent one within limit (net/http holds the body to it), else as it
// comes.
func readResponse(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= limit {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}

func (c *Client) getJSON(ctx context.Context, path string, query url.Values, v any) error {
	b, _, err := c.do(ctx, http.MethodGet, path, query, "", nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Health is GET /v1/health.
func (c *Client) Health(ctx context.Context) (map[string]any, error) {
	var h map[string]any
	return h, c.getJSON(ctx, "/v1/health", nil, &h)
}

// UploadKeys is POST /v1/keys: evk is an evaluation key set for preset,
// in lattigo's MemEvaluationKeySet encoding or the seeded one
// (he.EvaluationKeySet.MarshalSeeded).
func (c *Client) UploadKeys(ctx context.Context, preset string, evk []byte) (schema.KeyInfo, error) {
	var info schema.KeyInfo
	b, _, err := c.do(ctx, http.MethodPost, "/v1/keys", url.Values{"preset": {preset}}, "application/octet-stream", evk)
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// Key is GET /v1/keys/{id}.
func (c *Client) Key(ctx context.Context, id string) (schema.KeyInfo, error) {
	var info schema.KeyInfo
	return info, c.getJSON(ctx, "/v1/keys/"+url.PathEscape(id), nil, &info)
}

// DeleteKey is DELETE /v1/keys/{id}.
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	_, _, err := c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, "", nil)
	return err
}

// Models is GET /v1/models.
func (c *Client) Models(ctx context.Context) ([]schema.ModelInfo, error) {
	var res struct {
		Models []schema.ModelInfo `json:"models"`
	}
	return res.Models, c.getJSON(ctx, "/v1/models", nil, &res)
}

// Model is GET /v1/models/{id}.
func (c *Client) Model(ctx context.Context, id string) (schema.ModelInfo, error) {
	var info schema.ModelInfo
	return info, c.getJSON(ctx, "/v1/models/"+url.PathEscape(id), nil, &info)
}

// AddModel is POST /v1/models (admin).
func (c *Client) AddModel(ctx context.Context, file []byte) (schema.ModelInfo, error) {
	var info schema.ModelInfo
	b, _, err := c.do(ctx, http.MethodPost, "/v1/models", nil, "application/octet-stream", file)
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// Infer is POST /v1/models/{id}/infer: batch is a ciphertext batch (see the
// he package's ciphertext file format); the answer is the encrypted outputs
// in the same framing.
func (c *Client) Infer(ctx context.Context, modelID, keyID, packing string, batch []byte) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodPost, "/v1/models/"+url.PathEscape(modelID)+"/infer",
		url.Values{"key": {keyID}, "packing": {packing}}, schema.CiphertextMediaType, batch)
	return b, err
}

// SubmitJob is POST /v1/jobs.
func (c *Client) SubmitJob(ctx context.Context, modelID, keyID, packing string, batch []byte) (schema.JobInfo, error) {
	var info schema.JobInfo
	b, _, err := c.do(ctx, http.MethodPost, "/v1/jobs", url.Values{"model": {modelID}, "key": {keyID}, "packing": {packing}}, schema.CiphertextMediaType, batch)
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// Job is GET /v1/jobs/{id}.
func (c *Client) Job(ctx context.Context, id string) (schema.JobInfo, error) {
	var info schema.JobInfo
	return info, c.getJSON(ctx, "/v1/jobs/"+url.PathEscape(id), nil, &info)
}

// JobResult is GET /v1/jobs/{id}/result.
func (c *Client) JobResult(ctx context.Context, id string) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/result", nil, "", nil)
	return b, err
}

// WaitJob polls a job every interval until it is done or failed; progress
// (if not nil) sees every state.
func (c *Client) WaitJob(ctx context.Context, id string, interval time.Duration, progress func(schema.JobInfo)) (schema.JobInfo, error) {
	for {
		info, err := c.Job(ctx, id)
		if err != nil {
			return info, err
		}
		if progress != nil {
			progress(info)
		}
		switch info.Status {
		case schema.JobDone:
			return info, nil
		case schema.JobFailed:
			return info, fmt.Errorf("client: job %s failed: %s", id, info.Error)
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return info, ctx.Err()
		}
	}
}

// AuditExport is GET /v1/audit/export: the ledger as the dp package's audit
// document (JSON), to verify with dp.VerifyExport against the node's key.
func (c *Client) AuditExport(ctx context.Context) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/v1/audit/export", nil, "", nil)
	return b, err
}
