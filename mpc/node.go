package mpc

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/fault"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc/internal/field"
)

// Config configures a Node.
type Config struct {
	Key       *nodekey.Key // the node's identity (required)
	Transport Transport    // how messages reach peers (required)
	// Ledger pays for releases when this node coordinates a session.
	Ledger *dp.Ledger
	// Policy decides whether to join a proposed session; nil joins every
	// session that lists this node.
	Policy func(*Session) error
	Rand   io.Reader        // nil: crypto/rand.Reader
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard. Never given shares or aggregates.
	// EarlyInputs bound the inputs kept for sessions not known yet.
	EarlyInputs EarlyInputLimits
}

// Node runs the protocol for one node: any number of concurrent sessions,
// each a goroutine driven by the messages that Deliver hands it. `aios
// serve` hosts one Node: its HTTP handler calls Deliver, its client
// handlers call Propose, SetInput and Status.
type Node struct {
	cfg Config
	id  NodeID
	// ctx ends every session's goroutine when the node is closed.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[[32]byte]*run
	inputs   *earlyInputs
	finished []finishedSession // oldest first

	// Test hooks, set only through export_test.go.
	rawForTesting          func(raw []float64, out *Outcome)
	tamperShareForTesting  func(phase uint8, to int, shares []field.Element)
	tamperOutputForTesting func(shares []field.Element)
}

// A node keeps the outcome of its last maxFinishedSessions finished
// sessions, each for at most finishedRetention, for Status; older ones are
// forgotten when a new session starts, so a long-running node's memory
// stays bounded. Forgetting is safe: a replayed proposal of a forgotten
// session is refused because its acceptance deadline has passed.
const (
	maxFinishedSessions = 1024
	finishedRetention   = 24 * time.Hour
)

type finishedSession struct {
	id [32]byte
	at time.Time
}

// sessionFinished records that a session ended.
func (n *Node) sessionFinished(id [32]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.finished = append(n.finished, finishedSession{id: id, at: n.cfg.Now()})
}

// pruneFinished forgets finished sessions beyond the count or age limits
// whose acceptance deadline has passed. n.mu must be held.
func (n *Node) pruneFinished(now time.Time) {
	keep := n.finished[:0]
	for i, f := range n.finished {
		r := n.sessions[f.id]
		expired := len(n.finished)-i > maxFinishedSessions || now.Sub(f.at) > finishedRetention
		if r != nil && expired && now.After(r.s.lit.AcceptBy) {
			delete(n.sessions, f.id)
			continue
		}
		if r != nil {
			keep = append(keep, f)
		}
	}
	clear(n.finished[len(keep):])
	n.finished = keep
}

// NewNode checks cfg and returns a node.
func NewNode(cfg Config) (*Node, error) {
	if cfg.Key == nil || cfg.Transport == nil {
		return nil, errors.New("mpc: Config needs Key and Transport")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{cfg: cfg, id: NodeID(cfg.Key.Public()), ctx: ctx, cancel: cancel, sessions: map[[32]byte]*run{}, inputs: newEarlyInputs(cfg.EarlyInputs)}
	if fault.TakeBadDealer(cfg.Key.Public()) {
		n.cheatOnce()
		cfg.Logger.Warn("mpc: this node will deal one inconsistent share (demo/test mode)")
	}
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() NodeID { return n.id }

// Propose validates lit (whose Coordinator must be this node), sends the
// signed proposal to every participant and starts coordinating. The release
// is paid by the node's operator; see [Node.ProposeAs].
func (n *Node) Propose(ctx context.Context, lit SessionLiteral) (*Session, error) {
	return n.ProposeAs(ctx, lit, nil)
}

// ProposeAs is [Node.Propose] for a session whose release spender pays:
// the ledger checks spender's grant of the budget when it debits (nil: the
// operator). The spender stays on this node; peers never see it.
func (n *Node) ProposeAs(ctx context.Context, lit SessionLiteral, spender *dp.Spender) (*Session, error) {
	s, err := NewSessionFromLiteral(lit)
	if err != nil {
		return nil, err
	}
	if s.lit.Coordinator != n.id {
		return nil, specErr("coordinator", "this node is not the session's coordinator")
	}
	r, err := n.startAs(s, spender)
	if err != nil {
		return nil, err
	}
	for i := range s.N() {
		if i == r.me {
			continue
		}
		if err := r.send(ctx, i, KindPropose, 0, s.canonical); err != nil {
			r.cfg().Logger.Warn("mpc: proposal not delivered", "session", s.IDString(), "to", s.lit.Participants[i].Short(), "err", err)
		}
	}
	return s, nil
}

// SetInput gives this node's private input for a session (before or after
// the proposal arrives; before the input deadline), on behalf of no owner
// in particular: SetInputAs with owner "".
func (n *Node) SetInput(session [32]byte, in Input) error { return n.SetInputAs("", session, in) }

// SetInputAs is SetInput on behalf of owner (the API's token). An input
// for a session this node does not know yet waits for its proposal within
// Config.EarlyInputs: it expires after their TTL, and one owner's waiting
// inputs are bounded apart from the others' (ErrInput beyond its quota,
// ErrInputsFull when all owners' together are at their bound).
func (n *Node) SetInputAs(owner string, session [32]byte, in Input) error {
	n.mu.Lock()
	r := n.sessions[session]
	if r == nil {
		defer n.mu.Unlock()
		return n.inputs.put(n.cfg.Now(), owner, session, in)
	}
	n.mu.Unlock()
	if _, err := encodeInput(r.s, in); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.input != nil {
		return fmt.Errorf("%w: input already set", ErrInput)
	}
	r.input = &in
	r.wake()
	return nil
}

// Wait blocks until the session ends and returns its outcome.
func (n *Node) Wait(ctx context.Context, session [32]byte) (*Outcome, error) {
	n.mu.Lock()
	r := n.sessions[session]
	n.mu.Unlock()
	if r == nil {
		return nil, ErrUnknownSession
	}
	select {
	case <-r.done:
		return r.outcome, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Status returns a snapshot of a session's outcome so far.
func (n *Node) Status(session [32]byte) (*Outcome, error) {
	n.mu.Lock()
	r := n.sessions[session]
	n.mu.Unlock()
	if r == nil {
		return nil, ErrUnknownSession
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := *r.outcome
	return &o, nil
}

// Forget drops a finished session's state (replay protection for it ends:
// its messages are then rejected as ErrUnknownSession).
func (n *Node) Forget(session [32]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.sessions, session)
}

func (n *Node) start(s *Session) (*run, error) { return n.startAs(s, nil) }

// startAs starts a session whose release, if this node makes it, spender
// pays.
func (n *Node) startAs(s *Session, spender *dp.Spender) (*run, error) {
	me := s.index(n.id)
	if me < 0 {
		return nil, fmt.Errorf("%w: this node is not a participant", ErrMisrouted)
	}
	var seed [32]byte
	if _, err := io.ReadFull(n.cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("mpc: randomness: %w", err)
	}
	enc, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("mpc: session key: %w", err)
	}
	now := n.cfg.Now()
	r := &run{node: n, s: s, me: me, enc: enc, spender: spender, started: now, msgs: map[slot]*Envelope{}, nonces: map[[16]byte]bool{}, dealt: map[uint8]*dealState{},
		notify: make(chan struct{}), done: make(chan struct{}),
		outcome: &Outcome{Session: s.id, State: StateAccepting, Started: now}}
	n.mu.Lock()
	if _, dup := n.sessions[s.id]; dup {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: session already running", ErrReplay)
	}
	n.pruneFinished(n.cfg.Now())
	n.sessions[s.id] = r
	if in, ok := n.inputs.take(n.cfg.Now(), s.id); ok {
		if _, err := encodeInput(s, in); err == nil {
			r.input = &in
		}
	}
	n.mu.Unlock()
	go r.main()
	return r, nil
}

// Deliver authenticates one incoming message and queues it for its
// session. It returns ErrMalformed or ErrTooLarge (wrapped in a
// *DecodeError), ErrAuth, ErrReplay, ErrUnknownSession, ErrMisrouted or
// ErrUnexpected; the message is then dropped. A valid proposal starts the
// session (subject to Config.Policy).
func (n *Node) Deliver(ctx context.Context, msg []byte) error {
	env, err := DecodeEnvelope(msg)
	if err != nil {
		return err
	}
	if env.Kind == KindPropose {
		return n.deliverProposal(ctx, env)
	}
	n.mu.Lock()
	r := n.sessions[env.Session]
	n.mu.Unlock()
	if r == nil {
		return ErrUnknownSession
	}
	return r.accept(env)
}

// CheckHeader judges a message by its header, the first HeaderSize bytes
// of its wire form, before its body is read, so that a receiver spends
// neither memory nor a scarce slot on a message Deliver would refuse
// unread. It checks the header's structure and the announced body length
// against MaxMessageSize; a proposal's body against the largest session
// encoding and its phase; any other message's session (ErrUnknownSession),
// sender (ErrAuth: not in the session), recipient (ErrMisrouted: not this
// node) and body length against the exact limit of its kind in the session
// (ErrTooLarge). It returns the announced body length. A message that
// passes is not yet authenticated: Deliver verifies its signature.
func (n *Node) CheckHeader(header []byte) (int, error) {
	env, size, err := decodeHeader(header)
	if err != nil {
		return 0, err
	}
	if size > MaxMessageSize-headerSize-sigSize {
		return 0, tooLarge("envelope", headerSize+size+sigSize, MaxMessageSize)
	}
	if env.Kind == KindPropose {
		if size > maxSessionEncoding {
			return 0, tooLarge("session", size, maxSessionEncoding)
		}
		if env.Phase != 0 {
			return 0, ErrAuth
		}
		return size, nil
	}
	n.mu.Lock()
	r := n.sessions[env.Session]
	n.mu.Unlock()
	if r == nil {
		return 0, ErrUnknownSession
	}
	return size, r.checkHeader(env, size)
}

func (n *Node) deliverProposal(ctx context.Context, env *Envelope) error {
	s, err := DecodeSession(env.Body)
	if err != nil {
		return err
	}
	if s.id != env.Session || env.Phase != 0 || int(env.From) != s.coord {
		return ErrAuth
	}
	if err := nodekey.PublicKey(s.lit.Coordinator).Verify(env.signedBytes(), env.Sig[:]); err != nil {
		return ErrAuth
	}
	if int(env.To) >= s.N() || s.lit.Participants[env.To] != n.id {
		return ErrMisrouted
	}
	n.mu.Lock()
	_, known := n.sessions[s.id]
	n.mu.Unlock()
	if known {
		return ErrReplay
	}
	if n.cfg.Policy != nil {
		if err := n.cfg.Policy(s); err != nil {
			return fmt.Errorf("%w: %w", ErrDeclined, err)
		}
	}
	if n.cfg.Now().After(s.lit.AcceptBy) {
		return fmt.Errorf("%w: proposal arrived after its acceptance deadline", ErrUnexpected)
	}
	r, err := n.start(s)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nonces[env.Nonce] = true
	r.mu.Unlock()
	return r.send(ctx, s.coord, KindAccept, 0, r.enc.PublicKey().Bytes())
}

// State is where a session stands.
type State string

// Session states.
const (
	StateAccepting State = "accepting"
	StateSharing   State = "sharing"
	StateCombining State = "combining"
	StateDone      State = "done"
	StateFailed    State = "failed"
)

// Outcome is what a node knows about a session: who took part, who was
// excluded and why, and (on the coordinator) the released result. It never
// holds a share or the raw aggregate.
type Outcome struct {
	Session  [32]byte
	State    State
	Started  time.Time      // when this node started the session
	Roster   []NodeID       // participants that accepted
	Included []NodeID       // dealers whose inputs were combined
	Excluded []*DealerError // dealers left out, with the reason and accuser
	Holders  []NodeID       // nodes whose output shares were expected
	// WrongOutput names holders whose output shares disagreed with the
	// others (coordinator only).
	WrongOutput []NodeID
	// Release is the dp-noised result (coordinator only).
	Release *Release
	// Aggregated is set on the coordinator of a ReleaseExact session once
	// its exact aggregate waits for Node.TakeAggregate.
	Aggregated bool `json:",omitempty"`
	Stats      Stats
	Err        string `json:",omitempty"`
}

// Stats is the time this node spent in each phase and what it sent.
type Stats struct {
	Share       time.Duration // encode, share, encrypt, commit
	Verify      time.Duration // decrypt, hash, batch check
	Combine     time.Duration // sum (or multiply and reshare) the shares
	Reconstruct time.Duration // robust reconstruction and decoding (coordinator)
	Total       time.Duration
	BytesSent   int64
	InputBytes  int64 // 8 bytes per private input value
}

// slot identifies the one message a sender may send of a kind in a phase.
type slot struct {
	kind  Kind
	phase uint8
	from  uint16
}

// run is one session at one node.
type run struct {
	node *Node
	s    *Session
	me   int
	enc  *ecdh.PrivateKey
	// started is when this node started the session; never changed.
	started time.Time
	// spender pays for the release (nil: the operator); set before the
	// run's goroutine starts and never changed.
	spender *dp.Spender

	mu      sync.Mutex
	msgs    map[slot]*Envelope
	nonces  map[[16]byte]bool
	notify  chan struct{}
	input   *Input
	encPub  map[int]*ecdh.PublicKey
	outcome *Outcome
	// aggregate is a ReleaseExact session's result until taken.
	aggregate *Aggregate
	// dealt is this node's dealing per phase, kept until the phase's
	// decision so that it can answer a complaint; only the run's goroutine
	// touches it.
	dealt map[uint8]*dealState

	done chan struct{}
	err  error
}

func (r *run) cfg() *Config { return &r.node.cfg }

// wake signals waiters; r.mu must be held.
func (r *run) wake() {
	close(r.notify)
	r.notify = make(chan struct{})
}

// bodyLimit is the largest body a kind may have in this session.
func (r *run) bodyLimit(k Kind) int {
	n, t, w := r.s.N(), r.s.T(), max(r.s.width, 1)
	switch k {
	case KindAccept:
		return 32
	case KindRoster:
		return 2 + n*(2+2+headerSize+32+sigSize)
	case KindDeal:
		return dealSize(n, t, w)
	case KindReport:
		return 2 + n*(2+1+32)
	case KindDecision:
		// Up to n excluded dealers and n convicted accusers.
		return 3*2 + n*(2+32) + n*2 + 2*n*(2+1+2)
	case KindOutput:
		return w*field.Size + tagSize
	case KindComplaint:
		return 2 + 2*r.s.maxOpenings(n, w)
	case KindOpening:
		return openingSize(n, t, w, r.s.maxOpenings(n, w))
	}
	return 0
}

// pubSize is the size of a dealing's public part: members u16, their
// ciphertext hashes and t commitments.
func pubSize(members, t int) int { return 2 + members*32 + t*pointSize }

// partSize is the size of one recipient's part of a dealing: the ephemeral
// X25519 key, then width+1 sealed field elements.
func partSize(width int) int { return pointSize + (width+1)*field.Size + tagSize }

func dealSize(members, t, width int) int { return pubSize(members, t) + partSize(width) }

func openingSize(members, t, width, opened int) int {
	return pubSize(members, t) + 2 + opened*(2+32+partSize(width))
}

// maxOpenings bounds the shares a dealer opens in one phase: at most t−1
// (judge further requires that the coordinator, counting its own share,
// learns fewer than t), and no more than one message holds.
func (s *Session) maxOpenings(members, width int) int {
	room := MaxMessageSize - headerSize - sigSize - openingSize(members, s.T(), width, 0)
	return min(s.T()-1, room/(2+32+partSize(width)))
}

// accept authenticates and stores a message for this session.
func (r *run) accept(env *Envelope) error {
	s := r.s
	if err := r.checkHeader(env, len(env.Body)); err != nil {
		return err
	}
	if err := nodekey.PublicKey(s.lit.Participants[env.From]).Verify(env.signedBytes(), env.Sig[:]); err != nil {
		return ErrAuth
	}
	fromCoord := int(env.From) == s.coord
	toCoord := r.me == s.coord
	switch env.Kind {
	case KindRoster, KindDecision, KindComplaint:
		if !fromCoord {
			return fmt.Errorf("%w: %s from a non-coordinator", ErrUnexpected, env.Kind)
		}
	case KindAccept, KindReport, KindOutput, KindOpening:
		if !toCoord {
			return fmt.Errorf("%w: %s to a non-coordinator", ErrUnexpected, env.Kind)
		}
	}
	maxPhase := uint8(1)
	if s.lit.Operation == OpDotProduct {
		maxPhase = 2
	}
	switch env.Kind {
	case KindAccept, KindRoster, KindOutput:
		if env.Phase != 0 {
			return fmt.Errorf("%w: %s in phase %d", ErrUnexpected, env.Kind, env.Phase)
		}
	default:
		if env.Phase < 1 || env.Phase > maxPhase {
			return fmt.Errorf("%w: %s in phase %d", ErrUnexpected, env.Kind, env.Phase)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nonces[env.Nonce] {
		return ErrReplay
	}
	sl := slot{env.Kind, env.Phase, env.From}
	if _, dup := r.msgs[sl]; dup {
		return ErrReplay
	}
	r.nonces[env.Nonce] = true
	env.Body = slices.Clone(env.Body) // do not alias the transport's buffer
	r.msgs[sl] = env
	r.wake()
	return nil
}

// checkHeader judges what a message's header says (its sender, its
// recipient and the body length announced) against this session.
func (r *run) checkHeader(env *Envelope, bodyLen int) error {
	if int(env.From) >= r.s.N() {
		return ErrAuth
	}
	if int(env.To) != r.me {
		return ErrMisrouted
	}
	if limit := r.bodyLimit(env.Kind); bodyLen > limit {
		return tooLarge(env.Kind.String(), bodyLen, limit)
	}
	return nil
}

// send signs and sends one message; a message to this node itself is
// stored directly.
func (r *run) send(ctx context.Context, to int, kind Kind, phase uint8, body []byte) error {
	env := &Envelope{Kind: kind, Phase: phase, Session: r.s.id, From: uint16(r.me), To: uint16(to), Body: body}
	if _, err := io.ReadFull(r.cfg().Rand, env.Nonce[:]); err != nil {
		return fmt.Errorf("mpc: randomness: %w", err)
	}
	sig, err := r.cfg().Key.Sign(env.signedBytes())
	if err != nil {
		return err
	}
	copy(env.Sig[:], sig)
	if to == r.me {
		r.mu.Lock()
		r.nonces[env.Nonce] = true
		r.msgs[slot{kind, phase, uint16(to)}] = env
		r.wake()
		r.mu.Unlock()
		return nil
	}
	b := env.Marshal()
	r.mu.Lock()
	r.outcome.Stats.BytesSent += int64(len(b))
	r.mu.Unlock()
	if err := r.cfg().Transport.Send(ctx, r.s.lit.Participants[to], b); err != nil {
		return fmt.Errorf("%w: %w", ErrTransport, err)
	}
	return nil
}

// sealed builds an encrypted body for kind/phase to the member to: the
// plaintext is sealed under the pair key with the nonce written first.
func (r *run) seal(to int, kind Kind, phase uint8, plain []byte) ([]byte, error) {
	aead, err := pairKey(r.enc, r.encPub[to], r.s.id, kind, phase, uint16(r.me), uint16(to))
	if err != nil {
		return nil, err
	}
	var nonce [12]byte // each key encrypts one message (see pairKey)
	return aead.Seal(nil, nonce[:], plain, nil), nil
}

func (r *run) open(from int, kind Kind, phase uint8, ct []byte) ([]byte, error) {
	pub := r.sessionKey(from)
	if pub == nil {
		return nil, ErrUnexpected
	}
	aead, err := pairKey(r.enc, pub, r.s.id, kind, phase, uint16(from), uint16(r.me))
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	return aead.Open(nil, nonce[:], ct, nil)
}

// sessionKey is member i's X25519 session key from the roster (nil before
// the roster or for a non-member).
func (r *run) sessionKey(i int) *ecdh.PublicKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.encPub[i]
}

// collect waits until every sender in from has sent kind/phase or the
// deadline passes, and returns what arrived.
func (r *run) collect(ctx context.Context, kind Kind, phase uint8, from []int, deadline time.Time) map[int]*Envelope {
	got := map[int]*Envelope{}
	r.await(ctx, deadline, func() bool {
		for _, i := range from {
			if e := r.msgs[slot{kind, phase, uint16(i)}]; e != nil {
				got[i] = e
			}
		}
		return len(got) == len(from)
	})
	return got
}

// waitInput waits for this node's input until the deadline.
func (r *run) waitInput(ctx context.Context, deadline time.Time) *Input {
	var in *Input
	r.await(ctx, deadline, func() bool {
		in = r.input
		return in != nil
	})
	return in
}

// await calls poll, with r.mu held, now and whenever the run's state
// changes, until poll returns true, the deadline passes or ctx ends.
func (r *run) await(ctx context.Context, deadline time.Time, poll func() bool) {
	timer := time.NewTimer(max(time.Until(deadline), 0)) // deadlines are wall-clock; Now only labels
	defer timer.Stop()
	for {
		r.mu.Lock()
		done, ch := poll(), r.notify
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *run) ids(idx []int) []NodeID {
	out := make([]NodeID, len(idx))
	for k, i := range idx {
		out[k] = r.s.lit.Participants[i]
	}
	return out
}

func xOf(i int) field.Element { return field.FromUint64(uint64(i) + 1) }

func hashBytes(b []byte) [32]byte { return sha256.Sum256(b) }

func putU16(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
