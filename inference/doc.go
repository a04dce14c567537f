// Package inference holds aios's compressed neural networks: the model file
// format, the plaintext quantized reference evaluator, and (built on the he
// package) encrypted evaluation. Training and compression live in
// inference/train, data loading in inference/dataset.
//
// Most callers want [ReadFile] (or [Decode]) to load a model, and
// [NewEvaluator] for the reference evaluator's [Evaluator.Predict].
// Encrypted evaluation has one API for both packings, so that no caller lays
// out ciphertexts itself:
//
//   - the client side is a [Client] ([NewClient] from the model, or
//     [NewContractClient] from the [Contract] a node publishes): it needs the
//     keys the contract lists (he.GenerateKeys), and [Client.Encrypt] and
//     [Client.Decrypt] turn samples into encrypted vectors and a node's
//     answer back into logits, whichever packing the contract is for;
//   - the server side is a [Server] ([NewServer], with the kernel backend the
//     node selected): it publishes the contracts, checks a client's keys
//     ([Server.CheckKeys]) and input ([Server.ReadInput], [Server.CheckInput])
//     against what the model needs, and builds the [EncryptedEvaluator] of a
//     packing on the client's keys ([Server.NewEvaluator]).
//
// The packings themselves are [BatchEvaluator] (throughput: one ciphertext
// per feature, N/2 samples per slot, the dense layers on an accel backend)
// and [SingleEvaluator] (latency: one sample per ciphertext); [Model.Plan]
// says at which level and scale the inputs are encrypted and where the
// outputs land. The package imports he and accel and nothing else of aios;
// it reads no environment variable (the node passes its backend down).
//
// # Model
//
// A model is a multilayer perceptron of dense layers with symmetric
// per-output-channel int8 weights (Jacob et al., "Quantization and Training
// of Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR
// 2018, with zero point 0 and one scale per output channel). Layer l has
// integer weights W_l ∈ [−127, 127]^(out×in), scales s_l > 0 and biases b_l;
// on its input h its real pre-activation is
//
//	z_l = s_l ⊙ (W_l·h) + b_l.
//
// Every layer but the last is followed by a degree-2 activation
// a(z) = c0 + c1·z + c2·z² (x² is c = (0, 0, 1)), written in completed-square
// form a(z) = g·(z + δ)² + k with g = c2, δ = c1/(2·c2), k = c0 − c1²/(4·c2)
// (CryptoNets, Gilad-Bachrach et al., ICML 2016, use x²; a trained degree-2
// polynomial is the same circuit).
//
// The float scales of an int8 layer cannot be applied to a ciphertext
// without a rescaling, so they are folded: the next layer does not consume
// a(z_l) but
//
//	t_l = ((z_l + δ)/s_l)² = (u + (b_l + δ)/s_l)²,   u = W_l·h,
//
// and a(z_l) = g·s_l²·t_l + k. At compression time (inference/train) the
// next layer's float weights are multiplied by g·s_l² per input channel
// before they are quantized, and its bias absorbs k times the dequantized
// weights, so the model computes the float network with dequantized weights
// exactly (up to float64 rounding). The input standardisation
// ((x − μ)/σ) is folded into the first layer in the same way, so clients
// encrypt raw features.
//
// # Circuit
//
// The encrypted evaluator (and, in float64, the reference [Evaluator]) runs
// exactly this, with the constants of [Model.Circuit]:
//
//	h_0 = x (raw features, one ciphertext per feature in the batch packing)
//	for each hidden layer l, each output o:
//	    u_o = Σ_i W_l[o,i]·h_i          integer-constant multiply-adds, no level
//	    v_o = u_o + Add_l[o]            Add = (b + δ)/s, a constant add, no level
//	    h'_o = v_o²                     one ciphertext product, relinearize,
//	                                    rescale: one level
//	for the output layer, each class o:
//	    u_o = Σ_i W[o,i]·h_i            no level
//	    m_o = u_o + Add[o]              Add = b/s, no level
//	    logit_o = OutScale[o]·m_o       OutScale = s: no homomorphic operation;
//	                                    the evaluator divides the output
//	                                    ciphertext's scale by s_o (or the
//	                                    client multiplies after decrypting)
//
// So the multiplicative depth is the number of hidden layers ([Model.Depth]):
// one for 64→32→10. Relinearization may be deferred past the next layer's
// multiply-adds and rescaling done lazily; the values are the same. The
// messages are integer-domain quantities (u, v², Σ W·v²), larger than the
// real pre-activations by 1/s; [Bounds] records their maxima on the training
// set and [ChoosePreset] picks the preset and input level whose moduli hold
// them with [MarginBits] to spare when the inputs are encrypted at the
// preset's default scale (the naive baseline, [NewNaiveBatchEvaluator]).
// The encrypted evaluators run within that preset but choose their own,
// cheaper plan ([Plan]): inputs at a smaller scale and a lower level, with
// no rescaling until the output in the batch packing. The metadata records the preset, the
// depth and the input level; the encrypted evaluator needs, per layer,
// W, Add and (last layer) OutScale, and from the metadata the preset,
// input level, feature count and classes.
//
// # Format
//
// A model file (version 1, big-endian throughout) is
//
//	"AIOSMODL"                 8 bytes, magic
//	version        uint16      1
//	flags          uint16      0
//	metaLen        uint32      ≤ 1 MiB
//	metadata       metaLen     JSON of [Metadata] (unknown fields rejected)
//	layers         uint16      1 … 16
//	per layer:
//	    in, out    uint32, uint32   each 1 … 16384, in·out ≤ 2^22
//	    activation uint8            0 none (last layer only), 1 square, 2 poly
//	    coeffs     3 × float64      c0, c1, c2 (IEEE 754 bits)
//	    weights    out·in int8      row-major, in [−127, 127]
//	    scales     out × float64    finite, > 0
//	    biases     out × float64    finite
//	sha256         32 bytes    SHA-256 of every preceding byte
//
// at most [MaxModelBytes]. [Decode] checks the magic and version, the
// checksum, every length against its limit and against the bytes left
// before allocating, then [Model.Validate]: shapes chain and match the
// metadata's feature count and classes, scales are finite and positive, the
// activations are known and the metadata's depth is the circuit's.
package inference
