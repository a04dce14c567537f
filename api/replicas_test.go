package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/internal/store/storetest"
)

// replicaPair is two replicas of one node on one PostgreSQL database (the
// second reads the first's node key), both started before the test adds
// anything: what one learns later it can only have from the database.
func replicaPair(t *testing.T) (a, b *testNode) {
	loc := storetest.Postgres(t)
	a = newTestNode(t, Config{DataDir: loc.Dir, DB: loc.URL})
	b = newTestNode(t, Config{DataDir: t.TempDir(), DB: loc.URL, NodeKeyFile: filepath.Join(loc.Dir, nodekey.FileName)})
	return a, b
}

// TestModelAcrossReplicas: a model added through one replica is listed,
// described and serves an inference through another that was already
// running, without a restart.
func TestModelAcrossReplicas(t *testing.T) {
	a, b := replicaPair(t)
	f := loadDigits(t)
	resp, body := a.do("POST", "/v1/models", a.tokens[RoleAdmin], f.file)
	var info schema.ModelInfo
	if resp.StatusCode != 201 || json.Unmarshal(body, &info) != nil {
		t.Fatalf("add model through replica a: %d %s", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/v1/models", b.tokens[RoleClient], nil)
	var list struct {
		Models []schema.ModelInfo `json:"models"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list.Models) != 1 || list.Models[0].ID != info.ID {
		t.Fatalf("replica b lists: %d %s", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/v1/models/"+info.ID, b.tokens[RoleClient], nil)
	var got schema.ModelInfo
	if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || got.ID != info.ID || got.Features != info.Features || !got.CreatedAt.Equal(info.CreatedAt) {
		t.Fatalf("replica b describes: %d %s", resp.StatusCode, body)
	}
	if resp, body = b.do("GET", "/v1/models/"+info.ID[:63]+"0", b.tokens[RoleClient], nil); resp.StatusCode != 404 {
		t.Fatalf("an unknown model through replica b: %d %s", resp.StatusCode, body)
	}
	evk, _ := f.keys.Evaluation.MarshalBinary()
	if resp, body = b.do("POST", "/v1/keys?preset="+info.Preset, b.tokens[RoleClient], evk); resp.StatusCode != 201 {
		t.Fatalf("upload keys: %d %s", resp.StatusCode, body)
	}
	c, in := encryptFor(t, f, inference.Batch, f.samples)
	resp, body = b.do("POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, f.keys.Evaluation.ID()), b.tokens[RoleClient], in)
	if resp.StatusCode != 200 {
		t.Fatalf("infer through replica b: %d %s", resp.StatusCode, body)
	}
	pred := decryptPredictions(t, f, c, inference.Batch, body, len(f.samples))
	for i := range pred {
		if pred[i] != f.ref[i] {
			t.Errorf("sample %d: encrypted prediction %d, plaintext %d", i, pred[i], f.ref[i])
		}
	}
}

// TestKeyDeleteRacesUpload: client x deletes a key set (its last holder)
// through one replica while client y uploads the same set through another.
// Whichever wins, a key row never names a missing blob: after both, y's
// set is loadable exactly when y's row exists, and y's delete then removes
// the blob. Before Blobs.Reference and Unreference, x's delete could count
// no rows just before y's was added and remove the blob under it. On
// SQLite both clients use one node (its requests race the same way).
func TestKeyDeleteRacesUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, loc storetest.DB) {
		var a, b *testNode
		if loc.URL == "" {
			a = newTestNode(t, Config{DataDir: loc.Dir})
			b = a
		} else {
			a = newTestNode(t, Config{DataDir: loc.Dir, DB: loc.URL})
			b = newTestNode(t, Config{DataDir: t.TempDir(), DB: loc.URL, NodeKeyFile: filepath.Join(loc.Dir, nodekey.FileName)})
		}
		km := testKeys(t)
		evk, err := km.Evaluation.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		id := km.Evaluation.ID()
		x, y := a.token(RoleClient), b.token(RoleClient)
		rounds := 40
		if testing.Short() {
			rounds = 10
		}
		for round := range rounds {
			if resp, body := a.do("POST", "/v1/keys?preset=n12", x, evk); resp.StatusCode != 201 {
				t.Fatalf("round %d: x uploads: %d %s", round, resp.StatusCode, body)
			}
			var wg sync.WaitGroup
			var del, up int
			wg.Add(2)
			go func() {
				defer wg.Done()
				resp, _ := a.doWith(t, "DELETE", "/v1/keys/"+id, x, nil)
				del = resp.StatusCode
			}()
			go func() {
				defer wg.Done()
				resp, _ := b.doWith(t, "POST", "/v1/keys?preset=n12", y, evk)
				up = resp.StatusCode
			}()
			wg.Wait()
			if del != 204 || up != 201 {
				t.Fatalf("round %d: x's delete %d, y's upload %d", round, del, up)
			}
			// y holds the set: it must load, through either replica, from the store.
			for _, n := range []*testNode{a, b} {
				n.srv.keys.remove(id)
				if _, _, err := n.srv.evaluationKeys(context.Background(), "", id); err != nil {
					t.Fatalf("round %d: y's key set after the race: %v", round, err)
				}
			}
			if resp, body := b.do("DELETE", "/v1/keys/"+id, y, nil); resp.StatusCode != 204 {
				t.Fatalf("round %d: y deletes: %d %s", round, resp.StatusCode, body)
			}
			if _, err := b.srv.blobs.Get(id, 1<<30); !errors.Is(err, store.ErrBlobNotFound) {
				t.Fatalf("round %d: the blob after the last delete: %v", round, err)
			}
		}
	})
}
