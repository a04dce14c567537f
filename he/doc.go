// Package he is aios's layer over the CKKS scheme of lattigo v5
// (Cheon, Kim, Kim, Song, "Homomorphic Encryption for Arithmetic of
// Approximate Numbers", ASIACRYPT 2017; full-RNS variant of Cheon, Han, Kim,
// Kim, Song, SAC 2018). It owns everything CKKS-specific that a client and
// a node share: parameter presets and their security check, key material,
// encoding and encryption, the validating decoders of the wire format, and
// the key and ciphertext files at rest. It imports no other aios package;
// package inference builds the model circuits on it.
//
// Most callers want three entry points:
//
//   - [PresetByName] (or [NewParameters] for a user-supplied
//     ckks.ParametersLiteral): validated CKKS parameters; a preset is built
//     once per process and shared. Every parameter set is checked against
//     the HomomorphicEncryption.org security standard (Albrecht et al.,
//     "Homomorphic Encryption Standard", 2018, Table 1: uniform ternary
//     secret, error σ = 3.2, classical 128-bit security) and refused with a
//     [*SecurityError] when log2(QP) exceeds the bound for its ring degree.
//   - [GenerateKeys]: a client's key material — secret key, public key,
//     relinearization key and the Galois keys for a list of rotations — and
//     the [EvaluationKeySet] that the client uploads to a node, identified by
//     the SHA-256 of its canonical bytes. [GenerateSeededKeys] makes the
//     same keys from seeds, so that they travel at half the size.
//   - [Client] (encode, encrypt, decrypt float64 vectors; [Client.EncryptSeeded]
//     for ciphertexts that travel at half the size) and [WorkerPool]
//     (evaluation from many goroutines).
//
// # Wire format
//
// Ciphertexts and keys travel in lattigo's own binary encoding
// (MarshalBinary/WriteTo), so any lattigo v5 program can be a client;
// parameters travel as lattigo's JSON. lattigo's decoders trust their input:
// a length prefix is allocated as read, so a few hostile bytes can ask for
// terabytes. Every decoder in this package ([DecodeCiphertext],
// [DecodeEvaluationKeySet], [DecodePublicKey], [DecodeSecretKey],
// [DecodeParameters], …) therefore first walks the encoding without
// allocating, checking each length against what the expected parameters
// allow (ring degree, number of RNS limbs for the level, ciphertext degree,
// decomposition sizes, Galois elements) and every coefficient against its
// modulus q_i, with an overall size limit; only a blob that passes is handed
// to lattigo. Failures are [*DecodeError] values wrapping [ErrMalformed],
// [ErrTooLarge] or [ErrParamsMismatch].
//
// Two compact encodings halve what a client sends: version 2 of the
// ciphertext file ([WriteCompactCiphertextFile]; files.go gives the layout)
// and the seeded evaluation key set ([EvaluationKeySet.MarshalSeeded];
// seededkeys.go gives the layout). Both send the uniform half of each
// ciphertext or key as a seed, and every RNS limb at its modulus' bit width
// instead of 8 bytes a coefficient ("tight limbs": a 40-bit limb takes 5
// bytes a coefficient). Their decoders ([ReadCiphertextFile],
// [ParseSeededEvaluationKeySet]) check every size and header field against
// the parameters before allocating, and every unpacked coefficient against
// its modulus, and fail with the same [*DecodeError] values.
//
// # Seeded ciphertexts
//
// lattigo's symmetric encryption of m under s is (c0, c1) = (−a·s + e + m,
// a) in the NTT domain, with a uniform in R_Q and e from the error
// distribution; a is public and need only be uniform and independent of s
// and e. [Client.EncryptSeeded] has lattigo's encryptor sample a with its
// own uniform sampler (rlwe.Encryptor.WithPRNG) from the AES-256-CTR
// keystream keyed by a fresh 256-bit seed ([NewCTRPRNG], from the counter
// block [CTRIVCiphertext]), and the seed travels instead of c1; the reader
// regenerates c1 with the same sampler in the same order, so the node holds
// the very ciphertext the client made (a test checks the bytes). Older
// builds drew a from lattigo's blake2b XOF keyed by the seed
// (sampling.NewKeyedPRNG, entry form 1, still read); with AES-CTR (AES-NI)
// the node expands a c1 about four times faster (BenchmarkExpandC1), and
// that expansion was most of what it spent on a compact request besides
// the evaluation. The
// secret and the error never come from the seed: e is drawn from the
// encryptor's own PRNG, keyed from crypto/rand. (WithPRNG redirects only
// the uniform sampler; lattigo v5 gives no way to hand the encryptor's
// error sampler another PRNG short of re-implementing the encryptor, so e
// stays on lattigo's blake2b PRNG with a 64-byte key from crypto/rand.)
// AES-256 in counter mode is a pseudorandom generator under the standard
// assumption that AES is a pseudorandom permutation (a PRP, hence a PRF up
// to the birthday bound of 2^64 blocks, far beyond the 2^12-odd blocks of
// a c1); a reader who does not know the key cannot tell the stream from
// uniform bytes, and the rejection sampler turns uniform bytes into a
// uniform a. Here the key is public, which is the setting of the argument
// below: the stream is modelled as an ideal function of the seed, as
// ML-KEM's analysis models SHAKE128 (its Kyber predecessors offered an
// AES-256-CTR variant, "Kyber-90s", for the same expansion). The seed is
// used for nothing else, and the counter block's label ("AIOS-CT1")
// separates this stream from any other use a later form may make of an
// AES key. This is the standard seeded compression
// of RLWE samples: Microsoft SEAL serializes a symmetric ciphertext with c1
// replaced by its PRNG seed (Encryptor::encrypt_symmetric returning a
// Serializable<Ciphertext>, SEAL 3.6); ML-KEM expands its public matrix from
// a 32-byte seed (FIPS 203, Algorithm 13, K-PKE.KeyGen, with SampleNTT,
// Algorithm 7), as NewHope did first (Alkim, Ducas, Pöppelmann, Schwabe,
// "Post-quantum key exchange — a new hope", USENIX Security 2016). With the
// XOF modelled as a random oracle, as those schemes' analyses do, a is
// uniform and independent of s and e, which is exactly the RLWE sample
// lattigo produces (for form 1 the XOF is blake2b, for form 2 AES-256-CTR).
// Each ciphertext gets its own seed from crypto/rand:
// two ciphertexts under one a would reveal the difference of their
// plaintexts up to the errors (c0 − c0′ = m − m′ + e − e′). A master seed
// with derived per-ciphertext seeds would save nothing measurable (32 bytes
// per ciphertext of 100 KB and more) and would need an argument of its own.
// Seeded encryption is symmetric, so it needs the secret key; it costs what
// [Client.EncryptAt] costs (both are symmetric; only public-key encryption,
// [NewPublicKeyClient], pays for the products u·pk). Before writing a seed
// in place of c1, [WriteCompactCiphertextFile] checks that c1 is still
// the seed's expansion ([ErrSeedMismatch] otherwise): for a vector fresh
// from [Client.EncryptSeeded] by a keyed hash of seed and c1 taken at
// encryption (about 56 µs against 0.75 ms of blake2b expansion, or
// 0.12 – 0.22 ms of AES-CTR expansion, for an n13 level-1 c1), for any
// other (read from a file, or changed) by expanding the seed again. The
// node never relies on that check: it has only the seed, and expands it.
//
// # Seeded evaluation keys
//
// rlwe.KeyGenerator makes every evaluation key as a gadget encryption of
// s_in under s_out: for each row i of the RNS gadget, (b_i, a_i) =
// (−a_i·s_out + P·g_i·s_in + e_i, a_i) in R_QP, with a_i uniform (from its
// blake2b PRNG keyed from crypto/rand) and e_i from the error distribution
// sampled in Q and extended to P with small norm. The relinearization key
// has s_in = s², s_out = s; the Galois key of element k has s_in = s,
// s_out = π_k⁻¹(s). lattigo v5 has no compressed keys, but its mhe package
// implements the one-round key generation of Mouchet, Troncoso-Pastoriza,
// Bossuat and Hubaux ("Multiparty Homomorphic Encryption from
// Ring-Learning-With-Errors", PETS 2021): mhe.EvaluationKeyGenProtocol's
// GenShare computes a party's b_i on a common reference polynomial a_i that
// SampleCRP draws from a common reference string, and GenEvaluationKey
// joins the aggregated shares with the a_i (mhe.GaloisKeyGenProtocol is the
// same with s_out = π_k⁻¹(s)). With one party the aggregate is the share,
// so [GenerateSeededKeys] draws a fresh seed per key, takes a_i from
// SampleCRP on the keyed PRNG of that seed, and gets the key (b_i, a_i) of
// the same form as KeyGenerator's: the same s_in and s_out, the same error
// sampler (the parameters' Xe, in Q then extended to P), a_i uniform by the
// same rejection sampler, fed by the AES-256-CTR keystream of the seed
// (from the counter block [CTRIVKeys], "AIOS-EK1", so that no key's stream
// is a ciphertext's even for an equal seed) in version 2 of the seeded set,
// by lattigo's blake2b XOF keyed with the seed in version 1 (KeyGenerator's
// own PRNG is that XOF with a 64-byte key). The keys are therefore
// distributed as KeyGenerator's, with the PRNG modelled as ideal as in the
// previous section; what differs is only that the PRNG's key of the a_i is
// published, which is the argument of the previous section. The
// node expands a seeded set with SampleCRP and GenEvaluationKey or
// GenGaloisKey, the protocol's documented way for parties to agree on the
// a_i, rather than by replaying KeyGenerator's internal sampling order.
// mhe's RelinearizationKeyGenProtocol is not used: it is the two-round
// protocol for a secret s = Σ s_j that no party can square, its key has
// another structure (an ephemeral u and the noise s·e0 + u·e1 + e2 + e3
// of mhe.NoiseRelinearizationKey), and its second half Σ (s_j·a + e_j) is
// not a reference polynomial that a seed could stand for. A single party
// knows s², so the one-round protocol from s² to s gives exactly the key
// that KeyGenerator.GenRelinearizationKey defines. A seeded set, once
// expanded, has the ID of its canonical encoding, so a node addresses it as
// it would the same set sent in lattigo's encoding.
//
// # Concurrency
//
// lattigo v5 evaluators, encoders, encryptors and decryptors hold scratch
// buffers and must not be shared between goroutines. A [WorkerPool] hands
// each goroutine its own shallow copy (shared read-only keys and tables,
// private buffers); see [WorkerPool.Do] and [WorkerPool.ForEach].
package he
