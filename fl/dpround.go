package fl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/inference/dataset"
	"github.com/aios-edge/aios/inference/train"
	"github.com/aios-edge/aios/mpc"
)

// openBudget makes sure the federation's (ε, δ) budget exists in the
// coordinator's ledger: it creates it with the spec's ε and δ, or accepts
// an existing (ε, δ) budget of that name with the same δ (whose remaining
// ε then bounds the rounds).
func (c *Coordinator) openBudget(fed *Federation) error {
	l := &fed.lit
	if c.cfg.Ledger == nil {
		return specErr("privacy", "record-level DP needs the coordinator's dp ledger")
	}
	b, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: l.Budget, Total: l.Epsilon, Delta: l.Delta,
		Description: fmt.Sprintf("federation %s (%s): record-level DP rounds", l.Name, fed.IDString()[:16])})
	if err != nil {
		return specErr("budget", "%v", err)
	}
	_, err = c.cfg.Ledger.CreateBudget(c.ctx, b, "fl:"+l.Coordinator.Short())
	if !errors.Is(err, dp.ErrBudgetExists) {
		return err
	}
	a, err := c.cfg.Ledger.Accounting(c.ctx, l.Budget)
	if err != nil {
		return err
	}
	if a.Delta != l.Delta {
		return specErr("budget", "budget %q exists with δ = %s, the federation's is %s", l.Budget, a.Delta, l.Delta)
	}
	return nil
}

// budgetLeft returns why the budget admits no further round ("" if it
// admits one), from the ledger's accounting.
func (c *Coordinator) budgetLeft(ctx context.Context, r *fedRun) (string, error) {
	g, err := r.fed.noise()
	if err != nil {
		return "", err
	}
	a, err := c.cfg.Ledger.Accounting(ctx, r.fed.lit.Budget)
	if err != nil {
		return "", err
	}
	if g.RoundsAllowed(a) >= 1 {
		return "", nil
	}
	next, _ := a.Admits(g.RoundRDP())
	return fmt.Sprintf("privacy budget %q exhausted: ε %s of %s spent at δ = %s, the next round would bring it to %s",
		a.Budget, a.Spent, a.Total, a.Delta, next), nil
}

// releaseRound releases a record-level DP round's aggregate through the
// ledger (the debit is durable before the values come back) and returns
// the global model's step: −StepSize(i) times the noised sum of clipped gradients
// divided by the noised count. Without a release nothing is returned, and
// the global model does not move.
func (c *Coordinator) releaseRound(ctx context.Context, r *fedRun, i int, agg *mpc.Aggregate, rs *RoundStatus) ([]float64, error) {
	fed := r.fed
	g, err := fed.noise()
	if err != nil {
		return nil, err
	}
	f := fed.sessionShape(StageTrain, [16]byte{}, nowForCheck).FracBits
	ints := make([]int64, len(agg.Values))
	for j, v := range agg.Values {
		ints[j] = int64(math.Round(math.Ldexp(v, f))) // exact: the session's fixed point
	}
	clear(agg.Values)
	q, err := g.Query(ints, agg.Dealers)
	clear(ints)
	if err != nil {
		return nil, r.roundErr(rs, err)
	}
	id := fed.IDString()
	if h := c.testOnlyBeforeRelease; h != nil {
		h(i)
	}
	rel, err := c.cfg.Ledger.Release(ctx, dp.ReleaseRequest{Budget: fed.lit.Budget, Query: q, Requester: "fl:" + fed.lit.Coordinator.Short(),
		Purpose: fmt.Sprintf("federation %s round %d", id, i), IdempotencyKey: fmt.Sprintf("fl-%s-%d", id[:32], i)})
	if err != nil {
		return nil, r.roundErr(rs, err)
	}
	a, err := c.cfg.Ledger.Accounting(ctx, fed.lit.Budget)
	if err != nil {
		return nil, err
	}
	d := fed.Parameters()
	count := max(rel.Values[d]/(countScale*fed.lit.ClipNorm), 1)
	step, lr := make([]float64, d), fed.StepSize(i)
	for j := range step {
		step[j] = -lr * rel.Values[j] / count
	}
	r.mu.Lock()
	rs.Epsilon, rs.Spent, rs.Seq, rs.Samples = rel.Epsilon, a.Spent, rel.Seq, math.Round(rel.Values[d]/(countScale*fed.lit.ClipNorm))
	r.status.Spent = a.Spent
	r.released++
	r.mu.Unlock()
	return step, nil
}

// roundErr records on a round's status that its aggregate was not
// released, and returns err.
func (r *fedRun) roundErr(rs *RoundStatus, err error) error {
	err = fmt.Errorf("not released: %w", err)
	r.mu.Lock()
	defer r.mu.Unlock()
	rs.Err, rs.Spent = err.Error(), r.status.Spent
	return err
}

// dpInput is a member's input to a record-level DP round: the sum over its
// records of each record's gradient at the global model clipped to ℓ2
// norm C (train.ClippedGradientSum), followed by its count γ·C·n, encoded
// in the session's fixed point, with the member's share of discrete
// Gaussian noise added (dp.DistributedGaussian.AddNoise, from rnd;
// crypto/rand when nil). The values handed to mpc are the noised integers
// scaled by 2^-f, which mpc's encoding maps back to the same integers.
func dpInput(r *Round, d *dataset.Dataset, rnd io.Reader) (mpc.Input, error) {
	v, err := dpContribution(r, d)
	if err != nil {
		return mpc.Input{}, err
	}
	return noised(r.Federation, v, rnd)
}

// dpContribution is a member's un-noised vector of a record-level DP
// round: Σ_records (clip_C(∇ℓ), γ·C). One record moves it by at most
// C' = C·√(1+γ²) in ℓ2 norm.
func dpContribution(r *Round, d *dataset.Dataset) ([]float64, error) {
	fed := r.Federation
	l := &fed.lit
	if d.Len() > l.MaxSamples {
		return nil, specErr("max_samples", "this member holds %d records, the federation admits %d per member", d.Len(), l.MaxSamples)
	}
	global, err := r.Net()
	if err != nil {
		return nil, err
	}
	std := r.Global.Standardizer()
	o := train.GradOptions{Clip: l.ClipNorm}
	if r.Stage == StageQAT {
		o.Bits, o.Std = l.Compression.Bits, std
	}
	sum, err := train.ClippedGradientSum(global, std.Apply(d.X), d.Y, len(l.Model.Classes), o)
	if err != nil {
		return nil, err
	}
	return append(sum, countScale*l.ClipNorm*float64(d.Len())), nil
}

// noised encodes v in a record-dp round's fixed point and adds one
// member's noise share.
func noised(fed *Federation, v []float64, rnd io.Reader) (mpc.Input, error) {
	g, err := fed.noise()
	if err != nil {
		return mpc.Input{}, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	f := fed.sessionShape(StageTrain, [16]byte{}, nowForCheck).FracBits
	ints := make([]int64, len(v))
	for j, x := range v {
		ints[j] = int64(math.Round(math.Ldexp(x, f)))
	}
	n, err := g.AddNoise(rnd, ints)
	clear(ints)
	if err != nil {
		return mpc.Input{}, err
	}
	out := make([]float64, len(n))
	for j, x := range n {
		out[j] = math.Ldexp(float64(x), -f)
	}
	clear(n)
	return mpc.Input{Values: out}, nil
}
