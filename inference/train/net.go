package train

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/aios-edge/aios/inference"
)

// Net is a float multilayer perceptron on standardised inputs. Hidden
// layers use Act, or ReLU when ReLU is set (teachers only: ReLU has no
// cheap encrypted form).
type Net struct {
	Sizes []int        // inputs, hidden…, outputs
	W     []*mat.Dense // layer l: Sizes[l+1] × Sizes[l]
	B     [][]float64  // layer l: Sizes[l+1]
	Mask  []*mat.Dense // nil, or 0/1 per weight: pruned weights stay 0
	Act   inference.Activation
	ReLU  bool
}

// NewNet returns a net with weights drawn from N(0, gain²/fan_in) (gain √2
// for ReLU, 1 otherwise) and zero biases.
func NewNet(sizes []int, act inference.Activation, relu bool, rng *rand.Rand) *Net {
	n := &Net{Sizes: append([]int(nil), sizes...), Act: act, ReLU: relu}
	gain := 1.0
	if relu {
		gain = math.Sqrt2
	}
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		w := mat.NewDense(out, in, nil)
		std := gain / math.Sqrt(float64(in))
		for i := range out {
			for j := range in {
				w.Set(i, j, rng.NormFloat64()*std)
			}
		}
		n.W = append(n.W, w)
		n.B = append(n.B, make([]float64, out))
	}
	return n
}

// Clone returns a deep copy.
func (n *Net) Clone() *Net {
	c := &Net{Sizes: append([]int(nil), n.Sizes...), Act: n.Act, ReLU: n.ReLU}
	for l := range n.W {
		c.W = append(c.W, mat.DenseCopyOf(n.W[l]))
		c.B = append(c.B, append([]float64(nil), n.B[l]...))
		if n.Mask != nil {
			c.Mask = append(c.Mask, mat.DenseCopyOf(n.Mask[l]))
		}
	}
	return c
}

func (n *Net) act(z float64) float64 {
	if n.ReLU {
		return max(z, 0)
	}
	return n.Act.Eval(z)
}

func (n *Net) deriv(z float64) float64 {
	if n.ReLU {
		if z > 0 {
			return 1
		}
		return 0
	}
	return n.Act.Deriv(z)
}

// forward runs the batch x (rows: samples) through the net with weights w
// and returns the pre-activations Z_l and activations H_l (H_0 = x).
func (n *Net) forward(x *mat.Dense, w []*mat.Dense) (zs, hs []*mat.Dense) {
	h := x
	hs = append(hs, h)
	for l := range w {
		r, _ := h.Dims()
		z := mat.NewDense(r, n.Sizes[l+1], nil)
		z.Mul(h, w[l].T())
		b := n.B[l]
		last := l == len(w)-1
		var a *mat.Dense
		if !last {
			a = mat.NewDense(r, n.Sizes[l+1], nil)
		}
		for i := range r {
			row := z.RawRowView(i)
			for j := range row {
				row[j] += b[j]
				if !last {
					a.Set(i, j, n.act(row[j]))
				}
			}
		}
		zs = append(zs, z)
		if !last {
			h = a
			hs = append(hs, a)
		}
	}
	return zs, hs
}

// Logits returns the output of the net on standardised inputs x.
func (n *Net) Logits(x [][]float64) [][]float64 {
	return n.logitsWith(x, n.W)
}

func (n *Net) logitsWith(x [][]float64, w []*mat.Dense) [][]float64 {
	zs, _ := n.forward(toDense(x), w)
	z := zs[len(zs)-1]
	r, _ := z.Dims()
	out := make([][]float64, r)
	for i := range out {
		out[i] = append([]float64(nil), z.RawRowView(i)...)
	}
	return out
}

// NonZero returns the number of non-zero weights.
func (n *Net) NonZero() int {
	c := 0
	for _, w := range n.W {
		for _, v := range w.RawMatrix().Data {
			if v != 0 {
				c++
			}
		}
	}
	return c
}

// Weights returns the number of weights.
func (n *Net) Weights() int {
	c := 0
	for l := range n.W {
		c += n.Sizes[l] * n.Sizes[l+1]
	}
	return c
}

// FloatBytes is the size of the weights and biases as dense float32.
func (n *Net) FloatBytes() int {
	c := n.Weights()
	for _, b := range n.B {
		c += len(b)
	}
	return 4 * c
}

func toDense(x [][]float64) *mat.Dense {
	if len(x) == 0 {
		return mat.NewDense(1, 1, nil)
	}
	f := len(x[0])
	d := make([]float64, 0, len(x)*f)
	for _, r := range x {
		d = append(d, r...)
	}
	return mat.NewDense(len(x), f, d)
}

func softmaxT(z []float64, t float64, out []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v/t)
	}
	s := 0.0
	for j, v := range z {
		out[j] = math.Exp(v/t - m)
		s += out[j]
	}
	for j := range out {
		out[j] /= s
	}
}
