package cuda

import "runtime"

// worker is the goroutine that owns the CUDA context: it locks itself to
// its OS thread (cuCtxCreate makes the context current to the calling
// thread only: CUDA Driver API, Context Management) and runs every piece of
// GPU work sent to it, one at a time.
type worker struct{ reqs chan func() }

// startWorker starts the goroutine and runs init on it; if init fails the
// goroutine ends and the error is returned.
func startWorker(init func() error) (*worker, error) {
	w := &worker{reqs: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread holds the context
		err := init()
		errc <- err
		if err != nil {
			return
		}
		for f := range w.reqs {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return w, nil
}

// call runs f on the worker and returns its error.
func (w *worker) call(f func() error) error {
	done := make(chan error, 1)
	w.reqs <- func() { done <- f() }
	return <-done
}
