package inference

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/he"
)

// KeySpec returns the evaluation keys a client must generate to have the
// model evaluated in packing: for batch, the relinearization key only; for
// single, the relinearization key and the Galois keys of the rotations of
// the baby-step giant-step linear transformations, all-zero diagonals left
// out. The parameters are the model's preset.
func (m *Model) KeySpec(packing Packing) (he.KeySpec, error) {
	params, err := he.PresetByName(m.Meta.Preset)
	if err != nil {
		return he.KeySpec{}, fmt.Errorf("%w: model preset: %w", ErrNoPreset, err)
	}
	return m.keySpecFor(packing, params)
}

func (m *Model) keySpecFor(packing Packing, params he.Parameters) (he.KeySpec, error) {
	switch packing {
	case Batch:
		if err := m.Validate(); err != nil {
			return he.KeySpec{}, err
		}
		return he.KeySpec{Relinearization: m.Depth() > 0}, nil
	case Single:
		plan, err := m.PlanFor(Single, params)
		if err != nil {
			return he.KeySpec{}, err
		}
		return he.KeySpec{Relinearization: m.Depth() > 0, GaloisElements: singleGaloisElements(m.Circuit(), plan, params)}, nil
	}
	return he.KeySpec{}, fmt.Errorf("%w: %v", ErrPacking, packing)
}

// modelParams returns the model's preset.
func modelParams(m *Model) (he.Parameters, error) {
	params, err := he.PresetByName(m.Meta.Preset)
	if err != nil {
		return he.Parameters{}, fmt.Errorf("%w: model preset: %w", ErrNoPreset, err)
	}
	return params, nil
}

// checkKeys verifies that keys are for params and hold what spec asks.
func checkKeys(keys *he.EvaluationKeySet, params he.Parameters, spec he.KeySpec, packing Packing) error {
	if keys == nil || keys.Keys == nil {
		return &MissingKeysError{Packing: packing, Relinearization: spec.Relinearization, GaloisElements: spec.GaloisElements}
	}
	if !keys.Params.Equal(params) {
		return &ParamsError{What: "evaluation keys", WantName: params.Name(), WantID: params.ID(), GotName: keys.Params.Name(), GotID: keys.Params.ID()}
	}
	return missingKeys(packing, spec, keys.Spec())
}

// missingKeys is nil when have holds what spec asks for, and otherwise a
// [*MissingKeysError] listing what is missing.
func missingKeys(packing Packing, spec, have he.KeySpec) error {
	if m := spec.Missing(have); !m.Empty() {
		return &MissingKeysError{Packing: packing, Relinearization: m.Relinearization, GaloisElements: m.GaloisElements}
	}
	return nil
}

// checkInput verifies that ct is a well-formed degree-1 ciphertext of
// params at the plan's input level and scale, so that no kernel indexes
// past its limbs and no result is silently wrong.
func checkInput(i int, ct *rlwe.Ciphertext, params he.Parameters, level int, scale float64) error {
	bad := func(field, want, got string) error {
		return &CiphertextError{Index: i, Field: field, Want: want, Got: got}
	}
	if ct == nil || ct.MetaData == nil || len(ct.Value) == 0 {
		return bad("nil", "a ciphertext", "nil or without metadata")
	}
	if ct.Degree() != 1 {
		return bad("degree", "1", fmt.Sprint(ct.Degree()))
	}
	for _, p := range ct.Value {
		if p.N() != params.N() {
			return bad("ring degree", fmt.Sprint(params.N()), fmt.Sprint(p.N()))
		}
		if len(p.Coeffs) != ct.Level()+1 {
			return bad("limbs", fmt.Sprint(ct.Level()+1), fmt.Sprint(len(p.Coeffs)))
		}
		for _, limb := range p.Coeffs {
			if len(limb) != params.N() {
				return bad("ring degree", fmt.Sprint(params.N()), fmt.Sprint(len(limb)))
			}
		}
	}
	if ct.Level() != level {
		return bad("level", fmt.Sprint(level), fmt.Sprint(ct.Level()))
	}
	if !ct.IsNTT || ct.IsMontgomery {
		return bad("layout", "NTT domain, not Montgomery", fmt.Sprintf("NTT %v, Montgomery %v", ct.IsNTT, ct.IsMontgomery))
	}
	if ct.LogDimensions != params.LogMaxDimensions() || !ct.IsBatched {
		return bad("layout", fmt.Sprint(params.LogMaxDimensions()), fmt.Sprint(ct.LogDimensions))
	}
	if got := ct.Scale.Float64(); math.Abs(got-scale) > 1e-9*scale {
		return bad("scale", fmt.Sprintf("2^%.2f", math.Log2(scale)), fmt.Sprintf("2^%.2f", math.Log2(got)))
	}
	return nil
}

// Client is the client side of an encrypted evaluation: it encrypts samples
// in the layout and at the level and scale of the model's plan, and decrypts
// the outputs to logits. It holds the secret key. A Client is not safe for
// concurrent use.
type Client struct {
	features int
	plan     Plan
	params   he.Parameters
	he       *he.Client
	outScale []float64
}

// checkKeyMaterial verifies that km holds a secret key for params.
func checkKeyMaterial(km *he.KeyMaterial, params he.Parameters) error {
	if km == nil || km.SecretKey == nil {
		return fmt.Errorf("%w: no secret key", he.ErrNoSecretKey)
	}
	if !km.Params.Equal(params) {
		return &ParamsError{What: "key material", WantName: params.Name(), WantID: params.ID(), GotName: km.Params.Name(), GotID: km.Params.ID()}
	}
	return nil
}

// NewClient returns a client for m in packing with km's secret key. km
// must be for the model's preset.
func NewClient(m *Model, packing Packing, km *he.KeyMaterial) (*Client, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	if err := checkKeyMaterial(km, params); err != nil {
		return nil, err
	}
	plan, err := m.PlanFor(packing, params)
	if err != nil {
		return nil, err
	}
	return newClient(m, plan, params, km), nil
}

// NewClientForPlan returns a client that encrypts at the level and scale of
// plan (an evaluator's Plan, e.g. the naive baseline's [NaivePlan]).
func NewClientForPlan(m *Model, plan Plan, km *he.KeyMaterial) (*Client, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	if err := checkKeyMaterial(km, params); err != nil {
		return nil, err
	}
	if plan.InputLevel < 0 || plan.InputLevel > params.MaxLevel() || plan.LogInputScale < 1 || plan.LogInputScale > 60 {
		return nil, fmt.Errorf("%w: plan with input level %d, scale 2^%d", ErrNoPreset, plan.InputLevel, plan.LogInputScale)
	}
	if plan.Packing == Single && len(plan.Period) != len(m.Layers)+1 {
		return nil, fmt.Errorf("%w: single plan without periods", ErrPacking)
	}
	return newClient(m, plan, params, km), nil
}

func newClient(m *Model, plan Plan, params he.Parameters, km *he.KeyMaterial) *Client {
	c := m.Circuit()
	return newClientFrom(m.Features(), c[len(c)-1].OutScale, plan, params, km)
}

func newClientFrom(features int, outScale []float64, plan Plan, params he.Parameters, km *he.KeyMaterial) *Client {
	return &Client{features: features, plan: plan, params: params, he: he.NewClient(km), outScale: outScale}
}

// Plan returns the client's plan.
func (c *Client) Plan() Plan { return c.plan }

// MaxBatch is the most samples one batch holds (N/2).
func (c *Client) MaxBatch() int { return c.params.MaxSlots() }

func checkSample(n int, x []float64, features int) error {
	if len(x) != features {
		return &FeatureCountError{Sample: n, Want: features, Got: len(x)}
	}
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("sample %d: %w", n, he.ErrNotFinite)
		}
	}
	return nil
}

// EncryptBatch packs up to [Client.MaxBatch] samples (raw features) into
// one ciphertext per feature: slot n of ciphertext i is feature i of
// sample n.
func (c *Client) EncryptBatch(x [][]float64) ([]*rlwe.Ciphertext, error) {
	vecs, err := c.encryptBatch(x)
	if err != nil {
		return nil, err
	}
	out := make([]*rlwe.Ciphertext, len(vecs))
	for i, v := range vecs {
		out[i] = v.Ciphertext
	}
	return out, nil
}

// encryptBatch is EncryptBatch with each ciphertext seeded (see
// he.Client.EncryptSeededAt), Values the batch's sample count.
func (c *Client) encryptBatch(x [][]float64) ([]he.EncryptedVector, error) {
	if c.plan.Packing != Batch {
		return nil, fmt.Errorf("%w: EncryptBatch on a %v client", ErrPacking, c.plan.Packing)
	}
	if len(x) == 0 || len(x) > c.MaxBatch() {
		return nil, &BatchSizeError{Max: c.MaxBatch(), Got: len(x)}
	}
	features := c.features
	for n, xs := range x {
		if err := checkSample(n, xs, features); err != nil {
			return nil, err
		}
	}
	// One ciphertext per feature, spread over the cores, each goroutine
	// with its own shallow copy of the encoder and encryptor.
	out := make([]he.EncryptedVector, features)
	workers := min(runtime.GOMAXPROCS(0), features)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc := c.he.ShallowCopy()
			col := make([]float64, len(x))
			for i := w; i < features; i += workers {
				for n := range x {
					col[n] = x[n][i]
				}
				v, err := enc.EncryptSeededAt(col, c.plan.InputLevel, c.plan.InputScale())
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = v
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) decrypt(ct *rlwe.Ciphertext) ([]float64, error) {
	if ct == nil || ct.MetaData == nil || ct.Degree() != 1 || ct.Level() > c.params.MaxLevel() || ct.Value[0].N() != c.params.N() {
		return nil, &CiphertextError{Index: 0, Field: "output", Want: "a degree-1 ciphertext of the model's parameters", Got: "another"}
	}
	return c.he.Decrypt(ct, c.params.MaxSlots())
}

// DecryptBatch decrypts the outputs of a batch evaluation (one ciphertext
// per class) and returns the logits of the first n samples.
func (c *Client) DecryptBatch(out []*rlwe.Ciphertext, n int) ([][]float64, error) {
	classes := len(c.outScale)
	if len(out) != classes {
		return nil, &CiphertextError{Index: -1, Field: "count", Want: fmt.Sprint(classes), Got: fmt.Sprint(len(out))}
	}
	if n < 1 || n > c.MaxBatch() {
		return nil, &BatchSizeError{Max: c.MaxBatch(), Got: n}
	}
	logits := make([][]float64, n)
	for s := range logits {
		logits[s] = make([]float64, classes)
	}
	for o, ct := range out {
		v, err := c.decrypt(ct)
		if err != nil {
			return nil, err
		}
		for s := range n {
			logits[s][o] = v[s] // the evaluator folded OutScale into the scale
		}
	}
	return logits, nil
}

// EncryptSingle encrypts one sample for the single packing: slot j of all
// N/2 holds feature j mod Plan.Period[0] (zero past the features), the
// features repeated N/2 / Plan.Period[0] times.
func (c *Client) EncryptSingle(x []float64) (*rlwe.Ciphertext, error) {
	v, err := c.encryptSingle(x)
	return v.Ciphertext, err
}

// encryptSingle is EncryptSingle seeded (see he.Client.EncryptSeededAt),
// Values the feature count.
func (c *Client) encryptSingle(x []float64) (he.EncryptedVector, error) {
	if c.plan.Packing != Single {
		return he.EncryptedVector{}, fmt.Errorf("%w: EncryptSingle on a %v client", ErrPacking, c.plan.Packing)
	}
	if err := checkSample(0, x, c.features); err != nil {
		return he.EncryptedVector{}, err
	}
	v, err := c.he.EncryptSeededAt(replicate(x, c.plan.Period[0], c.params.MaxSlots()), c.plan.InputLevel, c.plan.InputScale())
	v.Values = c.features
	return v, err
}

// DecryptSingle decrypts the output of a single-query evaluation and
// returns the logits (it applies OutScale, which the single packing cannot
// fold into one scale: it differs per slot).
func (c *Client) DecryptSingle(ct *rlwe.Ciphertext) ([]float64, error) {
	v, err := c.decrypt(ct)
	if err != nil {
		return nil, err
	}
	logits := make([]float64, len(c.outScale))
	for o, s := range c.outScale {
		logits[o] = s * v[o]
	}
	return logits, nil
}

// BatchSize is the most samples one encrypted batch holds: N/2 in the
// batch packing (one per slot), 1 in the single packing.
func (c *Client) BatchSize() int {
	if c.plan.Packing == Single {
		return 1
	}
	return c.MaxBatch()
}

// Encrypt encrypts any number of samples (raw features) in the client's
// packing, as batches of up to [Client.BatchSize] samples: in the batch
// packing one ciphertext per feature per batch, each vector's Values the
// batch's sample count; in the single packing one ciphertext per sample,
// Values the feature count. The vectors are what a node's [Server] takes,
// in order; [Client.Decrypt] reads its answer. Each ciphertext is seeded
// (he.Client.EncryptSeededAt), so that he.WriteCompactCiphertextFile sends
// its seed instead of its c1.
func (c *Client) Encrypt(x [][]float64) ([]he.EncryptedVector, error) {
	if len(x) == 0 {
		return nil, &BatchSizeError{Max: c.BatchSize(), Got: 0}
	}
	var out []he.EncryptedVector
	for start := 0; start < len(x); start += c.BatchSize() {
		part := x[start:min(start+c.BatchSize(), len(x))]
		if c.plan.Packing == Single {
			v, err := c.encryptSingle(part[0])
			if err != nil {
				return nil, fmt.Errorf("sample %d: %w", start, err)
			}
			out = append(out, v)
			continue
		}
		vecs, err := c.encryptBatch(part)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// Decrypt decrypts a node's answer to the encryption of n samples and
// returns their logits, in the order they were encrypted. An answer that
// does not fit n samples is a [*CiphertextError].
func (c *Client) Decrypt(out []he.EncryptedVector, n int) ([][]float64, error) {
	classes := len(c.outScale)
	per := classes // output ciphertexts per batch
	if c.plan.Packing == Single {
		per = 1
	}
	if want := (n + c.BatchSize() - 1) / c.BatchSize() * per; n < 1 || len(out) != want {
		return nil, &CiphertextError{Index: -1, Field: "count", Want: fmt.Sprintf("%d for %d samples", want, n), Got: fmt.Sprint(len(out))}
	}
	logits := make([][]float64, 0, n)
	for b := 0; b < len(out); b += per {
		if c.plan.Packing == Single {
			l, err := c.DecryptSingle(out[b].Ciphertext)
			if err != nil {
				return nil, err
			}
			logits = append(logits, l)
			continue
		}
		cts := make([]*rlwe.Ciphertext, per)
		for o := range cts {
			cts[o] = out[b+o].Ciphertext
		}
		l, err := c.DecryptBatch(cts, min(c.BatchSize(), n-len(logits)))
		if err != nil {
			return nil, err
		}
		logits = append(logits, l...)
	}
	return logits, nil
}

// replicate returns slots values where value j is x[j mod period], or
// zero where j mod period ≥ len(x): x in a period-long block, zero padded,
// repeated over all slots.
func replicate(x []float64, period, slots int) []float64 {
	out := make([]float64, slots)
	for j := range out {
		if k := j % period; k < len(x) {
			out[j] = x[k]
		}
	}
	return out
}
