package he

import (
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// Reused ciphertext memory. One batch request decodes to tens of megabytes
// of ciphertexts. Allocated anew, that memory is zeroed by the runtime and,
// where the heap has handed pages back to the kernel, faulted in again;
// on a 2-core VM that cost about as much as the decoding itself
// (BENCHMARKS.md). The readers of ciphertext files ([ReadCiphertextFile],
// [ScanCiphertextFile]) therefore take their ciphertexts from pools that
// [ReleaseCiphertexts] fills once their holder is done with them. Each pool
// is a sync.Pool, which the runtime empties over two garbage collections:
// what waits in them is bounded by what was released since the last ones,
// and is never counted as in use.

// ctShape is what a pooled ciphertext is reused for: the parameters (by
// ID: their moduli bound what its coefficients hold), degree and level.
type ctShape struct {
	params        string
	degree, level int
}

// ctPools maps a ctShape to the *sync.Pool of its released ciphertexts.
var ctPools sync.Map

func ctPool(s ctShape) *sync.Pool {
	if p, ok := ctPools.Load(s); ok {
		return p.(*sync.Pool)
	}
	p, _ := ctPools.LoadOrStore(s, new(sync.Pool))
	return p.(*sync.Pool)
}

// reusedCiphertext returns a ciphertext of degree and level under p whose
// coefficients are left as its previous holder wrote them, or a new one:
// the caller must write every coefficient of limbs 0…level of every
// polynomial, and set the metadata, before anyone reads it.
func reusedCiphertext(p Parameters, degree, level int) *rlwe.Ciphertext {
	if ct, ok := ctPool(ctShape{p.ID(), degree, level}).Get().(*rlwe.Ciphertext); ok {
		return ct
	}
	return rlwe.NewCiphertext(p.Parameters, degree, level)
}

// ReleaseCiphertexts hands the memory of cts, made under p, to later reads
// of ciphertext files under p, which will overwrite it. The caller must
// hold the only references to them and must not use them again, nor
// release one twice: a ciphertext still in use when a read reuses it would
// change under its user. A ciphertext whose polynomials are not all of p's
// ring degree and of one level is left to the garbage collector.
func ReleaseCiphertexts(p Parameters, cts ...*rlwe.Ciphertext) {
	n := p.N()
	for _, ct := range cts {
		if ct == nil || ct.MetaData == nil || len(ct.Value) == 0 {
			continue
		}
		level := ct.Value[0].Level()
		ok := true
		for _, pol := range ct.Value {
			if pol.Level() != level {
				ok = false
				break
			}
			for _, limb := range pol.Coeffs {
				if len(limb) != n {
					ok = false
				}
			}
		}
		if ok {
			ctPool(ctShape{p.ID(), ct.Degree(), level}).Put(ct)
		}
	}
}
