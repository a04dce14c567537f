package he_test

import (
	"fmt"
	"math"

	"github.com/aios-edge/aios/he"
)

// A client's round trip: validated parameters, key material, encryption,
// an evaluation by someone holding only the evaluation keys, decryption.
func Example() {
	params, err := he.PresetByName("n12")
	if err != nil {
		panic(err)
	}
	keys, err := he.GenerateKeys(params, he.KeySpec{Relinearization: true})
	if err != nil {
		panic(err)
	}
	client := he.NewClient(keys)
	ct, err := client.Encrypt([]float64{1.5, -2, 3})
	if err != nil {
		panic(err)
	}

	// The evaluating side: the evaluation keys, no secret key.
	pool := he.NewWorkerPool(params, keys.Evaluation.Keys)
	err = pool.Do(func(w *he.Worker) error {
		if err := w.Evaluator.MulRelin(ct, ct, ct); err != nil { // x²
			return err
		}
		return w.Evaluator.Rescale(ct, ct)
	})
	if err != nil {
		panic(err)
	}

	out, err := client.Decrypt(ct, 3)
	if err != nil {
		panic(err)
	}
	for _, v := range out {
		fmt.Printf("%.4f ", math.Round(v*1e4)/1e4)
	}
	fmt.Println()
	// Output: 2.2500 4.0000 9.0000
}
