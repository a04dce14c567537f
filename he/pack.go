package he

import (
	"encoding/binary"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// Tight limbs: the compact framings (ciphertext file version 2, seeded
// evaluation key sets) write each RNS limb of a polynomial with its
// coefficients at the bit width of the limb's modulus, w = bitlen(q − 1),
// instead of lattigo's 8 bytes each. Coefficient j of a limb occupies bits
// j·w … j·w+w−1 of the limb's bytes, least significant bit first (bit k of
// the limb is bit k mod 8 of byte ⌊k/8⌋), so a limb is N·w/8 bytes (N is a
// multiple of 8). Limbs follow each other in the order of their moduli.

// limbWidth is the bit width at which coefficients below q travel.
func limbWidth(q uint64) uint { return uint(bits.Len64(q - 1)) }

// packedLimbBytes is the size of one packed limb of n coefficients below q.
func packedLimbBytes(q uint64, n int) int { return (n*int(limbWidth(q)) + 7) / 8 }

// packedPolyBytes is the size of a polynomial packed over moduli.
func packedPolyBytes(moduli []uint64, n int) int {
	size := 0
	for _, q := range moduli {
		size += packedLimbBytes(q, n)
	}
	return size
}

// packLimb writes coeffs at width w into dst, which must hold
// packedLimbBytes bytes; coefficients must be below 2^w.
func packLimb(dst []byte, coeffs []uint64, w uint) {
	var acc uint64 // pending bits, the low n of them valid
	var n uint
	o := 0
	for _, c := range coeffs {
		acc |= c << n
		if n+w >= 64 {
			binary.LittleEndian.PutUint64(dst[o:], acc)
			o += 8
			acc = c >> (64 - n) // n > 0 here since w < 64
			n = n + w - 64
		} else {
			n += w
		}
	}
	for ; n > 0; n -= min(n, 8) {
		dst[o] = byte(acc)
		acc >>= 8
		o++
	}
}

// unpackLimb reads len(coeffs) coefficients at width limbWidth(q) from src
// (exactly packedLimbBytes bytes) and returns the index of the first one
// not below q, or -1 if all are. Up to 56 bits, eight coefficients take
// exactly w bytes, so coefficient k of a group of eight starts at the same
// byte ⌊k·w/8⌋ and bit k·w mod 8 of every group: unpackLimb reads whole
// groups with those eight offsets computed once, and the last coefficients
// (where a word would run past src) one at a time (unpackLimbEach). It is
// equal to unpackLimbStream (TestUnpackLimbWidths), which reads wider limbs.
func unpackLimb(coeffs []uint64, src []byte, q uint64) int {
	w := limbWidth(q)
	if w > 56 {
		return unpackLimbStream(coeffs, src, q)
	}
	mask := uint64(1)<<w - 1
	// The byte offsets and shifts of the eight coefficients of a group.
	o1, o2, o3, o4, o5, o6, o7 := int(w>>3), int(2*w>>3), int(3*w>>3), int(4*w>>3), int(5*w>>3), int(6*w>>3), int(7*w>>3)
	s1, s2, s3, s4, s5, s6, s7 := w&7, 2*w&7, 3*w&7, 4*w&7, 5*w&7, 6*w&7, 7*w&7
	le := binary.LittleEndian
	var over uint64 // bit 63 set where some coefficient is not below q
	j, o := 0, 0
	for ; j+8 <= len(coeffs) && o+int(w)+8 <= len(src); j, o = j+8, o+int(w) {
		g, c := src[o:o+int(w)+8], coeffs[j:j+8:j+8]
		c0 := le.Uint64(g) & mask
		c1 := le.Uint64(g[o1:]) >> s1 & mask
		c2 := le.Uint64(g[o2:]) >> s2 & mask
		c3 := le.Uint64(g[o3:]) >> s3 & mask
		c4 := le.Uint64(g[o4:]) >> s4 & mask
		c5 := le.Uint64(g[o5:]) >> s5 & mask
		c6 := le.Uint64(g[o6:]) >> s6 & mask
		c7 := le.Uint64(g[o7:]) >> s7 & mask
		// q−1−c wraps to a number with bit 63 set exactly when c ≥ q
		// (q ≤ 2^56 here).
		over |= (q - 1 - c0) | (q - 1 - c1) | (q - 1 - c2) | (q - 1 - c3) | (q - 1 - c4) | (q - 1 - c5) | (q - 1 - c6) | (q - 1 - c7)
		c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7] = c0, c1, c2, c3, c4, c5, c6, c7
	}
	bad := unpackLimbEach(coeffs, src, q, j)
	if over>>63 != 0 { // the first bad coefficient is in the groups: find it
		for i, c := range coeffs[:j] {
			if c >= q {
				return i
			}
		}
	}
	return bad
}

// unpackLimbEach is unpackLimb from coefficient `from` on (w ≤ 56), one
// load and shift per coefficient: coefficient j is the w bits at bit j·w
// of the little-endian word that starts at its first byte (its offset in
// that byte is below 8), the last word padded with zeros.
func unpackLimbEach(coeffs []uint64, src []byte, q uint64, from int) int {
	w := limbWidth(q)
	mask := uint64(1)<<w - 1
	bad := -1
	var tail [8]byte
	for j := from; j < len(coeffs); j++ {
		bit := uint(j) * w
		o := int(bit >> 3)
		word := src[o:]
		if len(word) < 8 {
			tail = [8]byte{}
			copy(tail[:], word)
			word = tail[:]
		}
		c := binary.LittleEndian.Uint64(word) >> (bit & 7) & mask
		if c >= q && bad < 0 {
			bad = j
		}
		coeffs[j] = c
	}
	return bad
}

// unpackLimbStream is unpackLimb for any width up to 64, reading src as a
// stream of little-endian words and carrying the unread bits.
func unpackLimbStream(coeffs []uint64, src []byte, q uint64) int {
	w := limbWidth(q)
	mask := uint64(1)<<w - 1
	var acc uint64 // unread bits, the low n of them valid
	var n uint
	o := 0
	bad := -1
	for j := range coeffs {
		var c uint64
		if n >= w {
			c = acc & mask
			acc >>= w
			n -= w
		} else {
			var next uint64
			got := uint(64)
			if len(src)-o >= 8 {
				next = binary.LittleEndian.Uint64(src[o:])
				o += 8
			} else {
				got = 0
				for k := 0; o < len(src); k++ {
					next |= uint64(src[o]) << (8 * k)
					o++
					got += 8
				}
			}
			c = (acc | next<<n) & mask
			used := w - n
			acc = next >> used
			n = got - used
		}
		if c >= q && bad < 0 {
			bad = j
		}
		coeffs[j] = c
	}
	return bad
}

// packPoly appends pol's first len(moduli) limbs, packed, to dst.
func packPoly(dst []byte, pol ring.Poly, moduli []uint64) []byte {
	for i, q := range moduli {
		size := packedLimbBytes(q, pol.N())
		dst = append(dst, make([]byte, size)...)
		packLimb(dst[len(dst)-size:], pol.Coeffs[i], limbWidth(q))
	}
	return dst
}

// unpackPoly fills pol's first len(moduli) limbs from src, which holds
// exactly packedPolyBytes bytes. It returns the limb and index of the first
// coefficient not below its modulus, or (-1, -1).
func unpackPoly(pol ring.Poly, src []byte, moduli []uint64) (limb, index int) {
	off := 0
	for i, q := range moduli {
		size := packedLimbBytes(q, pol.N())
		if j := unpackLimb(pol.Coeffs[i], src[off:off+size], q); j >= 0 {
			return i, j
		}
		off += size
	}
	return -1, -1
}
