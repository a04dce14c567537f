package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aios-edge/aios/inference"
)

// TestConcurrentClients: 200 clients, each with its own token, hammer the
// node for a bounded time with a mix of reads and encrypted inferences
// against a small queue. Every answer is a success or a 429; nothing else.
func TestConcurrentClients(t *testing.T) {
	const clients = 200
	duration := 4 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	n, f, info, _ := inferNode(t, Config{QueueSize: 2, RatePerSecond: 20, RateBurst: 5})
	_, body := encryptFor(t, f, inference.Batch, f.samples[:2])
	evk, _ := f.keys.Evaluation.MarshalBinary()
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = n.token(RoleClient)
	}
	// A few clients upload keys so that their inferences can run.
	keyed := map[int]bool{}
	for i := 0; i < clients; i += 25 {
		if resp, b := n.do("POST", "/v1/keys?preset="+info.Preset, tokens[i], evk); resp.StatusCode != 201 {
			t.Fatalf("keys: %d %s", resp.StatusCode, b)
		}
		keyed[i] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: time.Minute}
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ctx.Err() == nil; k++ {
				var req *http.Request
				switch {
				case keyed[i] && k%3 == 0:
					req, _ = http.NewRequest("POST", fmt.Sprintf("%s/v1/models/%s/infer?key=%s&packing=batch", n.ts.URL, info.ID, f.keys.Evaluation.ID()), bytes.NewReader(body))
				case k%2 == 0:
					req, _ = http.NewRequest("GET", n.ts.URL+"/v1/models/"+info.ID, nil)
				default:
					req, _ = http.NewRequest("GET", n.ts.URL+"/v1/health", nil)
				}
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				resp, err := hc.Do(req)
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
				if resp.StatusCode == http.StatusTooManyRequests {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("status counts over %v: %v", duration, codes)
	for code, c := range codes {
		if code != 200 && code != 429 {
			t.Errorf("%d answers with status %d", c, code)
		}
	}
	if codes[200] == 0 {
		t.Error("no request succeeded")
	}
}
