package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aios-edge/aios/dp"
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
		checkDropCheatMembers(t, r)
	}
	f := rep.Final
	if f.CompressedAccuracy < 0.85 || f.EncryptedAgreement != 1 || f.Epsilon != nil {
		t.Fatalf("final %+v", f)
	}
	// The coordinator scored every round that moved the model on the test
	// part; the last one's is the accuracy the demo measures itself on
	// the final global model.
	for _, r := range rep.Rounds {
		if scored := r.Stage != "stats" && r.Stage != "bounds"; (r.Accuracy != nil) != scored {
			t.Fatalf("round %d (%s): accuracy %v", r.Round, r.Stage, r.Accuracy)
		}
	}
	if last := rep.Rounds[len(rep.Rounds)-2]; *last.Accuracy != f.Accuracy {
		t.Fatalf("round %d: the coordinator's accuracy %v, the demo's of the final global model %v", last.Round, *last.Accuracy, f.Accuracy)
	}
	t.Logf("centralized %.4f, federated %.4f, int8 %.4f, encrypted %.4f", rep.CentralizedAccuracy, f.Accuracy, f.CompressedAccuracy, f.EncryptedAccuracy)
}

// TestFLDemoRecordDP is the multi-process test of record-level DP: `aios fl
// demo --dp-epsilon` on digits with 5 nodes, t = 3, node 4 killed as round
// 3 starts and node 1 dealing one bad share; every round completes (the
// cheater named and excluded in round 0, the killed node missing from
// round 4 on) and is debited from the coordinator's ledger, the per-round
// ε is the budget's composed ε, `aios audit verify` passes on the
// coordinator's data directory afterwards, and the ε spent is both the sum
// of the spend entries and the accountant's composition of their RDP at δ.
func TestFLDemoRecordDP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four server processes")
	}
	t.Setenv("AIOS_TEST_MAIN", "1")
	out := mustRun(t, "fl", "demo", "--data", "../../testvectors/datasets/digits.csv.gz", "--nodes", "5", "--threshold", "3",
		"--rounds", "8", "--hidden", "8", "--prune-rounds", "1", "--qat-rounds", "1", "--dp-epsilon", "8", "--dp-delta", "1e-5",
		"--drop", "1", "--cheat", "1", "--phase", "1s", "--keep", "--json")
	var rep flDemoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll(rep.Dir) })
	f := rep.Final
	if len(rep.Rounds) != 8+1+1 || f.Epsilon == nil || f.Delta == nil || *f.Delta != 1e-5 || *f.Epsilon > 8 || rep.Stopped != "" {
		t.Fatalf("rounds %d, final %+v, stopped %q", len(rep.Rounds), f, rep.Stopped)
	}
	prev := 0.0
	for _, r := range rep.Rounds {
		checkDropCheatMembers(t, r)
		if r.Epsilon == nil || *r.Epsilon <= prev {
			t.Fatalf("round %d: ε %v after %g", r.Round, r.Epsilon, prev)
		}
		prev = *r.Epsilon
	}
	if len(rep.Killed) != 1 || rep.Killed[0] != 4 || len(rep.Cheater) != 1 || rep.Cheater[0] != 1 {
		t.Fatalf("killed %v, cheater %v", rep.Killed, rep.Cheater)
	}
	if prev != *f.Epsilon || f.EncryptedAgreement != 1 {
		t.Fatalf("last round's ε %g, final %g; encrypted agreement %g", prev, *f.Epsilon, f.EncryptedAgreement)
	}
	coord := filepath.Join(rep.Dir, "node0")
	mustRun(t, "audit", "checkpoint", "--data-dir", coord)
	mustRun(t, "audit", "verify", "--data-dir", coord)

	ctx := context.Background()
	led, err := dp.OpenNode(ctx, coord)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	entries, err := led.Entries(ctx, rep.Budget, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var sum dp.MicroEpsilon
	var acc dp.RDP
	spends := 0
	for _, e := range entries {
		if e.Kind != "spend" {
			continue
		}
		spends++
		sum += e.Epsilon
		var r dp.RDP
		copy(r[:], e.RDP)
		acc = acc.Add(r)
	}
	composed, _, err := acc.Epsilon(dp.PicoDelta(1e7))
	if err != nil {
		t.Fatal(err)
	}
	if spends != len(rep.Rounds) || sum.Float64() != *f.Epsilon || composed != sum {
		t.Fatalf("%d spends summing to ε %s, accountant %s; the demo reports %g over %d rounds", spends, sum, composed, *f.Epsilon, len(rep.Rounds))
	}
	t.Logf("ε %g at δ %g (z = %g): float %.4f, int8 %.4f, encrypted %.4f; centralized %.4f", *f.Epsilon, *f.Delta, rep.NoiseMultiplier,
		f.Accuracy, f.CompressedAccuracy, f.EncryptedAccuracy, rep.CentralizedAccuracy)
}

// checkDropCheatMembers checks a round of a 5-node demo run with --drop 1
// --cheat 1: node 1 is excluded as a cheater in round 0 (its first
// dealing), node 4 is missing from round 4 on; killed as round 3 starts,
// it may have dealt in round 3 already, its dealing then counting without
// its output share.
func checkDropCheatMembers(t *testing.T, r flDemoRound) {
	t.Helper()
	want := 5
	if r.Round == 0 {
		want--
		if len(r.Excluded) != 1 || !strings.Contains(r.Excluded[0], "node 1 (cheated: "+mpc.ReasonBadShare) {
			t.Fatalf("round 0 excluded %v", r.Excluded)
		}
	}
	if r.Round >= 4 {
		want--
	}
	if r.Members != want && !(r.Round == 3 && r.Members == 4) {
		t.Fatalf("round %d: %d members, want %d", r.Round, r.Members, want)
	}
}
