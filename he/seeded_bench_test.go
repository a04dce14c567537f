package he

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// The digits-like batch of the benchmarks: 64 ciphertexts (one per input
// feature) of N/2 = 4096 samples at n13, at the batch plan's input level 1
// and scale 2^27.
const (
	benchBatchCiphertexts = 64
	benchBatchLevel       = 1
	benchBatchLogScale    = 27
)

// encryptBatchForBenchmark encrypts benchBatchCiphertexts full vectors on
// GOMAXPROCS goroutines, as inference.Client.EncryptBatch does, each with
// its own shallow copy of c; seeded selects EncryptSeededAt.
func encryptBatchForBenchmark(tb testing.TB, c *Client, seeded bool) []EncryptedVector {
	p := c.params
	out := make([]EncryptedVector, benchBatchCiphertexts)
	workers := min(runtime.GOMAXPROCS(0), len(out))
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc := c.ShallowCopy()
			col := make([]float64, p.MaxSlots())
			for i := w; i < len(out); i += workers {
				for n := range col {
					col[n] = float64((n*31+i*17)%33-16) / 16
				}
				var err error
				if seeded {
					out[i], err = enc.EncryptSeededAt(col, benchBatchLevel, math.Exp2(benchBatchLogScale))
				} else {
					var ct *rlwe.Ciphertext
					ct, err = enc.EncryptAt(col, benchBatchLevel, math.Exp2(benchBatchLogScale))
					out[i] = EncryptedVector{Values: len(col), Ciphertext: ct}
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// BenchmarkBatchRequestBytes: the bytes of one digits-like batch and the
// times to write and to read it (validation and, for seeded entries, the
// expansion of c1 included), in version 1 and in version 2 with c1 sent in
// full (tight limbs only) or as a seed. What is read is released after
// each read, as the node releases a request's input once it is answered.
func BenchmarkBatchRequestBytes(b *testing.B) {
	p := mustPreset(b, "n13")
	c := NewClient(mustKeys(b, p, KeySpec{}))
	seeded := encryptBatchForBenchmark(b, c, true)
	full := make([]EncryptedVector, len(seeded))
	for i, ev := range seeded {
		full[i] = EncryptedVector{Values: ev.Values, Ciphertext: ev.Ciphertext}
	}
	for _, bc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"v1", func(w *bytes.Buffer) error { return WriteCiphertextFile(w, p, full) }},
		{"v2-tight", func(w *bytes.Buffer) error { return WriteCompactCiphertextFile(w, p, full) }},
		{"v2-seeded-tight", func(w *bytes.Buffer) error { return WriteCompactCiphertextFile(w, p, seeded) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var buf bytes.Buffer
			var write, read time.Duration
			for b.Loop() {
				buf.Reset()
				t0 := time.Now()
				if err := bc.write(&buf); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				got, err := ReadCiphertextFile(bytes.NewReader(buf.Bytes()), p, Limits{MaxCiphertextDegree: 1})
				if err != nil {
					b.Fatal(err)
				}
				write, read = write+t1.Sub(t0), read+time.Since(t1)
				for _, ev := range got { // as the node does once a request is answered
					ReleaseCiphertexts(p, ev.Ciphertext)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes/batch")
			b.ReportMetric(write.Seconds()*1e3/float64(b.N), "write-ms/batch")
			b.ReportMetric(read.Seconds()*1e3/float64(b.N), "read-ms/batch")
			// Seeded without tight limbs, for comparison: the version-2
			// layout with c0 at 8 bytes a coefficient.
			if bc.name == "v2-seeded-tight" {
				per := compactEntryHead + (benchBatchLevel+1)*p.N()*8 + SeedSize
				b.ReportMetric(float64(10+32+4+len(seeded)*per), "seeded-8-byte-bytes/batch")
			}
		})
	}
}

// benchSingleRotations approximates the digits single-query key spec: the
// relinearization key and 17 Galois keys, for the rotations by the powers
// of two up to 2^11 and five others.
var benchSingleRotations = []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3, 5, 6, 7, -1}

// BenchmarkKeyBytes: the bytes of the digits-like evaluation key sets
// (single: relinearization + 17 Galois keys; batch: relinearization only)
// at n13 in lattigo's encoding and seeded, and the node's time to parse
// each (validation, expansion and the ID included).
func BenchmarkKeyBytes(b *testing.B) {
	p := mustPreset(b, "n13")
	for _, spec := range []struct {
		name string
		spec KeySpec
	}{
		{"single", KeySpec{Relinearization: true, GaloisElements: GaloisElementsForRotations(p, benchSingleRotations)}},
		{"batch", KeySpec{Relinearization: true}},
	} {
		if n := len(spec.spec.GaloisElements); spec.name == "single" && n != 17 {
			b.Fatalf("%d Galois elements, want 17", n)
		}
		km, err := GenerateSeededKeys(p, spec.spec)
		if err != nil {
			b.Fatal(err)
		}
		canon, _ := km.Evaluation.MarshalBinary()
		seeded, err := km.Evaluation.MarshalSeeded()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec.name+"/lattigo", func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseEvaluationKeySet(p, DefaultLimits, canon); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(canon)), "bytes")
		})
		b.Run(spec.name+"/seeded-tight", func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseSeededEvaluationKeySet(p, DefaultLimits, seeded); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(seeded)), "bytes")
			// Seeded without tight limbs, for comparison: the seeded
			// layout with 8 bytes a coefficient.
			keys := len(spec.spec.GaloisElements) + 1
			rows := p.BaseRNSDecompositionVectorSize(p.MaxLevelQ(), p.MaxLevelP())
			per := SeedSize + rows*(p.QCount()+p.PCount())*p.N()*8
			b.ReportMetric(float64(seededKeysHead+keys*per+8*(keys-1)), "seeded-8-byte-bytes")
		})
	}
}

// BenchmarkEncryptBatch: the client's encryption of one digits-like batch
// (encoding included) on GOMAXPROCS goroutines, under the public key, under
// the secret key, and seeded under the secret key.
func BenchmarkEncryptBatch(b *testing.B) {
	p := mustPreset(b, "n13")
	km := mustKeys(b, p, KeySpec{})
	for _, bc := range []struct {
		name   string
		client *Client
		seeded bool
	}{
		{"public-key", NewPublicKeyClient(p, km.PublicKey), false},
		{"secret-key", NewClient(km), false},
		{"seeded", NewClient(km), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				encryptBatchForBenchmark(b, bc.client, bc.seeded)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
		})
	}
}

// BenchmarkExpandC1: the node's cost of expanding one seeded c1 of the
// digits batch (n13, level 1) with each generator, and their ratio; and
// the AES-CTR expansion through lattigo's own uniform sampler against
// readUniform's.
//
//	go test ./he -run '^$' -bench ExpandC1 -benchtime 2000x
func BenchmarkExpandC1(b *testing.B) {
	p := mustPreset(b, "n13")
	seed := newSeed()
	c1 := p.RingQ().AtLevel(benchBatchLevel).NewPoly()
	var took [2]time.Duration
	var lattigo time.Duration
	b.ResetTimer()
	for range b.N {
		for _, kind := range []SeedPRNG{SeedAESCTR, SeedBlake2b} {
			t0 := time.Now()
			expandC1(p, kind, seed, benchBatchLevel, c1)
			took[kind] += time.Since(t0)
		}
		// The same AES-CTR expansion through lattigo's own sampler.
		t0 := time.Now()
		prng, _ := seedPRNG(SeedAESCTR, seed, CTRIVCiphertext)
		ringqp.NewUniformSampler(prng, *p.RingQP()).AtLevel(benchBatchLevel, -1).Read(ringqp.Poly{Q: c1})
		lattigo += time.Since(t0)
	}
	b.ReportMetric(float64(took[SeedAESCTR].Microseconds())/float64(b.N), "aes-ctr-µs/c1")
	b.ReportMetric(float64(took[SeedBlake2b].Microseconds())/float64(b.N), "blake2b-µs/c1")
	b.ReportMetric(float64(took[SeedBlake2b])/float64(took[SeedAESCTR]), "blake2b/aes-ctr")
	b.ReportMetric(float64(lattigo.Microseconds())/float64(b.N), "lattigo-sampler-µs/c1")
	b.ReportMetric(float64(lattigo)/float64(took[SeedAESCTR]), "lattigo-sampler/readUniform")
}

// BenchmarkUnpackLimb: unpacking one tight limb of the n13 preset's ring
// degree at each of its moduli's widths, by groups of eight (unpackLimb)
// against one coefficient at a time (unpackLimbEach), in the same run.
func BenchmarkUnpackLimb(b *testing.B) {
	p := mustPreset(b, "n13")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, q := range p.Q() {
		coeffs := make([]uint64, p.N())
		for i := range coeffs {
			coeffs[i] = rng.Uint64N(q)
		}
		src := make([]byte, packedLimbBytes(q, p.N()))
		packLimb(src, coeffs, limbWidth(q))
		b.Run(fmt.Sprintf("w=%d", limbWidth(q)), func(b *testing.B) {
			var groups, each time.Duration
			for b.Loop() {
				t0 := time.Now()
				unpackLimb(coeffs, src, q)
				t1 := time.Now()
				unpackLimbEach(coeffs, src, q, 0)
				groups, each = groups+t1.Sub(t0), each+time.Since(t1)
			}
			per := float64(b.N * p.N())
			b.ReportMetric(float64(groups.Nanoseconds())/per, "ns/coeff")
			b.ReportMetric(float64(each.Nanoseconds())/per, "each-ns/coeff")
			b.ReportMetric(float64(each)/float64(groups), "speedup")
		})
	}
}
