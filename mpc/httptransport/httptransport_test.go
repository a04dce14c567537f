package httptransport

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

func newID(t testing.TB) mpc.NodeID {
	k, err := nodekey.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return mpc.NodeID(k.Public())
}

func TestParsePeers(t *testing.T) {
	a, b := newID(t), newID(t)
	good := "# peers\n\n" + a.String() + " http://127.0.0.1:8080/ edge-a\n\t" + strings.ToUpper(b.String()) + "\thttps://node.example:8443/aios\n"
	peers, err := ParsePeers([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 || peers[0].ID != a || peers[0].Name != "edge-a" || peers[0].URL.String() != "http://127.0.0.1:8080" ||
		peers[1].ID != b || peers[1].URL.JoinPath(MessagesPath).String() != "https://node.example:8443/aios/v1/mpc/messages" {
		t.Fatalf("parsed %+v", peers)
	}
	again, err := ParsePeers(FormatPeers(peers))
	if err != nil || len(again) != 2 || again[1].URL.String() != peers[1].URL.String() {
		t.Fatalf("round trip: %v %+v", err, again)
	}
	id := a.String()
	bad := map[string]string{
		"one field":    id + "\n",
		"four fields":  id + " http://h x y\n",
		"bad id":       strings.Repeat("z", 64) + " http://h\n",
		"short id":     id[:62] + " http://h\n",
		"small order":  strings.Repeat("0", 64) + " http://h\n",
		"scheme":       id + " ftp://h\n",
		"no host":      id + " http://\n",
		"user":         id + " http://u:p@h\n",
		"query":        id + " http://h/?x=1\n",
		"fragment":     id + " http://h/#x\n",
		"bad name":     id + " http://h a/b\n",
		"dup id":       id + " http://h\n" + id + " http://g\n",
		"dup name":     id + " http://h x\n" + b.String() + " http://g x\n",
		"long line":    id + " http://h/" + strings.Repeat("a", 1100) + "\n",
		"too large":    strings.Repeat("#\n", MaxPeersFileSize),
		"control char": id + " http://h\x00\n",
	}
	for name, s := range bad {
		_, err := ParsePeers([]byte(s))
		var pe *PeersFileError
		if !errors.Is(err, ErrPeersFile) || !errors.As(err, &pe) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParsePeers(f *testing.F) {
	id := newID(f).String()
	f.Add([]byte(id + " http://127.0.0.1:1 a\n# c\n"))
	f.Add([]byte(id + "\thttps://[::1]:8443/p/\n"))
	f.Add([]byte("\n\n#"))
	f.Fuzz(func(t *testing.T, b []byte) {
		peers, err := ParsePeers(b)
		if err != nil {
			if !errors.Is(err, ErrPeersFile) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := ParsePeers(FormatPeers(peers))
		if err != nil || len(again) != len(peers) {
			t.Fatalf("formatted peers do not parse again: %v", err)
		}
		for i := range peers {
			if again[i].ID != peers[i].ID || again[i].URL.String() != peers[i].URL.String() || again[i].Name != peers[i].Name {
				t.Fatalf("round trip changed peer %d", i)
			}
		}
	})
}

func TestSendRetries(t *testing.T) {
	var calls atomic.Int32
	var mode atomic.Value
	mode.Store("flaky")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != MessagesPath || r.Header.Get("Content-Type") != ContentType || string(b) != "msg" || r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(400)
			return
		}
		switch mode.Load() {
		case "flaky":
			if n < 3 {
				w.WriteHeader(503)
				return
			}
		case "reject":
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"unauthenticated","message":"x"}}`))
			return
		case "replay":
			if n == 1 {
				w.WriteHeader(502)
				return
			}
			w.WriteHeader(409)
			w.Write([]byte(`{"error":{"code":"replay","message":"x"}}`))
			return
		case "down":
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	id := newID(t)
	u, _ := url.Parse(srv.URL)
	tr := New([]Peer{{ID: id, URL: u}}, Options{Backoff: time.Millisecond, Token: func(mpc.NodeID) string { return "tok" }})
	ctx := context.Background()
	if err := tr.Send(ctx, id, []byte("msg")); err != nil || calls.Load() != 3 {
		t.Fatalf("flaky: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	mode.Store("reject")
	if err := tr.Send(ctx, id, []byte("msg")); !errors.Is(err, ErrRejected) || calls.Load() != 1 || !strings.Contains(err.Error(), "401 unauthenticated") {
		t.Fatalf("reject: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	mode.Store("replay")
	if err := tr.Send(ctx, id, []byte("msg")); err != nil || calls.Load() != 2 {
		t.Fatalf("replay after a lost answer: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	mode.Store("down")
	if err := tr.Send(ctx, id, []byte("msg")); !errors.Is(err, ErrUnavailable) || calls.Load() != 4 {
		t.Fatalf("down: %v after %d calls", err, calls.Load())
	}
	if err := tr.Send(ctx, newID(t), []byte("msg")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	// A peer that does not listen: retried, then unavailable; a cancelled
	// context stops at once.
	srv.Close()
	if err := tr.Send(ctx, id, []byte("msg")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("closed: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := tr.Send(cctx, id, []byte("msg")); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestParsePeerTokens(t *testing.T) {
	a, b := newID(t), newID(t)
	peers, err := ParsePeers([]byte(a.String() + " http://127.0.0.1:1\n" + b.String() + " http://127.0.0.1:2\n"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ParsePeerTokens([]byte("# tokens\n"+a.String()+" aios_x_y\n\n"), peers)
	if err != nil || tokens[a] != "aios_x_y" || len(tokens) != 1 {
		t.Fatalf("tokens %v, %v", tokens, err)
	}
	stranger := newID(t)
	for name, in := range map[string]string{
		"fields":    a.String() + "\n",
		"bad id":    "zz aios_x\n",
		"not peer":  stranger.String() + " aios_x\n",
		"twice":     a.String() + " aios_x\n" + a.String() + " aios_y\n",
		"not token": a.String() + " hunter2\n",
	} {
		var pe *PeersFileError
		if _, err := ParsePeerTokens([]byte(in), peers); !errors.As(err, &pe) || pe.File != "peer tokens file" || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	if err := os.WriteFile(path, []byte(a.String()+" aios_x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPeerTokens(path, peers); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("world-readable tokens file: %v", err)
	}
	os.Chmod(path, 0o600)
	if got, err := LoadPeerTokens(path, peers); err != nil || got[a] != "aios_x" {
		t.Fatalf("0600 tokens file: %v %v", got, err)
	}
}

func FuzzParsePeerTokens(f *testing.F) {
	id := mpc.NodeID{}
	peers := []Peer{{ID: id}}
	f.Add([]byte(id.String() + " aios_a_b\n"))
	f.Add([]byte("# c\n\n x y z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tokens, err := ParsePeerTokens(b, peers)
		if err == nil && len(tokens) > 1 {
			t.Fatalf("%d tokens for one peer", len(tokens))
		}
	})
}
