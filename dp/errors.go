package dp

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidSpec reports an invalid mechanism, query, budget or request.
	ErrInvalidSpec = errors.New("dp: invalid specification")
	// ErrMissingBounds reports a release whose clamp bounds were not declared:
	// without them its sensitivity is unknown and nothing is released.
	ErrMissingBounds = errors.New("dp: clamp bounds are required")
	// ErrBudgetExhausted reports a spend larger than what remains of its
	// budget; the error is an *ExhaustedError saying what remains.
	ErrBudgetExhausted = errors.New("dp: privacy budget exhausted")
	// ErrUnknownBudget reports a budget name that the ledger does not hold.
	ErrUnknownBudget = errors.New("dp: unknown budget")
	// ErrUnknownGrant reports the revocation of a grant that the ledger
	// does not hold.
	ErrUnknownGrant = errors.New("dp: no such grant")
	// ErrBudgetExists reports the creation of a budget whose name is taken.
	ErrBudgetExists = errors.New("dp: budget already exists")
	// ErrIdempotencyConflict reports an idempotency key reused for a
	// different request on the same budget.
	ErrIdempotencyConflict = errors.New("dp: idempotency key already used for a different request")
	// ErrInvalidCSV reports a malformed dataset; the error is a *CSVError.
	ErrInvalidCSV = errors.New("dp: invalid CSV data")
	// ErrInvalidExport reports an audit export document that cannot be
	// decoded.
	ErrInvalidExport = errors.New("dp: invalid audit export")
	// ErrAuditFailed reports a ledger that does not verify; the error is an
	// *AuditError naming the first bad entry or checkpoint.
	ErrAuditFailed = errors.New("dp: audit verification failed")
	// ErrRollback reports a chain with fewer entries than a checkpoint or pin
	// covers: entries were removed. It comes with ErrAuditFailed, in an
	// *AuditError.
	ErrRollback = errors.New("dp: audit log rolled back")
	// ErrFork reports a chain whose entry at a checkpoint's or pin's entry
	// count has another hash than the signed head: the history was rewritten
	// (and re-hashed) or the node signed two histories. It comes with
	// ErrAuditFailed, in an *AuditError.
	ErrFork = errors.New("dp: audit log forked")
	// ErrInvalidPin reports a pin file that cannot be decoded, is not signed
	// by the key it names, or is not for the trusted node.
	ErrInvalidPin = errors.New("dp: invalid audit pin")
	// ErrUnsignedHead reports, from [VerifyReport.RequireSignedHead], a chain
	// that verified but whose last entries no signed checkpoint covers.
	ErrUnsignedHead = errors.New("dp: audit log head not covered by a signed checkpoint")
	// ErrDeltaRequired reports a Gaussian release against a pure-ε budget:
	// it is (ε, δ)-DP only, so it needs a budget with a δ.
	ErrDeltaRequired = errors.New("dp: release needs an (ε, δ) budget")
	// ErrNoise reports a failure of the noise library (it should not happen
	// for a validated query).
	ErrNoise = errors.New("dp: noise generation failed")
)

// SpecError reports which field of a literal or request is invalid. Err is
// ErrInvalidSpec or ErrMissingBounds.
type SpecError struct {
	Field  string
	Reason string
	Err    error
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Reason)
}

func (e *SpecError) Unwrap() error { return e.Err }

func specErr(field, format string, args ...any) error {
	return &SpecError{Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidSpec}
}

// ExhaustedError is the ErrBudgetExhausted error: the spend was refused and
// nothing was debited.
type ExhaustedError struct {
	Budget    string
	Requested MicroEpsilon
	Remaining MicroEpsilon
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("%v: budget %q has ε=%s remaining, the request needs ε=%s",
		ErrBudgetExhausted, e.Budget, e.Remaining, e.Requested)
}

func (e *ExhaustedError) Unwrap() error { return ErrBudgetExhausted }

// CSVError locates a problem in a dataset by line. It never quotes a cell.
type CSVError struct {
	Line   int
	Reason string
}

func (e *CSVError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%v: line %d: %s", ErrInvalidCSV, e.Line, e.Reason)
	}
	return fmt.Sprintf("%v: %s", ErrInvalidCSV, e.Reason)
}

func (e *CSVError) Unwrap() error { return ErrInvalidCSV }

// AuditError names the first entry (Seq) or checkpoint (Checkpoint, 1-based)
// at which verification failed. Seq 0 and Checkpoint 0 mean the failure is
// about the document, a budget or a pin as a whole. Err, when set, is the
// kind of failure (ErrRollback or ErrFork); the error always wraps
// ErrAuditFailed.
type AuditError struct {
	Seq        int64
	Checkpoint int
	Budget     string
	Reason     string
	Err        error
}

func (e *AuditError) Error() string {
	switch {
	case e.Seq > 0:
		return fmt.Sprintf("%v: entry %d: %s", ErrAuditFailed, e.Seq, e.Reason)
	case e.Checkpoint > 0:
		return fmt.Sprintf("%v: checkpoint %d: %s", ErrAuditFailed, e.Checkpoint, e.Reason)
	case e.Budget != "":
		return fmt.Sprintf("%v: budget %q: %s", ErrAuditFailed, e.Budget, e.Reason)
	}
	return fmt.Sprintf("%v: %s", ErrAuditFailed, e.Reason)
}

func (e *AuditError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrAuditFailed, e.Err}
	}
	return []error{ErrAuditFailed}
}
