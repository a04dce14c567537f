// Package fl runs federated learning between aios nodes: every member
// trains the global model on its own data (inference/train), the members'
// updates are combined by a verifiable secret-shared weighted mean
// (package mpc), and only the coordinator reconstructs the aggregate, from
// which it computes the next global model; after the float rounds come
// pruning and quantization-aware rounds and the final int8 model, whose
// CKKS bounds come from the members through the same aggregation, so it
// can be served on encrypted inputs like any other.
//
// Most callers want a [FederationLiteral] validated by
// [NewFederationFromLiteral], a [Coordinator] on the node that runs it and
// a [Member] on every node that takes part (package api hosts both and
// carries round messages over HTTP). The aggregation is FedAvg (McMahan et
// al., AISTATS 2017), optionally with FedProx's proximal term (Li et al.,
// MLSys 2020) or server momentum (Hsu, Qi and Brown, 2019). The step size
// is constant or follows a cosine schedule over the float rounds and
// again over the compression rounds ([ScheduleCosine],
// [Federation.StepSize]), so that the last rounds of each settle rather
// than leave the model where one large step put it.
//
// # What fl owns
//
// The federation spec (members, coordinator, threshold, architecture,
// rounds, local epochs, learning rate and its schedule, batch,
// aggregation, clipping norm, privacy level, budget, compression), its
// canonical encoding (compact JSON of a fixed field order;
// [DecodeFederation] refuses any byte string that does not re-encode to
// itself), its id (SHA-256 of a tag and that
// encoding) and the coordinator's Ed25519 signature (internal/nodekey);
// the round messages; local training; the coordinator's update of the
// global model; the final model. A member joins only federations its
// [AcceptList] names (coordinator id and federation name, or any name of
// that coordinator).
//
// # Rounds
//
// The plan ([Federation.Plan]) is: one stats round (each member's
// feature means and second moments, weighted by its sample count, give the
// standardizer, so no member's data is standardised by anyone else's
// raw statistics); the float rounds; the masked rounds after magnitude
// pruning of the global model; the quantization-aware rounds; one bounds
// round (with record-level DP, only the training rounds: see below, which
// also says how those rounds differ from the following). In round i the
// coordinator:
//
//  1. builds the round's MPC session: a weighted mean over every member
//     (a sum for the bounds round), threshold t, clamp [−C, C] with C the
//     clipping norm, weight bound MaxSamples, release mode
//     mpc.ReleaseExact, and the nonce SHA-256(tag, federation id, i, stage,
//     global state)[:16], and proposes it;
//  2. sends every member the signed round message ([Round.Encode]: spec,
//     index, stage, session, standardizer, global parameters);
//  3. each member ([Member.HandleRound]) checks the signature, that it is
//     configured to join, that the round is newer than any it started, and
//     that the session is exactly the one the spec, round and global state
//     determine (so members that accept one session id were all sent the
//     same global model: the coordinator cannot single a member out with a
//     model of its own); then it trains E local epochs from the global
//     model at the round's step size ([LocalInput],
//     [Federation.StepSize]), scales its update Δ = θ_local − θ_global to
//     L2 norm at most C, and gives (Δ, its sample count) to the session as
//     its private input;
//  4. the session combines the included dealings (dropouts tolerated,
//     cheating dealers named and excluded, as in mpc), and the coordinator
//     takes the exact weighted mean Σ n_k·Δ_k / Σ n_k (mpc.Node.TakeAggregate)
//     and adds it (or its momentum) to the global model.
//
// A member that dies or cheats mid-round costs the round its
// contribution; the round completes while at least t holders remain, and
// fails otherwise (the federation then stops with that error).
//
// # Unit of privacy and threat model
//
// The data of a member is its training set; the unit of privacy of the
// secure-aggregation level ([SecureAggregation]) is one member's update in
// one round. Against a
// coordinator and up to t−1 colluding members that are semi-honest, or
// malicious in the ways mpc detects (inconsistent shares, false
// accusations, wrong output shares), a member's update stays hidden: the
// coordinator learns only the aggregate of the included members (their
// weighted mean update and total sample count) and who was included;
// members learn the global models, which are public to them. The aggregate
// itself is not differentially private: over many rounds it can reveal
// properties of the members' data, and a coordinator that includes only
// one honest member beside colluders learns that member's update by
// subtraction (mpc's threshold bounds collusion, not the size of the
// included set). Malicious members can poison the model within the
// clipping norm (an update is bounded, not checked for honesty), and
// can withhold their input.
//
// # Record-level differential privacy
//
// With privacy level [RecordDP] the unit of privacy is one training
// record of one member: the sequence of released global models (and
// everything computed from them, the final model included) is (ε, δ)
// differentially private with respect to adding or removing any single
// record on any node, for the spec's (Epsilon, Delta). The threat model is
// the one above (a coordinator and up to t−1 members, semi-honest or
// malicious in the ways mpc detects) plus: every party, the coordinator
// included, and everyone the global models reach see only noised
// aggregates. It assumes that at least Threshold members in each round
// are honest in adding their noise share (a member that omits its share
// lowers the noise; t honest shares carry all of it) and that members clip
// honestly (a member can always leak its own data). Members' own data are
// not protected from themselves.
//
// Each record-dp round is one step of distributed DP-SGD (DP-FedSGD: Abadi
// et al., CCS 2016, Algorithm 1 with the whole data as the lot; McMahan et
// al., "Learning Differentially Private Recurrent Language Models", ICLR
// 2018, for the federated form), with noise from Kairouz, Liu and Steinke,
// ICML 2021 (dp.DistributedGaussian):
//
//  1. every member computes, at the global model, the sum over its records
//     of each record's cross-entropy gradient clipped to ℓ2 norm C
//     (train.ClippedGradientSum; after pruning, masked weights get none;
//     in quantization-aware rounds the gradient is taken at the
//     fake-quantized weights), and appends its record count scaled by
//     γ·C (γ = 1/4), so one record moves the vector by at most
//     C' = C·√(1+γ²) in ℓ2 norm;
//  2. it encodes the vector in the session's fixed point (round(x·2^f)),
//     adds its share of discrete Gaussian noise, variance
//     (z·C'·2^f)²/t per coordinate (z the spec's noise multiplier), and
//     gives the noised integers (scaled by 2^-f, which mpc's encoding maps
//     back to the same integers) to the round's session: a sum, clamped
//     to a member's largest possible sum plus 64 standard deviations of
//     its noise, a clamp that a discrete Gaussian reaches with
//     probability below e^-2000;
//  3. the coordinator reconstructs the sum of the included members'
//     noised vectors (at least t shares of noise), and releases it through
//     its ledger (dp.DistributedGaussian.Query, dp.Ledger.Release): the
//     round's RDP is debited from the federation's (ε, δ) budget,
//     durably, before the values come back. Only then does it compute the
//     step: the noised gradient sum divided by the noised count (the
//     denominator is not public: it is released with the sum, at no extra
//     cost, and floored at 1), times −StepSize(i) (LR, or its cosine
//     schedule: a public function of the round index, so
//     post-processing), with server momentum β under
//     fedavgm, and move the global model, which it then publishes.
//
// A round whose release fails is not released: the global model does not
// move. Before each round the coordinator asks the ledger whether the
// budget admits one more round at z (dp.DistributedGaussian.RoundsAllowed
// on its accounting); if not, or if the round's debit is refused for want
// of budget (another spender of the same budget), the federation stops
// cleanly (state stopped, with the reason) and its final model is built
// from the last released global model. Another ledger error fails it.
// The spec's plan must fit its budget at z ([NoiseMultiplierFor] finds the
// smallest z that does), so a federation alone on its budget never stops
// early.
//
// What ε means here: RDP composed over the released rounds, converted to
// (ε, δ) at the budget's δ by the ledger (dp's package doc); each round
// uses every record of every member (no amplification by subsampling is
// claimed). The standardizer is public (x/(B/2) from the spec's feature
// bound B: no stats round), and so are the CKKS bounds of the final model
// (inference.Evaluator.Envelope at B: no bounds round), so no aggregate of
// the data leaves a node except noised through the ledger. Local epochs
// must be 1 and FedProx is refused: a round trains no local model. LR is
// the coordinator's step size on the noised mean gradient.
//
// # Data stays home
//
// A member's data is given to [NewMember] and read only by [LocalInput];
// it is never sent, logged or stored elsewhere. Loggers get no data,
// update, share or aggregate.
package fl
