package mpc

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidSession reports a session literal that cannot run; the
	// wrapping *SpecError names the field and the reason.
	ErrInvalidSession = errors.New("mpc: invalid session")
	// ErrMalformed reports a peer message that does not decode; the
	// wrapping *DecodeError says which part.
	ErrMalformed = errors.New("mpc: malformed message")
	// ErrTooLarge reports a message or body above its size limit.
	ErrTooLarge = errors.New("mpc: message too large")
	// ErrAuth reports a message whose signature does not verify or whose
	// sender is not a participant. It carries no detail on purpose.
	ErrAuth = errors.New("mpc: message authentication failed")
	// ErrReplay reports a nonce or a (sender, kind, phase) slot seen before.
	ErrReplay = errors.New("mpc: replayed message")
	// ErrUnknownSession reports a message for a session this node does not
	// run (or no longer runs).
	ErrUnknownSession = errors.New("mpc: unknown session")
	// ErrMisrouted reports a message addressed to another node.
	ErrMisrouted = errors.New("mpc: message addressed to another node")
	// ErrUnexpected reports a message kind a node does not accept from that
	// sender at all (for example a roster not sent by the coordinator).
	ErrUnexpected = errors.New("mpc: unexpected message")
	// ErrBadDeal reports a dealing that fails verification; see *DealerError.
	ErrBadDeal = errors.New("mpc: dealer's shares failed verification")
	// ErrInconsistentOutput reports output shares that disagree when there
	// are too few of them to tell which one is wrong.
	ErrInconsistentOutput = errors.New("mpc: output shares are inconsistent and the culprit cannot be located")
	// ErrTooFewParties reports a session that lost so many participants
	// (not accepted, excluded, silent) that it cannot complete.
	ErrTooFewParties = errors.New("mpc: too few parties left to complete the session")
	// ErrInput reports a private input that does not fit the session.
	ErrInput = errors.New("mpc: invalid input")
	// ErrInputsFull reports an early input refused because the node's
	// early inputs, all owners together, are at their bound; it may be
	// given again once older ones expired or their sessions started.
	ErrInputsFull = errors.New("mpc: too many inputs waiting for their sessions; retry later")
	// ErrDeclined reports a proposal this node's policy refused.
	ErrDeclined = errors.New("mpc: session declined")
	// ErrTransport reports a failure to deliver a message.
	ErrTransport = errors.New("mpc: transport failure")
)

// SpecError says why a session literal was refused.
type SpecError struct {
	Field  string
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("mpc: invalid session: %s: %s", e.Field, e.Reason)
}

func (e *SpecError) Unwrap() error { return ErrInvalidSession }

func specErr(field, format string, args ...any) error {
	return &SpecError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// DecodeError says which part of a message failed to decode. It never
// quotes message contents.
type DecodeError struct {
	Kind   string // message kind, or "envelope"
	Reason string
	Err    error // ErrMalformed or ErrTooLarge
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("mpc: decode %s: %s", e.Kind, e.Reason)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func malformed(kind, format string, args ...any) error {
	return &DecodeError{Kind: kind, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func tooLarge(kind string, n, limit int) error {
	return &DecodeError{Kind: kind, Reason: fmt.Sprintf("%d bytes exceeds the limit of %d", n, limit), Err: ErrTooLarge}
}

// DealerError names a node excluded from a phase: a dealer whose shares
// failed verification at a recipient (confirmed by the complaint round),
// whose commitments differed between recipients, or that too few verified;
// or, with ReasonFalseAccusation, a recipient whose accusation the accused
// dealer's opening refuted. Reason is one of the Reason* constants; it
// never holds share values.
type DealerError struct {
	// Dealer is the excluded node (for ReasonFalseAccusation, the accuser).
	Dealer NodeID
	// Reporter is the node whose evidence convicted Dealer: the accusing
	// recipient, or for ReasonFalseAccusation the dealer whose opening
	// refuted it; zero when the coordinator decided on its own.
	Reporter NodeID
	Phase    int
	Reason   string
}

// Reasons a node is excluded.
const (
	ReasonMissing      = "no dealing before the deadline"
	ReasonBadShare     = "shares inconsistent with the commitments"
	ReasonBadCipher    = "share ciphertext does not decrypt to a share vector"
	ReasonEquivocation = "different commitments sent to different recipients"
	ReasonTooFewVerify = "fewer than t recipients verified the dealing"
	// ReasonFalseAccusation names an accuser: the dealer it accused opened
	// the disputed share and the opening verified.
	ReasonFalseAccusation = "accused a dealer whose opened share verified"
	// ReasonTooManyComplaints names a dealer accused by so many members
	// that opening their shares could reveal its input to the coordinator.
	ReasonTooManyComplaints = "more complaints than shares that can be opened without revealing the input"
)

// Cheating reports whether the exclusion proves the node did something
// wrong (a bad dealing, an equivocation, a false accusation), not merely
// nothing in time, too few verifications, or more complaints than the
// session could settle.
func (e *DealerError) Cheating() bool {
	switch e.Reason {
	case ReasonMissing, ReasonTooFewVerify, ReasonTooManyComplaints:
		return false
	}
	return true
}

func (e *DealerError) Error() string {
	return fmt.Sprintf("mpc: dealer %s excluded in phase %d: %s", e.Dealer.Short(), e.Phase, e.Reason)
}

func (e *DealerError) Unwrap() error { return ErrBadDeal }
