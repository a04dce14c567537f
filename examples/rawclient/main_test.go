package main

import (
	"testing"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/inference"
)

// TestRawClient runs the lattigo-only client against a real node serving the
// bundled digits model and checks its predictions against the plaintext
// quantized model.
func TestRawClient(t *testing.T) {
	file, m, test := apitest.Digits(t)
	url, tok := apitest.Node(t, file)
	samples := test.X[:32]
	ref, _ := inference.NewEvaluator(m)
	logits, _ := ref.Predict(samples)
	want := inference.Argmax(logits)

	got, err := Run(&Node{URL: url, Token: tok}, "", samples)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: %d, plaintext model %d", i, got[i], want[i])
		}
	}
}
