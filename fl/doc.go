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
// MLSys 2020) or server momentum (Hsu, Qi and Brown, 2019).
//
// # What fl owns
//
// The federation spec (members, coordinator, threshold, architecture,
// rounds, local epochs, learning rate, batch, aggregation, clipping norm,
// privacy level, budget, compression), its canonical encoding (compact
// JSON of a fixed field order; [DecodeFederation] refuses any byte string
// that does not re-encode to itself), its id (SHA-256 of a tag and that
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
// round. In round i the coordinator:
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
//     model ([LocalInput]), scales its update Δ = θ_local − θ_global to L2
//     norm at most C, and gives (Δ, its sample count) to the session as its
//     private input;
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
// secure-aggregation level is one member's update in one round. Against a
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
// Record-level differential privacy (each member clips per-example
// contributions and adds its share of discrete Gaussian noise before
// sharing, accounted with an RDP accountant in dp) is declared as
// [RecordDP] and refused with [ErrRecordDP]: dp has no Gaussian release
// or accountant in this build. The seam is [LocalInput] (where the member
// would clip per example and add its noise share) and the round's session
// (which would release through dp's path for already-noised values,
// debited before the global model moves), not mpc.ReleaseExact.
//
// # Data stays home
//
// A member's data is given to [NewMember] and read only by [LocalInput];
// it is never sent, logged or stored elsewhere. Loggers get no data,
// update, share or aggregate.
package fl
