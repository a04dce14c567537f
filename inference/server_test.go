package inference_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// TestServerRoundTrip runs both packings through the packing-agnostic API
// as a node and a remote client use it: the client knows only the
// contract; the node checks keys and input, evaluates and returns vectors;
// the client decrypts. Predictions must agree with the plaintext reference.
func TestServerRoundTrip(t *testing.T) {
	m, test := digits(t)
	srv, err := inference.NewServer(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, packing := range inference.Packings() {
		t.Run(packing.String(), func(t *testing.T) {
			n := 40
			if packing == inference.Single {
				n = 18 // more than one chunk of concurrent queries
			}
			x := test.X[:n]
			want, err := ref.Predict(x)
			if err != nil {
				t.Fatal(err)
			}
			contract, err := srv.Contract(packing)
			if err != nil {
				t.Fatal(err)
			}
			km := keysFor(t, m, packing)
			if err := srv.CheckKeys(packing, km.Params.Name(), km.Evaluation.Spec()); err != nil {
				t.Fatalf("CheckKeys: %v", err)
			}
			c, err := inference.NewContractClient(contract, km)
			if err != nil {
				t.Fatal(err)
			}
			if c.BatchSize() != contract.BatchSize {
				t.Fatalf("client batch size %d, contract %d", c.BatchSize(), contract.BatchSize)
			}
			vecs, err := c.Encrypt(x)
			if err != nil {
				t.Fatal(err)
			}
			// Over the wire, as a node receives it (seeded: c0 and the
			// seed of c1).
			var body bytes.Buffer
			if err := he.WriteCompactCiphertextFile(&body, km.Params, vecs); err != nil {
				t.Fatal(err)
			}
			shape, err := srv.ScanInput(packing, bytes.NewReader(body.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			wire := bytes.Clone(body.Bytes())
			in, err := srv.ReadInput(packing, &body)
			if err != nil {
				t.Fatal(err)
			}
			if in.Samples() != n || in.Packing() != packing {
				t.Fatalf("input of %d samples in %v, want %d in %v", in.Samples(), in.Packing(), n, packing)
			}
			if shape != (inference.InputShape{Batches: in.Batches(), Samples: n}) {
				t.Fatalf("scanned shape %+v, read %d batches of %d samples", shape, in.Batches(), n)
			}
			ev, err := srv.NewEvaluator(packing, km.Evaluation)
			if err != nil {
				t.Fatal(err)
			}
			done := 0
			out, err := ev.EvaluateInput(context.Background(), in, func(k int) { done += k })
			if err != nil {
				t.Fatal(err)
			}
			if done != in.Batches() {
				t.Errorf("progress reached %d of %d batches", done, in.Batches())
			}
			got, err := c.Decrypt(out, n)
			if err != nil {
				t.Fatal(err)
			}
			if agree, maxErr := compare(got, want); agree != 1 || maxErr > 1e-3 {
				t.Errorf("agreement %.3f, max logit error %.2g", agree, maxErr)
			}
			if _, err := c.Decrypt(out, n+c.BatchSize()); !errors.Is(err, inference.ErrCiphertext) {
				t.Errorf("decrypting for the wrong sample count: %v", err)
			}

			// Released, the input can no longer be evaluated, and the
			// next read (which may reuse its memory) evaluates as well.
			in.Release()
			if _, err := ev.EvaluateInput(context.Background(), in, nil); err == nil {
				t.Error("a released input was evaluated")
			}
			if in.Samples() != n || in.Batches() != shape.Batches {
				t.Errorf("released input: %d samples in %d batches, want %d in %d", in.Samples(), in.Batches(), n, shape.Batches)
			}
			again, err := srv.ReadInput(packing, bytes.NewReader(wire))
			if err != nil {
				t.Fatal(err)
			}
			out, err = ev.EvaluateInput(context.Background(), again, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err = c.Decrypt(out, n); err != nil {
				t.Fatal(err)
			}
			if agree, maxErr := compare(got, want); agree != 1 || maxErr > 1e-3 {
				t.Errorf("after a release: agreement %.3f, max logit error %.2g", agree, maxErr)
			}
			again.Release()

			// An input made from the caller's ciphertexts is the caller's:
			// Release leaves it as it is.
			held, err := srv.CheckInput(packing, vecs)
			if err != nil {
				t.Fatal(err)
			}
			held.Release()
			if _, err := ev.EvaluateInput(context.Background(), held, nil); err != nil {
				t.Errorf("an input of caller-held ciphertexts after Release: %v", err)
			}
		})
	}
}

// TestServerChecks: keys and inputs that do not fit are refused with the
// typed errors a node maps to its answers, before any evaluation.
func TestServerChecks(t *testing.T) {
	m, test := digits(t)
	srv, err := inference.NewServer(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	km := keysFor(t, m, inference.Batch)

	// Keys: another preset, no relinearization key, no Galois keys.
	if err := srv.CheckKeys(inference.Batch, "n14", km.Evaluation.Spec()); !errors.Is(err, he.ErrParamsMismatch) {
		t.Errorf("keys of another preset: %v", err)
	}
	var me *inference.MissingKeysError
	if err := srv.CheckKeys(inference.Batch, km.Params.Name(), he.KeySpec{}); !errors.As(err, &me) || !me.Relinearization {
		t.Errorf("no relinearization key: %v", err)
	}
	if err := srv.CheckKeys(inference.Single, km.Params.Name(), km.Evaluation.Spec()); !errors.As(err, &me) || len(me.GaloisElements) == 0 {
		t.Errorf("batch keys for the single packing: %v", err)
	}
	if err := srv.CheckKeys(inference.Packing(9), km.Params.Name(), km.Evaluation.Spec()); !errors.Is(err, inference.ErrPacking) {
		t.Errorf("unknown packing: %v", err)
	}

	// Inputs.
	c, err := inference.NewClient(m, inference.Batch, km)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := c.Encrypt(test.X[:5])
	if err != nil {
		t.Fatal(err)
	}
	mixed := append([]he.EncryptedVector(nil), vecs...)
	mixed[3].Values = 4
	single, err := inference.NewClient(m, inference.Single, keysFor(t, m, inference.Single))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := single.Encrypt(test.X[:2])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		packing inference.Packing
		in      []he.EncryptedVector
	}{
		{"none", inference.Batch, nil},
		{"a batch short of one feature", inference.Batch, vecs[:len(vecs)-1]},
		{"mixed sample counts", inference.Batch, mixed},
		{"no query", inference.Single, nil},
		{"batch ciphertexts as queries (scale)", inference.Single, vecs},
		{"queries as a batch (count)", inference.Batch, queries},
	} {
		if _, err := srv.CheckInput(tc.packing, tc.in); !errors.Is(err, inference.ErrCiphertext) {
			t.Errorf("%s: %v", tc.name, err)
		}
		var file bytes.Buffer
		if err := he.WriteCiphertextFile(&file, km.Params, tc.in); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.ScanInput(tc.packing, &file); !errors.Is(err, inference.ErrCiphertext) {
			t.Errorf("%s, scanned: %v", tc.name, err)
		}
	}
	in, err := srv.CheckInput(inference.Batch, vecs)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := srv.NewEvaluator(inference.Single, keysFor(t, m, inference.Single).Evaluation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.EvaluateInput(context.Background(), in, nil); !errors.Is(err, inference.ErrPacking) {
		t.Errorf("a batch input to the single evaluator: %v", err)
	}
}
