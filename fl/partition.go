package fl

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/aios-edge/aios/inference/dataset"
)

// PartitionIID deals d's samples to n parts at random, round robin after a
// shuffle, so every part has ⌊len/n⌋ or ⌈len/n⌉ samples. It is for demos
// and tests that simulate members from one data set.
func PartitionIID(d *dataset.Dataset, n int, seed uint64) ([]*dataset.Dataset, error) {
	if n < 1 || d.Len() < n {
		return nil, fmt.Errorf("fl: cannot split %d samples into %d parts", d.Len(), n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x11d))
	idx := rng.Perm(d.Len())
	parts := make([][]int, n)
	for k, i := range idx {
		parts[k%n] = append(parts[k%n], i)
	}
	return subsets(d, parts), nil
}

// PartitionDirichlet gives each class's samples to the n parts in
// proportions drawn from Dirichlet(α, …, α), the label-skew benchmark of
// Hsu, Qi and Brown (2019): small α gives each part few classes. Every
// part gets at least one sample.
func PartitionDirichlet(d *dataset.Dataset, n int, alpha float64, seed uint64) ([]*dataset.Dataset, error) {
	if n < 1 || d.Len() < n || !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("fl: cannot split %d samples into %d parts with α = %v", d.Len(), n, alpha)
	}
	rng := rand.New(rand.NewPCG(seed, 0xd1e))
	byClass := make([][]int, d.NumClasses())
	for _, i := range rng.Perm(d.Len()) {
		byClass[d.Y[i]] = append(byClass[d.Y[i]], i)
	}
	parts := make([][]int, n)
	for _, idx := range byClass {
		p := make([]float64, n)
		sum := 0.0
		for k := range p {
			p[k] = gamma(rng, alpha)
			sum += p[k]
		}
		start, acc := 0, 0.0
		for k := range p {
			acc += p[k] / sum
			end := int(math.Round(acc * float64(len(idx))))
			if k == n-1 {
				end = len(idx)
			}
			parts[k] = append(parts[k], idx[start:end]...)
			start = end
		}
	}
	// No empty part: move one sample from the largest.
	for k := range parts {
		if len(parts[k]) == 0 {
			big := 0
			for j := range parts {
				if len(parts[j]) > len(parts[big]) {
					big = j
				}
			}
			last := len(parts[big]) - 1
			parts[k], parts[big] = append(parts[k], parts[big][last]), parts[big][:last]
		}
	}
	return subsets(d, parts), nil
}

func subsets(d *dataset.Dataset, parts [][]int) []*dataset.Dataset {
	out := make([]*dataset.Dataset, len(parts))
	for k, p := range parts {
		out[k] = d.Subset(p)
	}
	return out
}

// gamma draws from Gamma(a, 1) (Marsaglia and Tsang, "A simple method for
// generating gamma variables", ACM TOMS 2000; for a < 1 via
// Gamma(a+1)·U^(1/a)).
func gamma(rng *rand.Rand, a float64) float64 {
	if a < 1 {
		return gamma(rng, a+1) * math.Pow(rng.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
