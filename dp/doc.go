// Package dp releases differentially private aggregates and keeps the
// privacy-budget ledger that pays for them, with a hash-chained, signed audit
// log that an auditor who does not trust the node can verify. It owns every
// noised value that leaves a node (package mpc releases its aggregates
// through it) and imports only internal/store (the ledger's tables) and
// internal/nodekey (checkpoint signatures).
//
// # Entry point
//
// Almost every caller wants [Ledger.Release]: it takes a [Query] (built from
// a validated [Laplace] mechanism over an aggregate the caller computed, or
// from an [Aggregate] over a column of local data), draws the noise, debits
// the query's ε from a named [Budget] and stores the released value with its
// idempotency key in one database transaction, and returns the value only
// after the transaction has committed (a value whose transaction does not
// commit is discarded unseen). There is no other exported way to obtain a
// noised value, so nothing can be released without its ledger entry.
//
//	ledger, _ := dp.OpenNode(ctx, dataDir)
//	mech, _ := dp.NewLaplaceFromLiteral(dp.LaplaceLiteral{Epsilon: 500_000, Lower: 0, Upper: 100, FracBits: 16})
//	q, _ := mech.Query(sum)
//	rel, err := ledger.Release(ctx, dp.ReleaseRequest{Budget: "tenant-a", Query: q, IdempotencyKey: key})
//
// # Mechanisms
//
// Noise is the Laplace mechanism (Dwork and Roth, "The Algorithmic
// Foundations of Differential Privacy", 2014, Definition 3.3 and Theorem
// 3.6): a value with ℓ1 sensitivity Δ released with Laplace(Δ/ε) noise is
// ε-differentially private. Sensitivity always comes from declared clamp
// bounds and contribution limits, never from the data: Δ = ℓ0 · ℓ∞ with
// ℓ∞ = max(|lower|, |upper|) · contributions, and for a vector every
// coordinate counts in ℓ0 (a unit may move all of them). A release without
// bounds is refused with [ErrMissingBounds].
//
// The noise is drawn by github.com/google/differential-privacy
// (noise.Laplace) on its integer path, AddNoiseInt64, applied to fixed-point
// values x·2^f. Textbook floating-point Laplace samplers leak the input
// through the pattern of representable outputs (Mironov, "On Significance of
// the Least Significant Bits for Differential Privacy", CCS 2012); the
// library's integer path samples a two-sided geometric distribution and
// never adds noise to a raw float. Each release carries the library's 95%
// confidence interval (ComputeConfidenceIntervalInt64).
//
// The library's bounded aggregations (dpagg.Count, dpagg.BoundedSumInt64)
// serve [Aggregate] queries over a local column. The bounded mean follows
// dpagg.BoundedMean's construction (a count and a sum normalised around the
// midpoint, ε/2 each, the ratio clamped to the bounds, and its confidence
// interval search), but over dpagg.BoundedSumInt64 on fixed-point values,
// because dpagg.BoundedMean adds noise to float64 sums.
//
// The noise source is the library's own (crypto/rand); it cannot be
// injected, so the noise is checked statistically in the tests.
//
// # Grants: who may spend a budget
//
// A budget belongs to the node's operator, who creates it. Anyone else
// spends it only through a grant: [Ledger.Grant] lets a grantee, a token
// ("token:<id>") or a role ("role:client") of the node's API, spend a named
// budget; [Ledger.Revoke] ends that; [Ledger.Grants] lists a budget's
// grants. A release names its payer in [ReleaseRequest.Spender], and
// [Ledger.Release] checks the grant in the same transaction as the debit,
// so a revoked grant stops even a release that was planned before. The
// grants live here, beside the budgets, because this package owns every
// debit: there is no way to debit that does not pass the check, whichever
// layer asks. A [Spender] without the grant gets the same
// [UnspendableError] for a budget it may not spend and for one that does
// not exist ("no budget %q you may spend"), and nothing about the budget's
// remaining ε; [Ledger.SpendableBudget] gives the same answer before any
// work is done, for a caller that wants to refuse early.
//
// A nil Spender is the node's operator and needs no grant: a local command
// on the data directory (`aios dp query --data-dir`), or a program that
// opens the ledger itself. Whoever can open the database can also write
// its grants, so a check there would protect nothing. An unrestricted
// Spender (the API's admins, who create budgets and grants and could grant
// themselves) needs none either. Grants are access control, not
// accounting: they are not entries of the chain below; what the chain
// records of the payer is each spend's requester.
//
// # Ledger and audit log
//
// Budgets and ε are exact integers in micro-ε ([MicroEpsilon]). A pure-ε
// budget (δ = 0) uses sequential composition: it pays for releases whose ε
// sum to at most its total. An (ε, δ) budget is accounted in Rényi DP (see
// Privacy accounting). There are no refunds. Every budget creation and every spend appends an [Entry] to one
// chain; entry i carries
//
//	hash_i = SHA-256(hash_{i-1} ‖ canonical(entry_i)),  hash_0 = 32 zero bytes,
//
// where canonical is the encoding documented on [Entry.Canonical]: integers
// as 8 bytes big-endian two's complement, strings and byte strings as a
// 4-byte big-endian length and the bytes (UTF-8 for strings), in a fixed
// field order after a tag that names the entry's version. Version 2, which
// the ledger writes, ends with the spend's release commitment
// ([ReleaseCommitment]): SHA-256 over a random nonce and the released
// values and intervals (float64 as IEEE 754 bits), so the chain covers what
// was released without revealing it. Entries written before it are of
// version 1, without a commitment, and still verify; the JSON of a version-1
// entry may lack "version". A version-1 entry never follows a later one.
// Version 3, which the ledger writes for (ε, δ) budgets (see Privacy
// accounting below), adds the budget's δ and orders or the release's
// per-order RDP; pure-ε budgets keep version 2.
//
// The node signs [Checkpoint]s (entry count, head hash, time) with its
// Ed25519 key (internal/nodekey). [Verify] recomputes the chain, checks every
// checkpoint signature and that each budget's spent total is the sum of its
// entries; [Ledger.Export] and [VerifyExport] carry the same check offline
// through the JSON document described on [AuditDocument]; [Ledger.Verify]
// also checks each stored release against its entry's commitment. The
// released values are kept beside the chain, keyed by entry, with their
// nonces, so that a retry with the same idempotency key returns them; they
// are not in the export.
//
// Whoever holds the database can remove or rewrite entries and re-hash the
// chain after them; signatures alone show it only for entries a checkpoint
// covers, and only while the checkpoints are there. Two things close the
// gap. The [VerifyReport] says how far a signed checkpoint covers the chain
// (HeadSigned, [VerifyReport.RequireSignedHead]), so that a caller can
// refuse an unsigned head. And an auditor keeps a [Pin] of the checkpoint
// they verified (a small JSON file) and passes it to the next verification,
// which then proves that the chain extends it: fewer entries fail with
// [ErrRollback], another hash at the pinned entry with [ErrFork], whether
// the checkpoints were deleted or the node signed two histories.
//
// # Privacy accounting
//
// A [BudgetLiteral] with a Delta ([PicoDelta], δ in units of 10^-12) is an
// (ε, δ) budget. It accumulates, at each of the 20 Rényi orders of
// [RDPOrders] (1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24,
// 32, 48, 64, 128, 256), the RDP of its releases ([RDP]: integer
// micro-nats, each release's value rounded up, sums exact and saturating at
// [MaxRDPMicro]; Mironov, "Rényi Differential Privacy", CSF 2017,
// Proposition 1). Its spent ε is the conversion of those sums at its δ,
//
//	ε = min over α of  RDP(α) + ⌈L/(α−1)⌉,  L = ⌈10^6·ln(1/δ)⌉ + 1
//
// (Mironov 2017, Proposition 3), computed in integers from the constant L
// that the budget's creation entry records. The tighter conversions of
// Canonne, Kamath and Steinke 2020 and Balle et al. 2020 are not used:
// Proposition 3 needs no floating point at the check, so an auditor
// recomputes every ε bit for bit. A release is admitted if the conversion
// after it is at most the budget's ε; it debits the increase, so the spent
// totals of the budgets table stay sums of entry ε as for pure budgets.
//
// The RDP of a release is, for a Gaussian one, what its query states (the
// subsampled Gaussian of [SampledGaussianRDP], after Mironov, Talwar and
// Zhang 2019, or the distributed discrete Gaussian below), and for a
// Laplace or aggregate query min(ε, α·ε²/2) ([LaplaceRDP]), so pure-ε
// releases compose with Gaussian ones on an (ε, δ) budget. A Gaussian query
// on a pure-ε budget is refused with [ErrDeltaRequired]. Entries of (ε, δ)
// budgets are of version 3 ([Entry.Canonical]); [Verify] recomposes their
// RDP and checks each entry's ε against it. It cannot recompute an entry's
// RDP from the mechanism parameters recorded beside it (that takes floating
// point whose last bits differ between platforms), so the chain proves the
// composition and the parameters, not the float computation between them.
//
// # Distributed noise
//
// In a federation with record-level DP ([DistributedGaussian]) every member
// adds its own share of discrete Gaussian noise to its fixed-point update
// before secret-sharing it ([DistributedGaussian.AddNoise], drawn exactly
// by [SampleDiscreteGaussian]: Canonne, Kamath and Steinke, "The Discrete
// Gaussian for Differential Privacy", NeurIPS 2020, Algorithm 1), sized so
// that MinMembers shares carry the whole noise: σ_i² = (z·C·2^f)²/MinMembers.
// The sum of discrete Gaussians is not a discrete Gaussian; its RDP is
// bounded by Kairouz, Liu and Steinke, "The Distributed Discrete Gaussian
// Mechanism for Federated Learning with Secure Aggregation", ICML 2021,
// Theorem 1, which adds a term τ that vanishes once σ_i is a few units (for
// the fixed-point scales of a model update it is 0 in float64). Skellam
// noise (Agarwal, Kairouz and Liu, "The Skellam Mechanism for Differentially
// Private Federated Learning", NeurIPS 2021) sums exactly to Skellam, but its
// RDP bound carries an extra term in the ℓ1 sensitivity, which for a
// d-coordinate update grows with d; the discrete Gaussian's bound is the
// Gaussian's up to τ, so it is the one used. No amplification by subsampling is
// claimed for it (the sampled-Gaussian analysis is for continuous noise), so
// a federation's sampling rate must be 1.
//
// The reconstructed aggregate is already noised when the coordinator holds
// it, so its release ([DistributedGaussian.Query], then [Ledger.Release])
// is a debit followed by the return of the value it was given: the ledger
// entry is durable before the value is returned, and a retry with the same
// idempotency key is free, as for every release. What the ledger cannot
// see, it trusts: that each member clipped its records to the declared
// norm and added its share, that the aggregate sums at least MinMembers
// shares, and that the caller publishes the value only from the
// [Release]. The sealed query keeps the one exported path to a released
// value through the ledger; it does not stop a coordinator that bypasses it.
package dp
