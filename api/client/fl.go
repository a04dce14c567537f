package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/aios-edge/aios/api/schema"
)

// CreateFederation is POST /v1/fl/federations: a federation the node
// coordinates.
func (c *Client) CreateFederation(ctx context.Context, req schema.FLFederationRequest) (*schema.FLFederationStatus, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	b, _, err := c.do(ctx, http.MethodPost, "/v1/fl/federations", nil, "application/json", body)
	if err != nil {
		return nil, err
	}
	var st schema.FLFederationStatus
	return &st, json.Unmarshal(b, &st)
}

// Federation is GET /v1/fl/federations/{id}.
func (c *Client) Federation(ctx context.Context, id string) (*schema.FLFederationStatus, error) {
	var st schema.FLFederationStatus
	return &st, c.getJSON(ctx, "/v1/fl/federations/"+url.PathEscape(id), nil, &st)
}

// FederationGlobal is GET /v1/fl/federations/{id}/global: the current
// global model.
func (c *Client) FederationGlobal(ctx context.Context, id string) (*schema.FLGlobal, error) {
	var g schema.FLGlobal
	return &g, c.getJSON(ctx, "/v1/fl/federations/"+url.PathEscape(id)+"/global", nil, &g)
}

// FederationModel is GET /v1/fl/federations/{id}/model: the final .aios
// model file.
func (c *Client) FederationModel(ctx context.Context, id string) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/v1/fl/federations/"+url.PathEscape(id)+"/model", nil, "", nil)
	return b, err
}
