package schema

import "time"

// FLFederationRequest is the body of POST /v1/fl/federations: a
// federation this node coordinates (package fl documents every field).
type FLFederationRequest struct {
	Name string `json:"name"`
	// Members are node ids; empty: this node, then every peer in the peers
	// file. This node must be one of them.
	Members     []string `json:"members,omitempty"`
	Threshold   int      `json:"threshold"`
	Inputs      int      `json:"inputs"`
	Hidden      []int    `json:"hidden"`
	Classes     []string `json:"classes"`
	Activation  string   `json:"activation"`
	Rounds      int      `json:"rounds"`
	LocalEpochs int      `json:"local_epochs"`
	LR          float64  `json:"lr"`
	// LRSchedule: "constant" (or empty) or "cosine", which ends at
	// LRFinal·LR (package fl, ScheduleCosine).
	LRSchedule  string  `json:"lr_schedule,omitempty"`
	LRFinal     float64 `json:"lr_final,omitempty"`
	Batch       int     `json:"batch"`
	Aggregation string  `json:"aggregation"`
	ProxMu      float64 `json:"prox_mu,omitempty"`
	Momentum    float64 `json:"momentum,omitempty"`
	ClipNorm    float64 `json:"clip_norm"`
	Privacy     string  `json:"privacy"`
	// Budget, Epsilon, Delta and NoiseMultiplier: record-dp only. Budget
	// is the (ε, δ) budget in this node's ledger that pays for the rounds
	// (created with total Epsilon and δ Delta unless it exists; empty:
	// "fl-" and 16 hex digits of the federation's nonce); NoiseMultiplier
	// 0 takes the smallest that fits the planned rounds.
	Budget          string  `json:"budget,omitempty"`
	Epsilon         float64 `json:"epsilon,omitempty"`
	Delta           float64 `json:"delta,omitempty"`
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
	Prune           float64 `json:"prune,omitempty"`
	PruneRounds     int     `json:"prune_rounds,omitempty"`
	Bits            int     `json:"bits"`
	QATRounds       int     `json:"qat_rounds,omitempty"`
	MaxSamples      int     `json:"max_samples"`
	FeatureBound    float64 `json:"feature_bound"`
	PhaseSeconds    float64 `json:"phase_seconds"`
	Seed            uint64  `json:"seed,omitempty"`
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
	// Epsilon is the budget's composed ε spent after the round (record-dp:
	// cumulative, from the ledger), or "none" for secure aggregation,
	// which claims no differential privacy and debits nothing.
	// EpsilonRound is what the round's release debited, LedgerSeq its
	// ledger entry (record-dp only).
	Epsilon      string `json:"epsilon"`
	EpsilonRound string `json:"epsilon_round,omitempty"`
	LedgerSeq    int64  `json:"ledger_seq,omitempty"`
	// Accuracy is the float global model's accuracy on the coordinator's
	// evaluation data after the round, a fraction; absent without it.
	Accuracy *float64 `json:"accuracy,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// FLFederationStatus is a federation as its coordinator sees it.
type FLFederationStatus struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Privacy string `json:"privacy"`
	// Epsilon is the composed ε spent so far ("none" for secure
	// aggregation); with record-dp, EpsilonTotal, Delta, Budget and
	// NoiseMultiplier are the spec's, and Stopped says why a federation
	// in state "stopped" ended before its plan.
	Epsilon         string  `json:"epsilon"`
	EpsilonTotal    string  `json:"epsilon_total,omitempty"`
	Delta           float64 `json:"delta,omitempty"`
	Budget          string  `json:"budget,omitempty"`
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
	Stopped         string  `json:"stopped,omitempty"`
	// Spec is the canonical spec (its JSON text, byte for byte, so that
	// the signature can be checked); Signature the coordinator's, in hex.
	Spec          string    `json:"spec"`
	Signature     string    `json:"signature"`
	PlannedRounds int       `json:"planned_rounds"`
	Rounds        []FLRound `json:"rounds"`
	// ModelID is the final model's id on this node, once done.
	ModelID string `json:"model_id,omitempty"`
	Error   string `json:"error,omitempty"`
	// Created is when the coordinator started the federation.
	Created time.Time `json:"created_at"`
}

// FLFederationSummary is one federation in GET /v1/fl/federations.
type FLFederationSummary struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Privacy string `json:"privacy"`
	// Epsilon is the composed ε spent so far ("none" for secure
	// aggregation).
	Epsilon       string    `json:"epsilon"`
	RoundsDone    int       `json:"rounds_done"`
	PlannedRounds int       `json:"planned_rounds"`
	Created       time.Time `json:"created_at"`
}

// FLFederationList is GET /v1/fl/federations: the federations this node
// coordinates, newest first, at most Limit of them; Total counts them all.
type FLFederationList struct {
	Federations []FLFederationSummary `json:"federations"`
	Limit       int                   `json:"limit"`
	Total       int                   `json:"total"`
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
