package accel_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aios-edge/aios/accel"
	"github.com/aios-edge/aios/accel/acceltest"
	"github.com/aios-edge/aios/he"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// ciphertextRows lays out a ciphertext's limbs as DenseLayer rows:
// Value[0].Coeffs[0..L], Value[1].Coeffs[0..L], ….
func ciphertextRows(ct *rlwe.Ciphertext) [][]uint64 {
	var rows [][]uint64
	for _, p := range ct.Value {
		rows = append(rows, p.Coeffs[:ct.Level()+1]...)
	}
	return rows
}

// testCiphertexts runs a small dense layer on real CKKS ciphertexts with
// lattigo's evaluator (Mul, MulThenAdd with int64 constants, Add of a float
// bias) and with the backend on their coefficients, compares the bits, then
// decrypts.
func testCiphertexts(t *testing.T, b accel.Backend) {
	for _, tc := range []struct {
		preset string
		level  int     // −1: the preset's top level
		skew   float64 // scale = default scale × skew: not a power of two
		square bool    // inputs are x², degree-2 ciphertexts (not relinearized)
	}{{"n12", -1, 1, false}, {"n13", -1, 1, false}, {"n13", 1, 1, false}, {"n13", 2, 1 + 1.0/3, false}, {"n13", -1, 1, true}} {
		t.Run(fmt.Sprintf("%s/level=%d/skew=%.3g/square=%v", tc.preset, tc.level, tc.skew, tc.square), func(t *testing.T) {
			p, err := he.PresetByName(tc.preset)
			if err != nil {
				t.Fatal(err)
			}
			km, err := he.GenerateKeys(p, he.KeySpec{})
			if err != nil {
				t.Fatal(err)
			}
			client := he.NewClient(km)
			eval := ckks.NewEvaluator(p.Parameters, nil)
			// lattigo's own decryptor: he.Client refuses degree 2.
			decryptor := rlwe.NewDecryptor(p.Parameters, km.SecretKey)
			encoder := ckks.NewEncoder(p.Parameters)
			rng := rand.New(rand.NewPCG(9, 10))
			const nIn, nOut, slots = 6, 3, 16
			xs := make([][]float64, nIn)
			cts := make([]*rlwe.Ciphertext, nIn)
			for i := range cts {
				xs[i] = make([]float64, slots)
				for j := range xs[i] {
					xs[i][j] = rng.Float64()*2 - 1
				}
				if cts[i], err = client.Encrypt(xs[i]); err != nil {
					t.Fatal(err)
				}
				if tc.level >= 0 {
					eval.DropLevel(cts[i], cts[i].Level()-tc.level)
				}
				// A scale that is not a power of two, as after rescaling:
				// the bias integers then depend on lattigo's rounding.
				cts[i].Scale = cts[i].Scale.Mul(rlwe.NewScale(tc.skew))
				if tc.square {
					sq := ckks.NewCiphertext(p.Parameters, 2, cts[i].Level())
					if err := eval.Mul(cts[i], cts[i], sq); err != nil {
						t.Fatal(err)
					}
					cts[i] = sq
					for j := range xs[i] {
						xs[i][j] *= xs[i][j]
					}
				}
			}
			level, scale, degree := cts[0].Level(), cts[0].Scale, cts[0].Degree()
			w := make([]int64, nOut*nIn)
			for j := range w {
				w[j] = rng.Int64N(256) - 128
			}
			w[0], w[1] = -128, 127
			bias := []float64{0.1234567891, -0.5, 0}

			// lattigo, ciphertext by ciphertext.
			want := make([]*rlwe.Ciphertext, nOut)
			for k := range want {
				acc := ckks.NewCiphertext(p.Parameters, degree, level)
				if err := eval.Mul(cts[0], w[k*nIn], acc); err != nil {
					t.Fatal(err)
				}
				for i := 1; i < nIn; i++ {
					if err := eval.MulThenAdd(cts[i], w[k*nIn+i], acc); err != nil {
						t.Fatal(err)
					}
				}
				if err := eval.Add(acc, bias[k], acc); err != nil {
					t.Fatal(err)
				}
				want[k] = acc
			}

			// The backend on the same coefficients.
			moduli := p.Parameters.RingQ().ModuliChain()[:level+1]
			l := accel.CiphertextLayout(p.Parameters.N(), moduli, degree)
			args := &accel.DenseLayerArgs{Layout: l, Weights: w, Bias: make([][]uint64, nOut)}
			got := make([]*rlwe.Ciphertext, nOut)
			for i := range cts {
				args.In = append(args.In, ciphertextRows(cts[i]))
			}
			for k := range got {
				got[k] = ckks.NewCiphertext(p.Parameters, degree, level)
				got[k].MetaData = cts[0].MetaData.CopyNew() // NTT form, scale of the inputs
				args.Out = append(args.Out, ciphertextRows(got[k]))
				v := accel.ScaledConstant(bias[k], scale, p.Parameters.EncodingPrecision())
				if args.Bias[k], err = accel.BiasResidues(l, level+1, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.DenseLayer(args); err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if !want[k].Scale.Equal(got[k].Scale) || want[k].Level() != got[k].Level() || want[k].IsNTT != got[k].IsNTT {
					t.Fatalf("output %d: metadata differs: lattigo scale %v level %d NTT %v, backend %v %d %v",
						k, &want[k].Scale.Value, want[k].Level(), want[k].IsNTT, &got[k].Scale.Value, got[k].Level(), got[k].IsNTT)
				}
				acceltest.EqualRows(t, fmt.Sprintf("output %d", k), ciphertextRows(got[k]), ciphertextRows(want[k]))
				dec := make([]float64, slots)
				if err := encoder.Decode(decryptor.DecryptNew(got[k]), dec); err != nil {
					t.Fatal(err)
				}
				for j := range slots {
					// The skewed scale divides the encrypted values.
					exp := bias[k]
					for i := range nIn {
						exp += float64(w[k*nIn+i]) * xs[i][j] / tc.skew
					}
					if math.Abs(dec[j]-exp) > 1e-3 {
						t.Fatalf("output %d slot %d: decrypted %g, want %g", k, j, dec[j], exp)
					}
				}
			}
		})
	}
}
