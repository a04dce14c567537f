package schema

// FLFederationRequest is the body of POST /v1/fl/federations: a
// federation this node coordinates (package fl documents every field).
type FLFederationRequest struct {
	Name string `json:"name"`
	// Members are node ids; empty: this node, then every peer in the peers
	// file. This node must be one of them.
	Members      []string `json:"members,omitempty"`
	Threshold    int      `json:"threshold"`
	Inputs       int      `json:"inputs"`
	Hidden       []int    `json:"hidden"`
	Classes      []string `json:"classes"`
	Activation   string   `json:"activation"`
	Rounds       int      `json:"rounds"`
	LocalEpochs  int      `json:"local_epochs"`
	LR           float64  `json:"lr"`
	Batch        int      `json:"batch"`
	Aggregation  string   `json:"aggregation"`
	ProxMu       float64  `json:"prox_mu,omitempty"`
	Momentum     float64  `json:"momentum,omitempty"`
	ClipNorm     float64  `json:"clip_norm"`
	Privacy      string   `json:"privacy"`
	Budget       string   `json:"budget,omitempty"`
	Prune        float64  `json:"prune,omitempty"`
	PruneRounds  int      `json:"prune_rounds,omitempty"`
	Bits         int      `json:"bits"`
	QATRounds    int      `json:"qat_rounds,omitempty"`
	MaxSamples   int      `json:"max_samples"`
	FeatureBound float64  `json:"feature_bound"`
	PhaseSeconds float64  `json:"phase_seconds"`
	Seed         uint64   `json:"seed,omitempty"`
}

// FLExcluded is a member left out of a round.
type FLExcluded struct {
	Node     string `json:"node"`
	Reason   string `json:"reason"`
	Cheating bool   `json:"cheating"`
}

// FLRound is one round of a federation.
type FLRound struct {
	Round    int          `json:"round"`
	Stage    string       `json:"stage"`
	Session  string       `json:"session"`
	Members  int          `json:"members"`
	Included []string     `json:"included"`
	Excluded []FLExcluded `json:"excluded"`
	// Samples is the total sample count of the included members.
	Samples   float64 `json:"samples"`
	Seconds   float64 `json:"seconds"`
	BytesSent int64   `json:"bytes_sent"`
	// Epsilon is the round's ε: "none" for secure aggregation, which
	// claims no differential privacy and debits nothing.
	Epsilon string `json:"epsilon"`
	Error   string `json:"error,omitempty"`
}

// FLFederationStatus is a federation as its coordinator sees it.
type FLFederationStatus struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Privacy string `json:"privacy"`
	Epsilon string `json:"epsilon"`
	// Spec is the canonical spec (its JSON text, byte for byte, so that
	// the signature can be checked); Signature the coordinator's, in hex.
	Spec          string    `json:"spec"`
	Signature     string    `json:"signature"`
	PlannedRounds int       `json:"planned_rounds"`
	Rounds        []FLRound `json:"rounds"`
	// ModelID is the final model's id on this node, once done.
	ModelID string `json:"model_id,omitempty"`
	Error   string `json:"error,omitempty"`
}

// FLGlobal is a federation's current global model, public to its members:
// the standardizer and the parameters (per layer the weights row-major,
// then the biases).
type FLGlobal struct {
	Round      int       `json:"round"`
	Sizes      []int     `json:"sizes"`
	Activation string    `json:"activation"`
	Mean       []float64 `json:"mean"`
	Std        []float64 `json:"std"`
	Params     []float64 `json:"params"`
}
