package mpc

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"go.dedis.ch/kyber/v3"

	"github.com/aios-edge/aios/mpc/internal/field"
)

// Report status codes (one per expected dealer).
const (
	statusMissing   = 0
	statusOK        = 1
	statusBadShare  = 2
	statusBadCipher = 3
)

// Decision reason codes.
// Codes 0, 2 and 3 are the report's status codes.
var decisionReasons = []string{ReasonMissing, "", ReasonBadShare, ReasonBadCipher, ReasonEquivocation, ReasonTooFewVerify,
	ReasonFalseAccusation, ReasonTooManyComplaints}

const (
	reasonEquivocation      = 4
	reasonTooFewVerify      = 5
	reasonFalseAccusation   = 6
	reasonTooManyComplaints = 7
)

// verified is a dealing that passed at this node.
type verified struct {
	shares []field.Element
	commit [32]byte
}

// phaseResult is one dealing phase as seen by this node after the
// coordinator's decision.
type phaseResult struct {
	included []int
	holders  []int
	excluded []*DealerError
	mine     map[int]*verified
	commits  map[int][32]byte
}

func (r *run) main() {
	defer close(r.done)
	defer r.node.sessionFinished(r.s.id)
	ctx, cancel := context.WithDeadline(r.node.ctx, r.s.lit.OutputBy.Add(time.Second))
	defer cancel()
	start := time.Now()
	err := r.protocol(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcome.Stats.Total = time.Since(start)
	if err != nil {
		r.err = err
		r.outcome.State = StateFailed
		r.outcome.Err = err.Error()
		r.cfg().Logger.Info("mpc: session failed", "session", r.s.IDString(), "err", err)
		return
	}
	r.outcome.State = StateDone
}

func (r *run) protocol(ctx context.Context) error {
	s := r.s
	roster, err := r.rosterRound(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.outcome.Roster = r.ids(roster)
	r.outcome.State = StateSharing
	r.mu.Unlock()

	// Phase 1: the input parties deal their encoded vectors to the roster.
	var dealers []int
	for _, i := range roster {
		if s.isInput(i) {
			dealers = append(dealers, i)
		}
	}
	if s.isInput(r.me) {
		if in := r.waitInput(ctx, s.lit.InputBy); in != nil {
			vals, err := encodeInput(s, *in)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.outcome.Stats.InputBytes = int64(8 * len(in.Values))
			r.mu.Unlock()
			if err := r.deal(ctx, 1, roster, vals); err != nil {
				return err
			}
		}
	}
	p1, err := r.dealingPhase(ctx, 1, roster, dealers, s.width, s.lit.InputBy)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.outcome.Included = r.ids(p1.included)
	r.outcome.Excluded = p1.excluded
	r.outcome.Holders = r.ids(p1.holders)
	r.outcome.State = StateCombining
	r.mu.Unlock()

	holders := p1.holders
	var out []field.Element
	isHolder := slices.Contains(holders, r.me)
	t0 := time.Now()
	if s.lit.Operation == OpDotProduct {
		if len(p1.included) != 2 {
			return fmt.Errorf("%w: a dot product needs both input parties", ErrTooFewParties)
		}
		if !isHolder && r.me != s.coord {
			return nil // no share to reshare; the coordinator decides without us
		}
		// Phase 2: BGW degree reduction. Each holder's Σ_j a_j·b_j is a
		// share of a_·b on a polynomial of degree 2t−2; it reshares it with
		// degree t−1, and everyone recombines with the Lagrange
		// coefficients of the resharers (Ben-Or, Goldwasser and Wigderson,
		// STOC 1988, section 4.2; Gennaro, Rabin and Rabin, PODC 1998).
		if isHolder {
			a, b := p1.mine[p1.included[0]].shares, p1.mine[p1.included[1]].shares
			var z field.Element
			for j := range a {
				z = field.Add(z, field.Mul(a[j], b[j]))
			}
			if err := r.deal(ctx, 2, holders, []field.Element{z}); err != nil {
				return err
			}
		}
		p2, err := r.dealingPhase(ctx, 2, holders, holders, 1, s.lit.ReportBy)
		if err != nil {
			return err
		}
		if len(p2.included) < 2*s.T()-1 {
			return fmt.Errorf("%w: %d resharers verified, a product needs 2t−1 = %d", ErrTooFewParties, len(p2.included), 2*s.T()-1)
		}
		r.mu.Lock()
		r.outcome.Excluded = append(r.outcome.Excluded, p2.excluded...)
		r.outcome.Holders = r.ids(p2.holders)
		r.mu.Unlock()
		holders = p2.holders
		if slices.Contains(holders, r.me) {
			xs := make([]field.Element, len(p2.included))
			for k, i := range p2.included {
				xs[k] = xOf(i)
			}
			lam, _ := field.LagrangeAtZero(xs)
			var acc field.Element
			for k, i := range p2.included {
				acc = field.Add(acc, field.Mul(lam[k], p2.mine[i].shares[0]))
			}
			out = []field.Element{acc}
		}
	} else if isHolder {
		out = make([]field.Element, s.width)
		for _, i := range p1.included {
			for j, v := range p1.mine[i].shares {
				out[j] = field.Add(out[j], v)
			}
		}
	}
	r.addTime(&r.outcome.Stats.Combine, t0)
	if out != nil {
		if h := r.node.tamperOutputForTesting; h != nil {
			h(out)
		}
		ct, err := r.seal(s.coord, KindOutput, 0, appendElems(nil, out))
		if err != nil {
			return err
		}
		if err := r.send(ctx, s.coord, KindOutput, 0, ct); err != nil {
			return err
		}
	}
	if r.me != s.coord {
		return nil
	}
	return r.finish(ctx, holders, len(p1.included))
}

func (r *run) addTime(d *time.Duration, since time.Time) {
	el := time.Since(since)
	r.mu.Lock()
	*d += el
	r.mu.Unlock()
}

// rosterRound runs acceptance: the coordinator collects Accepts and sends
// the roster; the others wait for it. Both verify every acceptance.
func (r *run) rosterRound(ctx context.Context) ([]int, error) {
	s := r.s
	var body []byte
	if r.me == s.coord {
		if err := r.send(ctx, r.me, KindAccept, 0, r.enc.PublicKey().Bytes()); err != nil {
			return nil, err
		}
		all := make([]int, s.N())
		for i := range all {
			all[i] = i
		}
		got := r.collect(ctx, KindAccept, 0, all, s.lit.AcceptBy)
		body = putU16(nil, len(got))
		for _, i := range all {
			if e := got[i]; e != nil {
				m := e.Marshal()
				body = putU16(body, i)
				body = putU16(body, len(m))
				body = append(body, m...)
			}
		}
		for _, i := range all {
			if got[i] != nil {
				if err := r.send(ctx, i, KindRoster, 0, body); err != nil && i != r.me {
					r.cfg().Logger.Warn("mpc: roster not delivered", "session", s.IDString(), "to", s.lit.Participants[i].Short())
				}
			}
		}
	} else {
		got := r.collect(ctx, KindRoster, 0, []int{s.coord}, s.lit.InputBy)
		e := got[s.coord]
		if e == nil {
			return nil, fmt.Errorf("%w: no roster from the coordinator", ErrTooFewParties)
		}
		body = e.Body
	}
	roster, pubs, err := decodeRoster(s, body)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(roster, r.me) {
		return nil, fmt.Errorf("%w: this node is not in the roster", ErrTooFewParties)
	}
	if err := checkRoster(s, roster); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.encPub = pubs
	r.mu.Unlock()
	return roster, nil
}

func checkRoster(s *Session, roster []int) error {
	need := s.T()
	if s.lit.Operation == OpDotProduct {
		need = 2*s.T() - 1
	}
	if len(roster) < need {
		return fmt.Errorf("%w: %d accepted, need %d", ErrTooFewParties, len(roster), need)
	}
	if !slices.Contains(roster, s.coord) {
		return fmt.Errorf("%w: the coordinator is not in the roster", ErrTooFewParties)
	}
	return nil
}

// decodeRoster parses a roster body: count u16, then per member index u16,
// length u16 and that member's signed Accept message, which is verified.
func decodeRoster(s *Session, body []byte) ([]int, map[int]*ecdh.PublicKey, error) {
	const kind = "roster"
	rd := reader{b: body, kind: kind}
	cnt := int(rd.u16())
	if cnt > s.N() {
		return nil, nil, malformed(kind, "more members than participants")
	}
	var roster []int
	pubs := map[int]*ecdh.PublicKey{}
	for range cnt {
		i := int(rd.u16())
		m := rd.bytes(int(rd.u16()))
		if rd.err != nil {
			return nil, nil, rd.err
		}
		if i >= s.N() || (len(roster) > 0 && i <= roster[len(roster)-1]) {
			return nil, nil, malformed(kind, "member indices not ascending participants")
		}
		env, err := DecodeEnvelope(m)
		if err != nil {
			return nil, nil, malformed(kind, "member %d: bad acceptance", i)
		}
		if env.Kind != KindAccept || env.Session != s.id || int(env.From) != i || int(env.To) != s.coord || env.Phase != 0 {
			return nil, nil, malformed(kind, "member %d: acceptance for something else", i)
		}
		if nodekeyVerify(s.lit.Participants[i], env) != nil {
			return nil, nil, fmt.Errorf("%w: roster member %d", ErrAuth, i)
		}
		pub, err := ecdh.X25519().NewPublicKey(env.Body)
		if err != nil {
			return nil, nil, malformed(kind, "member %d: bad session key", i)
		}
		roster = append(roster, i)
		pubs[i] = pub
	}
	if err := rd.done(); err != nil {
		return nil, nil, err
	}
	return roster, pubs, nil
}

// deal shares vals to members (this node included) for a phase. Body:
//
//	members u16 | members × SHA-256(part) | t × commitment [32] | part
//
// where each recipient i gets its own part
//
//	E_i [32] | AES-256-GCM(share vector ‖ blinding share)
//
// sealed under pairKey(e_i, P_i) for a fresh X25519 key pair (e_i, E_i)
// per recipient and P_i its session key, and the commitments are computed
// after the challenge. Revealing e_i (an opening) lets anyone decrypt
// exactly that part and nothing else.
func (r *run) deal(ctx context.Context, phase uint8, members []int, vals []field.Element) error {
	t0 := time.Now()
	s := r.s
	st := &dealState{vals: vals, members: members}
	if _, err := io.ReadFull(r.cfg().Rand, st.seed[:]); err != nil {
		return fmt.Errorf("mpc: randomness: %w", err)
	}
	all := make([]int, len(members))
	for k := range all {
		all[k] = k
	}
	parts, _, coeffs, bcoef, err := r.sealParts(phase, st, all)
	if err != nil {
		return err
	}
	hashes := make([]byte, 0, 32*len(members))
	for _, p := range parts {
		h := hashBytes(p)
		hashes = append(hashes, h[:]...)
	}
	gamma := challenge(s.id, phase, uint16(r.me), hashes)
	pub := putU16(nil, len(members))
	pub = append(pub, hashes...)
	st.pub = append(pub, commit(coeffs, bcoef, gamma)...)
	r.dealt[phase] = st
	r.addTime(&r.outcome.Stats.Share, t0)
	for k, i := range members {
		body := append(slices.Clip(st.pub), parts[k]...)
		if err := r.send(ctx, i, KindDeal, phase, body); err != nil {
			r.cfg().Logger.Warn("mpc: dealing not delivered", "session", s.IDString(), "to", s.lit.Participants[i].Short())
		}
	}
	return nil
}

// dealState is what a dealer keeps of a dealing until the phase's
// decision: the seed that the coefficients and ephemeral keys are drawn
// from (drawing again gives the same shares and parts), the values and the
// public part.
type dealState struct {
	seed    [64]byte // coefficients (first half), ephemeral keys (second half)
	vals    []field.Element
	members []int
	pub     []byte
}

// sealParts computes, from a dealing's seed, the parts of the members at
// positions pos (package doc, "Verifiability", steps 1–2), their ephemeral
// keys, and the coefficients of the sharing polynomials.
func (r *run) sealParts(phase uint8, st *dealState, pos []int) ([][]byte, []*ecdh.PrivateKey, [][]field.Element, []field.Element, error) {
	xs := make([]field.Element, len(pos))
	for k, p := range pos {
		xs[k] = xOf(st.members[p])
	}
	dl, coeffs, bcoef := share(st.vals, xs, r.s.T(), rand.NewChaCha8([32]byte(st.seed[:32])))
	parts := make([][]byte, len(pos))
	keys := make([]*ecdh.PrivateKey, len(pos))
	for k, p := range pos {
		i := st.members[p]
		if h := r.node.tamperShareForTesting; h != nil {
			h(phase, i, dl.shares[k])
		}
		e, err := ephemeralKey(st.seed[32:], i)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("mpc: ephemeral key: %w", err)
		}
		aead, err := pairKey(e, r.sessionKey(i), r.s.id, KindDeal, phase, uint16(r.me), uint16(i))
		if err != nil {
			return nil, nil, nil, nil, err
		}
		plain := appendElems(make([]byte, 0, (len(st.vals)+1)*field.Size), dl.shares[k])
		plain = dl.blind[k].AppendBytes(plain)
		var nonce [12]byte // each key seals one message
		parts[k] = aead.Seal(e.PublicKey().Bytes(), nonce[:], plain, nil)
		keys[k] = e
	}
	return parts, keys, coeffs, bcoef, nil
}

// verifyDeal checks one dealing addressed to this node (position pos among
// the phase's members). A dealing that does not match its own hash list
// (wrong size, wrong part hash, bad commitment encoding) counts as not
// delivered: the recipient could not prove what it got without forwarding
// the whole message. Otherwise the returned *verified carries the hash of
// the public part, also when the share fails (an accusation the dealer can
// answer by an opening), and the shares only when it passes.
func (r *run) verifyDeal(env *Envelope, phase uint8, members []int, pos, width int) (*verified, byte) {
	const kind = "deal"
	t := r.s.T()
	if len(env.Body) != dealSize(len(members), t, width) {
		return nil, statusMissing
	}
	rd := reader{b: env.Body, kind: kind}
	if int(rd.u16()) != len(members) {
		return nil, statusMissing
	}
	hashes := rd.bytes(32 * len(members))
	comms, err := decodePoints(rd.bytes(t*pointSize), kind)
	part := rd.b
	if h := hashBytes(part); err != nil || !bytes.Equal(h[:], hashes[32*pos:32*pos+32]) {
		return nil, statusMissing
	}
	v := &verified{commit: hashBytes(env.Body[:len(env.Body)-len(part)])}
	eph, err := ecdh.X25519().NewPublicKey(part[:pointSize])
	if err != nil {
		return v, statusBadCipher
	}
	aead, err := pairKey(r.enc, eph, r.s.id, KindDeal, phase, env.From, uint16(r.me))
	if err != nil {
		return v, statusBadCipher // a low-order E_i
	}
	gamma := challenge(r.s.id, phase, env.From, hashes)
	shares, st := checkPart(aead, part[pointSize:], width, xOf(r.me), gamma, comms)
	v.shares = shares
	return v, st
}

// checkPart decrypts one part's ciphertext and checks the share vector
// against the dealing's commitments (package doc, "Verifiability").
func checkPart(aead cipher.AEAD, ct []byte, width int, x, gamma field.Element, comms []kyber.Point) ([]field.Element, byte) {
	var nonce [12]byte
	plain, err := aead.Open(nil, nonce[:], ct, nil)
	if err != nil {
		return nil, statusBadCipher
	}
	elems, err := parseElems(plain, width+1, "deal")
	if err != nil {
		return nil, statusBadCipher
	}
	if !verifyShare(elems[:width], elems[width], x, gamma, comms) {
		return nil, statusBadShare
	}
	return elems[:width], statusOK
}

// dealingPhase collects and verifies the dealings of a phase, reports to
// the coordinator, answers a complaint against this node's dealing, and
// returns the coordinator's decision.
func (r *run) dealingPhase(ctx context.Context, phase uint8, members, dealers []int, width int, deadline time.Time) (*phaseResult, error) {
	s := r.s
	defer delete(r.dealt, phase)
	res := &phaseResult{mine: map[int]*verified{}}
	pos := slices.Index(members, r.me)
	var report []byte
	if pos >= 0 {
		got := r.collect(ctx, KindDeal, phase, dealers, deadline)
		t0 := time.Now()
		report = putU16(nil, len(dealers))
		for _, d := range dealers {
			status, commit := byte(statusMissing), [32]byte{}
			if e := got[d]; e != nil {
				v, st := r.verifyDeal(e, phase, members, pos, width)
				status = st
				if v != nil {
					commit = v.commit
				}
				if st == statusOK {
					res.mine[d] = v
				} else {
					r.cfg().Logger.Warn("mpc: dealing failed verification", "session", s.IDString(), "phase", phase,
						"dealer", s.lit.Participants[d].Short(), "status", st)
				}
			}
			report = putU16(report, d)
			report = append(report, status)
			report = append(report, commit[:]...)
		}
		r.addTime(&r.outcome.Stats.Verify, t0)
		if err := r.send(ctx, s.coord, KindReport, phase, report); err != nil {
			return nil, err
		}
	}
	var decision []byte
	if r.me == s.coord {
		reportBy := s.lit.ReportBy
		if phase == 2 {
			reportBy = s.lit.OutputBy
		}
		reports := r.collect(ctx, KindReport, phase, members, reportBy)
		v := judge(s, members, dealers, width, reports)
		if len(v.disputed) > 0 {
			r.settle(ctx, phase, v, width)
		}
		decision = v.encode()
		for _, i := range members {
			if err := r.send(ctx, i, KindDecision, phase, decision); err != nil && i != r.me {
				r.cfg().Logger.Warn("mpc: decision not delivered", "session", s.IDString(), "to", s.lit.Participants[i].Short())
			}
		}
	} else {
		e := r.awaitDecision(ctx, phase, width)
		if e == nil {
			return nil, fmt.Errorf("%w: no decision from the coordinator", ErrTooFewParties)
		}
		decision = e.Body
	}
	if err := decodeDecision(s, phase, members, dealers, decision, res); err != nil {
		return nil, err
	}
	if slices.Contains(res.holders, r.me) {
		// A holder must have verified exactly the dealings the coordinator
		// included, with the same commitments.
		for _, d := range res.included {
			v := res.mine[d]
			if v == nil || v.commit != res.commit(d) {
				return nil, fmt.Errorf("%w: the coordinator's decision contradicts this node's verification", ErrUnexpected)
			}
		}
	}
	return res, nil
}

// commits is set by decodeDecision.
func (p *phaseResult) commit(d int) [32]byte { return p.commits[d] }

func decodeDecision(s *Session, phase uint8, members, dealers []int, body []byte, res *phaseResult) error {
	const kind = "decision"
	rd := reader{b: body, kind: kind}
	res.commits = map[int][32]byte{}
	ni := int(rd.u16())
	if ni > len(dealers) {
		return malformed(kind, "too many included dealers")
	}
	for range ni {
		d := int(rd.u16())
		c := [32]byte(rd.bytes(32))
		if rd.err == nil && (!slices.Contains(dealers, d) || slices.Contains(res.included, d)) {
			return malformed(kind, "included dealer is not an expected dealer")
		}
		res.included = append(res.included, d)
		res.commits[d] = c
	}
	nh := int(rd.u16())
	if nh > len(members) {
		return malformed(kind, "too many holders")
	}
	for range nh {
		m := int(rd.u16())
		if rd.err == nil && (!slices.Contains(members, m) || slices.Contains(res.holders, m)) {
			return malformed(kind, "holder is not a member")
		}
		res.holders = append(res.holders, m)
	}
	ne := int(rd.u16())
	if ne > len(dealers)+len(members) {
		return malformed(kind, "too many excluded nodes")
	}
	for range ne {
		d, reason, acc := int(rd.u16()), int(rd.u8()), int(rd.u16())
		if rd.err != nil {
			break
		}
		ok := slices.Contains(dealers, d) && reason < len(decisionReasons) && reason != statusOK && (acc == 0xffff || acc < s.N())
		if reason == reasonFalseAccusation {
			ok = slices.Contains(members, d) && slices.Contains(dealers, acc)
		}
		if !ok {
			return malformed(kind, "bad exclusion")
		}
		e := &DealerError{Dealer: s.lit.Participants[d], Phase: int(phase), Reason: decisionReasons[reason]}
		if acc != 0xffff {
			e.Reporter = s.lit.Participants[acc]
		}
		res.excluded = append(res.excluded, e)
	}
	if err := rd.done(); err != nil {
		return err
	}
	if len(res.holders) < s.T() {
		return fmt.Errorf("%w: %d share holders, need t = %d", ErrTooFewParties, len(res.holders), s.T())
	}
	if len(res.included) == 0 {
		return fmt.Errorf("%w: no dealer verified", ErrTooFewParties)
	}
	return nil
}
