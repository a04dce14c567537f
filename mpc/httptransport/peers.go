// Package httptransport carries mpc messages between nodes over HTTP: a
// [Transport] that POSTs each signed message to the recipient's
// [MessagesPath] (with a per-attempt timeout and retries of transient
// failures), and the peers file that says where each node is. The
// receiving side is the node's HTTP API (package api), whose handler passes
// the body to mpc.Node.Deliver.
//
// The transport adds no security of its own: every message is signed by
// its sender and shares are encrypted to their recipient (see package mpc),
// so plain HTTP on a trusted network and HTTPS elsewhere both work. A
// bearer token per peer can be sent where a peer requires one.
//
// # Peers file
//
// A peers file is UTF-8 text of at most [MaxPeersFileSize] bytes, one peer
// per line:
//
//	<node id> <URL> [<name>]
//
// separated by spaces or tabs. The node id is the peer's Ed25519 public
// key as 64 lowercase or uppercase hex digits (the id is the public key, so
// the key is not written twice); the URL is the base URL of the peer's API,
// http or https, with a host, and no user, query or fragment (a path prefix
// is allowed); the optional name is a label of 1–64 characters from
// [A-Za-z0-9._-] for logs and the CLI. Blank lines and lines starting with
// '#' are ignored; lines are at most 1024 bytes; at most [MaxPeers] peers;
// an id or a name may not appear twice. A node may find itself in the file
// (so one file can serve every node of a group): its own entry is ignored
// when it sends. Example:
//
//	# aios peers
//	3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29 http://10.0.0.2:8080 edge-a
//	8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c https://edge-b.example:8443
package httptransport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/aios-edge/aios/mpc"
)

// Limits of a peers file.
const (
	MaxPeersFileSize = 256 << 10
	MaxPeers         = 1024
	maxLine          = 1024
	maxName          = 64
)

// ErrPeersFile reports a peers file that does not follow the format; the
// wrapping *PeersFileError gives the line and the reason.
var ErrPeersFile = errors.New("httptransport: invalid peers file")

// PeersFileError says which line of a peers file is wrong and why. It
// quotes no file contents.
type PeersFileError struct {
	File   string // "peers file" or "peer tokens file"
	Line   int    // 1-based; 0 for the whole file
	Reason string
}

func (e *PeersFileError) Error() string {
	file := e.File
	if file == "" {
		file = "peers file"
	}
	if e.Line == 0 {
		return fmt.Sprintf("httptransport: %s: %s", file, e.Reason)
	}
	return fmt.Sprintf("httptransport: %s line %d: %s", file, e.Line, e.Reason)
}

func (e *PeersFileError) Unwrap() error { return ErrPeersFile }

// Peer is one node of a peers file.
type Peer struct {
	ID   mpc.NodeID
	URL  *url.URL
	Name string // may be empty
}

// Label is the peer's name, or the short form of its id.
func (p Peer) Label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID.Short()
}

// scanFields calls fn with the whitespace-separated fields of every line of
// b that is neither blank nor a # comment; it enforces the size and line
// limits and reports errors as *PeersFileError for file.
func scanFields(file string, b []byte, fn func(line int, f []string, bad func(format string, args ...any) error) error) error {
	if len(b) > MaxPeersFileSize {
		return &PeersFileError{File: file, Reason: fmt.Sprintf("larger than %d bytes", MaxPeersFileSize)}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, maxLine+1), maxLine+1)
	line := 0
	for sc.Scan() {
		line++
		bad := func(format string, args ...any) error {
			return &PeersFileError{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
		}
		if len(sc.Bytes()) > maxLine {
			return bad("longer than %d bytes", maxLine)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if err := fn(line, strings.Fields(text), bad); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &PeersFileError{File: file, Line: line + 1, Reason: fmt.Sprintf("longer than %d bytes", maxLine)}
		}
		return &PeersFileError{File: file, Reason: "unreadable"}
	}
	return nil
}

// ParsePeers parses the contents of a peers file.
func ParsePeers(b []byte) ([]Peer, error) {
	var peers []Peer
	ids, names := map[mpc.NodeID]int{}, map[string]int{}
	err := scanFields("peers file", b, func(line int, f []string, bad func(string, ...any) error) error {
		if len(f) < 2 || len(f) > 3 {
			return bad("want <node id> <URL> [<name>], have %d fields", len(f))
		}
		id, err := mpc.ParseNodeID(strings.ToLower(f[0]))
		if err != nil {
			return bad("node id is not an Ed25519 public key in hex")
		}
		u, err := parseBaseURL(f[1])
		if err != nil {
			return bad("%v", err)
		}
		p := Peer{ID: id, URL: u}
		if len(f) == 3 {
			if !validName(f[2]) {
				return bad("name must be 1–%d characters of A-Z a-z 0-9 . _ -", maxName)
			}
			p.Name = f[2]
			if prev, dup := names[p.Name]; dup {
				return bad("name also on line %d", prev)
			}
			names[p.Name] = line
		}
		if prev, dup := ids[id]; dup {
			return bad("node %s also on line %d", id.Short(), prev)
		}
		ids[id] = line
		if len(peers) == MaxPeers {
			return bad("more than %d peers", MaxPeers)
		}
		peers = append(peers, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return peers, nil
}

// ParsePeerTokens parses a peer tokens file: one "<node id> <token>" per
// line (blank lines and # comments allowed), the bearer token this node
// presents to that peer's /v1/mpc/messages (a peer token the peer issued).
// Every node must be one of peers.
func ParsePeerTokens(b []byte, peers []Peer) (map[mpc.NodeID]string, error) {
	known := map[mpc.NodeID]bool{}
	for _, p := range peers {
		known[p.ID] = true
	}
	tokens := map[mpc.NodeID]string{}
	err := scanFields("peer tokens file", b, func(_ int, f []string, bad func(string, ...any) error) error {
		if len(f) != 2 {
			return bad("want <node id> <token>, have %d fields", len(f))
		}
		id, err := mpc.ParseNodeID(strings.ToLower(f[0]))
		if err != nil {
			return bad("node id is not an Ed25519 public key in hex")
		}
		if !known[id] {
			return bad("node %s is not in the peers file", id.Short())
		}
		if _, dup := tokens[id]; dup {
			return bad("node %s given twice", id.Short())
		}
		if len(f[1]) > 128 || !strings.HasPrefix(f[1], "aios_") {
			return bad("not an aios token")
		}
		tokens[id] = f[1]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tokens, nil
}

// LoadPeerTokens reads a peer tokens file, which must not be readable by
// group or others (it holds secrets).
func LoadPeerTokens(path string, peers []Peer) (map[mpc.NodeID]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("httptransport: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, &PeersFileError{File: "peer tokens file", Reason: fmt.Sprintf("mode %v: it holds secrets, make it 0600", fi.Mode().Perm())}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxPeersFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("httptransport: read %s: %w", path, err)
	}
	tokens, err := ParsePeerTokens(b, peers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tokens, nil
}

// LoadPeers reads and parses the peers file at path.
func LoadPeers(path string) ([]Peer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("httptransport: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPeersFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("httptransport: read %s: %w", path, err)
	}
	peers, err := ParsePeers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return peers, nil
}

// FormatPeers writes peers in the peers file format.
func FormatPeers(peers []Peer) []byte {
	var b bytes.Buffer
	b.WriteString("# aios peers: <node id> <URL> [<name>]\n")
	for _, p := range peers {
		fmt.Fprintf(&b, "%s %s", p.ID, p.URL)
		if p.Name != "" {
			fmt.Fprintf(&b, " %s", p.Name)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("URL does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("URL must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("URL has no host")
	case u.User != nil:
		return nil, errors.New("URL may not carry a user")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("URL may not have a query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
