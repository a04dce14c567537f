package inference

import (
	"fmt"
	"slices"

	"github.com/aios-edge/aios/he"
)

// Contract is what a client needs to use a model in one packing without its
// weights: the input width, the number of classes, the keys to generate,
// the plan (level and scale of the inputs, replication periods) and, for the
// single packing, the output scales. A node publishes it (GET
// /v1/models/{id}); [NewContractClient] turns it into a [Client].
type Contract struct {
	Packing  Packing
	Preset   string
	Features int
	Classes  int
	Keys     he.KeySpec
	Plan     Plan
	// BatchSize is the most samples one encrypted batch holds: N/2 in the
	// batch packing, 1 in the single packing ([Client.BatchSize]).
	BatchSize int
	// Replicas (single packing) is how many copies of the features an
	// input ciphertext holds: N/2 / Plan.Period[0] (slot j holds feature
	// j mod Period[0]); 0 in the batch packing.
	Replicas int
	// OutScale (single packing) multiplies decrypted output slot o to give
	// logit o; the batch packing folds it into the output ciphertexts'
	// scale, so it is nil there.
	OutScale []float64
}

// Contract returns m's client contract for packing.
func (m *Model) Contract(packing Packing) (Contract, error) {
	params, err := modelParams(m)
	if err != nil {
		return Contract{}, err
	}
	plan, err := m.PlanFor(packing, params)
	if err != nil {
		return Contract{}, err
	}
	spec, err := m.keySpecFor(packing, params)
	if err != nil {
		return Contract{}, err
	}
	c := Contract{Packing: packing, Preset: params.Name(), Features: m.Features(), Classes: len(m.Meta.Classes), Keys: spec, Plan: plan,
		BatchSize: params.MaxSlots()}
	if packing == Single {
		circuit := m.Circuit()
		c.OutScale = slices.Clone(circuit[len(circuit)-1].OutScale)
		c.BatchSize = 1
		c.Replicas = params.MaxSlots() / plan.Period[0]
	}
	return c, nil
}

// NewContractClient returns a client for a model known only by its
// contract, with km's secret key; km must be for the contract's preset.
func NewContractClient(c Contract, km *he.KeyMaterial) (*Client, error) {
	params, err := he.PresetByName(c.Preset)
	if err != nil {
		return nil, fmt.Errorf("%w: contract preset: %w", ErrNoPreset, err)
	}
	if err := checkKeyMaterial(km, params); err != nil {
		return nil, err
	}
	plan := c.Plan
	switch {
	case c.Features < 1 || c.Classes < 1:
		return nil, fmt.Errorf("%w: contract with %d features and %d classes", ErrMalformed, c.Features, c.Classes)
	case plan.Packing != c.Packing:
		return nil, fmt.Errorf("%w: contract for %v with a %v plan", ErrPacking, c.Packing, plan.Packing)
	case plan.InputLevel < 0 || plan.InputLevel > params.MaxLevel() || plan.LogInputScale < 1 || plan.LogInputScale > 60:
		return nil, fmt.Errorf("%w: plan with input level %d, scale 2^%d", ErrNoPreset, plan.InputLevel, plan.LogInputScale)
	case c.Packing == Single && (len(plan.Period) == 0 || plan.Period[0] < c.Features || len(c.OutScale) != c.Classes):
		return nil, fmt.Errorf("%w: single-packing contract without periods or output scales", ErrPacking)
	}
	outScale := c.OutScale
	if c.Packing == Batch {
		outScale = make([]float64, c.Classes) // only its length is used
	}
	return newClientFrom(c.Features, outScale, plan, params, km), nil
}
