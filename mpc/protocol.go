package mpc

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/aios-edge/aios/mpc/internal/field"
)

// Report status codes (one per expected dealer).
const (
	statusMissing   = 0
	statusOK        = 1
	statusBadShare  = 2
	statusBadCipher = 3
)

var reasonOf = map[byte]string{statusMissing: ReasonMissing, statusBadShare: ReasonBadShare, statusBadCipher: ReasonBadCipher}

// Decision reason codes.
// Codes 0, 2 and 3 are the report's status codes.
var decisionReasons = []string{ReasonMissing, "", ReasonBadShare, ReasonBadCipher, ReasonEquivocation, ReasonTooFewVerify}

const (
	reasonEquivocation = 4
	reasonTooFewVerify = 5
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
//	members u16 | members × SHA-256(ciphertext) | t × commitment [32] | ciphertext
//
// where the ciphertext seals width+1 field elements (the share vector, then
// the blinding share) and the commitments are computed after the challenge.
func (r *run) deal(ctx context.Context, phase uint8, members []int, vals []field.Element) error {
	t0 := time.Now()
	s := r.s
	stream, err := newStream(r.cfg().Rand)
	if err != nil {
		return fmt.Errorf("mpc: randomness: %w", err)
	}
	xs := make([]field.Element, len(members))
	for k, i := range members {
		xs[k] = xOf(i)
	}
	dl, coeffs, bcoef := share(vals, xs, s.T(), stream)
	cts := make([][]byte, len(members))
	hashes := make([]byte, 0, 32*len(members))
	for k, i := range members {
		if h := r.node.tamperShareForTesting; h != nil {
			h(phase, i, dl.shares[k])
		}
		plain := appendElems(make([]byte, 0, (len(vals)+1)*field.Size), dl.shares[k])
		plain = dl.blind[k].AppendBytes(plain)
		ct, err := r.seal(i, KindDeal, phase, plain)
		if err != nil {
			return err
		}
		cts[k] = ct
		h := hashBytes(ct)
		hashes = append(hashes, h[:]...)
	}
	gamma := challenge(s.id, phase, uint16(r.me), hashes)
	pub := putU16(nil, len(members))
	pub = append(pub, hashes...)
	pub = append(pub, commit(coeffs, bcoef, gamma)...)
	r.addTime(&r.outcome.Stats.Share, t0)
	for k, i := range members {
		body := append(slices.Clip(pub), cts[k]...)
		if err := r.send(ctx, i, KindDeal, phase, body); err != nil {
			r.cfg().Logger.Warn("mpc: dealing not delivered", "session", s.IDString(), "to", s.lit.Participants[i].Short())
		}
	}
	return nil
}

// verifyDeal checks one dealing addressed to this node (position pos among
// the phase's members).
func (r *run) verifyDeal(env *Envelope, phase uint8, members []int, pos, width int) (*verified, byte) {
	const kind = "deal"
	t := r.s.T()
	if len(env.Body) != dealSize(len(members), t, width) {
		return nil, statusBadCipher
	}
	rd := reader{b: env.Body, kind: kind}
	if int(rd.u16()) != len(members) {
		return nil, statusBadCipher
	}
	hashes := rd.bytes(32 * len(members))
	commRaw := rd.bytes(t * pointSize)
	ct := rd.b
	pubPart := env.Body[:len(env.Body)-len(ct)]
	if h := hashBytes(ct); !bytes.Equal(h[:], hashes[32*pos:32*pos+32]) {
		return nil, statusBadCipher
	}
	comms, err := decodePoints(commRaw, kind)
	if err != nil {
		return nil, statusBadShare
	}
	plain, err := r.open(int(env.From), KindDeal, phase, ct)
	if err != nil {
		return nil, statusBadCipher
	}
	elems, err := parseElems(plain, width+1, kind)
	if err != nil {
		return nil, statusBadCipher
	}
	gamma := challenge(r.s.id, phase, env.From, hashes)
	if !verifyShare(elems[:width], elems[width], xOf(r.me), gamma, comms) {
		return nil, statusBadShare
	}
	return &verified{shares: elems[:width], commit: hashBytes(pubPart)}, statusOK
}

// dealingPhase collects and verifies the dealings of a phase, reports to
// the coordinator, and returns the coordinator's decision.
func (r *run) dealingPhase(ctx context.Context, phase uint8, members, dealers []int, width int, deadline time.Time) (*phaseResult, error) {
	s := r.s
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
					res.mine[d] = v
					commit = v.commit
				} else {
					r.cfg().Logger.Warn("mpc: dealing failed verification", "session", s.IDString(), "phase", phase,
						"dealer", s.lit.Participants[d].Short(), "reason", reasonOf[st])
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
		decision = decide(s, phase, members, dealers, reports)
		for _, i := range members {
			if err := r.send(ctx, i, KindDecision, phase, decision); err != nil && i != r.me {
				r.cfg().Logger.Warn("mpc: decision not delivered", "session", s.IDString(), "to", s.lit.Participants[i].Short())
			}
		}
	} else {
		got := r.collect(ctx, KindDecision, phase, []int{s.coord}, s.lit.OutputBy)
		e := got[s.coord]
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

// decide applies the inclusion rule (package doc, "Dropouts and
// cheaters"). Body:
//
//	included u16, each: dealer u16 | commitment hash [32]
//	holders u16, each: member u16
//	excluded u16, each: dealer u16 | reason u8 | accuser u16 (0xffff: none)
func decide(s *Session, phase uint8, members, dealers []int, reports map[int]*Envelope) []byte {
	type view struct {
		ok      []int
		commits map[[32]byte][]int
		accuser int
		reason  byte
	}
	views := map[int]*view{}
	for _, d := range dealers {
		views[d] = &view{commits: map[[32]byte][]int{}, accuser: -1}
	}
	okBy := map[int]map[int]bool{} // reporter → dealers it verified
	for _, m := range members {
		e := reports[m]
		if e == nil {
			continue
		}
		rd := reader{b: e.Body, kind: "report"}
		cnt := int(rd.u16())
		if cnt != len(dealers) {
			continue
		}
		okBy[m] = map[int]bool{}
		seen := map[int]bool{}
		for range cnt {
			d, st, c := int(rd.u16()), rd.u8(), [32]byte(rd.bytes(32))
			v := views[d]
			if rd.err != nil || v == nil || seen[d] {
				okBy[m] = nil
				break
			}
			seen[d] = true
			switch st {
			case statusOK:
				v.ok = append(v.ok, m)
				v.commits[c] = append(v.commits[c], m)
				okBy[m][d] = true
			case statusBadShare, statusBadCipher:
				if v.accuser < 0 {
					v.accuser, v.reason = m, st
				}
			}
		}
		if rd.done() != nil {
			okBy[m] = nil
		}
	}
	var inc []int
	var incCommit [][32]byte
	type exc struct {
		d, acc int
		reason byte
	}
	var excl []exc
	for _, d := range dealers {
		v := views[d]
		switch {
		case len(v.commits) > 1:
			excl = append(excl, exc{d, -1, reasonEquivocation})
		case v.accuser >= 0:
			excl = append(excl, exc{d, v.accuser, v.reason})
		case len(v.ok) == 0:
			excl = append(excl, exc{d, -1, 0})
		case len(v.ok) < s.T():
			excl = append(excl, exc{d, -1, reasonTooFewVerify})
		default:
			inc = append(inc, d)
			for c := range v.commits {
				incCommit = append(incCommit, c)
			}
		}
	}
	var holders []int
	for _, m := range members {
		ok := okBy[m] != nil
		for _, d := range inc {
			ok = ok && okBy[m][d]
		}
		if ok {
			holders = append(holders, m)
		}
	}
	b := putU16(nil, len(inc))
	for k, d := range inc {
		b = putU16(b, d)
		b = append(b, incCommit[k][:]...)
	}
	b = putU16(b, len(holders))
	for _, m := range holders {
		b = putU16(b, m)
	}
	b = putU16(b, len(excl))
	for _, e := range excl {
		b = putU16(b, e.d)
		b = append(b, e.reason)
		b = binary.BigEndian.AppendUint16(b, uint16(e.acc))
	}
	return b
}

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
	if ne > len(dealers) {
		return malformed(kind, "too many excluded dealers")
	}
	for range ne {
		d, reason, acc := int(rd.u16()), int(rd.u8()), int(rd.u16())
		if rd.err != nil {
			break
		}
		if !slices.Contains(dealers, d) || reason >= len(decisionReasons) || reason == statusOK || (acc != 0xffff && acc >= s.N()) {
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
