package he

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// TestConcurrentEvaluation runs multiplications with relinearization and
// rescaling, additions and rotations from many goroutines on one pool; under
// -race (make test-race) it proves that workers share no mutable state, and
// the decrypted results prove no goroutine saw another's buffers.
func TestConcurrentEvaluation(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, []int{1})})
	client := NewClient(km)
	const jobs = 32
	rng := rand.New(rand.NewPCG(3, 4))
	ins := make([][]float64, jobs)
	cts := make([]*rlwe.Ciphertext, jobs)
	for i := range ins {
		ins[i] = randomVector(rng, 64, 2)
		var err error
		if cts[i], err = client.Encrypt(ins[i]); err != nil {
			t.Fatal(err)
		}
	}
	pool := NewWorkerPool(p, km.Evaluation.Keys)
	outs := make([]*rlwe.Ciphertext, jobs)
	var ran atomic.Int32
	err := pool.ForEach(context.Background(), jobs, func(w *Worker, i int) error {
		ran.Add(1)
		sq, err := w.Evaluator.MulRelinNew(cts[i], cts[i]) // x²
		if err != nil {
			return err
		}
		if err := w.Evaluator.Rescale(sq, sq); err != nil {
			return err
		}
		if err := w.Evaluator.Add(sq, 1.5, sq); err != nil { // x² + 1.5
			return err
		}
		outs[i], err = w.Evaluator.RotateNew(sq, 1) // slot j ← slot j+1
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ran.Load() != jobs {
		t.Fatalf("ran %d jobs, want %d", ran.Load(), jobs)
	}
	for i := range outs {
		got, err := client.Decrypt(outs[i], 63)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			want := ins[i][j+1]*ins[i][j+1] + 1.5
			if math.Abs(got[j]-want) > 1e-4 {
				t.Fatalf("job %d slot %d: got %v want %v", i, j, got[j], want)
			}
		}
	}
}

// TestConcurrentDo: eight goroutines, more than this machine's cores, each
// taking workers from the pool with Do.
func TestConcurrentDo(t *testing.T) {
	p := mustPreset(t, "n12")
	km := mustKeys(t, p, KeySpec{Relinearization: true})
	client := NewClient(km)
	pool := NewWorkerPool(p, km.Evaluation.Keys)
	const goroutines = 8
	in := []float64{0.5, -1, 2}
	ct, err := client.Encrypt(in)
	if err != nil {
		t.Fatal(err)
	}
	outs := make([]*rlwe.Ciphertext, goroutines*4)
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			var err error
			for k := range 4 {
				err = errors.Join(err, pool.Do(func(w *Worker) error {
					out, err := w.Evaluator.MulRelinNew(ct, ct)
					if err == nil {
						err = w.Evaluator.Rescale(out, out)
					}
					outs[g*4+k] = out
					return err
				}))
			}
			errs <- err
		}()
	}
	for range goroutines {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, out := range outs {
		got, err := client.Decrypt(out, len(in))
		if err != nil {
			t.Fatal(err)
		}
		for j := range in {
			if math.Abs(got[j]-in[j]*in[j]) > 1e-4 {
				t.Fatalf("result %d slot %d: got %v want %v", i, j, got[j], in[j]*in[j])
			}
		}
	}
}

func TestForEachStopsOnError(t *testing.T) {
	pool := NewWorkerPool(mustPreset(t, "n12"), nil)
	boom := errors.New("boom")
	var ran atomic.Int32
	err := pool.ForEach(context.Background(), 10000, func(_ *Worker, i int) error {
		ran.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if ran.Load() == 10000 {
		t.Fatal("kept going after the error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pool.ForEach(ctx, 10, func(*Worker, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v", err)
	}
	if err := pool.ForEach(context.Background(), 0, func(*Worker, int) error { return boom }); err != nil {
		t.Fatalf("n = 0: err = %v", err)
	}
}
