package train

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// GradOptions configure [ClippedGradientSum].
type GradOptions struct {
	// Clip is the ℓ2 bound C on one record's gradient (> 0).
	Clip float64
	// Bits > 0 takes the gradient at the weights of the int8 model that
	// [Compress] would build with Std and Bits, passed straight through to
	// the float weights, as [FitOptions] does for quantization-aware
	// training.
	Bits int
	Std  Standardizer
}

// ClippedGradientSum returns Σ_r clip_C(∇_θ ℓ(θ; x_r, y_r)), the sum over
// the records of the softmax cross-entropy gradient of each record scaled
// down to ℓ2 norm at most C (Abadi et al., "Deep Learning with
// Differential Privacy", CCS 2016, Algorithm 1, the "clip gradient" step,
// without the noise, which the caller adds). Adding or removing one
// record therefore moves the sum by at most C in ℓ2 norm.
//
// The layout is the net's parameters per layer: the weights row-major
// (out × in), then the biases. Coordinates of masked (pruned) weights are
// zero; the norm that is clipped is that of the whole per-record gradient,
// masked coordinates included, which is at least the norm of what is
// summed, so the bound holds. x must be standardised, y in [0, classes).
func ClippedGradientSum(n *Net, x [][]float64, y []int, classes int, o GradOptions) ([]float64, error) {
	if !(o.Clip > 0) || math.IsInf(o.Clip, 0) || len(x) != len(y) || classes != n.Sizes[len(n.Sizes)-1] {
		return nil, fmt.Errorf("%w: clipped gradients need a clip norm > 0, as many labels as samples and the net's classes", ErrOptions)
	}
	if o.Bits < 0 || o.Bits == 1 || o.Bits > 8 || (o.Bits > 0 && len(o.Std.Std) != n.Sizes[0]) {
		return nil, fmt.Errorf("%w: bits 0 or 2 … 8, with the standardizer for quantized weights", ErrOptions)
	}
	for i, row := range x {
		if len(row) != n.Sizes[0] {
			return nil, fmt.Errorf("%w: sample %d has %d features, the net %d", ErrOptions, i, len(row), n.Sizes[0])
		}
		if y[i] < 0 || y[i] >= classes {
			return nil, fmt.Errorf("%w: label %d of sample %d outside [0, %d)", ErrOptions, y[i], i, classes)
		}
	}
	w := n.W
	if o.Bits > 0 {
		w = quantize(n, o.Std, o.Bits).deq
	}
	L := len(w)
	out := make([]float64, 0, n.parameters())
	if len(x) == 0 {
		return make([]float64, n.parameters()), nil
	}
	zs, hs := n.forward(toDense(x), w)
	bs := len(x)
	// dz[l]: per record (row), dℓ/dz at layer l, unscaled.
	dz := make([]*mat.Dense, L)
	top := mat.NewDense(bs, classes, nil)
	p := make([]float64, classes)
	for r := range bs {
		softmaxT(zs[L-1].RawRowView(r), 1, p)
		g := top.RawRowView(r)
		copy(g, p)
		g[y[r]]--
	}
	dz[L-1] = top
	for l := L - 1; l > 0; l-- {
		_, c := w[l].Dims()
		dh := mat.NewDense(bs, c, nil)
		dh.Mul(dz[l], w[l])
		zp := zs[l-1]
		for i := range bs {
			row, zr := dh.RawRowView(i), zp.RawRowView(i)
			for j := range row {
				row[j] *= n.deriv(zr[j])
			}
		}
		dz[l-1] = dh
	}
	// A record's gradient at layer l is dz_l,r ⊗ h_l,r (weights) and
	// dz_l,r (biases): its squared norm is ‖dz_l,r‖²·(‖h_l,r‖² + 1).
	scale := make([]float64, bs)
	for r := range bs {
		sq := 0.0
		for l := range L {
			sq += dot(dz[l].RawRowView(r)) * (dot(hs[l].RawRowView(r)) + 1)
		}
		scale[r] = 1
		if norm := math.Sqrt(sq); norm > o.Clip {
			scale[r] = o.Clip / norm
		}
	}
	for l := range L {
		d := dz[l]
		for r := range bs {
			row := d.RawRowView(r)
			for j := range row {
				row[j] *= scale[r]
			}
		}
		rows, cols := w[l].Dims()
		gw := mat.NewDense(rows, cols, nil)
		gw.Mul(d.T(), hs[l])
		if n.Mask != nil {
			gw.MulElem(gw, n.Mask[l])
		}
		out = append(out, gw.RawMatrix().Data...)
		gb := make([]float64, rows)
		for r := range bs {
			for j, v := range d.RawRowView(r) {
				gb[j] += v
			}
		}
		out = append(out, gb...)
	}
	return out, nil
}

func dot(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return s
}

// parameters is the number of weights and biases.
func (n *Net) parameters() int {
	p := 0
	for l := 0; l+1 < len(n.Sizes); l++ {
		p += n.Sizes[l]*n.Sizes[l+1] + n.Sizes[l+1]
	}
	return p
}
