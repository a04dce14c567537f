package inference_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

func TestEncryptedErrors(t *testing.T) {
	m, test := digits(t)
	ctx := context.Background()
	km := keysFor(t, m, inference.Batch)
	ev, err := inference.NewBatchEvaluator(m, km.Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	c, err := inference.NewClient(m, inference.Batch, km)
	if err != nil {
		t.Fatal(err)
	}
	x := test.X[:4]
	in, err := c.EncryptBatch(x)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("feature count", func(t *testing.T) {
		var fe *inference.FeatureCountError
		_, err := c.EncryptBatch([][]float64{x[0], x[1][:30]})
		if !errors.As(err, &fe) || fe.Sample != 1 || fe.Want != 64 || fe.Got != 30 {
			t.Fatalf("EncryptBatch with 30 features: %v", err)
		}
		if _, err := c.EncryptBatch([][]float64{{1, 2}}); !errors.Is(err, inference.ErrFeatureCount) {
			t.Fatalf("got %v", err)
		}
		var ce *inference.CiphertextError
		if _, err := ev.Evaluate(ctx, in[:63]); !errors.As(err, &ce) || ce.Field != "count" || !errors.Is(err, inference.ErrCiphertext) {
			t.Fatalf("63 ciphertexts: %v", err)
		}
	})
	t.Run("too many samples", func(t *testing.T) {
		big := make([][]float64, c.MaxBatch()+1)
		for i := range big {
			big[i] = x[0]
		}
		var be *inference.BatchSizeError
		if _, err := c.EncryptBatch(big); !errors.As(err, &be) || be.Max != 4096 || be.Got != 4097 || !errors.Is(err, inference.ErrTooManySamples) {
			t.Fatalf("4097 samples: %v", err)
		}
		if _, err := c.EncryptBatch(nil); !errors.Is(err, inference.ErrTooManySamples) {
			t.Fatalf("no samples: %v", err)
		}
	})
	t.Run("keys for another preset", func(t *testing.T) {
		p12, _ := he.PresetByName("n12")
		other, err := he.GenerateKeys(p12, he.KeySpec{Relinearization: true})
		if err != nil {
			t.Fatal(err)
		}
		var pe *inference.ParamsError
		_, err = inference.NewBatchEvaluator(m, other.Evaluation)
		if !errors.As(err, &pe) || pe.GotName != "n12" || pe.WantName != "n13" || !errors.Is(err, inference.ErrKeyMismatch) {
			t.Fatalf("n12 keys for an n13 model: %v", err)
		}
		if _, err := inference.NewSingleEvaluator(m, other.Evaluation); !errors.Is(err, inference.ErrKeyMismatch) {
			t.Fatalf("single: %v", err)
		}
		if _, err := inference.NewClient(m, inference.Batch, other); !errors.Is(err, inference.ErrKeyMismatch) {
			t.Fatalf("client: %v", err)
		}
		// A ciphertext of other parameters (another ring degree).
		oc := he.NewClient(other)
		ct, err := oc.Encrypt([]float64{1})
		if err != nil {
			t.Fatal(err)
		}
		bad := append([]*rlwe.Ciphertext(nil), in...)
		bad[5] = ct
		var ce *inference.CiphertextError
		if _, err := ev.Evaluate(ctx, bad); !errors.As(err, &ce) || ce.Index != 5 || ce.Field != "ring degree" {
			t.Fatalf("n12 ciphertext: %v", err)
		}
	})
	t.Run("missing keys", func(t *testing.T) {
		params, _ := he.PresetByName("n13")
		norelin, err := he.GenerateKeys(params, he.KeySpec{})
		if err != nil {
			t.Fatal(err)
		}
		var me *inference.MissingKeysError
		if _, err := inference.NewBatchEvaluator(m, norelin.Evaluation); !errors.As(err, &me) || !me.Relinearization || !errors.Is(err, inference.ErrMissingKeys) {
			t.Fatalf("no relinearization key: %v", err)
		}
		spec, _ := m.KeySpec(inference.Single)
		_, err = inference.NewSingleEvaluator(m, km.Evaluation)
		if !errors.As(err, &me) || me.Relinearization || len(me.GaloisElements) != len(spec.GaloisElements) {
			t.Fatalf("batch keys for single: %v", err)
		}
		if _, err := inference.NewBatchEvaluator(m, nil); !errors.Is(err, inference.ErrMissingKeys) {
			t.Fatalf("nil keys: %v", err)
		}
	})
	t.Run("wrong level and scale", func(t *testing.T) {
		naive, err := inference.NaivePlan(m)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := inference.NewClientForPlan(m, naive, km)
		if err != nil {
			t.Fatal(err)
		}
		nin, err := nc.EncryptBatch(x)
		if err != nil {
			t.Fatal(err)
		}
		var ce *inference.CiphertextError
		if _, err := ev.Evaluate(ctx, nin); !errors.As(err, &ce) || ce.Field != "level" || ce.Want != "1" || ce.Got != "2" {
			t.Fatalf("level-2 inputs: %v", err)
		}
		wrongScale := c.Plan()
		wrongScale.LogInputScale += 3
		wc, err := inference.NewClientForPlan(m, wrongScale, km)
		if err != nil {
			t.Fatal(err)
		}
		win, err := wc.EncryptBatch(x)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ev.Evaluate(ctx, win); !errors.As(err, &ce) || ce.Field != "scale" {
			t.Fatalf("inputs at another scale: %v", err)
		}
		bad := append([]*rlwe.Ciphertext(nil), in...)
		bad[0] = nil
		if _, err := ev.Evaluate(ctx, bad); !errors.As(err, &ce) || ce.Field != "nil" {
			t.Fatalf("nil input: %v", err)
		}
		deg2 := rlwe.NewCiphertext(km.Params.Parameters, 2, 1)
		*deg2.MetaData = *in[0].MetaData
		bad[0] = deg2
		if _, err := ev.Evaluate(ctx, bad); !errors.As(err, &ce) || ce.Field != "degree" {
			t.Fatalf("degree-2 input: %v", err)
		}
	})
	t.Run("packing", func(t *testing.T) {
		if _, err := c.EncryptSingle(x[0]); !errors.Is(err, inference.ErrPacking) {
			t.Fatalf("EncryptSingle on a batch client: %v", err)
		}
		if _, err := inference.ParsePacking("diagonal"); !errors.Is(err, inference.ErrPacking) {
			t.Fatalf("ParsePacking: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := ev.Evaluate(cctx, in); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled context: %v", err)
		}
	})
}
