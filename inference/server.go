package inference

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/he"
)

// Packings lists the packings every model is served in.
func Packings() []Packing { return []Packing{Batch, Single} }

// Server is the server side of encrypted inference for one model, in
// either packing: it publishes the model's client contracts, checks a
// client's evaluation keys and encrypted inputs against what the model
// needs, and evaluates them. It is the only place that knows how each
// packing lays out its ciphertexts on the server; a node names a packing
// only to parse it from a request. A Server is safe for concurrent use.
type Server struct {
	model     *Model
	params    he.Parameters
	backend   accel.Backend
	contracts map[Packing]Contract
}

// NewServer prepares m for encrypted inference, with the batch packing's
// dense layers on backend (nil: the pure-Go cpu backend). It computes the
// plans and contracts of both packings once.
func NewServer(m *Model, backend accel.Backend) (*Server, error) {
	params, err := modelParams(m)
	if err != nil {
		return nil, err
	}
	if backend == nil {
		backend = accel.CPU()
	}
	s := &Server{model: m, params: params, backend: backend, contracts: map[Packing]Contract{}}
	for _, p := range Packings() {
		c, err := m.Contract(p)
		if err != nil {
			return nil, err
		}
		s.contracts[p] = c
	}
	return s, nil
}

// Model returns the served model.
func (s *Server) Model() *Model { return s.model }

// Params returns the model's parameters, under which inputs and outputs
// are encrypted.
func (s *Server) Params() he.Parameters { return s.params }

// Contract returns the client contract of packing.
func (s *Server) Contract(packing Packing) (Contract, error) {
	c, ok := s.contracts[packing]
	if !ok {
		return Contract{}, fmt.Errorf("%w: %v", ErrPacking, packing)
	}
	return c, nil
}

// CheckKeys checks a client's evaluation keys, known by their preset and
// what they hold, against what packing needs: a preset other than the
// model's wraps he.ErrParamsMismatch; missing keys are a
// [*MissingKeysError]. It lets a node refuse a request before it reads the
// body or loads the keys.
func (s *Server) CheckKeys(packing Packing, preset string, have he.KeySpec) error {
	c, err := s.Contract(packing)
	if err != nil {
		return err
	}
	if preset != s.params.Name() {
		return fmt.Errorf("%w: the model needs keys for preset %s, the key set is for %s", he.ErrParamsMismatch, s.params.Name(), preset)
	}
	return missingKeys(packing, c.Keys, have)
}

// Input is an encrypted input that [Server.CheckInput] found to fit the
// model's plan: whole batches of one packing.
type Input struct {
	packing Packing
	batches [][]*rlwe.Ciphertext // batch: one per feature; single: one per sample
	values  []int                // samples in each batch (batch), or features (single)
	samples int
	// params is set on an input read from a file (ReadInput), whose
	// ciphertexts nothing else holds, so that Release may hand them on.
	params   *he.Parameters
	released bool
}

// errReleased is what evaluating a released input gives.
var errReleased = errors.New("inference: the input was released")

// Release hands the memory of an input read by [Server.ReadInput] to later
// reads of ciphertext files (he.ReleaseCiphertexts): call it once the
// evaluation of the input has returned and its outputs are written, and
// not while anything may still read its ciphertexts. The input keeps its
// shape but can no longer be evaluated. Release does nothing to an input
// made from caller-held ciphertexts ([Server.CheckInput]), nor twice.
func (in *Input) Release() {
	if in.params == nil || in.released {
		return
	}
	in.released = true
	for _, batch := range in.batches {
		he.ReleaseCiphertexts(*in.params, batch...)
		clear(batch)
	}
}

// Packing is the input's packing.
func (in *Input) Packing() Packing { return in.packing }

// Batches counts the units an evaluation proceeds by: sets of feature
// ciphertexts in the batch packing, queries in the single packing.
func (in *Input) Batches() int { return len(in.batches) }

// Samples counts the samples the input holds.
func (in *Input) Samples() int { return in.samples }

// ReadInput reads a ciphertext file (he's framing, ciphertexts of degree 1
// only) and checks it with [Server.CheckInput].
func (s *Server) ReadInput(packing Packing, r io.Reader) (*Input, error) {
	vecs, err := he.ReadCiphertextFile(r, s.params, he.Limits{MaxCiphertextDegree: 1})
	if err != nil {
		return nil, err
	}
	in, err := s.CheckInput(packing, vecs)
	if err != nil {
		for _, v := range vecs { // read here, held by nothing else
			he.ReleaseCiphertexts(s.params, v.Ciphertext)
		}
		return nil, err
	}
	in.params = &s.params
	return in, nil
}

// CheckInput checks encrypted vectors against the plan of packing: every
// ciphertext well formed at the plan's input level and scale; in the batch
// packing, a whole number of batches of one ciphertext per feature, all
// ciphertexts of a batch holding the same number of samples; in the single
// packing, at least one query. A misfit is a [*CiphertextError].
func (s *Server) CheckInput(packing Packing, vecs []he.EncryptedVector) (*Input, error) {
	c, err := s.Contract(packing)
	if err != nil {
		return nil, err
	}
	return s.CheckInputAt(c.Plan, vecs)
}

// CheckInputAt is [Server.CheckInput] against another plan of the model: an
// evaluator's own, such as the naive baseline's [NaivePlan].
func (s *Server) CheckInputAt(plan Plan, vecs []he.EncryptedVector) (*Input, error) {
	c, err := s.newInputCheck(plan)
	if err != nil {
		return nil, err
	}
	for _, v := range vecs {
		if err := c.add(v); err != nil {
			return nil, err
		}
	}
	shape, err := c.shape()
	if err != nil {
		return nil, err
	}
	in := &Input{packing: plan.Packing, values: c.values, samples: shape.Samples}
	for b := 0; b < len(vecs); b += c.per {
		batch := make([]*rlwe.Ciphertext, c.per)
		for i := range batch {
			batch[i] = vecs[b+i].Ciphertext
		}
		in.batches = append(in.batches, batch)
	}
	return in, nil
}

// InputShape is what checking an input tells of it without keeping it.
type InputShape struct {
	Batches, Samples int
}

// ScanInput checks a ciphertext file as [Server.ReadInput] does but holds
// one ciphertext at a time (he.ScanCiphertextFile), so that an input of
// any size is checked in a ciphertext's memory, and returns its shape.
func (s *Server) ScanInput(packing Packing, r io.Reader) (InputShape, error) {
	ct, err := s.Contract(packing)
	if err != nil {
		return InputShape{}, err
	}
	c, err := s.newInputCheck(ct.Plan)
	if err != nil {
		return InputShape{}, err
	}
	if err := he.ScanCiphertextFile(r, s.params, he.Limits{MaxCiphertextDegree: 1}, c.add); err != nil {
		return InputShape{}, err
	}
	return c.shape()
}

// WorkingBytes bounds the memory an evaluation of batches batches of
// packing holds beyond the evaluator: its decoded input ciphertexts, its
// output ciphertexts and their encoding, each ciphertext of degree 1 at
// the plan's input level (outputs are at that level or below). A node
// reserves it before it decodes a stored input.
func (s *Server) WorkingBytes(packing Packing, batches int) (int64, error) {
	c, err := s.Contract(packing)
	if err != nil {
		return 0, err
	}
	in, out := 1, 1 // ciphertexts per batch
	if packing == Batch {
		in, out = s.model.Features(), s.model.Layers[len(s.model.Layers)-1].Out
	}
	ct := int64(2 * s.params.N() * (c.Plan.InputLevel + 1) * 8)
	return int64(batches) * int64(in+2*out) * ct, nil
}

// InputWorkingBytes is WorkingBytes for an input of the given number of
// ciphertexts (whole batches of them in the batch packing, rounded up).
func (s *Server) InputWorkingBytes(packing Packing, ciphertexts int) (int64, error) {
	per := 1
	if packing == Batch {
		per = s.model.Features()
	}
	return s.WorkingBytes(packing, max(1, (ciphertexts+per-1)/per))
}

// inputCheck checks an input's ciphertexts one at a time against a plan:
// each well formed at the plan's input level and scale; in the batch
// packing, a whole number of batches of one ciphertext per feature, all
// ciphertexts of a batch holding the same number of samples; in the single
// packing, at least one query.
type inputCheck struct {
	s      *Server
	plan   Plan
	per    int   // ciphertexts per batch
	n      int   // ciphertexts checked
	values []int // samples in each batch (batch), or features (single)
}

func (s *Server) newInputCheck(plan Plan) (*inputCheck, error) {
	if _, err := s.Contract(plan.Packing); err != nil {
		return nil, err
	}
	c := &inputCheck{s: s, plan: plan, per: 1}
	if plan.Packing == Batch {
		c.per = s.model.Features()
	}
	return c, nil
}

// add checks the next ciphertext; it does not keep it.
func (c *inputCheck) add(v he.EncryptedVector) error {
	if err := checkInput(c.n, v.Ciphertext, c.s.params, c.plan.InputLevel, c.plan.InputScale()); err != nil {
		return err
	}
	switch {
	case c.n%c.per == 0:
		c.values = append(c.values, v.Values)
	case c.plan.Packing == Batch && v.Values != c.values[len(c.values)-1]:
		return &CiphertextError{Index: c.n, Field: "values", Want: fmt.Sprint(c.values[len(c.values)-1]), Got: fmt.Sprint(v.Values)}
	}
	c.n++
	return nil
}

// shape checks the count of what was added and returns the input's shape.
func (c *inputCheck) shape() (InputShape, error) {
	if c.n == 0 || c.n%c.per != 0 {
		want := "at least 1"
		if c.per > 1 {
			want = fmt.Sprintf("a multiple of %d (one ciphertext per feature per batch)", c.per)
		}
		return InputShape{}, &CiphertextError{Index: -1, Field: "count", Want: want, Got: fmt.Sprint(c.n)}
	}
	shape := InputShape{Batches: len(c.values), Samples: len(c.values)}
	if c.plan.Packing == Batch {
		shape.Samples = 0
		for _, n := range c.values {
			shape.Samples += n
		}
	}
	return shape, nil
}

// EncryptedEvaluator evaluates checked inputs of one packing on one
// client's evaluation keys. [*BatchEvaluator] and [*SingleEvaluator] are
// both; [Server.NewEvaluator] returns the one a packing needs.
type EncryptedEvaluator interface {
	// Plan is the level and scale the evaluator expects its inputs at.
	Plan() Plan
	// EvaluateInput evaluates every batch of in and returns the encrypted
	// outputs in order (the framing [Client.Decrypt] takes), calling
	// progress (if not nil) with the number of batches just finished.
	EvaluateInput(ctx context.Context, in *Input, progress func(batches int)) ([]he.EncryptedVector, error)
}

var (
	_ EncryptedEvaluator = (*BatchEvaluator)(nil)
	_ EncryptedEvaluator = (*SingleEvaluator)(nil)
)

// NewEvaluator returns the evaluator of packing on a client's evaluation
// keys (checked against what the packing needs). Building one costs more
// than evaluating a batch (a worker pool; in the single packing, the
// encoded diagonals), so a node keeps them for reuse.
func (s *Server) NewEvaluator(packing Packing, keys *he.EvaluationKeySet) (EncryptedEvaluator, error) {
	switch packing {
	case Batch:
		return NewBatchEvaluatorOn(s.backend, s.model, keys)
	case Single:
		return NewSingleEvaluator(s.model, keys)
	}
	return nil, fmt.Errorf("%w: %v", ErrPacking, packing)
}

// EvaluateInput evaluates each batch of feature ciphertexts in turn; an
// output vector holds as many samples as its batch did.
func (e *BatchEvaluator) EvaluateInput(ctx context.Context, in *Input, progress func(int)) ([]he.EncryptedVector, error) {
	if in.packing != Batch {
		return nil, fmt.Errorf("%w: a %v input to the batch evaluator", ErrPacking, in.packing)
	}
	if in.released {
		return nil, errReleased
	}
	var out []he.EncryptedVector
	for b, batch := range in.batches {
		res, err := e.Evaluate(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, ct := range res {
			out = append(out, he.EncryptedVector{Values: in.values[b], Ciphertext: ct})
		}
		if progress != nil {
			progress(1)
		}
	}
	return out, nil
}

// singleChunk is how many queries [SingleEvaluator.EvaluateInput] runs at
// once, spread over the cores, between two progress reports.
const singleChunk = 16

// EvaluateInput evaluates the queries concurrently, [singleChunk] at a
// time; output vector q holds the class slots of query q.
func (e *SingleEvaluator) EvaluateInput(ctx context.Context, in *Input, progress func(int)) ([]he.EncryptedVector, error) {
	if in.packing != Single {
		return nil, fmt.Errorf("%w: a %v input to the single evaluator", ErrPacking, in.packing)
	}
	if in.released {
		return nil, errReleased
	}
	classes := len(e.circuit[len(e.circuit)-1].OutScale)
	out := make([]he.EncryptedVector, 0, len(in.batches))
	for b := 0; b < len(in.batches); b += singleChunk {
		chunk := in.batches[b:min(b+singleChunk, len(in.batches))]
		cts := make([]*rlwe.Ciphertext, len(chunk))
		for i, q := range chunk {
			cts[i] = q[0]
		}
		res, err := e.EvaluateMany(ctx, cts)
		if err != nil {
			return nil, err
		}
		for _, ct := range res {
			out = append(out, he.EncryptedVector{Values: classes, Ciphertext: ct})
		}
		if progress != nil {
			progress(len(chunk))
		}
	}
	return out, nil
}
