package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// fitConfig is one training run of a net.
type fitConfig struct {
	epochs      int
	batch       int
	lr          float64
	weightDecay float64
	clip        float64 // global gradient-norm clip; 0 for none
	// Distillation (Hinton, Vinyals, Dean, "Distilling the Knowledge in a
	// Neural Network", 2015): soft targets softmax(teacher/T) weighted
	// alpha (the gradient scaled by T² as there), hard labels 1 − alpha.
	teacher [][]float64
	temp    float64
	alpha   float64
	// weights returns the weights the forward pass uses (the net's own, or
	// fake-quantized ones for quantization-aware training: the gradient
	// flows straight through to the net's weights).
	weights func(n *Net) []*mat.Dense
	stage   string
	// prox and anchor: FedProx's proximal term μ/2·‖θ − θ_anchor‖² over
	// weights and biases (see FitOptions.Prox); anchor nil for none.
	prox   float64
	anchor *Net
}

// fit trains n on (x, y) by mini-batch Adam (Kingma, Ba, ICLR 2015) on the
// softmax cross-entropy, shuffling with rng each epoch. Masked weights stay
// zero. It returns early, with ctx's error, when ctx is done.
func fit(ctx context.Context, n *Net, x [][]float64, y []int, classes int, cfg fitConfig, rng *rand.Rand, progress func(Progress)) error {
	if cfg.weights == nil {
		cfg.weights = func(n *Net) []*mat.Dense { return n.W }
	}
	L := len(n.W)
	mW, vW := make([]*mat.Dense, L), make([]*mat.Dense, L)
	mB, vB := make([][]float64, L), make([][]float64, L)
	for l := range L {
		r, c := n.W[l].Dims()
		mW[l], vW[l] = mat.NewDense(r, c, nil), mat.NewDense(r, c, nil)
		mB[l], vB[l] = make([]float64, r), make([]float64, r)
	}
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	step := 0
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	p := make([]float64, classes)
	pt := make([]float64, classes)
	qt := make([]float64, classes)
	for epoch := range cfg.epochs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		loss := 0.0
		for start := 0; start < len(idx); start += cfg.batch {
			end := min(start+cfg.batch, len(idx))
			bs := end - start
			xb := mat.NewDense(bs, n.Sizes[0], nil)
			for r := range bs {
				xb.SetRow(r, x[idx[start+r]])
			}
			w := cfg.weights(n)
			zs, hs := n.forward(xb, w)
			// Output gradient dL/dz, averaged over the batch.
			dz := mat.NewDense(bs, classes, nil)
			for r := range bs {
				z := zs[L-1].RawRowView(r)
				softmaxT(z, 1, p)
				yy := y[idx[start+r]]
				loss -= math.Log(max(p[yy], 1e-300))
				g := dz.RawRowView(r)
				hard := 1 - cfg.alpha
				if cfg.teacher == nil {
					hard = 1
				}
				for j := range g {
					g[j] = hard * p[j]
				}
				g[yy] -= hard
				if cfg.teacher != nil {
					softmaxT(cfg.teacher[idx[start+r]], cfg.temp, pt)
					softmaxT(z, cfg.temp, qt)
					for j := range g {
						g[j] += cfg.alpha * cfg.temp * (qt[j] - pt[j])
					}
				}
				for j := range g {
					g[j] /= float64(bs)
				}
			}
			// Backward.
			gW := make([]*mat.Dense, L)
			gB := make([][]float64, L)
			for l := L - 1; l >= 0; l-- {
				r, c := n.W[l].Dims()
				gW[l] = mat.NewDense(r, c, nil)
				gW[l].Mul(dz.T(), hs[l])
				gB[l] = make([]float64, r)
				for i := range bs {
					for j, v := range dz.RawRowView(i) {
						gB[l][j] += v
					}
				}
				if l == 0 {
					break
				}
				dh := mat.NewDense(bs, c, nil)
				dh.Mul(dz, w[l])
				zp := zs[l-1]
				for i := range bs {
					row, zr := dh.RawRowView(i), zp.RawRowView(i)
					for j := range row {
						row[j] *= n.deriv(zr[j])
					}
				}
				dz = dh
			}
			// Weight decay, clipping, Adam.
			norm := 0.0
			for l := range L {
				gw := gW[l].RawMatrix().Data
				ww := n.W[l].RawMatrix().Data
				for i := range gw {
					gw[i] += cfg.weightDecay * ww[i]
					norm += gw[i] * gw[i]
				}
				if a := cfg.anchor; a != nil {
					aw := a.W[l].RawMatrix().Data
					for i := range gw {
						d := cfg.prox * (ww[i] - aw[i])
						norm += 2*gw[i]*d + d*d
						gw[i] += d
					}
					for i := range gB[l] {
						gB[l][i] += cfg.prox * (n.B[l][i] - a.B[l][i])
					}
				}
				for _, v := range gB[l] {
					norm += v * v
				}
			}
			scale := 1.0
			if norm = math.Sqrt(norm); cfg.clip > 0 && norm > cfg.clip {
				scale = cfg.clip / norm
			}
			step++
			c1 := 1 - math.Pow(beta1, float64(step))
			c2 := 1 - math.Pow(beta2, float64(step))
			upd := func(w, g, m, v []float64) {
				for i := range w {
					gi := g[i] * scale
					m[i] = beta1*m[i] + (1-beta1)*gi
					v[i] = beta2*v[i] + (1-beta2)*gi*gi
					w[i] -= cfg.lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + eps)
				}
			}
			for l := range L {
				upd(n.W[l].RawMatrix().Data, gW[l].RawMatrix().Data, mW[l].RawMatrix().Data, vW[l].RawMatrix().Data)
				upd(n.B[l], gB[l], mB[l], vB[l])
				if n.Mask != nil {
					n.W[l].MulElem(n.W[l], n.Mask[l])
				}
			}
		}
		if progress != nil {
			progress(Progress{Stage: cfg.stage, Epoch: epoch + 1, Epochs: cfg.epochs, Loss: loss / float64(len(idx))})
		}
	}
	return nil
}

// FitOptions configure [Fit]. Zero fields take the defaults of [Options].
type FitOptions struct {
	Epochs      int     // required, ≥ 1
	Batch       int     // default 32
	LR          float64 // Adam step size, default 0.002
	WeightDecay float64 // default 1e-4; negative for none
	// Prox is FedProx's μ (Li et al., "Federated Optimization in
	// Heterogeneous Networks", MLSys 2020): the loss gains
	// μ/2·‖θ − θ_Anchor‖² over weights and biases, which keeps a member's
	// local model near the global one on skewed data. 0 for none.
	Prox   float64
	Anchor *Net
	// Bits > 0 trains quantization-aware: the forward pass uses the
	// weights of the int8 model that [Compress] would build with Std and
	// Bits, and the gradient flows straight through to the float weights.
	Bits int
	Std  Standardizer
	Seed uint64
}

// Fit continues training n (from its current weights; a mask, if set,
// keeps pruned weights zero) on standardised inputs x with labels y in
// [0, classes), by the mini-batch Adam of [Run] with fresh moments. It is
// the local step of a federated round.
func Fit(ctx context.Context, n *Net, x [][]float64, y []int, classes int, o FitOptions) error {
	if o.Epochs < 1 || len(x) == 0 || len(x) != len(y) {
		return fmt.Errorf("%w: need epochs ≥ 1 and as many labels as samples", ErrOptions)
	}
	if o.Prox < 0 || (o.Prox > 0 && o.Anchor == nil) || o.Bits < 0 || o.Bits > 8 || o.Bits == 1 {
		return fmt.Errorf("%w: prox μ ≥ 0 needs an anchor; bits 0 or 2 … 8", ErrOptions)
	}
	if o.Anchor != nil && !slices.Equal(o.Anchor.Sizes, n.Sizes) {
		return fmt.Errorf("%w: anchor has another architecture", ErrOptions)
	}
	cfg := fitConfig{epochs: o.Epochs, batch: o.Batch, lr: o.LR, weightDecay: o.WeightDecay, clip: 5, stage: "local", prox: o.Prox}
	if o.Prox > 0 {
		cfg.anchor = o.Anchor
	}
	if cfg.batch <= 0 {
		cfg.batch = 32
	}
	if cfg.lr <= 0 {
		cfg.lr = 0.002
	}
	switch {
	case cfg.weightDecay == 0:
		cfg.weightDecay = 1e-4
	case cfg.weightDecay < 0:
		cfg.weightDecay = 0
	}
	if o.Bits > 0 {
		if len(o.Std.Std) != n.Sizes[0] {
			return fmt.Errorf("%w: quantization-aware training needs the standardizer", ErrOptions)
		}
		cfg.weights = func(n *Net) []*mat.Dense { return quantize(n, o.Std, o.Bits).deq }
	}
	return fit(ctx, n, x, y, classes, cfg, rand.New(rand.NewPCG(o.Seed, 8)), nil)
}
