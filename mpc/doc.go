// Package mpc runs verifiable secret-shared aggregation sessions between
// edge nodes: each input party Shamir-shares a private vector among the
// participants (Shamir, "How to share a secret", CACM 1979), with hiding
// Pedersen commitments that let every recipient check its shares (Pedersen,
// "Non-interactive and information-theoretic secure verifiable secret
// sharing", CRYPTO 1991); the nodes add (or, for a dot product, multiply
// and re-share, as in Ben-Or, Goldwasser and Wigderson, STOC 1988) their
// shares; only the coordinator reconstructs the aggregate, and it leaves the
// node only through package dp, with Laplace noise, after the privacy
// budget has been debited.
//
// The package is the protocol core: it does not know HTTP, and it imports
// only dp (the release), internal/nodekey (message signatures) and its own
// field arithmetic (mpc/internal/field). Most callers
// want a [Node] (one per process, hosting any number of sessions) with a
// [Transport]; package mpc/httptransport is the HTTP one, and `aios serve`
// routes incoming peer messages to [Node.Deliver]. Sessions are described
// by a [SessionLiteral] and validated once by [NewSessionFromLiteral]. The
// package's tests and benchmarks run nodes over an in-memory network.
//
// # Rounds
//
//  1. Propose (coordinator → all): the canonical session encoding, signed.
//  2. Accept (participant → coordinator): a fresh X25519 session key, signed.
//  3. Roster (coordinator → accepted): every accepted participant's signed
//     Accept message, verified by each node; this fixes who takes part and
//     everyone's session keys.
//  4. Deal, phase 1 (input party → every roster member): the public part
//     (hashes of every recipient's part, commitments) and the recipient's
//     part (an ephemeral X25519 key and its encrypted share vector). Each
//     recipient verifies.
//  5. Report (each member → coordinator): per dealer, missing, verified or
//     failed (bad share or bad ciphertext), with the hash of the public
//     part it saw.
//  6. Complaint (coordinator → accused dealer), only for a dealer whose
//     dealing at least t members verified and some member accused: the
//     accusers whose shares it must open.
//  7. Opening (accused dealer → coordinator): the public part and, per
//     accuser i, the ephemeral private key e_i and part_i, so that the
//     coordinator decrypts exactly what i decrypted and checks it against
//     the commitments; due halfway between the complaint and OutputBy.
//  8. Decision (coordinator → members), signed: the dealers included, the
//     nodes excluded with the reason and the node whose evidence convicted
//     them, and the holders (members that verified every included dealer).
//  9. Dot product only: phase 2 repeats 4–8 with each holder re-sharing its
//     local product Σ_j a_j·b_j (degree 2t−2) with degree t−1; a holder's
//     new share is Σ_{i∈R} λ_i·r_i with the Lagrange coefficients at 0 of
//     the included re-sharers R (|R| ≥ 2t−1).
//  10. Output (holder → coordinator): its output share vector (the sum of
//     the included dealers' shares, or the degree-reduced product share),
//     encrypted to the coordinator, which reconstructs and releases.
//
// Every wait ends when all expected messages arrived or at the round's
// deadline (AcceptBy, InputBy, ReportBy, OutputBy; openings halfway
// between the complaint and OutputBy), so a silent node costs time, never
// the session, while at least t holders remain.
//
// # Messages and their encodings
//
// Every message is an [Envelope] (wire form documented there): kind,
// phase, session id, sender and recipient indices, a 16-byte random nonce,
// the body, and the sender's Ed25519 signature (internal/nodekey, kyber
// sign/eddsa) over a domain tag, the header and SHA-256 of the body. A node
// rejects, before parsing the body: anything above [MaxMessageSize]
// (ErrTooLarge), bodies above their kind's exact size for the session
// (ErrTooLarge), unknown sessions (ErrUnknownSession), other recipients
// (ErrMisrouted), bad signatures or senders (ErrAuth, without detail), a
// nonce already seen in the session, or a second message for the same
// (kind, phase, sender) slot (ErrReplay), and kinds that sender may not send
// (ErrUnexpected). The checks that need only the header (size, session,
// sender, recipient, body length) are also [Node.CheckHeader], which a
// receiver runs on the first [HeaderSize] bytes before it reads the body
// at all. Bodies are fixed-layout big-endian records documented on
// the functions that build or parse them (deal, verdict.encode,
// decodeRoster, decodeComplaint, answer for the Opening); a Complaint or
// Opening carries at most min(t−1, what fits in one message) accusers,
// and its body limit follows from that; every decoder
// has a size limit, typed errors (*DecodeError wrapping ErrMalformed or
// ErrTooLarge) and a fuzz target.
//
// # Canonical session encoding
//
// A session's id is SHA-256 of its canonical encoding, which is also the
// Propose body that the coordinator signs:
//
//	"aios/mpc/session/v1\x00" | n u16 | n × node id [32] | coordinator index u16 |
//	k u16 | k × input-party index u16 (ascending; k = 0: all) | t u16 |
//	operation (u16 length, bytes) | d u32 | f u8 | lower f64 | upper f64 |
//	max weight f64 | max items u32 | budget (u16 length, bytes) | ε µ u64 |
//	release mode u8 (0 Laplace, 1 exact) |
//	accept, input, report, output deadlines (Unix ms, u64 each) | nonce [16]
//
// (big-endian; floats as IEEE-754 bits). [DecodeSession] refuses any byte
// string that does not re-encode to itself. A participant accepts by
// signing an Accept message that carries the session id in its header.
//
// # Encryption of shares
//
// Shares travel in AES-256-GCM under a key derived with HKDF-SHA256 from
// an X25519 shared secret, salted with the session id and bound to kind,
// phase, sender and recipient: each key seals exactly one message, so the
// fixed nonce is never reused. Output shares use the sender's and
// recipient's session keys; a dealing seals each recipient's part with a
// fresh key pair (e_i, E_i) of the dealer's (E_i leads the part, so H_i
// binds it) and the recipient's session key P_i, so that an opening can
// reveal e_i, and with it that one part, to the coordinator, who checks
// e_i against E_i and derives the recipient's key from P_i. We chose per-session X25519 keys (announced in the signed
// Accept, so the identity key authenticates them) over kyber's
// encrypt/ecies to the Ed25519 identity key because the identity key then
// only ever signs (internal/nodekey exposes no decryption), shares stay
// confidential if a node key later leaks (forward secrecy once the session
// key is dropped), and it costs one Diffie–Hellman per peer per session
// instead of one per message.
//
// # Fixed point and overflow
//
// A value v is clamped to [lower, upper] and encoded as the integer
// V = round(v·2^f), mapped into Z_q (q = 2^252 + 2774…8493, the order of
// Ed25519's prime subgroup) as V mod q; a field element y decodes to y if
// y < q/2 and y − q otherwise. Decoding is exact as long as the true
// integer aggregate A satisfies |A| < q/2, because addition and
// multiplication mod q agree with the integers on such values. Let
// B = round(max(|lower|, |upper|)·2^f) and m ≤ n the number of input
// parties:
//
//   - sum, mean: |A| ≤ m·B;
//   - weighted mean: |Σ w·x| ≤ m·round(W·max(B', 1)) with W the weight bound;
//   - histogram: 0 ≤ A ≤ m·maxItems;
//   - variance: |Σ V²| ≤ m·B² (2f fraction bits);
//   - dot product: |Σ_j A_j·B_j| ≤ d·B² (2f fraction bits); the degree
//     2t−2 intermediate shares are field elements of no particular size,
//     and only the reconstructed A must obey the bound.
//
// [NewSessionFromLiteral] computes the bound with math/big and refuses the
// session if it reaches q/2 (about 2^251). Noise is added after
// reconstruction, by dp, on int64 fixed-point values, so it never enters
// the field; dp in turn requires the released value below 2^52, which is the
// tighter limit in practice and is also checked up front (the field bound
// can bind only if dp's limit is raised).
//
// # Verifiability and its cost
//
// Kyber's share/vss/pedersen commits with g^s (Feldman), which reveals a
// low-entropy secret to a brute-force search, so dealings here use hiding
// commitments g^a·h^b, where h is a point picked from a public seed (see
// pedersenH) so that nobody knows log_g h.
//
// Committing to each of the d coordinates' t coefficients costs the dealer
// 2·t·d scalar multiplications and every verifier a d-term
// multi-exponentiation per coefficient: combining commitments
// Π_j C_{j,k}^{γ_j} is a group operation per coordinate, so a random linear
// combination of per-coordinate commitments saves only the final check, not
// the O(t·d) group work (at d = 10^5 and t = 6 that is about 10^6 scalar
// multiplications per dealer, minutes with kyber). The combination has to
// happen on scalars instead, which is sound only if the dealer is bound to
// every share before the combination is known. So a dealer:
//
//  1. draws f_j (degree t−1, f_j(0) = V_j) for every coordinate j and a
//     blinding polynomial B (degree t−1), and computes each member i's
//     share vector s_{·,i} = (f_j(x_i))_j and blinding share ρ_i = B(x_i);
//  2. encrypts (s_{·,i}, ρ_i) to each member and publishes the hashes
//     H_i = SHA-256(part_i) of all of them;
//  3. derives γ = SHA-512(tag, session, phase, dealer, H_1…H_n) mod q
//     (Fiat–Shamir), and commits to the combined polynomial
//     F = Σ_j γ^j f_j: D_k = g^{F_k}·h^{B_k}, k < t.
//
// Member i checks SHA-256 of its part against H_i, recomputes γ,
// computes σ_i = Σ_j γ^j s_{j,i} (Horner) and checks
// g^{σ_i}·h^{ρ_i} = Π_k D_k^{x_i^k}. Its Report carries the hash of (H, D);
// the coordinator includes a dealer only if at least t members verified
// the same (H, D) ("Dropouts and cheaters").
//
// Soundness. Fix the honest members' share vectors, which the hashes bind
// before γ exists. If for some coordinate j the honest shares s_{j,·} do
// not lie on one polynomial of degree < t, take t+1 honest points and the
// Lagrange combination e_j = s_{j,t+1} − Σ_{i≤t} L_i·s_{j,i}; some e_j ≠ 0.
// All honest checks pass only if (a) the combined shares σ_i lie on one
// polynomial of degree < t, i.e. Σ_j γ^j e_j = 0, which for a nonzero
// polynomial of degree < d in γ happens for at most d−1 of the q values;
// γ is a random-oracle output, so a dealer that tries Q hash inputs succeeds
// with probability at most Q·d/q (< 2^-150 for Q = 2^80, d = 2^20); or (b)
// the dealer opened D at two different points, which yields log_g h
// (Pedersen binding, discrete logarithm in Ed25519's group). The
// commitments are perfectly hiding: D_0 = g^{Σ γ^j V_j}·h^{B_0} with B_0
// uniform, and t−1 members learn only their own shares.
//
// Real costs per dealing with n members, t, d: the dealer does n·(t−1)·d
// field multiply-adds (sharing), t·d more for the combined coefficients,
// n ephemeral X25519 key pairs and exchanges, n AES-GCM encryptions and
// SHA-256 hashes of 32·(d+1) bytes, and 2t fixed-base scalar
// multiplications; each member does d field
// multiply-adds, one decryption and hash, and t+2 scalar multiplications.
// So the group work is O(t) per dealer per recipient and the O(d) part is
// cheap field arithmetic (package mpc/internal/field, about 0.1 µs per
// multiplication).
//
// # Dropouts and cheaters
//
// The coordinator takes as dealer D's dealing the public part that at
// least t members verified (at most t−1 members lie, so an honest member
// verified it). If two public parts reach t, D sent both and is excluded
// (ReasonEquivocation); if none does, D is excluded as missing or as too
// few verifying. A member that reported another public part, or a dealing
// that did not match its own hashes (a recipient cannot prove what it got
// without forwarding the whole signed message), is not accused of
// anything and is not a holder, as if the dealing had not arrived.
//
// A member that reports the agreed dealing as failing (bad share or bad
// ciphertext) accuses D, and the complaint round settles it, as in the
// complaints and answers of Pedersen-VSS in the New-DKG protocol of
// Gennaro, Jarecki, Krawczyk and Rabin ("Secure distributed key generation
// for discrete-log based cryptosystems", J. Cryptology 2007), with the
// coordinator as the broadcast channel: D opens each accuser's part.
// Because H_i binds E_i and the ciphertext, and e_i must be the private
// key of E_i, the coordinator decrypts exactly the plaintext the accuser
// decrypted; so if every check passes the accuser lied and is excluded
// (ReasonFalseAccusation, naming D as the evidence; its own dealing is
// left out and it holds no share), and if one fails, or D sends no valid
// opening in time, D is excluded with the accuser's reason, naming the
// accuser. Privacy: an opening reveals the accusers' shares to the
// coordinator, which holds its own; so D is asked only if the coordinator
// then knows at most t−1 of D's shares (|accusers ∪ {coordinator}| ≤ t−1),
// and is otherwise excluded without opening (ReasonTooManyComplaints). At
// most t−1 shares of a polynomial of degree t−1 reveal nothing of its
// value. With t = 2 only the coordinator's own accusations can be settled.
// Up to t−2 false accusers of one dealer (t−1 if the coordinator is one of
// them) are thus convicted; more of them still exclude an honest dealer,
// under ReasonTooManyComplaints rather than as cheating. Members trust the
// coordinator's verdicts, as they trust its inclusion decisions.
//
// Holders are the members that verified every included dealer and were
// not convicted; every holder combines exactly the included set, because
// the signed Decision lists it with the public part hashes and a holder
// refuses a Decision that contradicts its own checks.
//
// Output shares are reconstructed robustly: the coordinator compresses
// each share vector with a fresh random challenge, searches t-subsets for a
// polynomial that at least ⌈(m+t)/2⌉ of the m shares agree with (it is then
// unique), reconstructs from those, and names the others in
// Outcome.WrongOutput; the session still completes. With m = t+1 a wrong
// share is detected but cannot be located: [ErrInconsistentOutput].
//
// Limits of the model, the dot product's re-sharing. What phase 2 checks
// is that each included re-sharer i dealt a consistent degree-(t−1)
// sharing of some value z'_i, bound by its commitment D_0 = g^{z'_i}·h^{B_0}
// (with width 1, F = f). Nothing ties z'_i to the holder's local product
// z_i = Σ_j a_{j,i}·b_{j,i}: phase 1 commits only to the γ-combination of
// each input's coordinates, not to each coordinate, so the products have
// no commitment to be compared with. A malicious re-sharer therefore
// shifts the reconstructed dot product by λ_i·(z'_i − z_i), an additive
// error of its choice (λ_i ≠ 0 its Lagrange coefficient in R), and the
// output shares stay consistent, so robust reconstruction does not see
// it. Privacy is unaffected (the shift can depend only on what the
// corrupt nodes hold, fewer than t shares, and the result is still
// released only through dp). So the dot product is private against fewer than t corrupt nodes,
// and correct against malicious input dealers but only against
// semi-honest re-sharers. Closing it needs per-coordinate commitments to
// the inputs (giving up the batching above: O(t·d) group operations per
// dealer), from which every holder's shares a_{j,i}, b_{j,i} have
// commitments, and a zero-knowledge proof that z'_i = Σ_j a_{j,i}·b_{j,i}
// (an inner-product argument, as in Bünz et al., "Bulletproofs", IEEE S&P
// 2018, or a multiplication proof per coordinate, as in Cramer, Damgård
// and Maurer, EUROCRYPT 2000); a re-sharer whose proof fails would be
// excluded like a dealer whose share fails.
//
// # Release
//
// Only the coordinator reconstructs. A session's release mode is part of
// its canonical encoding, so every participant that accepts has seen it.
//
// ReleaseExact (for package fl's federated rounds) reconstructs the aggregate without noise and hands it, post-processed as
// below, once to the coordinator's in-process caller ([Node.TakeAggregate]);
// it is not in the Outcome, so no status route shows it, and it is not
// debited from or recorded in the dp ledger: it claims no ε, and the
// ledger holds only releases that are differentially private. It releases
// the inputs of exactly the parties whose callers gave an input to that
// session id, which is their consent; a participant that gives none learns
// nothing beyond its shares. Package fl's record-level DP rounds use this
// mode too: there the members noise their inputs before sharing (each adds
// its share of distributed discrete Gaussian noise), so the exact
// aggregate is already a noised one, and fl releases it through dp
// (dp.DistributedGaussian's query, debited in the ledger) before it uses
// it; mpc itself claims nothing for it.
//
// ReleaseLaplace, the default: the coordinator decodes the aggregate and
// hands it to dp.Ledger.Release (debit first, then Laplace noise on dp's integer
// path, with a 95% interval), in chunks of at most 2^16 coordinates whose ε
// add up to the session's ε. [NewSessionFromLiteral] builds those chunks'
// mechanisms and runs every check of dp's that does not depend on the
// aggregate's values or the ledger (each chunk's ε, at least 1 µε; the ℓ1
// sensitivity of the widest chunk; the budget name), so a session that
// would fail at release is refused before anyone shares; what is left to
// the release is the budget's existence and balance at the time, and the
// grant of the session's spender ([Node.ProposeAs]: the API caller who
// created the session; dp checks it in the debit's transaction). Means, weighted means and variances are
// computed from the noised sums (post-processing). The raw aggregate is
// never stored, logged or returned: Outcome holds the noised [Release]
// (with ReleaseExact, nothing; the exact aggregate goes only to
// TakeAggregate's caller). The
// tests reach the raw aggregate only through the rawForTesting hook, so
// they can compare exactly with a plaintext reference.
package mpc
