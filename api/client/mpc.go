package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

// CreateMPCSession is POST /v1/mpc/sessions: the node proposes the session
// and coordinates it.
func (c *Client) CreateMPCSession(ctx context.Context, req schema.MPCSessionRequest) (*schema.MPCSessionStatus, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	b, _, err := c.do(ctx, http.MethodPost, "/v1/mpc/sessions", nil, "application/json", body)
	if err != nil {
		return nil, err
	}
	var st schema.MPCSessionStatus
	return &st, json.Unmarshal(b, &st)
}

// MPCInput is POST /v1/mpc/sessions/{id}/input: this node's private vector.
func (c *Client) MPCInput(ctx context.Context, session string, in schema.MPCInputRequest) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("client: encode input: %w", err)
	}
	_, _, err = c.do(ctx, http.MethodPost, "/v1/mpc/sessions/"+url.PathEscape(session)+"/input", nil, "application/json", body)
	clear(body)
	return err
}

// MPCSession is GET /v1/mpc/sessions/{id}.
func (c *Client) MPCSession(ctx context.Context, session string) (*schema.MPCSessionStatus, error) {
	var st schema.MPCSessionStatus
	return &st, c.getJSON(ctx, "/v1/mpc/sessions/"+url.PathEscape(session), nil, &st)
}

// WaitMPCSession polls a session every interval until it is done or
// failed; progress (if not nil) sees every state.
func (c *Client) WaitMPCSession(ctx context.Context, session string, interval time.Duration, progress func(*schema.MPCSessionStatus)) (*schema.MPCSessionStatus, error) {
	for {
		st, err := c.MPCSession(ctx, session)
		if err != nil {
			return st, err
		}
		if progress != nil {
			progress(st)
		}
		switch st.State {
		case "done":
			return st, nil
		case "failed":
			return st, fmt.Errorf("client: mpc session %s failed: %s", session, st.Error)
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// CreateBudget is POST /v1/budgets (admin): a privacy budget of total ε
// (a decimal such as "1.5").
func (c *Client) CreateBudget(ctx context.Context, name, epsilon, description string) error {
	body, err := json.Marshal(map[string]string{"name": name, "epsilon": epsilon, "description": description})
	if err != nil {
		return err
	}
	_, _, err = c.do(ctx, http.MethodPost, "/v1/budgets", nil, "application/json", body)
	return err
}
