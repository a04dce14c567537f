package accel_test

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/he"
	"github.com/tuneinsight/lattigo/v5/utils"
)

// TestTablesMatchLattigo checks the exported tables against the SubRings of
// the rings that the he presets build, field by field, and the documented
// conventions (bit-reversed Montgomery powers of ψ, N^-1, 2^128 mod q).
func TestTablesMatchLattigo(t *testing.T) {
	for _, name := range he.PresetNames() {
		if testing.Short() && name == "n15" {
			continue
		}
		p, err := he.PresetByName(name)
		if err != nil {
			t.Fatal(err)
		}
		rq := p.Parameters.RingQ()
		for i, s := range rq.SubRings {
			t.Run(fmt.Sprintf("%s/q%d", name, i), func(t *testing.T) {
				tab, err := accel.Tables(s.N, s.Modulus)
				if err != nil {
					t.Fatal(err)
				}
				q := s.Modulus
				if tab.MRedConstant != s.MRedConstant || tab.BRedConstant != [2]uint64{s.BRedConstant[0], s.BRedConstant[1]} ||
					tab.NInv != s.NInv || tab.NthRoot != s.NthRoot || tab.PrimitiveRoot != s.PrimitiveRoot {
					t.Fatalf("constants differ from lattigo's SubRing: %+v", tab)
				}
				if !slices.Equal(tab.RootsForward, s.RootsForward) || !slices.Equal(tab.RootsBackward, s.RootsBackward) {
					t.Fatal("twiddles differ from lattigo's NTTTable")
				}
				// Conventions documented on NTTTable.
				bq := new(big.Int).SetUint64(q)
				mont := func(v *big.Int) uint64 {
					return new(big.Int).Mod(new(big.Int).Lsh(v, 64), bq).Uint64()
				}
				if tab.MRedConstant*q != 1 {
					t.Fatal("MRedConstant is not q^-1 mod 2^64")
				}
				if want := new(big.Int).Mod(new(big.Int).Lsh(big.NewInt(1), 128), bq).Uint64(); tab.R2 != want {
					t.Fatalf("R2 = %d, want 2^128 mod q = %d", tab.R2, want)
				}
				if want := mont(new(big.Int).ModInverse(big.NewInt(int64(s.N)), bq)); tab.NInv != want {
					t.Fatal("NInv is not N^-1·2^64 mod q")
				}
				psi := new(big.Int).Exp(new(big.Int).SetUint64(tab.PrimitiveRoot), new(big.Int).SetUint64((q-1)/tab.NthRoot), bq)
				psiInv := new(big.Int).ModInverse(psi, bq)
				logN := s.N
				logN = len(fmt.Sprintf("%b", logN)) - 1
				for _, j := range []uint64{0, 1, 2, 3, uint64(s.N/2 + 1), uint64(s.N - 1)} {
					k := utils.BitReverse64(j, logN)
					fw := mont(new(big.Int).Exp(psi, new(big.Int).SetUint64(j), bq))
					bw := mont(new(big.Int).Exp(psiInv, new(big.Int).SetUint64(j), bq))
					if tab.RootsForward[k] != fw || tab.RootsBackward[k] != bw {
						t.Fatalf("RootsForward/Backward[brv(%d)] are not the Montgomery forms of ψ^%d, ψ^-%d", j, j, j)
					}
				}
				// A copy: changing it leaves the backend's tables alone.
				tab.RootsForward[1]++
				again, _ := accel.Tables(s.N, s.Modulus)
				if again.RootsForward[1] != s.RootsForward[1] {
					t.Fatal("Tables returned shared, mutable twiddles")
				}
			})
		}
	}
}

func TestTablesErrors(t *testing.T) {
	for _, tc := range []struct {
		n   int
		q   uint64
		err error
	}{
		{1 << 12, 97, accel.ErrModulus},        // not 1 mod 2N
		{1 << 12, 2<<13 + 1, accel.ErrModulus}, // 16385 = 5·29·113, 1 mod 2N
		{1 << 12, 1 << 20, accel.ErrModulus},   // even
		{1 << 12, 1<<62 + 1, accel.ErrModulus}, // too large
		{1000, 12289, accel.ErrDegree},         // not a power of two
		{1 << 18, 786433, accel.ErrDegree},     // too large
	} {
		if _, err := accel.Tables(tc.n, tc.q); !errors.Is(err, tc.err) {
			t.Errorf("Tables(%d, %d): got %v, want %v", tc.n, tc.q, err, tc.err)
		}
	}
}
