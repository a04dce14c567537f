package dp

import (
	"fmt"
	"io"

	"github.com/aios-edge/aios/internal/nodekey"
)

// PinFormat identifies version 1 of the pin file.
const PinFormat = "aios-dp-pin/v1"

// MaxPinSize bounds what DecodePin reads.
const MaxPinSize = 4 << 10

// Pin is what an auditor keeps of a verification: a checkpoint the node
// signed, with the node's key. Given to [Verify], [VerifyExport] or
// [Ledger.Verify] next time, it makes them prove that the chain extends the
// pinned one (the entry at the pin's entry count has the pinned head hash),
// so that entries the auditor saw signed can no longer be removed (a
// rollback, [ErrRollback]) or replaced by another history, re-hashed after
// the checkpoints were deleted or signed twice by the node ([ErrFork]).
//
// Its JSON encoding, written by [WritePin] and read by [DecodePin], is:
//
//	{
//	  "format":          "aios-dp-pin/v1",
//	  "node_id":         "<64 hex: the Ed25519 public key that signed the checkpoint>",
//	  "entry_count":     <int64 ≥ 0>,
//	  "head_hash":       "<64 hex>",
//	  "time_unix_micro": <int64>,
//	  "signature":       "<128 hex: Ed25519 over the checkpoint message>"
//	}
//
// where the last four fields are those of the [Checkpoint] and the signature
// is over [Checkpoint.Message] with node_id as the key. Unknown fields are
// rejected.
type Pin struct {
	Format string `json:"format"`
	NodeID string `json:"node_id"`
	Checkpoint
}

// Pin returns a pin of the report's latest checkpoint, to keep for the next
// verification, or nil if the chain has no checkpoint. It pins what is
// signed: entries after SignedEntries are not pinned.
func (r *VerifyReport) Pin() *Pin {
	if r.LatestCheckpoint == nil {
		return nil
	}
	return &Pin{Format: PinFormat, NodeID: r.NodeID, Checkpoint: *r.LatestCheckpoint}
}

// check validates p for the node key pub.
func (p *Pin) check(pub nodekey.PublicKey) error {
	if p.Format != PinFormat {
		return fmt.Errorf("%w: format is not %q", ErrInvalidPin, PinFormat)
	}
	if p.NodeID != pub.String() {
		return fmt.Errorf("%w: pin is for node %.16s…, not the trusted key", ErrInvalidPin, p.NodeID)
	}
	if p.EntryCount < 0 {
		return fmt.Errorf("%w: negative entry count", ErrInvalidPin)
	}
	if pub.Verify(p.Message(pub), p.Signature) != nil {
		return fmt.Errorf("%w: bad signature", ErrInvalidPin)
	}
	return nil
}

// WritePin encodes p as a pin file.
func WritePin(w io.Writer, p *Pin) error { return writeIndented(w, p) }

// DecodePin decodes a pin file (at most MaxPinSize bytes, no unknown
// fields, nothing after it) and checks its form and its signature by the key
// it names. Errors wrap ErrInvalidPin. Whether the pin's key is the trusted
// one is checked where it is used, by [Verify].
func DecodePin(r io.Reader) (*Pin, error) {
	var p Pin
	if err := decodeStrict(r, MaxPinSize, &p, ErrInvalidPin); err != nil {
		return nil, err
	}
	pub, err := nodekey.ParsePublicKey(p.NodeID)
	if err != nil {
		return nil, fmt.Errorf("%w: node_id: %w", ErrInvalidPin, err)
	}
	if err := p.check(pub); err != nil {
		return nil, err
	}
	return &p, nil
}
