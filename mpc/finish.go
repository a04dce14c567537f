package mpc

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc/internal/field"
)

func nodekeyVerify(id NodeID, env *Envelope) error {
	return nodekey.PublicKey(id).Verify(env.signedBytes(), env.Sig[:])
}

// Release is a session's released result: the aggregate after dp noise and
// the operation's post-processing, with 95% confidence intervals.
type Release struct {
	Operation Operation
	Values    []float64
	CI        []dp.Interval
	Epsilon   dp.MicroEpsilon
	// Seqs are the ledger entries that paid for the release (one per chunk
	// of at most dpMaxDim coordinates).
	Seqs []int64
	// Dealers is the number of inputs combined (the m of a mean).
	Dealers int
}

// Aggregate is the exact result of a ReleaseExact session: the aggregate
// post-processed as a Release's values (a mean divided by the dealers, a
// weighted mean by the total weight), without noise.
type Aggregate struct {
	Operation Operation
	Values    []float64
	// Weight is the total weight Σ w of the included dealers (weighted
	// mean only).
	Weight  float64
	Dealers int
}

// TakeAggregate returns the exact aggregate of a finished ReleaseExact
// session this node coordinated, once: the node keeps no copy afterwards.
func (n *Node) TakeAggregate(session [32]byte) (*Aggregate, error) {
	n.mu.Lock()
	r := n.sessions[session]
	n.mu.Unlock()
	if r == nil {
		return nil, ErrUnknownSession
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.lit.Release != ReleaseExact || r.me != r.s.coord {
		return nil, fmt.Errorf("%w: not an exact-release session coordinated by this node", ErrUnexpected)
	}
	agg := r.aggregate
	if agg == nil {
		return nil, fmt.Errorf("%w: no aggregate to take (session %s, or already taken)", ErrUnexpected, r.outcome.State)
	}
	r.aggregate = nil
	return agg, nil
}

// dpMaxDim mirrors dp's limit on coordinates per vector release; wider
// aggregates are released in chunks whose ε add up to the session's ε.
const dpMaxDim = 1 << 16

// maxSubsets bounds the search for a consistent set of output shares.
const maxSubsets = 1 << 14

// finish runs on the coordinator: collect output shares, reconstruct
// robustly, decode, and release through dp.
func (r *run) finish(ctx context.Context, holders []int, dealers int) error {
	s := r.s
	width := s.width
	if s.lit.Operation == OpDotProduct {
		width = 1
	}
	got := r.collect(ctx, KindOutput, 0, holders, s.lit.OutputBy)
	t0 := time.Now()
	var xs []field.Element
	var ys [][]field.Element
	var from []int
	for _, i := range holders {
		e := got[i]
		if e == nil || len(e.Body) != width*field.Size+tagSize {
			continue
		}
		plain, err := r.open(i, KindOutput, 0, e.Body)
		if err != nil {
			continue
		}
		v, err := parseElems(plain, width, "output")
		if err != nil {
			continue
		}
		xs, ys, from = append(xs, xOf(i)), append(ys, v), append(from, i)
	}
	if len(ys) < s.T() {
		return fmt.Errorf("%w: %d output shares, need t = %d", ErrTooFewParties, len(ys), s.T())
	}
	stream, err := newStream(r.cfg().Rand)
	if err != nil {
		return fmt.Errorf("mpc: randomness: %w", err)
	}
	secret, wrong, err := reconstruct(xs, ys, s.T(), randElement(stream))
	if err != nil {
		return err
	}
	if len(wrong) > 0 {
		var bad []int
		for _, k := range wrong {
			bad = append(bad, from[k])
		}
		wrongIDs := r.ids(bad)
		r.mu.Lock()
		r.outcome.WrongOutput = wrongIDs
		r.mu.Unlock()
		short := make([]string, len(wrongIDs))
		for k, id := range wrongIDs {
			short[k] = id.Short()
		}
		r.cfg().Logger.Warn("mpc: wrong output shares", "session", s.IDString(), "nodes", short)
	}
	raw := make([]float64, len(secret))
	for j, e := range secret {
		bits := s.outBits
		if s.lit.Operation == OpVariance && j < s.lit.Dimension {
			bits = s.lit.FracBits
		}
		raw[j] = decodeFixed(e, bits)
	}
	r.addTime(&r.outcome.Stats.Reconstruct, t0)
	if h := r.node.rawForTesting; h != nil {
		r.mu.Lock()
		o := *r.outcome
		r.mu.Unlock()
		h(raw, &o)
		return nil
	}
	if s.lit.Release == ReleaseExact {
		// finalize returns raw itself for a sum: copy before clearing it.
		values, _ := finalize(s, slices.Clone(raw), make([]dp.Interval, len(raw)), dealers)
		agg := &Aggregate{Operation: s.lit.Operation, Values: values, Dealers: dealers}
		if s.lit.Operation == OpWeightedMean {
			agg.Weight = raw[s.lit.Dimension]
		}
		clear(raw)
		r.mu.Lock()
		r.aggregate = agg
		r.outcome.Aggregated = true
		r.mu.Unlock()
		return nil
	}
	rel, err := r.release(ctx, raw, dealers)
	clear(raw)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.outcome.Release = rel
	r.mu.Unlock()
	return nil
}

// reconstruct interpolates the shares' common polynomial at 0 per
// coordinate. It compresses each share vector to Σ_j μ^j y_j (μ drawn after
// the shares arrived), finds a t-subset whose polynomial agrees with at
// least ⌈(m+t)/2⌉ of the m compressed shares — then unique: two such
// polynomials would share t points — and names the shares that disagree.
func reconstruct(xs []field.Element, ys [][]field.Element, t int, mu field.Element) ([]field.Element, []int, error) {
	m := len(ys)
	z := make([]field.Element, m)
	for i, y := range ys {
		z[i] = combine(y, mu)
	}
	need := (m + t + 1) / 2
	idx := make([]int, t)
	for k := range idx {
		idx[k] = k
	}
	var agree []int
	for tries := 0; tries < maxSubsets; tries++ {
		sub := make([]field.Element, t)
		for k, i := range idx {
			sub[k] = xs[i]
		}
		agree = agree[:0]
		for i := range m {
			if slices.Contains(idx, i) {
				agree = append(agree, i)
				continue
			}
			lam, ok := field.LagrangeAt(sub, xs[i])
			if !ok {
				return nil, nil, fmt.Errorf("%w: duplicate evaluation points", ErrInconsistentOutput)
			}
			var v field.Element
			for k, j := range idx {
				v = field.Add(v, field.Mul(lam[k], z[j]))
			}
			if field.Equal(v, z[i]) {
				agree = append(agree, i)
			}
		}
		if len(agree) >= need {
			break
		}
		agree = nil
		if !nextCombination(idx, m) {
			break
		}
	}
	if agree == nil {
		return nil, nil, ErrInconsistentOutput
	}
	var wrong []int
	for i := range m {
		if !slices.Contains(agree, i) {
			wrong = append(wrong, i)
		}
	}
	use := agree[:t]
	sub := make([]field.Element, t)
	for k, i := range use {
		sub[k] = xs[i]
	}
	lam, _ := field.LagrangeAtZero(sub)
	out := make([]field.Element, len(ys[0]))
	for j := range out {
		var acc field.Element
		for k, i := range use {
			acc = field.Add(acc, field.Mul(lam[k], ys[i][j]))
		}
		out[j] = acc
	}
	return out, wrong, nil
}

// nextCombination advances idx to the next t-subset of [0, m) in
// lexicographic order.
func nextCombination(idx []int, m int) bool {
	t := len(idx)
	for k := t - 1; k >= 0; k-- {
		if idx[k] < m-t+k {
			idx[k]++
			for j := k + 1; j < t; j++ {
				idx[j] = idx[j-1] + 1
			}
			return true
		}
	}
	return false
}

// release sends the raw aggregate through dp (debit first, then Laplace
// noise) and post-processes the noised values. The session's spender pays:
// dp refuses the debit if its grant was revoked since the proposal.
func (r *run) release(ctx context.Context, raw []float64, dealers int) (*Release, error) {
	s := r.s
	l := r.cfg().Ledger
	if l == nil {
		return nil, fmt.Errorf("mpc: the coordinator has no dp ledger to release through")
	}
	eps := s.lit.Epsilon
	requester := "mpc:" + s.lit.Coordinator.Short()
	if r.spender != nil && r.spender.Name != "" {
		requester += " for " + r.spender.Name
	}
	rel := &Release{Operation: s.lit.Operation, Epsilon: eps, Dealers: dealers}
	var noised []float64
	var cis []dp.Interval
	for c, ch := range s.chunks { // validated by NewSessionFromLiteral
		q, err := ch.mech.Query(raw[ch.lo:ch.hi]...)
		if err != nil {
			return nil, err
		}
		out, err := l.Release(ctx, dp.ReleaseRequest{Budget: s.lit.Budget, Query: q, Requester: requester, Spender: r.spender,
			Purpose: "mpc session " + s.IDString(), IdempotencyKey: fmt.Sprintf("mpc-%s-%d", hex.EncodeToString(s.id[:16]), c)})
		if err != nil {
			return nil, err
		}
		rel.Seqs = append(rel.Seqs, out.Seq)
		noised = append(noised, out.Values...)
		cis = append(cis, out.CI...)
	}
	rel.Values, rel.CI = finalize(s, noised, cis, dealers)
	return rel, nil
}

// finalize turns released sums into the operation's result; this is
// post-processing of dp output and costs no privacy.
func finalize(s *Session, v []float64, ci []dp.Interval, m int) ([]float64, []dp.Interval) {
	l := &s.lit
	d := l.Dimension
	fm := float64(max(m, 1))
	switch l.Operation {
	case OpMean:
		out, oci := make([]float64, d), make([]dp.Interval, d)
		for j := range d {
			out[j] = clamp(v[j]/fm, l.Lower, l.Upper)
			oci[j] = dp.Interval{Lower: clamp(ci[j].Lower/fm, l.Lower, l.Upper), Upper: clamp(ci[j].Upper/fm, l.Lower, l.Upper)}
		}
		return out, oci
	case OpWeightedMean:
		out, oci := make([]float64, d), make([]dp.Interval, d)
		w, wci := v[d], ci[d]
		for j := range d {
			out[j] = l.Lower
			if w > 0 {
				out[j] = clamp(v[j]/w, l.Lower, l.Upper)
			}
			oci[j] = dp.Interval{Lower: l.Lower, Upper: l.Upper}
			if wci.Lower > 0 {
				c := []float64{ci[j].Lower / wci.Lower, ci[j].Lower / wci.Upper, ci[j].Upper / wci.Lower, ci[j].Upper / wci.Upper}
				oci[j] = dp.Interval{Lower: clamp(slices.Min(c), l.Lower, l.Upper), Upper: clamp(slices.Max(c), l.Lower, l.Upper)}
			}
		}
		return out, oci
	case OpVariance:
		out, oci := make([]float64, d), make([]dp.Interval, d)
		for j := range d {
			mean := v[j] / fm
			out[j] = max(v[d+j]/fm-mean*mean, 0)
			mlo, mhi := ci[j].Lower/fm, ci[j].Upper/fm
			sqMax := max(mlo*mlo, mhi*mhi)
			sqMin := min(mlo*mlo, mhi*mhi)
			if mlo <= 0 && mhi >= 0 {
				sqMin = 0
			}
			oci[j] = dp.Interval{Lower: max(ci[d+j].Lower/fm-sqMax, 0), Upper: max(ci[d+j].Upper/fm-sqMin, 0)}
		}
		return out, oci
	}
	return v, ci
}
