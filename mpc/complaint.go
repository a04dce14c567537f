package mpc

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"
)

// verdict is the coordinator's judgement of one dealing phase: built from
// the reports by judge, completed by the complaint round (settle) and sent
// as the Decision (encode). See the package doc, "Dropouts and cheaters".
type verdict struct {
	s                *Session
	members, dealers []int
	// agreed is, per dealer that at least t members verified with the same
	// public part, that part's hash.
	agreed map[int][32]byte
	// okBy is, per reporter, the dealers it verified with the agreed part.
	okBy map[int]map[int]bool
	// disputed is, per dealer, the members that accused its agreed dealing
	// and whose shares it must open (ascending); claims their statuses.
	disputed map[int][]int
	claims   map[[2]int]byte
	excluded map[int]exclusion // dealer → why
	liars    map[int]int       // convicted accuser → the dealer that refuted it
}

type exclusion struct {
	reason byte
	by     int // -1: none
}

// judge tallies the reports of a phase. A report that does not parse is
// ignored (its sender is not a holder).
func judge(s *Session, members, dealers []int, width int, reports map[int]*Envelope) *verdict {
	v := &verdict{s: s, members: members, dealers: dealers, agreed: map[int][32]byte{}, okBy: map[int]map[int]bool{},
		disputed: map[int][]int{}, claims: map[[2]int]byte{}, excluded: map[int]exclusion{}, liars: map[int]int{}}
	type accusation struct {
		by     int
		commit [32]byte
	}
	oks := map[int]map[[32]byte][]int{} // dealer → part hash → verifiers
	accused := map[int][]accusation{}
	okAs := map[int]map[int][32]byte{} // reporter → dealer → part hash it verified
	for _, d := range dealers {
		oks[d] = map[[32]byte][]int{}
	}
	for _, m := range members {
		e := reports[m]
		if e == nil {
			continue
		}
		rd := reader{b: e.Body, kind: "report"}
		if int(rd.u16()) != len(dealers) {
			continue
		}
		type entry struct {
			status byte
			commit [32]byte
		}
		seen := map[int]entry{}
		for range dealers {
			d, st, c := int(rd.u16()), rd.u8(), [32]byte(rd.bytes(32))
			if _, dup := seen[d]; rd.err != nil || oks[d] == nil || dup {
				rd.err = malformed("report", "bad entry")
				break
			}
			seen[d] = entry{st, c}
		}
		if rd.done() != nil {
			continue
		}
		okAs[m] = map[int][32]byte{}
		for _, d := range dealers {
			switch en := seen[d]; en.status {
			case statusOK:
				okAs[m][d] = en.commit
				oks[d][en.commit] = append(oks[d][en.commit], m)
			case statusBadShare, statusBadCipher:
				accused[d] = append(accused[d], accusation{m, en.commit})
				v.claims[[2]int{d, m}] = en.status
			}
		}
	}
	for _, d := range dealers {
		var strong [][32]byte // part hashes that at least t members verified
		for c, by := range oks[d] {
			if len(by) >= s.T() {
				strong = append(strong, c)
			}
		}
		switch {
		case len(strong) > 1:
			// Fewer than t members lie, so each part was verified by an
			// honest member: the dealer sent two.
			v.excluded[d] = exclusion{reasonEquivocation, -1}
			continue
		case len(strong) == 0 && len(oks[d]) == 0 && len(accused[d]) == 0:
			v.excluded[d] = exclusion{statusMissing, -1}
			continue
		case len(strong) == 0:
			v.excluded[d] = exclusion{reasonTooFewVerify, -1}
			continue
		}
		c := strong[0]
		v.agreed[d] = c
		// Only accusations of the agreed dealing can be settled; a member
		// that saw another public part merely is not a holder.
		var acc []int
		for _, a := range accused[d] {
			if a.commit == c {
				acc = append(acc, a.by)
			}
		}
		if len(acc) == 0 {
			continue
		}
		known := len(acc) // shares the coordinator would know after the openings
		if !slices.Contains(acc, s.coord) {
			known++
		}
		if known > s.T()-1 || len(acc) > s.maxOpenings(len(members), width) {
			v.excluded[d] = exclusion{reasonTooManyComplaints, acc[0]}
			continue
		}
		v.disputed[d] = acc
	}
	for m, mine := range okAs {
		v.okBy[m] = map[int]bool{}
		for d, c := range mine {
			if a, ok := v.agreed[d]; ok && a == c {
				v.okBy[m][d] = true
			}
		}
	}
	return v
}

// resolve records the outcome of dealer d's opening: per accuser, statusOK
// if its share verified (the accuser lied), the check's status if not, or
// nothing when the dealer did not answer validly.
func (v *verdict) resolve(d int, opened map[int]byte) {
	for _, a := range v.disputed[d] {
		st, ok := opened[a]
		switch {
		case ok && st == statusOK:
			if _, dup := v.liars[a]; !dup {
				v.liars[a] = d
			}
		case ok:
			if _, dup := v.excluded[d]; !dup {
				v.excluded[d] = exclusion{st, a}
			}
		default:
			if _, dup := v.excluded[d]; !dup {
				v.excluded[d] = exclusion{v.claims[[2]int{d, a}], a}
			}
		}
	}
}

// encode builds the Decision body:
//
//	included u16, each: dealer u16 | part hash [32]
//	holders u16, each: member u16
//	excluded u16, each: node u16 | reason u8 | by u16 (0xffff: none)
//
// Excluded lists dealers (by: the accuser whose complaint the opening
// confirmed, if any), then convicted accusers (reason 6, by: the dealer
// whose opening refuted them).
func (v *verdict) encode() []byte {
	var inc []int
	for _, d := range v.dealers {
		_, excl := v.excluded[d]
		_, liar := v.liars[d]
		if _, ok := v.agreed[d]; ok && !excl && !liar {
			inc = append(inc, d)
		}
	}
	var holders []int
	for _, m := range v.members {
		_, liar := v.liars[m]
		ok := v.okBy[m] != nil && !liar
		for _, d := range inc {
			ok = ok && v.okBy[m][d]
		}
		if ok {
			holders = append(holders, m)
		}
	}
	b := putU16(nil, len(inc))
	for _, d := range inc {
		c := v.agreed[d]
		b = putU16(b, d)
		b = append(b, c[:]...)
	}
	b = putU16(b, len(holders))
	for _, m := range holders {
		b = putU16(b, m)
	}
	b = putU16(b, len(v.excluded)+len(v.liars))
	put := func(node int, reason byte, by int) {
		b = putU16(b, node)
		b = append(b, reason)
		b = binary.BigEndian.AppendUint16(b, uint16(by))
	}
	for _, d := range v.dealers {
		if e, ok := v.excluded[d]; ok {
			put(d, e.reason, e.by)
		}
	}
	for _, m := range v.members {
		if d, ok := v.liars[m]; ok {
			put(m, reasonFalseAccusation, d)
		}
	}
	return b
}

// settle runs the complaint round on the coordinator: each accused dealer
// gets a Complaint naming its accusers and has until halfway to OutputBy to
// open their shares.
func (r *run) settle(ctx context.Context, phase uint8, v *verdict, width int) {
	s := r.s
	deadline := time.Now().Add(time.Until(s.lit.OutputBy) / 2)
	var accused []int
	for _, d := range v.dealers {
		acc := v.disputed[d]
		if acc == nil {
			continue
		}
		accused = append(accused, d)
		body := putU16(nil, len(acc))
		for _, a := range acc {
			body = putU16(body, a)
		}
		if err := r.send(ctx, d, KindComplaint, phase, body); err != nil && d != r.me {
			r.cfg().Logger.Warn("mpc: complaint not delivered", "session", s.IDString(), "to", s.lit.Participants[d].Short())
		}
	}
	if slices.Contains(accused, r.me) {
		r.mu.Lock()
		e := r.msgs[slot{KindComplaint, phase, uint16(r.me)}]
		r.mu.Unlock()
		r.answer(ctx, phase, e, width)
	}
	got := r.collect(ctx, KindOpening, phase, accused, deadline)
	for _, d := range accused {
		v.resolve(d, r.checkOpening(got[d], phase, v, d, width))
	}
}

// awaitDecision waits for the coordinator's decision of a phase, answering
// a complaint against this node's dealing if one comes first.
func (r *run) awaitDecision(ctx context.Context, phase uint8, width int) *Envelope {
	from := uint16(r.s.coord)
	var complaint, decision *Envelope
	answered := false
	for {
		r.await(ctx, r.s.lit.OutputBy, func() bool {
			complaint, decision = r.msgs[slot{KindComplaint, phase, from}], r.msgs[slot{KindDecision, phase, from}]
			return decision != nil || (complaint != nil && !answered)
		})
		if decision != nil || complaint == nil || answered {
			return decision
		}
		answered = true
		r.answer(ctx, phase, complaint, width)
	}
}

// answer opens the shares a complaint asks for. Body of the Opening:
//
//	public part (members u16 | hashes | commitments) | count u16 |
//	count × (accuser u16 | e_i [32] | part_i)
//
// with e_i the ephemeral X25519 private key of accuser i's part.
func (r *run) answer(ctx context.Context, phase uint8, env *Envelope, width int) {
	st := r.dealt[phase]
	if st == nil || env == nil {
		return
	}
	accusers, err := decodeComplaint(r.s, st.members, r.me, width, env.Body)
	if err != nil {
		r.cfg().Logger.Warn("mpc: bad complaint", "session", r.s.IDString(), "err", err)
		return
	}
	pos := make([]int, len(accusers))
	for k, a := range accusers {
		pos[k] = slices.Index(st.members, a)
	}
	parts, keys, _, _, err := r.sealParts(phase, st, pos)
	if err != nil {
		return
	}
	body := putU16(slices.Clip(st.pub), len(accusers))
	for k, a := range accusers {
		body = putU16(body, a)
		body = append(body, keys[k].Bytes()...)
		body = append(body, parts[k]...)
	}
	if err := r.send(ctx, r.s.coord, KindOpening, phase, body); err != nil {
		r.cfg().Logger.Warn("mpc: opening not delivered", "session", r.s.IDString())
	}
}

// decodeComplaint parses a Complaint body: count u16 (1 to maxOpenings),
// then that many accusers u16, ascending members other than the dealer me.
func decodeComplaint(s *Session, members []int, me, width int, body []byte) ([]int, error) {
	const kind = "complaint"
	rd := reader{b: body, kind: kind}
	n := int(rd.u16())
	if n < 1 || n > s.maxOpenings(len(members), width) {
		return nil, malformed(kind, "%d accusers", n)
	}
	var acc []int
	for range n {
		a := int(rd.u16())
		if rd.err == nil && (!slices.Contains(members, a) || a == me || (len(acc) > 0 && a <= acc[len(acc)-1])) {
			return nil, malformed(kind, "accusers not ascending members")
		}
		acc = append(acc, a)
	}
	if err := rd.done(); err != nil {
		return nil, err
	}
	return acc, nil
}

// opened is one share of an Opening.
type opened struct {
	accuser int
	key     []byte // e_i
	part    []byte
}

// decodeOpening parses an Opening body (see answer) for a phase with the
// given members and dealing width. It checks sizes and structure only.
func decodeOpening(s *Session, members []int, width int, body []byte) ([]byte, []opened, error) {
	const kind = "opening"
	ps := pubSize(len(members), s.T())
	if len(body) > openingSize(len(members), s.T(), width, s.maxOpenings(len(members), width)) {
		return nil, nil, tooLarge(kind, len(body), openingSize(len(members), s.T(), width, s.maxOpenings(len(members), width)))
	}
	rd := reader{b: body, kind: kind}
	pub := rd.bytes(ps)
	if rd.err == nil && int(binary.BigEndian.Uint16(pub)) != len(members) {
		return nil, nil, malformed(kind, "public part for %d members", binary.BigEndian.Uint16(pub))
	}
	n := int(rd.u16())
	if rd.err == nil && (n < 1 || len(body) != openingSize(len(members), s.T(), width, n)) {
		return nil, nil, malformed(kind, "%d openings in %d bytes", n, len(body))
	}
	var out []opened
	for range n {
		o := opened{accuser: int(rd.u16()), key: rd.bytes(32), part: rd.bytes(partSize(width))}
		if rd.err == nil && (!slices.Contains(members, o.accuser) || (len(out) > 0 && o.accuser <= out[len(out)-1].accuser)) {
			return nil, nil, malformed(kind, "accusers not ascending members")
		}
		out = append(out, o)
	}
	if err := rd.done(); err != nil {
		return nil, nil, err
	}
	return pub, out, nil
}

// checkOpening verifies dealer d's Opening against the agreed public part:
// for each disputed accuser i, SHA-256(part_i) is H_i, e_i is the private
// key of the part's E_i, and the part decrypts under pairKey(e_i, P_i) —
// the key accuser i derived — to a share vector that passes the batch
// check. It returns the status per accuser, or nil if the opening is
// missing or not an answer to the complaint.
func (r *run) checkOpening(env *Envelope, phase uint8, v *verdict, d, width int) map[int]byte {
	if env == nil {
		return nil
	}
	pub, ops, err := decodeOpening(r.s, v.members, width, env.Body)
	if err != nil || hashBytes(pub) != v.agreed[d] || len(ops) != len(v.disputed[d]) {
		return nil
	}
	rd := reader{b: pub[2:], kind: "opening"}
	hashes := rd.bytes(32 * len(v.members))
	comms, err := decodePoints(rd.b, "opening")
	if err != nil {
		return nil
	}
	gamma := challenge(r.s.id, phase, uint16(d), hashes)
	res := map[int]byte{}
	for k, o := range ops {
		if o.accuser != v.disputed[d][k] {
			return nil
		}
		pos := slices.Index(v.members, o.accuser)
		e, err := ecdh.X25519().NewPrivateKey(o.key)
		if h := hashBytes(o.part); err != nil || !bytes.Equal(h[:], hashes[32*pos:32*pos+32]) ||
			!bytes.Equal(e.PublicKey().Bytes(), o.part[:pointSize]) {
			continue // not an opening of the committed part: the accusation stands
		}
		aead, err := pairKey(e, r.sessionKey(o.accuser), r.s.id, KindDeal, phase, uint16(d), uint16(o.accuser))
		if err != nil {
			continue
		}
		_, st := checkPart(aead, o.part[pointSize:], width, xOf(o.accuser), gamma, comms)
		res[o.accuser] = st
	}
	return res
}

// ephemeralKey draws the X25519 key that seals recipient i's part of a
// dealing: HKDF-SHA256 of the dealing's key seed, bound to i.
func ephemeralKey(seed []byte, i int) (*ecdh.PrivateKey, error) {
	k, err := hkdf.Key(sha256.New, seed, nil, "aios/mpc/deal-key/v1"+string(putU16(nil, i)), 32)
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(k)
}
