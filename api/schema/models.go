package schema

import (
	"fmt"
	"time"

	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// ModelInfo is what a client needs to use a model without its weights: the
// input width, the classes, the preset, and per packing the keys to
// generate and the plan (level and scale of the inputs, replication
// periods).
type ModelInfo struct {
	ID       string             `json:"id"`
	Name     string             `json:"name"`
	Features int                `json:"features"`
	Classes  []string           `json:"classes"`
	Preset   string             `json:"preset"`
	ParamsID string             `json:"params_id"`
	Depth    int                `json:"depth"`
	Bytes    int                `json:"bytes"`
	Accuracy inference.Accuracy `json:"accuracy"`
	// Dataset and SplitSeed name the data the model was trained on and the
	// seed of its stratified 80/20 split, so a client can reproduce the test
	// split the accuracy figures come from.
	Dataset   string `json:"dataset"`
	SplitSeed uint64 `json:"split_seed"`
	// FeatureRanges holds, per feature, the smallest and largest value of
	// the training split, in the units the model takes: raw features, as
	// in the training data (the standardisation is folded into layer 0).
	// A client checks its rows against them before encrypting
	// (inference.CheckRanges); empty for a model that records none.
	FeatureRanges []inference.FeatureRange `json:"feature_ranges,omitempty"`
	Packings      map[string]PackingInfo   `json:"packings"`
	CreatedAt     time.Time                `json:"created_at"`
}

// PackingInfo is one packing's client contract.
type PackingInfo struct {
	Relinearization bool     `json:"relinearization"`
	GaloisElements  []uint64 `json:"galois_elements"`
	InputLevel      int      `json:"input_level"`
	LogInputScale   int      `json:"log_input_scale"`
	OutputLevel     int      `json:"output_level"`
	// Period (single packing) is the replication period of the slots at
	// each layer boundary (inference.Plan.Period). The input ciphertext's
	// slot j, for every j in [0, N/2), holds feature j mod Period[0], and
	// zero where j mod Period[0] ≥ features: the features repeated Replicas
	// times over all slots.
	Period []int `json:"period,omitempty"`
	// Replicas (single packing) is how many copies of the features the
	// input holds: N/2 / Period[0].
	Replicas int `json:"replicas,omitempty"`
	// OutScale (single packing) multiplies decrypted output slot o to give
	// logit o; the batch packing folds it into the ciphertexts' scale.
	OutScale []float64 `json:"out_scale,omitempty"`
	// MaxSamples is how many samples one request of this packing carries
	// per batch (batch: N/2 per set of feature ciphertexts; single: 1 per
	// ciphertext).
	MaxSamples int `json:"max_samples"`
}

// NewPackingInfo is the contract of one packing as the node publishes it.
func NewPackingInfo(c inference.Contract) PackingInfo {
	pi := PackingInfo{Relinearization: c.Keys.Relinearization, GaloisElements: c.Keys.GaloisElements,
		InputLevel: c.Plan.InputLevel, LogInputScale: c.Plan.LogInputScale, OutputLevel: c.Plan.OutputLevel,
		Period: c.Plan.Period, OutScale: c.OutScale, MaxSamples: c.BatchSize}
	if pi.GaloisElements == nil {
		pi.GaloisElements = []uint64{}
	}
	pi.Replicas = c.Replicas
	return pi
}

// Contract returns the client contract of one packing (the inverse of
// [NewPackingInfo]), from which inference.NewContractClient makes a client.
func (info ModelInfo) Contract(packing inference.Packing) (inference.Contract, error) {
	pi, ok := info.Packings[packing.String()]
	if !ok {
		return inference.Contract{}, fmt.Errorf("%w: model %.16s offers no %v packing", inference.ErrPacking, info.ID, packing)
	}
	return inference.Contract{Packing: packing, Preset: info.Preset, Features: info.Features, Classes: len(info.Classes),
		Keys: he.KeySpec{Relinearization: pi.Relinearization, GaloisElements: pi.GaloisElements},
		Plan: inference.Plan{Packing: packing, Preset: info.Preset, InputLevel: pi.InputLevel, LogInputScale: pi.LogInputScale,
			OutputLevel: pi.OutputLevel, Period: pi.Period},
		OutScale: pi.OutScale, BatchSize: pi.MaxSamples, Replicas: pi.Replicas}, nil
}
