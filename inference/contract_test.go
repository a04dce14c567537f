package inference_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/inference"
)

// TestContractClient: a client built from the published contract alone (as
// JSON, the way a node serves it) encrypts inputs the evaluators accept and
// decrypts their outputs to the plaintext model's predictions.
func TestContractClient(t *testing.T) {
	m, test := digits(t)
	km := keysFor(t, m, inference.Single) // covers the batch keys too
	x := test.X[:3]
	ref, _ := inference.NewEvaluator(m)
	refLogits, _ := ref.Predict(x)
	want := inference.Argmax(refLogits)
	ctx := context.Background()
	for _, packing := range []inference.Packing{inference.Batch, inference.Single} {
		c, err := m.Contract(packing)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		var back inference.Contract
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		cc, err := inference.NewContractClient(back, km)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]float64
		if packing == inference.Batch {
			in, err := cc.EncryptBatch(x)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := inference.NewBatchEvaluator(m, km.Evaluation)
			if err != nil {
				t.Fatal(err)
			}
			out, err := ev.Evaluate(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got, err = cc.DecryptBatch(out, len(x)); err != nil {
				t.Fatal(err)
			}
		} else {
			ev, err := inference.NewSingleEvaluator(m, km.Evaluation)
			if err != nil {
				t.Fatal(err)
			}
			for _, xi := range x {
				in, err := cc.EncryptSingle(xi)
				if err != nil {
					t.Fatal(err)
				}
				out, err := ev.EvaluateMany(ctx, []*rlwe.Ciphertext{in})
				if err != nil {
					t.Fatal(err)
				}
				l, err := cc.DecryptSingle(out[0])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, l)
			}
		}
		for i, p := range inference.Argmax(got) {
			if p != want[i] {
				t.Errorf("%v sample %d: %d, want %d", packing, i, p, want[i])
			}
		}
		if _, err := cc.EncryptBatch([][]float64{{1, 2}}); err == nil {
			t.Errorf("%v: accepted a sample with the wrong feature count", packing)
		}
		back.Preset = "n12"
		if _, err := inference.NewContractClient(back, km); !errors.Is(err, inference.ErrKeyMismatch) {
			t.Errorf("keys for another preset: %v", err)
		}
	}
}
