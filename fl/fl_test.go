package fl

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

type detRand struct{ c *rand.ChaCha8 }

func (d *detRand) Read(p []byte) (int, error) { return d.c.Read(p) }

func newDetRand(seed byte) *detRand {
	var s [32]byte
	s[0] = seed
	return &detRand{rand.NewChaCha8(s)}
}

// memNet delivers messages between in-process mpc nodes, one FIFO inbox
// per node.
type memNet struct{ in map[mpc.NodeID]chan []byte }

type memEnd struct{ net *memNet }

func (e memEnd) Send(ctx context.Context, to mpc.NodeID, msg []byte) error {
	ch := e.net.in[to]
	if ch == nil {
		return fmt.Errorf("%w: unknown node", mpc.ErrTransport)
	}
	select {
	case ch <- slices.Clone(msg):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type testFed struct {
	keys    []*nodekey.Key
	ids     []mpc.NodeID
	nodes   []*mpc.Node
	members []*Member
	coord   *Coordinator
	test    *dataset.Dataset
	parts   []*dataset.Dataset
}

func newTestFed(t *testing.T, n int) *testFed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := dataset.LoadCSVFile(filepath.Join("..", "testvectors", "datasets", "digits.csv.gz"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, te, err := dataset.Split(d, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := &testFed{test: te}
	if f.parts, err = PartitionIID(tr, n, 1); err != nil {
		t.Fatal(err)
	}
	net := &memNet{in: map[mpc.NodeID]chan []byte{}}
	for i := range n {
		k, err := nodekey.Generate(newDetRand(byte(50 + i)))
		if err != nil {
			t.Fatal(err)
		}
		f.keys, f.ids = append(f.keys, k), append(f.ids, mpc.NodeID(k.Public()))
		net.in[f.ids[i]] = make(chan []byte, 4096)
	}
	accept := &AcceptList{}
	accept.Allow(f.ids[0], "digits")
	for i := range n {
		node, err := mpc.NewNode(mpc.Config{Key: f.keys[i], Transport: memEnd{net}, Rand: newDetRand(byte(i))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(node.Close)
		go func(ch chan []byte) {
			for {
				select {
				case m := <-ch:
					node.Deliver(ctx, m)
				case <-ctx.Done():
					return
				}
			}
		}(net.in[f.ids[i]])
		m, err := NewMember(MemberConfig{Node: node, Accept: accept, Data: f.parts[i]})
		if err != nil {
			t.Fatal(err)
		}
		f.nodes, f.members = append(f.nodes, node), append(f.members, m)
	}
	publish := func(ctx context.Context, to mpc.NodeID, msg []byte) error {
		return f.members[slices.Index(f.ids, to)].HandleRound(ctx, msg)
	}
	if f.coord, err = NewCoordinator(CoordinatorConfig{Node: f.nodes[0], Key: f.keys[0], Publish: publish, Local: f.members[0], EvalData: f.test}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.coord.Close)
	return f
}

func (f *testFed) literal() FederationLiteral {
	return FederationLiteral{Name: "digits", Coordinator: f.ids[0], Members: slices.Clone(f.ids), Threshold: 3,
		Model:  ModelLiteral{Inputs: 64, Hidden: []int{16}, Classes: f.test.Classes, Activation: ActSquare},
		Rounds: 4, LocalEpochs: 2, LR: 0.005, Batch: 16, Aggregation: FedAvg, ClipNorm: 10, Privacy: SecureAggregation,
		Compression: CompressionLiteral{Prune: 0.5, PruneRounds: 1, Bits: 8, QATRounds: 1},
		MaxSamples:  10000, FeatureBound: 16, PhaseSeconds: 2, Seed: 1}
}

func TestSpec(t *testing.T) {
	f := newTestFed(t, 4)
	fed, err := NewFederationFromLiteral(f.literal())
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeFederation(fed.Canonical())
	if err != nil || again.ID() != fed.ID() {
		t.Fatalf("decode: %v", err)
	}
	if _, err := DecodeFederation(append(fed.Canonical(), ' ')); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-canonical accepted: %v", err)
	}
	sig, err := fed.Sign(f.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := fed.Verify(sig); err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 1
	if err := fed.Verify(sig); !errors.Is(err, ErrAuth) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, err := fed.Sign(f.keys[1]); err == nil {
		t.Fatal("a member signed the federation")
	}
	for name, mod := range map[string]func(*FederationLiteral){
		"threshold":   func(l *FederationLiteral) { l.Threshold = 5 },
		"coordinator": func(l *FederationLiteral) { l.Members = l.Members[1:] },
		"duplicate":   func(l *FederationLiteral) { l.Members[1] = l.Members[2] },
		"activation":  func(l *FederationLiteral) { l.Model.Activation = "relu" },
		"fedprox":     func(l *FederationLiteral) { l.Aggregation = FedProx },
		"momentum":    func(l *FederationLiteral) { l.Momentum = 0.9 },
		"clip":        func(l *FederationLiteral) { l.ClipNorm = 0 },
		"bits":        func(l *FederationLiteral) { l.Compression.Bits = 0 },
		"prune":       func(l *FederationLiteral) { l.Compression.PruneRounds = 0 },
		"budget":      func(l *FederationLiteral) { l.Budget = "b" },
		"privacy":     func(l *FederationLiteral) { l.Privacy = "none" },
	} {
		l := f.literal()
		mod(&l)
		if _, err := NewFederationFromLiteral(l); !errors.Is(err, ErrSpec) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Record-level DP: the smallest noise multiplier that fits is found
	// and accepted, one a little smaller refused, and so are the settings
	// DP rounds do not take.
	l := f.dpLiteral(t, 8)
	fed, err = NewFederationFromLiteral(l)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := DecodeFederation(fed.Canonical()); err != nil || again.ID() != fed.ID() || again.Literal().NoiseMultiplier != l.NoiseMultiplier {
		t.Fatalf("record-dp spec does not decode to itself: %v", err)
	}
	for name, mod := range map[string]func(*FederationLiteral){
		"noise":   func(l *FederationLiteral) { l.NoiseMultiplier -= 0.01 },
		"epochs":  func(l *FederationLiteral) { l.LocalEpochs = 2 },
		"fedprox": func(l *FederationLiteral) { l.Aggregation, l.Momentum, l.ProxMu = FedProx, 0, 1 },
		"delta":   func(l *FederationLiteral) { l.Delta = 0 },
		"budget":  func(l *FederationLiteral) { l.Budget = "" },
		"secagg":  func(l *FederationLiteral) { l.Privacy = SecureAggregation },
	} {
		l := f.dpLiteral(t, 8)
		mod(&l)
		if _, err := NewFederationFromLiteral(l); !errors.Is(err, ErrSpec) {
			t.Errorf("record-dp %s: %v", name, err)
		}
	}
}

// dpLiteral is a small record-level DP federation with budget (ε, 10^-5)
// and the smallest noise multiplier that fits it.
func (f *testFed) dpLiteral(t *testing.T, eps float64) FederationLiteral {
	t.Helper()
	l := f.literal()
	l.Privacy, l.Budget, l.Epsilon, l.Delta = RecordDP, "fl-test", dp.MicroEpsilon(eps*1e6), dp.PicoDelta(1e7)
	l.Rounds, l.LocalEpochs, l.LR, l.Aggregation, l.Momentum, l.ClipNorm, l.MaxSamples = 12, 1, 0.5, FedAvgM, 0.9, 1, 1000
	z, err := NoiseMultiplierFor(l)
	if err != nil {
		t.Fatal(err)
	}
	l.NoiseMultiplier = z
	return l
}

// TestRefuseUnconfigured: a member refuses a round of a federation it was
// not configured to join, and a tampered round message.
func TestRefuseUnconfigured(t *testing.T) {
	f := newTestFed(t, 4)
	l := f.literal()
	l.Name = "other"
	fed, err := NewFederationFromLiteral(l)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewRound(fed, 0, StageStats, Global{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := rd.Encode(f.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := f.members[1].HandleRound(context.Background(), msg); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("unconfigured federation: %v", err)
	}
	msg[len(msg)-70] ^= 1
	if _, err := DecodeRound(msg); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := rd.Encode(f.keys[1]); err == nil {
		t.Fatal("a member signed a round")
	}
}

// testGlobal is a global state for fed's 64 digits features: a fixed
// standardizer and random parameters (the same each call).
func testGlobal(fed *Federation) Global {
	rng := rand.New(rand.NewPCG(7, 7))
	g := Global{Mean: make([]float64, 64), Std: make([]float64, 64), Params: make([]float64, fed.Parameters())}
	for j := range g.Std {
		g.Mean[j], g.Std[j] = 5, 4
	}
	for i := range g.Params {
		g.Params[i] = rng.NormFloat64() * 0.2
	}
	return g
}

// TestRoundAggregation runs one float round's MPC session by hand and
// compares the coordinator's exact aggregate with plaintext FedAvg of the
// members' clipped updates.
func TestRoundAggregation(t *testing.T) {
	f := newTestFed(t, 4)
	l := f.literal()
	l.ClipNorm = 0.5 // some updates are clipped
	fed, err := NewFederationFromLiteral(l)
	if err != nil {
		t.Fatal(err)
	}
	g := testGlobal(fed)
	rd, err := NewRound(fed, 1, StageTrain, g, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := f.nodes[0].Propose(ctx, rd.Session.Literal())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, fed.Parameters())
	total := 0.0
	for i, m := range f.members {
		in, err := LocalInput(ctx, rd, m.cfg.Data)
		if err != nil {
			t.Fatal(err)
		}
		norm := 0.0
		for j, v := range in.Values {
			want[j] += in.Weight * v
			norm += v * v
		}
		if math.Sqrt(norm) > l.ClipNorm+1e-9 {
			t.Fatalf("member %d: update norm %v above the clip", i, math.Sqrt(norm))
		}
		total += in.Weight
		if err := f.nodes[i].SetInput(s.ID(), in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.nodes[0].Wait(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	agg, err := f.nodes[0].TakeAggregate(s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if agg.Dealers != 4 || agg.Weight != total {
		t.Fatalf("dealers %d, weight %v; want 4, %v", agg.Dealers, agg.Weight, total)
	}
	for j := range want {
		if d := math.Abs(agg.Values[j] - want[j]/total); d > 1e-4 {
			t.Fatalf("coordinate %d: %v, plaintext FedAvg %v", j, agg.Values[j], want[j]/total)
		}
	}
}

// run starts fed on the coordinator and returns its status once it ended
// (within two minutes).
func (f *testFed) run(t *testing.T, fed *Federation) *Status {
	t.Helper()
	if err := f.coord.Start(fed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := f.coord.Wait(ctx, fed.ID())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFederation runs a whole small federation in process and checks the
// final int8 model.
func TestFederation(t *testing.T) {
	f := newTestFed(t, 4)
	fed, err := NewFederationFromLiteral(f.literal())
	if err != nil {
		t.Fatal(err)
	}
	st := f.run(t, fed)
	if st.State != StateDone || len(st.Rounds) != len(fed.Plan()) {
		t.Fatalf("state %s (%s), %d rounds of %d", st.State, st.Err, len(st.Rounds), len(fed.Plan()))
	}
	for _, r := range st.Rounds {
		if len(r.Included) != 4 {
			t.Fatalf("round %d included %d", r.Index, len(r.Included))
		}
		scored := r.Stage != StageStats && r.Stage != StageBounds
		if (r.Accuracy != nil) != scored || (scored && (*r.Accuracy < 0 || *r.Accuracy > 1)) {
			t.Fatalf("round %d (%s): accuracy %v", r.Index, r.Stage, r.Accuracy)
		}
	}
	// The last round that moved the model was scored on the model the
	// federation ended with.
	_, g, err := f.coord.Global(fed.ID())
	if err != nil {
		t.Fatal(err)
	}
	final, err := Score(fed, &g, f.test)
	if err != nil {
		t.Fatal(err)
	}
	if last := st.Rounds[len(st.Rounds)-2]; *last.Accuracy != final || final < 0.8 {
		t.Fatalf("round %d accuracy %v, the final global model scores %v", last.Index, *last.Accuracy, final)
	}
	m, err := inference.Decode(st.Model)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := ev.Score(f.test.X, f.test.Y)
	if err != nil || acc < 0.8 {
		t.Fatalf("final int8 model: accuracy %.3f (%v)", acc, err)
	}
	if m.NonZero() > m.Weights()*6/10 {
		t.Fatalf("%d of %d weights non-zero after pruning to 0.5", m.NonZero(), m.Weights())
	}
	// The aggregated bounds (sums of the members' maxima) bound the
	// maxima on the union.
	var union dataset.Dataset
	for _, p := range f.parts {
		union.X = append(union.X, p.X...)
	}
	b, err := ev.Trace(union.X)
	if err != nil {
		t.Fatal(err)
	}
	agg := m.Meta.Bounds
	if agg.MaxAbsInput < b.MaxAbsInput || agg.MaxAbsLogit < b.MaxAbsLogit || len(agg.Layers) != len(b.Layers) ||
		agg.Layers[0].MaxAbsNext < b.Layers[0].MaxAbsNext || agg.MaxAbsInput > 4*b.MaxAbsInput+1 {
		t.Fatalf("aggregated bounds %+v, on the union %+v", agg, b)
	}
	t.Logf("final accuracy %.3f, preset %s", acc, m.Meta.Preset)
}

// TestScoreNeedsFittingEvalData: Score refuses data of another width, a
// label beyond the model's classes and an empty set, and scores a model
// by its largest logit.
func TestScoreNeedsFittingEvalData(t *testing.T) {
	f := newTestFed(t, 4)
	fed, err := NewFederationFromLiteral(f.literal())
	if err != nil {
		t.Fatal(err)
	}
	params := make([]float64, fed.Parameters())
	g := &Global{Mean: make([]float64, 64), Std: slices.Repeat([]float64{1}, 64), Params: params}
	narrow := &dataset.Dataset{X: [][]float64{make([]float64, 30)}, Y: []int{0}, Features: 30}
	beyond := &dataset.Dataset{X: [][]float64{make([]float64, 64)}, Y: []int{10}, Features: 64}
	empty := &dataset.Dataset{Features: 64}
	for name, d := range map[string]*dataset.Dataset{"narrow": narrow, "label beyond": beyond, "empty": empty} {
		if _, err := Score(fed, g, d); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// All weights zero and the bias of class 3 largest: every row is
	// classified 3.
	params[len(params)-10+3] = 1
	d := &dataset.Dataset{X: [][]float64{make([]float64, 64), make([]float64, 64)}, Y: []int{3, 4}, Features: 64}
	if acc, err := Score(fed, g, d); err != nil || acc != 0.5 {
		t.Fatalf("accuracy %v (%v), want 0.5", acc, err)
	}
}

// TestCoordinatorList: List returns the federations newest first, each
// as Status shows it, and at most limit of them with the count of all.
func TestCoordinatorList(t *testing.T) {
	f := newTestFed(t, 4)
	var ids [][32]byte
	for i := range 3 {
		l := f.literal()
		l.Rounds, l.Nonce[0] = 1, byte(i+1)
		fed, err := NewFederationFromLiteral(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.coord.Start(fed); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fed.ID())
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	all, total := f.coord.List(0)
	if total != 3 || len(all) != 3 {
		t.Fatalf("List(0): %d of %d", len(all), total)
	}
	for i, st := range all {
		want := ids[2-i]
		if st.ID != hex.EncodeToString(want[:]) || st.Created.IsZero() {
			t.Errorf("federation %d: %s created %v, want %x", i, st.ID, st.Created, want)
		}
		if i > 0 && !st.Created.Before(all[i-1].Created) {
			t.Errorf("federation %d created %v, not before %v", i, st.Created, all[i-1].Created)
		}
		one, err := f.coord.Status(want)
		if err != nil || one.Name != st.Name || one.Planned != st.Planned || !one.Created.Equal(st.Created) {
			t.Errorf("Status %+v (%v), List %+v", one, err, st)
		}
	}
	if two, total := f.coord.List(2); total != 3 || len(two) != 2 || two[0].ID != all[0].ID || two[1].ID != all[1].ID {
		t.Errorf("List(2): %d of %d", len(two), total)
	}
}

// TestCoordinatorKeepsBounded: a coordinator keeps at most MaxFederations
// federations: a new one is refused while that many run, and evicts the
// oldest ended one otherwise.
func TestCoordinatorKeepsBounded(t *testing.T) {
	f := newTestFed(t, 4)
	f.coord.cfg.MaxFederations = 2
	feds := make([]*Federation, 3)
	for i := range feds {
		l := f.literal()
		l.Rounds, l.Nonce[0] = 1, byte(i+1)
		var err error
		if feds[i], err = NewFederationFromLiteral(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, fed := range feds[:2] {
		if err := f.coord.Start(fed); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	if err := f.coord.Start(feds[2]); !errors.Is(err, ErrTooMany) {
		t.Fatalf("a third federation while two run: %v, want ErrTooMany", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, fed := range feds[:2] {
		if _, err := f.coord.Wait(ctx, fed.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.coord.Start(feds[2]); err != nil {
		t.Fatalf("a third federation once two ended: %v", err)
	}
	if _, err := f.coord.Status(feds[0].ID()); !errors.Is(err, ErrUnknownFederation) {
		t.Errorf("the oldest ended federation is still kept: %v", err)
	}
	if _, total := f.coord.List(0); total != 2 {
		t.Errorf("%d federations kept, want 2", total)
	}
	if _, err := f.coord.Wait(ctx, feds[2].ID()); err != nil {
		t.Fatal(err)
	}
}
