package mpc

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Kind is a message type. Each kind is sent in one round of the protocol;
// see the package doc for the order.
type Kind uint8

// Message kinds.
const (
	KindPropose  Kind = 1 // coordinator → all: the canonical session encoding
	KindAccept   Kind = 2 // participant → coordinator: session X25519 key
	KindRoster   Kind = 3 // coordinator → roster: the accepted participants' Accept messages
	KindDeal     Kind = 4 // dealer → each roster member: commitments and encrypted shares
	KindReport   Kind = 5 // each node → coordinator: which dealings verified
	KindDecision Kind = 6 // coordinator → roster: included dealers, share holders
	KindOutput   Kind = 7 // holder → coordinator: encrypted output share vector
	// KindComplaint (coordinator → accused dealer) names the members whose
	// accusations the dealer must answer; KindOpening (dealer →
	// coordinator) answers by opening their shares.
	KindComplaint Kind = 8
	KindOpening   Kind = 9
	kindMax            = KindOpening
)

var kindNames = [...]string{"", "propose", "accept", "roster", "deal", "report", "decision", "output", "complaint", "opening"}

func (k Kind) String() string {
	if k >= 1 && k <= kindMax {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	magic = "AMPC"
	// wireVersion is the envelope version.
	wireVersion = 1
	headerSize  = HeaderSize
	sigSize     = SignatureSize
	// MaxMessageSize bounds every message a node accepts, before anything
	// else is parsed: a dealing of the widest session (variance with
	// d = 2^20 is 2^21 field elements, 64 MiB) plus headers. Each kind's
	// body is further held to the exact size its session implies.
	MaxMessageSize = 64<<20 + 1<<20
	signDomain     = "aios/mpc/msg/v1\x00"
)

// The fixed parts of an [Envelope]'s wire form: the header before the
// body (which ends with the body's length) and the signature after it. A
// receiver reads the header first and has [Node.CheckHeader] judge it
// before it reads the body.
const (
	HeaderSize    = 4 + 1 + 1 + 1 + 32 + 2 + 2 + 16 + 4
	SignatureSize = 64
)

// Envelope is a decoded, not yet authenticated peer message. Its wire form
// (big-endian integers) is
//
//	"AMPC" | version u8 = 1 | kind u8 | phase u8 | session [32] |
//	from u16 | to u16 | nonce [16] | body length u32 | body | signature [64]
//
// from and to are participant indices in the session's order. The
// signature is Ed25519 (RFC 8032) by the sender's node key over
//
//	"aios/mpc/msg/v1\x00" ‖ header (the first 63 bytes) ‖ SHA-256(body),
//
// so a signature binds kind, phase, session, both ends, nonce and body.
type Envelope struct {
	Kind    Kind
	Phase   uint8
	Session [32]byte
	From    uint16
	To      uint16
	Nonce   [16]byte
	Body    []byte
	Sig     [sigSize]byte
}

func (e *Envelope) header() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, magic...)
	b = append(b, wireVersion, byte(e.Kind), e.Phase)
	b = append(b, e.Session[:]...)
	b = binary.BigEndian.AppendUint16(b, e.From)
	b = binary.BigEndian.AppendUint16(b, e.To)
	b = append(b, e.Nonce[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(len(e.Body)))
}

// signedBytes is what the signature covers.
func (e *Envelope) signedBytes() []byte {
	h := sha256.Sum256(e.Body)
	b := append([]byte(signDomain), e.header()...)
	return append(b, h[:]...)
}

// Marshal returns the wire form.
func (e *Envelope) Marshal() []byte {
	b := make([]byte, 0, headerSize+len(e.Body)+sigSize)
	b = append(b, e.header()...)
	b = append(b, e.Body...)
	return append(b, e.Sig[:]...)
}

// DecodeEnvelope parses a message's wire form. It checks sizes and
// structure only; Node.Deliver authenticates. The body aliases b.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	const kind = "envelope"
	if len(b) > MaxMessageSize {
		return nil, tooLarge(kind, len(b), MaxMessageSize)
	}
	if len(b) < headerSize+sigSize {
		return nil, malformed(kind, "shorter than header and signature")
	}
	e, n, err := decodeHeader(b[:headerSize])
	if err != nil {
		return nil, err
	}
	if n != len(b)-headerSize-sigSize {
		return nil, malformed(kind, "body length %d does not match the message", n)
	}
	e.Body = b[headerSize : headerSize+n]
	copy(e.Sig[:], b[headerSize+n:])
	return e, nil
}

// decodeHeader parses the HeaderSize bytes of a message's header and
// returns the envelope without body and signature, and the body length
// it announces (not yet checked against any limit).
func decodeHeader(b []byte) (*Envelope, int, error) {
	const kind = "envelope"
	if len(b) != headerSize {
		return nil, 0, malformed(kind, "header of %d bytes, not %d", len(b), headerSize)
	}
	if string(b[:4]) != magic {
		return nil, 0, malformed(kind, "bad magic")
	}
	if b[4] != wireVersion {
		return nil, 0, malformed(kind, "unsupported version %d", b[4])
	}
	e := &Envelope{Kind: Kind(b[5]), Phase: b[6]}
	if e.Kind < 1 || e.Kind > kindMax {
		return nil, 0, malformed(kind, "unknown kind %d", b[5])
	}
	copy(e.Session[:], b[7:39])
	e.From = binary.BigEndian.Uint16(b[39:])
	e.To = binary.BigEndian.Uint16(b[41:])
	copy(e.Nonce[:], b[43:59])
	return e, int(binary.BigEndian.Uint32(b[59:])), nil
}

// reader decodes big-endian fields with a sticky error.
type reader struct {
	b    []byte
	kind string
	err  error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if n > len(r.b) {
		r.err = malformed(r.kind, "truncated")
		r.b = nil
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8   { return r.bytes(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.bytes(2)) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.bytes(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.bytes(8)) }

func (r *reader) str(limit int) string {
	n := int(r.u16())
	if n > limit {
		if r.err == nil {
			r.err = malformed(r.kind, "string longer than %d", limit)
		}
		return ""
	}
	return string(r.bytes(n))
}

func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return malformed(r.kind, "%d trailing bytes", len(r.b))
	}
	return nil
}
