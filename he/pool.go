package he

import (
	"context"
	"runtime"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// Worker is one goroutine's private evaluation state: an encoder and an
// evaluator whose scratch buffers nobody else touches. Keys and precomputed
// tables are shared read-only with every other worker of the pool.
type Worker struct {
	Encoder   *ckks.Encoder
	Evaluator *ckks.Evaluator
}

// WorkerPool evaluates on one client's evaluation keys from many goroutines.
// lattigo v5 evaluators are not safe for concurrent use (each holds scratch
// buffers); the pool hands every caller a [Worker] made by ShallowCopy of one
// base evaluator, and takes it back for reuse when the caller is done.
//
//	pool := he.NewWorkerPool(params, evk)
//	err := pool.ForEach(ctx, len(cts), func(w *he.Worker, i int) error {
//		return w.Evaluator.MulRelin(cts[i], cts[i], out[i])
//	})
//
// A WorkerPool is safe for concurrent use.
type WorkerPool struct {
	params Parameters
	base   Worker
	free   sync.Pool
}

// NewWorkerPool returns a pool evaluating with evk (nil for none: additions
// and constant products only).
func NewWorkerPool(p Parameters, evk rlwe.EvaluationKeySet) *WorkerPool {
	wp := &WorkerPool{
		params: p,
		base:   Worker{Encoder: ckks.NewEncoder(p.Parameters), Evaluator: ckks.NewEvaluator(p.Parameters, evk)},
	}
	wp.free.New = func() any {
		return &Worker{Encoder: wp.base.Encoder.ShallowCopy(), Evaluator: wp.base.Evaluator.ShallowCopy()}
	}
	return wp
}

// Params returns the pool's parameters.
func (wp *WorkerPool) Params() Parameters { return wp.params }

// Do runs fn with a worker that no other goroutine uses meanwhile. fn must
// not keep the worker after it returns.
func (wp *WorkerPool) Do(fn func(w *Worker) error) error {
	w := wp.free.Get().(*Worker)
	defer wp.free.Put(w)
	return fn(w)
}

// ForEach calls fn(w, i) for i in [0, n) on up to GOMAXPROCS goroutines, each
// with its own worker, and returns the first error (after which no new
// indices are started). It stops early when ctx is done.
func (wp *WorkerPool) ForEach(ctx context.Context, n int, fn func(w *Worker, i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = wp.Do(func(w *Worker) error {
				for i := range next {
					if err := fn(w, i); err != nil {
						cancel(err)
						return err
					}
				}
				return nil
			})
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
