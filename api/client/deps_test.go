package client

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDoesNotLinkServer holds the SDK to its promise: a client program
// links the standard library, he, inference, the API's schema and lattigo,
// never the server or what only the server needs.
func TestDoesNotLinkServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	forbidden := []string{
		"github.com/aios-edge/aios/api\n", // the server itself
		"github.com/aios-edge/aios/dp", "github.com/aios-edge/aios/mpc", "github.com/aios-edge/aios/internal/",
		"modernc.org/sqlite", "github.com/go-chi/", "go.dedis.ch/kyber", "gonum.org/", "github.com/google/differential-privacy",
	}
	deps := string(out)
	for _, f := range forbidden {
		if strings.Contains(deps, f) {
			t.Errorf("api/client links %s", strings.TrimSpace(f))
		}
	}
	t.Logf("api/client links %d packages", strings.Count(deps, "\n"))
}
