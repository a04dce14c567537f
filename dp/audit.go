package dp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/aios-edge/aios/internal/nodekey"
)

// Entry kinds.
const (
	KindBudget = "budget" // creation of a budget; Epsilon is its total
	KindSpend  = "spend"  // a release; Epsilon is what it spent
)

// Hash is a SHA-256 chain hash; it encodes as 64 hex digits in JSON.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h[:]), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return errors.New("hash: want 64 hex digits")
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Entry versions: the form of an entry's canonical encoding.
const (
	// EntryV1 entries were written before release values were chained; their
	// canonical form has no release commitment. An entry whose JSON has no
	// "version" is of this version.
	EntryV1 = 1
	// EntryV2 entries carry a release commitment (empty for a budget
	// creation, 32 bytes for a spend). The ledger writes these for pure-ε
	// budgets.
	EntryV2 = 2
	// EntryV3 entries are those of (ε, δ) budgets: a version-2 entry with
	// the budget's δ, conversion constant and Rényi orders (on its creation)
	// or the release's mechanism parameters and per-order RDP (on a spend).
	EntryV3 = 3
)

// Entry is one ledger entry: a budget creation or a spend. It never holds a
// raw value or a released value; a spend of version 2 or 3 holds a hiding
// commitment to its released value ([ReleaseCommitment]).
type Entry struct {
	Seq            int64        `json:"seq"`
	Version        int          `json:"version,omitempty"` // EntryV1, EntryV2 or EntryV3; 0 (absent) means EntryV1
	Kind           string       `json:"kind"`
	Budget         string       `json:"budget"`
	Epsilon        MicroEpsilon `json:"epsilon_micro"`
	Mechanism      string       `json:"mechanism"`
	L0             int64        `json:"l0"`
	LInf           int64        `json:"linf"`
	FracBits       int64        `json:"frac_bits"`
	Lower          int64        `json:"lower"`
	Upper          int64        `json:"upper"`
	Requester      string       `json:"requester"`
	Purpose        string       `json:"purpose"`
	Time           int64        `json:"time_unix_micro"`
	IdempotencyKey string       `json:"idempotency_key"`
	// ReleaseCommitment is, on a version-2 or -3 spend, the [ReleaseCommitment] of
	// the released value; empty otherwise.
	ReleaseCommitment HexBytes `json:"release_commitment,omitempty"`
	// Version-3 fields; zero or empty on other versions. On the creation of
	// an (ε, δ) budget: Delta is its δ, LogInvDelta its conversion constant
	// ([LogInvDeltaMicro]) and Orders its Rényi orders in thousandths. On a
	// spend from such a budget: RDP is what the release added at each order
	// (micro-nats), and, for a Gaussian release, NoiseMultiplier (σ/C in
	// millionths, rounded down), SampleRate (in billionths, rounded up),
	// Steps (compositions in the release) and NoiseShares (for distributed
	// noise, the fewest members' noise shares the release sums; 0 for
	// central noise) record the parameters RDP was computed from.
	Delta           PicoDelta `json:"delta_pico,omitempty"`
	LogInvDelta     int64     `json:"log_inv_delta_micro,omitempty"`
	Orders          []int64   `json:"rdp_orders_milli,omitempty"`
	NoiseMultiplier int64     `json:"noise_multiplier_micro,omitempty"`
	SampleRate      int64     `json:"sample_rate_ppb,omitempty"`
	Steps           int64     `json:"steps,omitempty"`
	NoiseShares     int64     `json:"noise_shares,omitempty"`
	RDP             []int64   `json:"rdp_micro,omitempty"`
	PrevHash        Hash      `json:"prev_hash"`
	Hash            Hash      `json:"hash"`
}

// version returns the entry's version, EntryV1 when it is not set.
func (e *Entry) version() int {
	if e.Version == 0 {
		return EntryV1
	}
	return e.Version
}

// Canonical returns the entry's canonical encoding, the input (after the
// previous hash) of its chain hash. Fields are written in this order, each
// integer as 8 bytes big-endian two's complement and each string or byte
// string as a 4-byte big-endian byte length followed by its bytes (UTF-8 for
// strings):
//
//	version 1:
//	"aios/dp/ledger-entry/v1" (string, domain separation)
//	seq, kind, budget, epsilon_micro, mechanism, l0, linf, frac_bits,
//	lower, upper, requester, purpose, time_unix_micro, idempotency_key
//
//	version 2:
//	"aios/dp/ledger-entry/v2" (string, domain separation)
//	seq, kind, budget, epsilon_micro, mechanism, l0, linf, frac_bits,
//	lower, upper, requester, purpose, time_unix_micro, idempotency_key,
//	release_commitment (byte string: length 0 for a budget creation,
//	32 for a spend)
//
//	version 3:
//	"aios/dp/ledger-entry/v3" (string, domain separation)
//	the fields of version 2 after its tag, in its order, then
//	delta_pico, log_inv_delta_micro,
//	n (int64), rdp_orders_milli[0..n-1] (int64 each),
//	noise_multiplier_micro, sample_rate_ppb, steps, noise_shares,
//	m (int64), rdp_micro[0..m-1] (int64 each)
//
// (n is 0 on a spend, m is 0 on a budget creation.) The version itself is carried by the tag; the hashes are not part of the
// encoding. Canonical returns nil for a version this package does not know
// ([Verify] rejects such entries before hashing them).
func (e *Entry) Canonical() []byte {
	var b canonicalBuilder
	switch e.version() {
	case EntryV1:
		b.str("aios/dp/ledger-entry/v1")
	case EntryV2:
		b.str("aios/dp/ledger-entry/v2")
	case EntryV3:
		b.str("aios/dp/ledger-entry/v3")
	default:
		return nil
	}
	b.i64(e.Seq)
	b.str(e.Kind)
	b.str(e.Budget)
	b.i64(int64(e.Epsilon))
	b.str(e.Mechanism)
	b.i64(e.L0)
	b.i64(e.LInf)
	b.i64(e.FracBits)
	b.i64(e.Lower)
	b.i64(e.Upper)
	b.str(e.Requester)
	b.str(e.Purpose)
	b.i64(e.Time)
	b.str(e.IdempotencyKey)
	if e.version() >= EntryV2 {
		b.str(string(e.ReleaseCommitment))
	}
	if e.version() == EntryV3 {
		b.i64(int64(e.Delta))
		b.i64(e.LogInvDelta)
		b.i64s(e.Orders)
		b.i64(e.NoiseMultiplier)
		b.i64(e.SampleRate)
		b.i64(e.Steps)
		b.i64(e.NoiseShares)
		b.i64s(e.RDP)
	}
	return b.buf
}

// ChainHash returns SHA-256(e.PrevHash ‖ e.Canonical()).
func (e *Entry) ChainHash() Hash {
	h := sha256.New()
	h.Write(e.PrevHash[:])
	h.Write(e.Canonical())
	var out Hash
	h.Sum(out[:0])
	return out
}

// ReleaseNonceSize is the length of the random nonce that makes a release
// commitment hiding.
const ReleaseNonceSize = 32

// ReleaseCommitment returns the commitment to a released value that its
// spend entry of version 2 or 3 carries:
//
//	SHA-256("aios/dp/release/v1" (string) ‖ nonce (32 bytes) ‖ mechanism (string)
//	        ‖ n (int64) ‖ values[0..n-1] (float64 each)
//	        ‖ m (int64) ‖ ci95[0..m-1] (lower, upper: float64 each))
//
// in the encoding of [Entry.Canonical], each float64 as its 8-byte
// big-endian IEEE 754 binary64 bits. The nonce is drawn at random for each
// release and kept beside it, so the commitment reveals nothing about the
// value (a small count could otherwise be found by trying every candidate)
// but binds the node to it: whoever is shown the release and its nonce
// (returned with every [Release]) can check it with [Entry.CheckRelease].
func ReleaseCommitment(nonce []byte, r *Result) Hash {
	var b canonicalBuilder
	b.str("aios/dp/release/v1")
	b.buf = append(b.buf, nonce...)
	b.str(r.Mechanism)
	b.i64(int64(len(r.Values)))
	for _, v := range r.Values {
		b.f64(v)
	}
	b.i64(int64(len(r.CI)))
	for _, ci := range r.CI {
		b.f64(ci.Lower)
		b.f64(ci.Upper)
	}
	return sha256.Sum256(b.buf)
}

// CheckRelease reports whether r with nonce is the release that the spend
// entry e committed to; e should come from a verified chain. It fails with an
// *AuditError for an entry of version 1 (which predates the commitments), a
// nonce of the wrong size, or a value the entry did not commit to.
func (e *Entry) CheckRelease(r *Result, nonce []byte) error {
	switch {
	case e.Kind != KindSpend:
		return &AuditError{Seq: e.Seq, Reason: "not a spend entry"}
	case e.version() < EntryV2:
		return &AuditError{Seq: e.Seq, Reason: "entry predates release commitments (version 1): its released value is not covered"}
	case len(nonce) != ReleaseNonceSize:
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("release nonce has %d bytes, want %d", len(nonce), ReleaseNonceSize)}
	}
	c := ReleaseCommitment(nonce, r)
	if string(c[:]) != string(e.ReleaseCommitment) {
		return &AuditError{Seq: e.Seq, Reason: "released value differs from the one its entry committed to"}
	}
	return nil
}

type canonicalBuilder struct{ buf []byte }

func (b *canonicalBuilder) i64(v int64) { b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(v)) }
func (b *canonicalBuilder) str(s string) {
	b.buf = binary.BigEndian.AppendUint32(b.buf, uint32(len(s)))
	b.buf = append(b.buf, s...)
}

// i64s writes the length of vs and then each element.
func (b *canonicalBuilder) i64s(vs []int64) {
	b.i64(int64(len(vs)))
	for _, v := range vs {
		b.i64(v)
	}
}

// f64 writes v's IEEE 754 binary64 bits as an int64.
func (b *canonicalBuilder) f64(v float64) { b.i64(int64(math.Float64bits(v))) }

// Checkpoint is the node's signed statement that its ledger held EntryCount
// entries with head HeadHash at Time (Unix microseconds, UTC).
type Checkpoint struct {
	EntryCount int64    `json:"entry_count"`
	HeadHash   Hash     `json:"head_hash"`
	Time       int64    `json:"time_unix_micro"`
	Signature  HexBytes `json:"signature"`
}

// Message returns the bytes the node signs (Ed25519, RFC 8032):
//
//	"aios/dp/checkpoint/v1" (string) ‖ entry_count (int64) ‖ head_hash (32 bytes)
//	‖ time_unix_micro (int64) ‖ node public key (32 bytes)
//
// in the encoding of [Entry.Canonical].
func (c *Checkpoint) Message(pub nodekey.PublicKey) []byte {
	var b canonicalBuilder
	b.str("aios/dp/checkpoint/v1")
	b.i64(c.EntryCount)
	b.buf = append(b.buf, c.HeadHash[:]...)
	b.i64(c.Time)
	b.buf = append(b.buf, pub[:]...)
	return b.buf
}

// HexBytes is a byte string that encodes as hex in JSON.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexBytes) UnmarshalText(b []byte) error {
	if len(b) > 256 {
		return errors.New("hex string too long")
	}
	out, err := hex.AppendDecode(nil, b)
	*h = out
	return err
}

// ExportFormat identifies version 1 of the audit export document.
const ExportFormat = "aios-dp-audit/v1"

// MaxExportSize bounds what VerifyExport reads.
const MaxExportSize = 512 << 20

// AuditDocument is the auditor's view of a ledger, exported by
// [Ledger.Export] and checked by [Verify] or, from its JSON form, by
// [VerifyExport]. Its JSON encoding is:
//
//	{
//	  "format":      "aios-dp-audit/v1",
//	  "node_id":     "<64 hex: the Ed25519 public key that signs the checkpoints>",
//	  "exported_at": "<RFC 3339 time>",
//	  "budgets":     [{"name": …, "total_micro_epsilon": …, "spent_micro_epsilon": …}],
//	  "entries":     [{"seq": 1, "version": 1|2|3, "kind": "budget"|"spend", "budget": …,
//	                   "epsilon_micro": …, "mechanism": …, "l0": …, "linf": …, "frac_bits": …,
//	                   "lower": …, "upper": …, "requester": …, "purpose": …, "time_unix_micro": …,
//	                   "idempotency_key": …, "release_commitment": "<64 hex>",
//	                   "delta_pico": …, "log_inv_delta_micro": …, "rdp_orders_milli": […],
//	                   "noise_multiplier_micro": …, "sample_rate_ppb": …, "steps": …,
//	                   "noise_shares": …, "rdp_micro": […],
//	                   "prev_hash": "<64 hex>", "hash": "<64 hex>"}],
//	  "checkpoints": [{"entry_count": …, "head_hash": "<64 hex>",
//	                   "time_unix_micro": …, "signature": "<128 hex>"}]
//	}
//
// Entries are in seq order from 1; integers are JSON numbers (all fit in
// int64); "version" absent means 1; "release_commitment" is present on
// version-2 and -3 spends only, and the version-3 fields (see [Entry])
// on version-3 entries only, as JSON numbers and arrays of numbers, absent
// when zero or empty (see [Entry.Canonical]); "budgets" is the node's
// current table of budget totals, which the verifier reconciles with the
// chain. Unknown fields are rejected.
type AuditDocument struct {
	Format      string         `json:"format"`
	NodeID      string         `json:"node_id"`
	ExportedAt  time.Time      `json:"exported_at"`
	Budgets     []BudgetTotals `json:"budgets"`
	Entries     []Entry        `json:"entries"`
	Checkpoints []Checkpoint   `json:"checkpoints"`
}

// BudgetTotals is a budget row as the node stores it.
type BudgetTotals struct {
	Name  string       `json:"name"`
	Total MicroEpsilon `json:"total_micro_epsilon"`
	Spent MicroEpsilon `json:"spent_micro_epsilon"`
}

// Export returns the whole ledger as an [AuditDocument], read in one
// consistent snapshot.
func (l *Ledger) Export(ctx context.Context) (*AuditDocument, error) {
	doc, _, err := l.snapshot(ctx)
	return doc, err
}

// releaseLink is a stored release, for the checks that only the node's own
// database allows.
type releaseLink struct {
	seq    int64
	nonce  []byte
	result string // JSON of a Result
}

func (l *Ledger) snapshot(ctx context.Context) (*AuditDocument, []releaseLink, error) {
	// One consistent snapshot of the budgets, entries and checkpoints.
	tx, err := l.db.BeginSnapshot(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dp: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	doc := &AuditDocument{Format: ExportFormat, NodeID: l.key.ID(), ExportedAt: l.now().UTC()}
	rows, err := tx.QueryContext(ctx, `SELECT name, total_micro, spent_micro FROM dp_budgets ORDER BY name`)
	if err != nil {
		return nil, nil, fmt.Errorf("dp: export: %w", err)
	}
	for rows.Next() {
		var b BudgetTotals
		if err := rows.Scan(&b.Name, &b.Total, &b.Spent); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("dp: export: %w", err)
		}
		doc.Budgets = append(doc.Budgets, b)
	}
	rows.Close()
	if doc.Entries, err = scanEntriesTx(ctx, tx); err != nil {
		return nil, nil, err
	}
	crow, err := tx.QueryContext(ctx, `SELECT entry_count, head_hash, created_at, signature FROM dp_checkpoints ORDER BY id`)
	if err != nil {
		return nil, nil, fmt.Errorf("dp: export: %w", err)
	}
	for crow.Next() {
		var cp Checkpoint
		var head []byte
		if err := crow.Scan(&cp.EntryCount, &head, &cp.Time, &cp.Signature); err != nil {
			crow.Close()
			return nil, nil, fmt.Errorf("dp: export: %w", err)
		}
		copy(cp.HeadHash[:], head)
		doc.Checkpoints = append(doc.Checkpoints, cp)
	}
	crow.Close()
	rrow, err := tx.QueryContext(ctx, `SELECT seq, nonce, result FROM dp_releases ORDER BY seq`)
	if err != nil {
		return nil, nil, fmt.Errorf("dp: export: %w", err)
	}
	defer rrow.Close()
	var links []releaseLink
	for rrow.Next() {
		var r releaseLink
		if err := rrow.Scan(&r.seq, &r.nonce, &r.result); err != nil {
			return nil, nil, fmt.Errorf("dp: export: %w", err)
		}
		links = append(links, r)
	}
	return doc, links, rrow.Err()
}

// VerifyReport summarises a successful verification. Its JSON field names
// are stable (the CLI prints the report with --json).
type VerifyReport struct {
	NodeID string `json:"node_id"`
	// Entries is how far the chain was verified: entries 1 … Entries.
	Entries  int64 `json:"entries"`
	Releases int64 `json:"releases"`
	HeadHash Hash  `json:"head_hash"`
	// Checkpoints is the number of checkpoints, all of which verified.
	Checkpoints int `json:"checkpoints"`
	// SignedEntries is how far the chain is covered by a signed checkpoint:
	// entries 1 … SignedEntries. LatestCheckpoint is that checkpoint (the
	// newest one if several cover as many entries), nil if there is none.
	SignedEntries    int64       `json:"signed_entries"`
	LatestCheckpoint *Checkpoint `json:"latest_checkpoint"`
	// UnsignedEntries is Entries − SignedEntries: entries that are chained
	// but that no signature covers, so that whoever holds the database could
	// have removed or rewritten them (and re-hashed the chain) unseen.
	UnsignedEntries int64 `json:"unsigned_entries"`
	// HeadSigned is true when a signed checkpoint covers the whole chain
	// (UnsignedEntries is 0 and there is a checkpoint, even of an empty
	// chain). [VerifyReport.RequireSignedHead] turns false into an error.
	HeadSigned bool `json:"head_signed"`
	// LegacyEntries counts entries of version 1, written before release
	// values were chained: their released values are not covered.
	LegacyEntries int64 `json:"legacy_entries"`
	// Pins is the number of pins the chain was proved to extend, and
	// PinnedEntries the largest entry count among them (0 without pins).
	Pins          int            `json:"pins"`
	PinnedEntries int64          `json:"pinned_entries"`
	Budgets       []BudgetTotals `json:"budgets"`
}

// RequireSignedHead returns nil if a signed checkpoint covers the whole
// chain, and otherwise an error wrapping ErrUnsignedHead that says which
// entries are not covered.
func (r *VerifyReport) RequireSignedHead() error {
	switch {
	case r.HeadSigned:
		return nil
	case r.LatestCheckpoint == nil:
		return fmt.Errorf("%w: no signed checkpoint; entries 1-%d are not covered", ErrUnsignedHead, r.Entries)
	}
	return fmt.Errorf("%w: signed up to entry %d; entries %d-%d are not covered", ErrUnsignedHead,
		r.SignedEntries, r.SignedEntries+1, r.Entries)
}

// Verify checks doc against the node public key pub:
//
//   - entries are numbered 1, 2, … without gap;
//   - each entry is of version 1, 2 or 3, no version-1 entry follows a
//     later one, an entry of version 2 or 3 carries a 32-byte release
//     commitment if and only if it is a spend, and only version-3 entries
//     carry the version-3 fields;
//   - the entries of an (ε, δ) budget (created by a version-3 entry with a
//     δ in (0, MaxDelta], its conversion constant ⌈10^6·ln(1/δ)⌉ + 1 (±1
//     for the floating-point logarithm) and 1 to 64 increasing orders
//     above 1) are all of version 3, and other budgets' spends are not; each
//     of its spends carries one RDP value in [0, MaxRDPMicro] per order, and
//     its ε is the increase it causes in the budget's composed ε, the
//     integer conversion ([RDP.Epsilon]) of the per-order sums;
//   - each entry's prev_hash is its predecessor's hash (zeros for the first)
//     and its hash is SHA-256(prev_hash ‖ canonical entry);
//   - each budget is created once, before its spends, every ε is positive,
//     and no budget is ever overspent;
//   - each checkpoint names an existing prefix of the chain by its head hash
//     and carries a valid Ed25519 signature by pub;
//   - the chain extends every non-nil pin (see [Pin]): the pin is a valid
//     checkpoint signed by pub, the chain has at least its entry count of
//     entries, and the entry at that count has the pinned head hash;
//   - the budgets table matches the chain: each total is that of the
//     creation entry and each spent total is the sum of the budget's spends.
//
// It returns an *AuditError naming the first failure; one that shows
// entries removed below a checkpoint or pin also wraps ErrRollback, and one
// that shows a different chain below a checkpoint or pin wraps ErrFork. A
// pin that is not valid for pub gives an error wrapping ErrInvalidPin. A
// chain that verifies may still have an unsigned head: see
// [VerifyReport.HeadSigned].
func Verify(doc *AuditDocument, pub nodekey.PublicKey, pins ...*Pin) (*VerifyReport, error) {
	if doc == nil || doc.Format != ExportFormat {
		return nil, &AuditError{Reason: "unknown document format"}
	}
	if doc.NodeID != pub.String() {
		return nil, &AuditError{Reason: "document is from another node than the trusted key"}
	}
	for _, p := range pins {
		if p == nil {
			continue
		}
		if err := p.check(pub); err != nil {
			return nil, err
		}
	}
	type acc struct {
		total, spent MicroEpsilon
		*rdpAcc      // nil for a pure-ε budget
	}
	chain := map[string]*acc{}
	var created []string // budget names in the order of their creation entries
	var prev Hash
	heads := make([]Hash, len(doc.Entries)+1) // heads[n] = hash after n entries
	rep := &VerifyReport{NodeID: doc.NodeID}
	for i := range doc.Entries {
		e := &doc.Entries[i]
		if e.Seq != int64(i)+1 {
			return nil, &AuditError{Seq: int64(i) + 1, Reason: fmt.Sprintf("entry missing or out of order (found seq %d)", e.Seq)}
		}
		if err := checkVersion(e, rep.LegacyEntries < int64(i)); err != nil {
			return nil, err
		}
		if e.version() == EntryV1 {
			rep.LegacyEntries++
		}
		if e.PrevHash != prev {
			return nil, &AuditError{Seq: e.Seq, Reason: "prev_hash does not match the previous entry's hash"}
		}
		if e.ChainHash() != e.Hash {
			return nil, &AuditError{Seq: e.Seq, Reason: "hash does not match the entry's contents"}
		}
		if e.Epsilon <= 0 || e.Epsilon > MaxEpsilon {
			return nil, &AuditError{Seq: e.Seq, Reason: "epsilon out of range"}
		}
		switch e.Kind {
		case KindBudget:
			if chain[e.Budget] != nil {
				return nil, &AuditError{Seq: e.Seq, Reason: "budget created twice"}
			}
			ra, err := newRDPAcc(e)
			if err != nil {
				return nil, err
			}
			chain[e.Budget] = &acc{total: e.Epsilon, rdpAcc: ra}
			created = append(created, e.Budget)
		case KindSpend:
			a := chain[e.Budget]
			if a == nil {
				return nil, &AuditError{Seq: e.Seq, Reason: "spend on a budget that does not exist yet"}
			}
			if err := a.rdpAcc.spend(e, a.spent); err != nil {
				return nil, err
			}
			if e.Epsilon > a.total-a.spent {
				return nil, &AuditError{Seq: e.Seq, Reason: "spend exceeds the budget"}
			}
			a.spent += e.Epsilon
			rep.Releases++
		default:
			return nil, &AuditError{Seq: e.Seq, Reason: "unknown entry kind"}
		}
		prev = e.Hash
		heads[i+1] = prev
	}
	rep.Entries = int64(len(doc.Entries))
	rep.HeadHash = prev
	for i := range doc.Checkpoints {
		cp := &doc.Checkpoints[i]
		if err := extends(heads, cp); err != nil {
			err.Checkpoint = i + 1
			return nil, err
		}
		if err := pub.Verify(cp.Message(pub), cp.Signature); err != nil {
			return nil, &AuditError{Checkpoint: i + 1, Reason: "bad signature"}
		}
		if rep.LatestCheckpoint == nil || cp.EntryCount >= rep.SignedEntries {
			rep.SignedEntries = cp.EntryCount
			rep.LatestCheckpoint = cp
		}
	}
	rep.Checkpoints = len(doc.Checkpoints)
	rep.UnsignedEntries = rep.Entries - rep.SignedEntries
	rep.HeadSigned = rep.LatestCheckpoint != nil && rep.UnsignedEntries == 0
	for _, p := range pins {
		if p == nil {
			continue
		}
		if err := extends(heads, &p.Checkpoint); err != nil {
			err.Reason = "pinned checkpoint " + err.Reason
			return nil, err
		}
		rep.Pins++
		rep.PinnedEntries = max(rep.PinnedEntries, p.EntryCount)
	}
	seen := map[string]bool{}
	for _, b := range doc.Budgets {
		a := chain[b.Name]
		switch {
		case a == nil:
			return nil, &AuditError{Budget: b.Name, Reason: "budget has no creation entry"}
		case seen[b.Name]:
			return nil, &AuditError{Budget: b.Name, Reason: "budget listed twice"}
		case b.Total != a.total:
			return nil, &AuditError{Budget: b.Name, Reason: fmt.Sprintf("total ε=%s differs from its creation entry's ε=%s", b.Total, a.total)}
		case b.Spent != a.spent:
			return nil, &AuditError{Budget: b.Name, Reason: fmt.Sprintf("spent ε=%s differs from the sum of its entries ε=%s", b.Spent, a.spent)}
		}
		seen[b.Name] = true
		rep.Budgets = append(rep.Budgets, b)
	}
	for _, name := range created { // in chain order, so that the error names the same budget every time
		if !seen[name] {
			return nil, &AuditError{Budget: name, Reason: "budget in the chain is missing from the budgets table"}
		}
	}
	return rep, nil
}

// checkVersion checks e's version and the fields it implies; afterV1 says
// whether an entry of a later version than 1 came before e.
func checkVersion(e *Entry, afterV1 bool) error {
	if e.version() < EntryV3 && e.hasV3Fields() {
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("version-%d entry with version-3 fields (not covered by its hash)", e.version())}
	}
	switch e.version() {
	case EntryV1:
		if afterV1 {
			return &AuditError{Seq: e.Seq, Reason: "version-1 entry after a later version"}
		}
		if len(e.ReleaseCommitment) != 0 {
			return &AuditError{Seq: e.Seq, Reason: "version-1 entry with a release commitment (not covered by its hash)"}
		}
	case EntryV2, EntryV3:
		want := 0
		if e.Kind == KindSpend {
			want = len(Hash{})
		}
		if len(e.ReleaseCommitment) != want {
			return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("release commitment has %d bytes, want %d for a %q entry", len(e.ReleaseCommitment), want, e.Kind)}
		}
	default:
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("unknown entry version %d", e.Version)}
	}
	return nil
}

// extends checks that the chain whose prefix hashes are heads contains the
// prefix that cp signs: a chain too short was rolled back below it, and one
// with another hash at its entry count is a rewritten or forked chain. The
// caller names the checkpoint or pin in the error.
func extends(heads []Hash, cp *Checkpoint) *AuditError {
	n := int64(len(heads) - 1)
	switch {
	case cp.EntryCount < 0:
		return &AuditError{Reason: "negative entry count"}
	case cp.EntryCount > n:
		return &AuditError{Reason: fmt.Sprintf("covers %d entries, the chain has %d (entries were removed)", cp.EntryCount, n), Err: ErrRollback}
	case cp.HeadHash != heads[cp.EntryCount]:
		return &AuditError{Reason: fmt.Sprintf("head hash after %d entries differs from the chain (the chain was rewritten or forked)", cp.EntryCount), Err: ErrFork}
	}
	return nil
}

// Verify checks the node's own ledger: [Verify] on a snapshot, against the
// ledger's node key and the pins, and in addition that every stored release
// belongs to a spend entry, every spend entry has its stored release
// (nothing was released without an entry), and every stored release of a
// version-2 or -3 entry is the value that the entry committed to.
func (l *Ledger) Verify(ctx context.Context, pins ...*Pin) (*VerifyReport, error) {
	doc, links, err := l.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := Verify(doc, l.key.Public(), pins...)
	if err != nil {
		return nil, err
	}
	spends := map[int64]*Entry{}
	for i := range doc.Entries {
		if e := &doc.Entries[i]; e.Kind == KindSpend {
			spends[e.Seq] = e
		}
	}
	for _, r := range links {
		e := spends[r.seq]
		if e == nil {
			return nil, &AuditError{Seq: r.seq, Reason: "stored release without a spend entry"}
		}
		delete(spends, r.seq)
		if e.version() == EntryV1 {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(r.result), &res); err != nil {
			return nil, &AuditError{Seq: r.seq, Reason: "stored release is not valid JSON"}
		}
		if err := e.CheckRelease(&res, r.nonce); err != nil {
			return nil, err
		}
	}
	for seq := range spends {
		return nil, &AuditError{Seq: seq, Reason: "spend entry without its stored release"}
	}
	return rep, nil
}

// WriteExport encodes doc as the JSON export document.
func WriteExport(w io.Writer, doc *AuditDocument) error { return writeIndented(w, doc) }

// writeIndented writes v as indented JSON and a newline.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// DecodeExport decodes an export document (at most MaxExportSize bytes,
// no unknown fields, nothing after the document).
func DecodeExport(r io.Reader) (*AuditDocument, error) {
	var doc AuditDocument
	if err := decodeStrict(r, MaxExportSize, &doc, ErrInvalidExport); err != nil {
		return nil, err
	}
	if doc.Format != ExportFormat {
		return nil, fmt.Errorf("%w: format is not %q", ErrInvalidExport, ExportFormat)
	}
	return &doc, nil
}

// decodeStrict decodes one JSON value of at most limit bytes into v, with
// no unknown fields and nothing after it; errors wrap kind.
func decodeStrict(r io.Reader, limit int64, v any, kind error) error {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("%w: larger than %d bytes", kind, limit)
		}
		return fmt.Errorf("%w: %w", kind, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the document", kind)
	}
	return nil
}

// VerifyExport decodes a JSON export document and verifies it with [Verify]
// against the trusted node public key pub (obtained from the node out of
// band, not from the document) and the auditor's pins, if any.
func VerifyExport(r io.Reader, pub nodekey.PublicKey, pins ...*Pin) (*VerifyReport, error) {
	doc, err := DecodeExport(r)
	if err != nil {
		return nil, err
	}
	return Verify(doc, pub, pins...)
}
