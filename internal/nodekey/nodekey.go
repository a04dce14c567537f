// Package nodekey holds the node's long-term Ed25519 identity key: it signs
// the DP ledger's audit checkpoints and the node's MPC peer messages.
// The hex encoding of its public key is the node id.
//
// Signatures are RFC 8032 Ed25519 (PureEdDSA), produced and checked with
// kyber's sign/eddsa over group/edwards25519. We use eddsa rather than
// kyber's sign/schnorr because eddsa signatures are standard Ed25519, so an
// auditor can check a checkpoint with any Ed25519 implementation (Go's
// crypto/ed25519, libsodium, openssl) without kyber; verification uses
// eddsa.VerifyWithChecks, which also rejects non-canonical encodings and
// small-order points.
//
// Most callers want [LoadOrCreate] on the node's data directory.
//
// # Key file format
//
// The key lives in the file [FileName] inside the data directory, mode 0600,
// and is exactly two lines of ASCII text:
//
//	aios-node-key v1
//	<64 lowercase hex digits: the 32-byte Ed25519 seed of RFC 8032, section 5.1.5>
//
// each ended by a single "\n" (82 bytes in all). Nothing else is accepted: a
// file larger than [MaxFileSize], another header, other whitespace, upper-case
// hex or a file readable by group or others (on Unix) is refused with a
// [*FormatError] or [ErrInsecurePermissions]. The public key is derived from
// the seed and is not stored.
package nodekey

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"go.dedis.ch/kyber/v3/group/edwards25519"
	"go.dedis.ch/kyber/v3/sign/eddsa"
)

const (
	// FileName is the key file's name inside the data directory.
	FileName = "node.key"
	// MaxFileSize bounds what Load reads; a valid file is 82 bytes.
	MaxFileSize = 1024
	// PublicKeySize and SignatureSize are those of Ed25519.
	PublicKeySize = 32
	SignatureSize = 64
	seedSize      = 32
	header        = "aios-node-key v1"
)

var (
	// ErrInsecurePermissions reports a key file that group or others can
	// read or write.
	ErrInsecurePermissions = errors.New("nodekey: key file permissions are too open (want 0600)")
	// ErrInvalidPublicKey reports a public key that is not a canonical
	// Ed25519 point encoding of the right length.
	ErrInvalidPublicKey = errors.New("nodekey: invalid public key")
	// ErrBadSignature reports a signature that does not verify. It carries no
	// detail on purpose.
	ErrBadSignature = errors.New("nodekey: signature verification failed")
)

// FormatError reports a key file that does not follow the documented format.
// It never contains key material.
type FormatError struct {
	Path   string
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("nodekey: %s: malformed key file: %s", e.Path, e.Reason)
}

// Key is the node's private identity key. It is safe for concurrent use.
type Key struct {
	signer *eddsa.EdDSA
	public PublicKey
}

// PublicKey is an Ed25519 public key in its 32-byte RFC 8032 encoding.
type PublicKey [PublicKeySize]byte

// String returns the hex encoding, which is the node id.
func (p PublicKey) String() string { return hex.EncodeToString(p[:]) }

// ParsePublicKey decodes a node id (64 hex digits) into a public key and
// checks that it is a canonical point of large order.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	if len(s) != 2*PublicKeySize {
		return p, fmt.Errorf("%w: want %d hex digits", ErrInvalidPublicKey, 2*PublicKeySize)
	}
	if _, err := hex.Decode(p[:], []byte(s)); err != nil {
		return p, fmt.Errorf("%w: not hex", ErrInvalidPublicKey)
	}
	type checkable interface {
		IsCanonical(b []byte) bool
		HasSmallOrder() bool
	}
	pt := new(edwards25519.Curve).Point()
	c, ok := pt.(checkable)
	if !ok || !c.IsCanonical(p[:]) {
		return p, fmt.Errorf("%w: not a canonical point encoding", ErrInvalidPublicKey)
	}
	if err := pt.UnmarshalBinary(p[:]); err != nil {
		return p, fmt.Errorf("%w: not a curve point", ErrInvalidPublicKey)
	}
	if c.HasSmallOrder() {
		return p, fmt.Errorf("%w: small-order point", ErrInvalidPublicKey)
	}
	return p, nil
}

// Verify checks an Ed25519 signature of msg (RFC 8032, Section 5.1.7, with
// kyber's checks for non-canonical encodings and small-order points). It
// returns ErrBadSignature on any failure, including a malformed key or
// signature.
func (p PublicKey) Verify(msg, sig []byte) error {
	if len(sig) != SignatureSize {
		return ErrBadSignature
	}
	if err := eddsa.VerifyWithChecks(p[:], msg, sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// Generate creates a key from 32 bytes of rnd (crypto/rand.Reader in
// production; a deterministic reader in tests).
func Generate(rnd io.Reader) (*Key, error) {
	var seed [seedSize]byte
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return nil, fmt.Errorf("nodekey: read randomness: %w", err)
	}
	return fromSeed(seed[:])
}

func fromSeed(seed []byte) (*Key, error) {
	buf := make([]byte, 64) // seed ‖ public; eddsa derives the public half itself
	copy(buf, seed)
	e := new(eddsa.EdDSA)
	if err := e.UnmarshalBinary(buf); err != nil {
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	pb, err := e.Public.MarshalBinary()
	if err != nil || len(pb) != PublicKeySize {
		return nil, fmt.Errorf("nodekey: encode public key: %w", err)
	}
	k := &Key{signer: e}
	copy(k.public[:], pb)
	return k, nil
}

// Public returns the public key.
func (k *Key) Public() PublicKey { return k.public }

// ID returns the node id: the hex encoding of the public key.
func (k *Key) ID() string { return k.public.String() }

// Sign returns the Ed25519 signature of msg (RFC 8032, Section 5.1.6).
// Callers sign domain-separated messages (a fixed prefix naming the
// purpose) so that a signature made for one use cannot be replayed in
// another.
func (k *Key) Sign(msg []byte) ([]byte, error) {
	sig, err := k.signer.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("nodekey: sign: %w", err)
	}
	return sig, nil
}

// Marshal returns the key in the documented file format. The result is
// secret.
func (k *Key) Marshal() []byte {
	b, _ := k.signer.MarshalBinary() // cannot fail for a key built by fromSeed
	out := make([]byte, 0, len(header)+1+2*seedSize+1)
	out = append(out, header...)
	out = append(out, '\n')
	out = hex.AppendEncode(out, b[:seedSize])
	out = append(out, '\n')
	return out
}

// Parse decodes a key file's contents; path only labels errors.
func Parse(path string, data []byte) (*Key, error) {
	if len(data) > MaxFileSize {
		return nil, &FormatError{Path: path, Reason: "file too large"}
	}
	want := len(header) + 1 + 2*seedSize + 1
	if len(data) != want {
		return nil, &FormatError{Path: path, Reason: fmt.Sprintf("want %d bytes, have %d", want, len(data))}
	}
	if !bytes.HasPrefix(data, []byte(header+"\n")) {
		return nil, &FormatError{Path: path, Reason: "unknown header (want \"" + header + "\")"}
	}
	if data[len(data)-1] != '\n' {
		return nil, &FormatError{Path: path, Reason: "missing final newline"}
	}
	h := data[len(header)+1 : len(data)-1]
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, &FormatError{Path: path, Reason: "seed is not lowercase hex"}
		}
	}
	seed := make([]byte, seedSize)
	if _, err := hex.Decode(seed, h); err != nil {
		return nil, &FormatError{Path: path, Reason: "seed is not lowercase hex"}
	}
	return fromSeed(seed)
}

// Load reads and validates the key file at path.
func Load(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &FormatError{Path: path, Reason: "not a regular file"}
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o", ErrInsecurePermissions, path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("nodekey: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// LoadOrCreate loads the key file (FileName) in dataDir, creating the
// directory and the key if missing; see [LoadOrCreateFile].
func LoadOrCreate(dataDir string, rnd io.Reader) (*Key, error) {
	return LoadOrCreateFile(filepath.Join(dataDir, FileName), rnd)
}

// LoadOrCreateFile loads the key file at path, creating its directory
// (0700) and a fresh key from rnd (0600) if the file does not exist.
// Creation is atomic: the key is written to a temporary file and linked
// into place, so that two processes starting at once end up with the same
// key and no reader ever sees a partial file. rnd nil means
// crypto/rand.Reader.
func LoadOrCreateFile(path string, rnd io.Reader) (*Key, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	k, err := Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nodekey: create directory: %w", err)
	}
	k, err = Generate(rnd)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".node.key-*")
	if err != nil {
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	if _, err := tmp.Write(k.Marshal()); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("nodekey: write key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("nodekey: write key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("nodekey: write key: %w", err)
	}
	// os.Link fails if path exists: the first creator wins and everyone
	// loads its key.
	if err := os.Link(tmpName, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("nodekey: install key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new directory entry durable; best effort
		d.Close()
	}
	return Load(path)
}
