package api

import (
	"fmt"
	"testing"

	"github.com/aios-edge/aios/inference"
)

// FuzzRequestBodies sends arbitrary bodies to every route that decodes one
// (JSON, evaluation keys, models, ciphertext batches, MPC messages and
// inputs) with a token of a role allowed there. The node must answer every
// one with a 4xx and an error body — never a 5xx, never a panic.
//
//	go test ./api -run '^$' -fuzz FuzzRequestBodies -fuzztime 60s
func FuzzRequestBodies(f *testing.F) {
	n, fix, info, keyID := inferNode(f, Config{RatePerSecond: -1})
	_, batch := encryptFor(f, fix, inference.Batch, fix.samples[:1])
	evk, _ := testKeys(f).Evaluation.MarshalBinary()
	routes := []struct {
		method, path string
		role         Role
	}{
		{"POST", "/v1/budgets", RoleAdmin},
		{"POST", "/v1/keys?preset=n12", RoleClient},
		{"POST", "/v1/models", RoleAdmin},
		{"POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, keyID), RoleClient},
		{"POST", fmt.Sprintf("/v1/jobs?model=%s&key=%s&packing=single", info.ID, keyID), RoleClient},
		{"POST", "/v1/mpc/sessions", RoleAdmin},
		{"POST", "/v1/mpc/sessions/00/input", RoleClient},
		{"POST", "/v1/mpc/messages", RolePeer},
	}
	f.Add(uint8(0), []byte(`{"name":"a","epsilon":"1"}`))
	f.Add(uint8(1), evk[:200])
	f.Add(uint8(2), fix.file)
	f.Add(uint8(3), batch[:300])
	f.Add(uint8(4), batch[:64])
	f.Add(uint8(5), []byte(`{"threshold":2,"operation":"sum","dimension":3}`))
	f.Add(uint8(6), []byte(`{"values":[1,2,3]}`))
	f.Add(uint8(7), []byte("AMPC\x01"))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r := routes[int(which)%len(routes)]
		resp, b := n.doWith(t, r.method, r.path, n.tokens[r.role], body)
		if resp.StatusCode >= 500 && resp.StatusCode != 501 && resp.StatusCode != 503 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, resp.StatusCode, b)
		}
	})
}
