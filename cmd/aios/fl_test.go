package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aios-edge/aios/mpc"
)

// TestFLDemoProcesses is the federated multi-process test: `aios fl demo`
// starts 5 real `aios serve` processes (this test binary in main mode) on
// breast cancer, t = 3, node 4 killed as round 3 starts and node 1 dealing
// one bad share; every round completes, the cheater is named in the round
// it cheats, the killed node is missing from round 4 on (and may be from round 3), and the final
// model is served encrypted with full agreement.
func TestFLDemoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five server processes")
	}
	t.Setenv("AIOS_TEST_MAIN", "1")
	out := mustRun(t, "fl", "demo", "--data", "../../testvectors/datasets/breast_cancer.csv", "--nodes", "5", "--threshold", "3",
		"--rounds", "5", "--hidden", "8", "--prune-rounds", "1", "--qat-rounds", "1", "--drop", "1", "--cheat", "1", "--phase", "1s", "--json")
	var rep flDemoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Rounds) != 1+5+1+1+1 {
		t.Fatalf("%d rounds: %s", len(rep.Rounds), out)
	}
	for _, r := range rep.Rounds {
		wantMembers := 5
		if r.Round == 0 {
			wantMembers-- // node 1 cheats in its first dealing
			if len(r.Excluded) != 1 || !strings.Contains(r.Excluded[0], "node 1 (cheated: "+mpc.ReasonBadShare) {
				t.Fatalf("round 0 excluded %v", r.Excluded)
			}
		}
		if r.Round >= 4 {
			wantMembers--
		}
		// Killed as round 3 starts, node 4 may have dealt in it already:
		// its dealing then counts without its output share.
		if r.Members != wantMembers && !(r.Round == 3 && r.Members == 4) {
			t.Fatalf("round %d: %d members, want %d", r.Round, r.Members, wantMembers)
		}
	}
	f := rep.Final
	if f.CompressedAccuracy < 0.85 || f.EncryptedAgreement != 1 || f.Epsilon != nil {
		t.Fatalf("final %+v", f)
	}
	t.Logf("centralized %.4f, federated %.4f, int8 %.4f, encrypted %.4f", rep.CentralizedAccuracy, f.Accuracy, f.CompressedAccuracy, f.EncryptedAccuracy)
}
