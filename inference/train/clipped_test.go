package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/aios-edge/aios/inference"
)

// loss is the summed softmax cross-entropy of n on (x, y).
func loss(n *Net, x [][]float64, y []int) float64 {
	s := 0.0
	p := make([]float64, n.Sizes[len(n.Sizes)-1])
	for r, z := range n.Logits(x) {
		softmaxT(z, 1, p)
		s -= math.Log(p[y[r]])
	}
	return s
}

// params returns pointers to every parameter in ClippedGradientSum's layout.
func params(n *Net) []*float64 {
	var ps []*float64
	for l := range n.W {
		d := n.W[l].RawMatrix().Data
		for i := range d {
			ps = append(ps, &d[i])
		}
		for i := range n.B[l] {
			ps = append(ps, &n.B[l][i])
		}
	}
	return ps
}

func TestClippedGradientSum(t *testing.T) {
	tr, _ := load(t, "breast_cancer.csv")
	std := FitStandardizer(tr.X, 0.1)
	x, y := std.Apply(tr.X[:40]), tr.Y[:40]
	n := NewNet([]int{tr.Features, 6, 2}, inference.Poly(0.25, 0.5, 0.125), false, rand.New(rand.NewPCG(3, 4)))

	// Without clipping (a huge C) it is the gradient of the summed loss:
	// compare with central differences.
	g, err := ClippedGradientSum(n, x, y, 2, GradOptions{Clip: 1e12})
	if err != nil {
		t.Fatal(err)
	}
	ps := params(n)
	if len(g) != len(ps) {
		t.Fatalf("%d coordinates, %d parameters", len(g), len(ps))
	}
	for _, i := range []int{0, 7, len(ps) / 2, len(ps) - 8, len(ps) - 1} {
		const h = 1e-6
		v := *ps[i]
		*ps[i] = v + h
		up := loss(n, x, y)
		*ps[i] = v - h
		down := loss(n, x, y)
		*ps[i] = v
		if fd := (up - down) / (2 * h); math.Abs(fd-g[i]) > 1e-5*max(1, math.Abs(fd)) {
			t.Fatalf("coordinate %d: gradient %g, finite difference %g", i, g[i], fd)
		}
	}

	// With clipping, removing any one record moves the sum by at most C,
	// and some record's gradient is larger than C (so clipping acts).
	const C = 0.5
	all, err := ClippedGradientSum(n, x, y, 2, GradOptions{Clip: C})
	if err != nil {
		t.Fatal(err)
	}
	clipped := false
	for r := range x {
		one, _ := ClippedGradientSum(n, x[r:r+1], y[r:r+1], 2, GradOptions{Clip: 1e12})
		clipped = clipped || norm(one) > C
		rest, err := ClippedGradientSum(n, append(append([][]float64{}, x[:r]...), x[r+1:]...), append(append([]int{}, y[:r]...), y[r+1:]...), 2, GradOptions{Clip: C})
		if err != nil {
			t.Fatal(err)
		}
		for i := range rest {
			rest[i] -= all[i]
		}
		if d := norm(rest); d > C*(1+1e-9) {
			t.Fatalf("record %d moves the clipped sum by %g > C = %g", r, d, C)
		}
	}
	if !clipped {
		t.Fatal("no record's gradient exceeds C: the test does not exercise clipping")
	}

	// Masked weights get no gradient.
	m := n.Clone()
	for l := range m.W {
		r, c := m.W[l].Dims()
		mask := mat.NewDense(r, c, nil)
		mask.Set(0, 0, 1)
		m.Mask = append(m.Mask, mask)
	}
	gm, _ := ClippedGradientSum(m, x, y, 2, GradOptions{Clip: C})
	if gm[0] == 0 || gm[1] != 0 {
		t.Fatalf("masked gradient: unmasked %g, masked %g", gm[0], gm[1])
	}
	if _, err := ClippedGradientSum(n, x, y, 2, GradOptions{}); err == nil {
		t.Fatal("clip 0 accepted")
	}
}

func norm(v []float64) float64 { return math.Sqrt(dot(v)) }
