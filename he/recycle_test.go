package he

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// TestReadReusesReleasedCiphertexts fills released ciphertexts with
// coefficients no read would write (each limb's modulus minus one) and
// checks that files read after the release, in every framing, come back
// equal to what was written: whatever memory a read reuses, it overwrites
// all of it. A scan's seeded c1 still reads as zero.
func TestReadReusesReleasedCiphertexts(t *testing.T) {
	p := mustPreset(t, "n12")
	c := NewClient(mustKeys(t, p, KeySpec{}))
	var cts []EncryptedVector
	for i := range 6 {
		values := []float64{float64(i), -1.5, 0.25}
		var ev EncryptedVector
		var err error
		switch i % 3 {
		case 0:
			ev, err = c.EncryptSeeded(values)
		case 1:
			ev, err = c.EncryptSeededAt(values, 0, p.DefaultScale().Float64())
		default:
			var ct *rlwe.Ciphertext
			ct, err = c.EncryptAt(values, p.MaxLevel(), p.DefaultScale().Float64())
			ev = EncryptedVector{Values: len(values), Ciphertext: ct}
		}
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ev)
	}
	released := map[*rlwe.Ciphertext]bool{}
	spoil := func(got []EncryptedVector) {
		for _, ev := range got {
			for _, pol := range ev.Ciphertext.Value {
				for i, limb := range pol.Coeffs {
					for j := range limb {
						limb[j] = p.Q()[i] - 1
					}
				}
			}
			ev.Ciphertext.Scale = rlwe.NewScale(3)
			released[ev.Ciphertext] = true
			ReleaseCiphertexts(p, ev.Ciphertext)
		}
	}
	for framing, write := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return WriteCompactCiphertextFile(b, p, cts) },
		func(b *bytes.Buffer) error { return WriteCiphertextFile(b, p, cts) },
	} {
		var file bytes.Buffer
		if err := write(&file); err != nil {
			t.Fatal(err)
		}
		reused := 0
		for round := range 3 {
			got, err := ReadCiphertextFile(bytes.NewReader(file.Bytes()), p, Limits{MaxCiphertextDegree: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(cts) {
				t.Fatalf("read %d ciphertexts, wrote %d", len(got), len(cts))
			}
			for i, ev := range got {
				want := cts[i].Ciphertext
				if ev.Ciphertext.Level() != want.Level() || ev.Ciphertext.Scale.Cmp(want.Scale) != 0 {
					t.Fatalf("round %d, ciphertext %d: level %d scale %v, want %d %v", round, i, ev.Ciphertext.Level(), ev.Ciphertext.Scale, want.Level(), want.Scale)
				}
				for k := range want.Value {
					for l := range want.Level() + 1 {
						if !slices.Equal(ev.Ciphertext.Value[k].Coeffs[l], want.Value[k].Coeffs[l]) {
							t.Fatalf("round %d, ciphertext %d: polynomial %d limb %d differs from what was written", round, i, k, l)
						}
					}
				}
				if released[ev.Ciphertext] {
					reused++
				}
				for _, old := range cts {
					if ev.Ciphertext == old.Ciphertext {
						t.Fatal("a read returned the writer's ciphertext")
					}
				}
			}
			spoil(got)
		}
		err := ScanCiphertextFile(bytes.NewReader(file.Bytes()), p, Limits{MaxCiphertextDegree: 1}, func(ev EncryptedVector) error {
			if ev.Seed != nil && slices.ContainsFunc(ev.Ciphertext.Value[1].Coeffs, func(limb []uint64) bool {
				return slices.ContainsFunc(limb, func(x uint64) bool { return x != 0 })
			}) {
				t.Error("a scanned seeded ciphertext's c1 is not zero")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if reused == 0 {
			t.Errorf("framing %d: no read reused a released ciphertext", framing)
		}
	}
}

// TestReleaseKeepsMisfits: a ciphertext whose polynomials differ in level
// is not pooled, so no read gets memory of the wrong shape.
func TestReleaseKeepsMisfits(t *testing.T) {
	p := mustPreset(t, "n12")
	ct := rlwe.NewCiphertext(p.Parameters, 1, p.MaxLevel())
	ct.Value[1].Resize(0)
	ReleaseCiphertexts(p, ct)
	for range 4 {
		if got := reusedCiphertext(p, 1, p.MaxLevel()); got == ct {
			t.Fatal("a ciphertext with limbs missing was reused")
		}
	}
}
