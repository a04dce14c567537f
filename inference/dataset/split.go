package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Split divides d into a train and a test set, stratified by class, from a
// seed. It is the one split every aios figure is reported on (with
// testFraction 0.2 and seed 1 unless a report says otherwise):
//
//  1. For each class c in increasing order, take the indices of its samples
//     in file order, n_c of them.
//  2. Shuffle them by Fisher–Yates (for i from n_c−1 down to 1, swap i with j
//     uniform in [0, i]) driven by one PCG-DXSM generator seeded (seed,
//     0x5EED5EED5EED5EED) and shared across classes in that order; j is
//     drawn by rejection sampling from 64-bit outputs, so it is exactly
//     uniform.
//  3. The first round(testFraction·n_c) shuffled indices go to the test set,
//     the rest to the train set (round half away from zero).
//  4. Each set lists its samples in file order.
//
// Class proportions therefore differ from the file's by less than one sample
// per class. testFraction must be in (0, 1).
func Split(d *Dataset, testFraction float64, seed uint64) (train, test *Dataset, err error) {
	if !(testFraction > 0 && testFraction < 1) {
		return nil, nil, fmt.Errorf("dataset: test fraction %v outside (0, 1)", testFraction)
	}
	byClass := make([][]int, len(d.Classes))
	for i, y := range d.Y {
		if y < 0 || y >= len(byClass) {
			return nil, nil, fmt.Errorf("%w: sample %d: label %d outside [0, %d)", ErrMalformed, i, y, len(byClass))
		}
		byClass[y] = append(byClass[y], i)
	}
	rng := rand.NewPCG(seed, 0x5EED5EED5EED5EED)
	var tr, te []int
	for _, idx := range byClass {
		for i := len(idx) - 1; i > 0; i-- {
			j := uniform(rng, uint64(i)+1)
			idx[i], idx[j] = idx[j], idx[i]
		}
		k := int(math.Round(testFraction * float64(len(idx))))
		te = append(te, idx[:k]...)
		tr = append(tr, idx[k:]...)
	}
	slices.Sort(tr)
	slices.Sort(te)
	return d.Subset(tr), d.Subset(te), nil
}

// uniform returns a uniform integer in [0, n) by rejection: outputs at or
// above the largest multiple of n are redrawn.
func uniform(rng *rand.PCG, n uint64) uint64 {
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		v := rng.Uint64()
		if v < limit {
			return v % n
		}
	}
}
