package accel

import (
	"fmt"
	"math/bits"
)

func checkLayout(l Layout) error {
	if l.N < 1<<MinLogN || l.N > 1<<MaxLogN || l.N&(l.N-1) != 0 {
		return fmt.Errorf("%w: N = %d, want a power of two in [2^%d, 2^%d]", ErrDegree, l.N, MinLogN, MaxLogN)
	}
	if len(l.Moduli) == 0 {
		return fmt.Errorf("%w: no rows (empty moduli)", ErrShape)
	}
	for r, q := range l.Moduli {
		if q < 3 || q&1 == 0 || bits.Len64(q) > MaxModulusBits {
			return fmt.Errorf("%w: moduli[%d] = %d, want odd, ≥ 3 and < 2^%d", ErrModulus, r, q, MaxModulusBits)
		}
	}
	return nil
}

// checkRows checks that op has l.Rows() rows of exactly l.N coefficients.
func checkRows(l Layout, op [][]uint64, name string) error {
	if len(op) != l.Rows() {
		return fmt.Errorf("%w: %s has %d rows, want %d", ErrShape, name, len(op), l.Rows())
	}
	for r, row := range op {
		if len(row) != l.N {
			return fmt.Errorf("%w: %s[%d] has %d coefficients, want N = %d", ErrShape, name, r, len(row), l.N)
		}
	}
	return nil
}

// CheckRowOp validates the operands of a row-wise kernel (NTT, INTT,
// MulCoeffsMontgomeryThenAdd): a valid layout and every operand shaped by
// it. Backends call it first.
func CheckRowOp(l Layout, ops ...[][]uint64) error {
	if err := checkLayout(l); err != nil {
		return err
	}
	for i, op := range ops {
		if err := checkRows(l, op, fmt.Sprintf("operand %d", i)); err != nil {
			return err
		}
	}
	return nil
}

// CheckDenseLayer validates a DenseLayer call: layout, shapes, weight range,
// bias residues, and that no output row is also an input row. Backends call
// it first.
func CheckDenseLayer(a *DenseLayerArgs) error {
	if a == nil {
		return fmt.Errorf("%w: nil arguments", ErrShape)
	}
	if err := checkLayout(a.Layout); err != nil {
		return err
	}
	in, k := len(a.In), len(a.Out)
	if in == 0 || k == 0 || uint64(in) > MaxInputs {
		return fmt.Errorf("%w: %d inputs and %d outputs, want 1…%d inputs and ≥ 1 output", ErrShape, in, k, uint64(MaxInputs))
	}
	if len(a.Weights) != k*in {
		return fmt.Errorf("%w: %d weights for %d outputs × %d inputs", ErrShape, len(a.Weights), k, in)
	}
	for j, w := range a.Weights {
		if w < MinWeight || w > MaxWeight {
			return fmt.Errorf("%w: weight[%d][%d] = %d, want %d…%d", ErrWeight, j/in, j%in, w, MinWeight, MaxWeight)
		}
	}
	inRows := make(map[*uint64]int, in*a.Rows())
	for i, x := range a.In {
		if err := checkRows(a.Layout, x, fmt.Sprintf("in[%d]", i)); err != nil {
			return err
		}
		for _, row := range x {
			inRows[&row[0]] = i
		}
	}
	outRows := make(map[*uint64]bool, k*a.Rows())
	for j, y := range a.Out {
		if err := checkRows(a.Layout, y, fmt.Sprintf("out[%d]", j)); err != nil {
			return err
		}
		for r, row := range y {
			if i, ok := inRows[&row[0]]; ok {
				return fmt.Errorf("%w: out[%d][%d] is also a row of in[%d]", ErrShape, j, r, i)
			}
			if outRows[&row[0]] {
				return fmt.Errorf("%w: out[%d][%d] is also another output row", ErrShape, j, r)
			}
			outRows[&row[0]] = true
		}
	}
	if a.Bias != nil {
		if len(a.Bias) != k {
			return fmt.Errorf("%w: bias has %d outputs, want %d", ErrShape, len(a.Bias), k)
		}
		for j, b := range a.Bias {
			if len(b) != a.Rows() {
				return fmt.Errorf("%w: bias[%d] has %d rows, want %d", ErrShape, j, len(b), a.Rows())
			}
			for r, v := range b {
				if v >= a.Moduli[r] {
					return fmt.Errorf("%w: bias[%d][%d] = %d is not below its modulus %d", ErrWeight, j, r, v, a.Moduli[r])
				}
			}
		}
	}
	return nil
}
