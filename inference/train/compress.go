package train

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/aios-edge/aios/inference"
)

// Standardizer maps raw features to (x − Mean)/Std.
type Standardizer struct {
	Mean, Std []float64
}

// FitStandardizer computes per-feature means and standard deviations of x
// and floors the deviations as [NewStandardizer] does.
func FitStandardizer(x [][]float64, floor float64) Standardizer {
	f := len(x[0])
	mean, sd := make([]float64, f), make([]float64, f)
	col := make([]float64, len(x))
	for j := range f {
		for i := range x {
			col[i] = x[i][j]
		}
		mean[j], sd[j] = stat.PopMeanStdDev(col, nil)
	}
	return NewStandardizer(mean, sd, floor)
}

// NewStandardizer returns the standardizer of the given per-feature means
// and standard deviations (copied). A standard deviation below
// floor·(mean of the standard deviations) is raised to it (floor 0: only
// zero deviations, of constant features, become 1): dividing by a
// near-zero deviation would make that feature dominate the first layer's
// per-channel int8 scale once the standardisation is folded. Federated
// training computes the moments by secure aggregation and builds the
// standardizer here.
func NewStandardizer(mean, std []float64, floor float64) Standardizer {
	s := Standardizer{Mean: slices.Clone(mean), Std: slices.Clone(std)}
	avg := stat.Mean(s.Std, nil)
	for j, v := range s.Std {
		if v < floor*avg || v == 0 {
			s.Std[j] = max(floor*avg, 0)
			if s.Std[j] == 0 {
				s.Std[j] = 1
			}
		}
	}
	return s
}

// Apply returns the standardised copy of x.
func (s Standardizer) Apply(x [][]float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, r := range x {
		o := make([]float64, len(r))
		for j, v := range r {
			o[j] = (v - s.Mean[j]) / s.Std[j]
		}
		out[i] = o
	}
	return out
}

// Prune sets the smallest-magnitude fraction sparsity of each layer's
// weights to zero (Han, Pool, Tran, Dally, "Learning both Weights and
// Connections for Efficient Neural Networks", NeurIPS 2015) and installs the
// mask that keeps them zero during fine-tuning. Ties are broken by index, so
// each layer has exactly round(sparsity·size) zeros or more.
func Prune(n *Net, sparsity float64) error {
	if !(sparsity >= 0 && sparsity < 1) {
		return fmt.Errorf("train: sparsity %v outside [0, 1)", sparsity)
	}
	n.Mask = make([]*mat.Dense, len(n.W))
	for l, w := range n.W {
		r, c := w.Dims()
		data := w.RawMatrix().Data
		order := make([]int, len(data))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return cmpFloat(math.Abs(data[a]), math.Abs(data[b]))
		})
		mask := mat.NewDense(r, c, nil)
		md := mask.RawMatrix().Data
		for i := range md {
			md[i] = 1
		}
		k := int(math.Round(sparsity * float64(len(data))))
		for _, i := range order[:k] {
			md[i] = 0
			data[i] = 0
		}
		n.Mask[l] = mask
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// quantized is the int8 form of a net: per layer the integer weights, the
// per-output-channel scales, and the dequantized weights in the net's own
// (standardised, unfolded) domain.
type quantized struct {
	q     [][]int8
	scale [][]float64
	deq   []*mat.Dense
}

// quantize folds the standardisation and the activation's completed-square
// factors into the weights and quantizes them symmetrically per output
// channel to bits bits (see the inference package documentation):
//
//	layer 0:  E[o,i] = W[o,i]/σ_i
//	layer l:  E[p,o] = W[p,o]·g·s_{l−1,o}²   (g: the activation's z² coefficient)
//	s_o = max_i |E[o,i]| / (2^(bits−1) − 1),  q = round(E/s)  (s = 1 for an all-zero row)
//
// and returns the dequantized weights W̃ = q·s / (fold factor), so that the
// net with W̃ computes what the int8 model computes.
func quantize(n *Net, std Standardizer, bits int) quantized {
	qmax := float64(int(1)<<(bits-1) - 1)
	var out quantized
	g, _, _ := n.Act.Completed()
	var prev []float64
	for l, w := range n.W {
		r, c := w.Dims()
		fold := func(o, i int) float64 {
			if l == 0 {
				return 1 / std.Std[i]
			}
			return g * prev[i] * prev[i]
		}
		q := make([]int8, r*c)
		sc := make([]float64, r)
		deq := mat.NewDense(r, c, nil)
		for o := range r {
			m := 0.0
			for i := range c {
				m = max(m, math.Abs(w.At(o, i)*fold(o, i)))
			}
			s := m / qmax
			if s == 0 || !finiteF(s) {
				s = 1
			}
			sc[o] = s
			for i := range c {
				v := math.Round(w.At(o, i) * fold(o, i) / s)
				v = max(-qmax, min(qmax, v))
				q[o*c+i] = int8(v)
				deq.Set(o, i, v*s/fold(o, i))
			}
		}
		out.q = append(out.q, q)
		out.scale = append(out.scale, sc)
		out.deq = append(out.deq, deq)
		prev = sc
	}
	return out
}

func finiteF(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// toModel builds the int8 model of n (quantized as qz): the biases absorb
// the standardisation's mean (layer 0) and the activation's completed-square
// offset times the dequantized weights (later layers).
func toModel(n *Net, std Standardizer, qz quantized) *inference.Model {
	m := &inference.Model{}
	_, _, k := n.Act.Completed()
	for l := range n.W {
		r, c := n.W[l].Dims()
		bias := append([]float64(nil), n.B[l]...)
		for o := range r {
			for i := range c {
				wd := qz.deq[l].At(o, i)
				if l == 0 {
					bias[o] -= wd * std.Mean[i] / std.Std[i]
				} else {
					bias[o] += wd * k
				}
			}
		}
		layer := inference.Layer{In: c, Out: r, W: qz.q[l], Scale: qz.scale[l], Bias: bias}
		if l < len(n.W)-1 {
			layer.Act = n.Act
		}
		m.Layers = append(m.Layers, layer)
	}
	return m
}

// Compress returns the int8 model of n: the standardisation std folded into
// the first layer, each layer quantized symmetrically per output channel
// to bits bits, as [Run]'s quantized stages. The metadata holds the
// features, the class names (one per output), the depth and the input
// level; the caller adds the rest (bounds, preset).
func Compress(n *Net, std Standardizer, bits int, classes []string) (*inference.Model, error) {
	if bits < 2 || bits > 8 || len(std.Std) != n.Sizes[0] || len(std.Mean) != n.Sizes[0] || n.ReLU || len(classes) != n.Sizes[len(n.Sizes)-1] {
		return nil, fmt.Errorf("%w: compress needs 2 … 8 bits, a standardizer of the input width, a name per class and a degree-2 activation", ErrOptions)
	}
	m := toModel(n, std, quantize(n, std, bits))
	m.Meta = inference.Metadata{Features: n.Sizes[0], Classes: slices.Clone(classes), Depth: len(n.Sizes) - 2, InputLevel: len(n.Sizes) - 2}
	return m, nil
}

// Quantized returns a copy of n whose weights are those the int8 model of
// [Compress] realises (dequantized), so that float evaluation of the copy
// computes what the model computes.
func Quantized(n *Net, std Standardizer, bits int) *Net {
	c := n.Clone()
	c.W = quantize(n, std, bits).deq
	return c
}
