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

// Entry is one ledger entry: a budget creation or a spend. It never holds a
// raw value or a released value.
type Entry struct {
	Seq            int64        `json:"seq"`
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
	PrevHash       Hash         `json:"prev_hash"`
	Hash           Hash         `json:"hash"`
}

// Canonical returns the entry's canonical encoding, the input (after the
// previous hash) of its chain hash. Fields are written in this order, each
// integer as 8 bytes big-endian two's complement and each string as a 4-byte
// big-endian byte length followed by its UTF-8 bytes:
//
//	"aios/dp/ledger-entry/v1" (string, domain separation)
//	seq, kind, budget, epsilon_micro, mechanism, l0, linf, frac_bits,
//	lower, upper, requester, purpose, time_unix_micro, idempotency_key
//
// The hashes themselves are not part of it.
func (e *Entry) Canonical() []byte {
	var b canonicalBuilder
	b.str("aios/dp/ledger-entry/v1")
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

type canonicalBuilder struct{ buf []byte }

func (b *canonicalBuilder) i64(v int64) { b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(v)) }
func (b *canonicalBuilder) str(s string) {
	b.buf = binary.BigEndian.AppendUint32(b.buf, uint32(len(s)))
	b.buf = append(b.buf, s...)
}

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
//	  "entries":     [{"seq": 1, "kind": "budget"|"spend", "budget": …, "epsilon_micro": …,
//	                   "mechanism": …, "l0": …, "linf": …, "frac_bits": …, "lower": …,
//	                   "upper": …, "requester": …, "purpose": …, "time_unix_micro": …,
//	                   "idempotency_key": …, "prev_hash": "<64 hex>", "hash": "<64 hex>"}],
//	  "checkpoints": [{"entry_count": …, "head_hash": "<64 hex>",
//	                   "time_unix_micro": …, "signature": "<128 hex>"}]
//	}
//
// Entries are in seq order from 1; integers are JSON numbers (all fit in
// int64); "budgets" is the node's current table of budget totals, which the
// verifier reconciles with the chain. Unknown fields are rejected.
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

// releaseLink ties a stored release to its entry, for the checks that only
// the node's own database allows.
type releaseLink struct{ seq int64 }

func (l *Ledger) snapshot(ctx context.Context) (*AuditDocument, []releaseLink, error) {
	// A read transaction gives one consistent WAL snapshot.
	tx, err := l.db.SQL().BeginTx(ctx, &sqlReadOnly)
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
	rrow, err := tx.QueryContext(ctx, `SELECT seq FROM dp_releases ORDER BY seq`)
	if err != nil {
		return nil, nil, fmt.Errorf("dp: export: %w", err)
	}
	defer rrow.Close()
	var links []releaseLink
	for rrow.Next() {
		var r releaseLink
		if err := rrow.Scan(&r.seq); err != nil {
			return nil, nil, fmt.Errorf("dp: export: %w", err)
		}
		links = append(links, r)
	}
	return doc, links, rrow.Err()
}

// VerifyReport summarises a successful verification.
type VerifyReport struct {
	NodeID      string `json:"node_id"`
	Entries     int64  `json:"entries"`
	Releases    int64  `json:"releases"`
	HeadHash    Hash   `json:"head_hash"`
	Checkpoints int    `json:"checkpoints"`
	// SignedEntries is the entry count of the latest checkpoint; entries
	// after it are chained but not yet signed.
	SignedEntries int64          `json:"signed_entries"`
	Budgets       []BudgetTotals `json:"budgets"`
}

// Verify checks doc against the node public key pub:
//
//   - entries are numbered 1, 2, … without gap;
//   - each entry's prev_hash is its predecessor's hash (zeros for the first)
//     and its hash is SHA-256(prev_hash ‖ canonical entry);
//   - each budget is created once, before its spends, every ε is positive,
//     and no budget is ever overspent;
//   - each checkpoint names an existing prefix of the chain by its head hash
//     and carries a valid Ed25519 signature by pub;
//   - the budgets table matches the chain: each total is that of the
//     creation entry and each spent total is the sum of the budget's spends.
//
// It returns an *AuditError naming the first failure.
func Verify(doc *AuditDocument, pub nodekey.PublicKey) (*VerifyReport, error) {
	if doc == nil || doc.Format != ExportFormat {
		return nil, &AuditError{Reason: "unknown document format"}
	}
	if doc.NodeID != pub.String() {
		return nil, &AuditError{Reason: "document is from another node than the trusted key"}
	}
	type acc struct{ total, spent MicroEpsilon }
	chain := map[string]*acc{}
	var prev Hash
	heads := make([]Hash, len(doc.Entries)+1) // heads[n] = hash after n entries
	rep := &VerifyReport{NodeID: doc.NodeID}
	for i := range doc.Entries {
		e := &doc.Entries[i]
		if e.Seq != int64(i)+1 {
			return nil, &AuditError{Seq: int64(i) + 1, Reason: fmt.Sprintf("entry missing or out of order (found seq %d)", e.Seq)}
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
			chain[e.Budget] = &acc{total: e.Epsilon}
		case KindSpend:
			a := chain[e.Budget]
			if a == nil {
				return nil, &AuditError{Seq: e.Seq, Reason: "spend on a budget that does not exist yet"}
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
		if cp.EntryCount < 0 || cp.EntryCount > rep.Entries {
			return nil, &AuditError{Checkpoint: i + 1, Reason: fmt.Sprintf("covers %d entries, the chain has %d (entries were removed)", cp.EntryCount, rep.Entries)}
		}
		if cp.HeadHash != heads[cp.EntryCount] {
			return nil, &AuditError{Checkpoint: i + 1, Reason: "head hash differs from the chain"}
		}
		if err := pub.Verify(cp.Message(pub), cp.Signature); err != nil {
			return nil, &AuditError{Checkpoint: i + 1, Reason: "bad signature"}
		}
		if cp.EntryCount > rep.SignedEntries {
			rep.SignedEntries = cp.EntryCount
		}
	}
	rep.Checkpoints = len(doc.Checkpoints)
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
	for name := range chain {
		if !seen[name] {
			return nil, &AuditError{Budget: name, Reason: "budget in the chain is missing from the budgets table"}
		}
	}
	return rep, nil
}

// Verify checks the node's own ledger: [Verify] on a snapshot, against the
// ledger's node key, and in addition that every stored release belongs to a
// spend entry and every spend entry has its stored release (nothing was
// released without an entry).
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	doc, links, err := l.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := Verify(doc, l.key.Public())
	if err != nil {
		return nil, err
	}
	spends := map[int64]bool{}
	for _, e := range doc.Entries {
		if e.Kind == KindSpend {
			spends[e.Seq] = true
		}
	}
	for _, r := range links {
		if !spends[r.seq] {
			return nil, &AuditError{Seq: r.seq, Reason: "stored release without a spend entry"}
		}
		delete(spends, r.seq)
	}
	for seq := range spends {
		return nil, &AuditError{Seq: seq, Reason: "spend entry without its stored release"}
	}
	return rep, nil
}

// WriteExport encodes doc as the JSON export document.
func WriteExport(w io.Writer, doc *AuditDocument) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// DecodeExport decodes an export document (at most MaxExportSize bytes,
// no unknown fields, nothing after the document).
func DecodeExport(r io.Reader) (*AuditDocument, error) {
	lr := &io.LimitedReader{R: r, N: MaxExportSize + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var doc AuditDocument
	if err := dec.Decode(&doc); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidExport, MaxExportSize)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidExport, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrInvalidExport)
	}
	if doc.Format != ExportFormat {
		return nil, fmt.Errorf("%w: format is not %q", ErrInvalidExport, ExportFormat)
	}
	return &doc, nil
}

// VerifyExport decodes a JSON export document and verifies it against the
// trusted node public key pub (obtained from the node out of band, not from
// the document).
func VerifyExport(r io.Reader, pub nodekey.PublicKey) (*VerifyReport, error) {
	doc, err := DecodeExport(r)
	if err != nil {
		return nil, err
	}
	return Verify(doc, pub)
}
