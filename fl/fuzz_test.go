package fl

import (
	"testing"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

// fuzzFederation is a small valid federation of three generated nodes, the
// seed of the fuzz targets.
func fuzzFederation(f *testing.F) (*Federation, *nodekey.Key) {
	f.Helper()
	var keys []*nodekey.Key
	var ids []mpc.NodeID
	for i := range 3 {
		k, err := nodekey.Generate(newDetRand(byte(90 + i)))
		if err != nil {
			f.Fatal(err)
		}
		keys, ids = append(keys, k), append(ids, mpc.NodeID(k.Public()))
	}
	fed, err := NewFederationFromLiteral(FederationLiteral{Name: "fuzz", Coordinator: ids[0], Members: ids, Threshold: 2,
		Model:  ModelLiteral{Inputs: 4, Hidden: []int{3}, Classes: []string{"a", "b"}, Activation: ActSquare},
		Rounds: 2, LocalEpochs: 1, LR: 0.01, Batch: 4, Aggregation: FedAvg, ClipNorm: 1, Privacy: SecureAggregation,
		Compression: CompressionLiteral{Prune: 0.5, PruneRounds: 1, Bits: 8, QATRounds: 1},
		MaxSamples:  100, FeatureBound: 16, PhaseSeconds: 2, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	return fed, keys[0]
}

// FuzzDecodeFederation: a federation spec from a peer never panics, and
// one that decodes re-encodes to the same bytes.
func FuzzDecodeFederation(f *testing.F) {
	fed, _ := fuzzFederation(f)
	f.Add(fed.Canonical())
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeFederation(b)
		if err == nil && string(got.Canonical()) != string(b) {
			t.Fatalf("decoded a spec that re-encodes to other bytes")
		}
	})
}

// FuzzDecodeRound: a round message from the network never panics.
func FuzzDecodeRound(f *testing.F) {
	fed, key := fuzzFederation(f)
	rd, err := NewRound(fed, 0, StageStats, Global{}, time.Unix(1_800_000_000, 0))
	if err != nil {
		f.Fatal(err)
	}
	msg, err := rd.Encode(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeRound(b)
	})
}
