// Package accel runs aios's hot polynomial kernels — the batch-packing dense
// layer, negacyclic NTTs and pointwise Montgomery products over RNS
// polynomials — on whatever hardware the node has, bit for bit equal to
// lattigo v5 (github.com/tuneinsight/lattigo/v5/ring and schemes/ckks).
// It imports no other aios package: package inference lays ciphertexts out
// as rows ([CiphertextLayout]) and calls a backend for its dense layers.
//
// Most callers want [Select], which returns the [Backend] chosen by the
// AIOS_ACCEL environment variable (auto, cpu or cuda), and then
// [Backend.DenseLayer]. [Backends] lists every registered backend with its
// availability, for health reports and `aios bench`.
//
// # Data layout
//
// Every operand is a set of rows: a row is one RNS limb of one polynomial,
// N coefficients in [0, q) as a []uint64, and row r of every operand is
// reduced modulo Layout.Moduli[r]. A degree-1 CKKS ciphertext at level L is
// 2·(L+1) rows — Value[0].Coeffs[0..L] then Value[1].Coeffs[0..L] — with
// moduli q_0..q_L, q_0..q_L, so one call covers all components and limbs of
// many ciphertexts. Moduli are odd and below 2^62 (lattigo accepts Q moduli
// of up to 62 bits although its nominal maximum is 60); N is a power
// of two between 2^[MinLogN] and 2^[MaxLogN]. Malformed arguments (lengths,
// moduli, degree, weights) give an error wrapping one of the ErrX sentinels,
// never a panic. Coefficients are not range-checked: like lattigo, the kernels
// assume every coefficient is already reduced (he's decoders check this for
// everything a client sends); an unreduced coefficient yields unspecified
// bits, never a panic.
//
// # Kernels
//
//   - [Backend.DenseLayer]: Y_k = Σ_i W_ki·X_i (+ B_k) mod q_r for integer
//     weights in [MinWeight, MaxWeight] (int32; int8-quantized models use
//     −128…127). Each output coefficient is accumulated exactly in signed
//     128-bit arithmetic and reduced once, so the result equals lattigo's
//     ckks.Evaluator doing Mul/MulThenAdd with the same integer constants
//     (which multiplies every coefficient by w mod q_r, see below). Zero
//     weights are skipped: a pruned layer costs in proportion to its
//     nonzero weights.
//   - [Backend.NTT] and [Backend.INTT]: lattigo's ring.SubRing.NTT/INTT, the
//     negacyclic transform of Z_q[X]/(X^N+1) with outputs in bit-reversed
//     order (Longa, Naehrig, "Speeding up the Number Theoretic Transform for
//     Faster Ideal Lattice-Based Cryptography", CANS 2016, Algorithms 1–2),
//     outputs fully reduced. [Tables] exports lattigo's tables for each
//     (N, q) — Montgomery-form twiddles in bit-reversed order, N^-1, the
//     Montgomery and Barrett constants — for backends that compute the
//     transform themselves.
//   - [Backend.MulCoeffsMontgomeryThenAdd]: c = c + a·b·2^-64 mod q, lattigo's
//     ring op of that name (Montgomery, "Modular multiplication without trial
//     division", Math. Comp. 1985; lattigo's variant with q^-1 mod 2^64).
//
// # lattigo behaviour a backend must reproduce
//
// For an integer constant w (int, int64, *big.Int, or a float64 with an
// integral value) and op0.Scale == opOut.Scale, Evaluator.Mul and
// Evaluator.MulThenAdd multiply every coefficient of every component by
// w mod q_r and consume no level; the scale is unchanged. If opOut.Scale is
// larger than op0.Scale, MulThenAdd instead multiplies by
// round(w·opOut.Scale/op0.Scale), and a smaller opOut.Scale is an error: an
// accumulator must carry its inputs' scale. Evaluator.Add with a constant b
// adds round(b·op0.Scale) (ties away from zero) mod q_r to every coefficient
// of Value[0] only (ciphertexts are in the NTT domain, where that is the
// constant polynomial); pass it to DenseLayer as the bias residues of the c0
// rows, zero for the others ([ScaledConstant] computes the integer exactly
// as lattigo rounds it, [BiasResidues] its residues).
//
// # Backends
//
// Backends register themselves beside the pure-Go "cpu" backend, which is
// always available and runs on all cores (like the standard library's
// crypto/internal/impl). The "cuda" backend lives in package accel/cuda,
// which a binary links in with a blank import; see that package.
package accel
