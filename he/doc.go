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
//     the SHA-256 of its canonical bytes.
//   - [Client] (encode, encrypt, decrypt float64 vectors) and [WorkerPool]
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
// # Concurrency
//
// lattigo v5 evaluators, encoders, encryptors and decryptors hold scratch
// buffers and must not be shared between goroutines. A [WorkerPool] hands
// each goroutine its own shallow copy (shared read-only keys and tables,
// private buffers); see [WorkerPool.Do] and [WorkerPool.ForEach].
package he
