package mpc

import (
	"fmt"
	"time"
)

// EarlyInputLimits bound the inputs a node keeps for sessions that it does
// not know yet (given with SetInput before the proposal arrived). An
// input's size is 8 bytes per value plus a fixed earlyInputOverhead. The
// zero value of each field means its default.
type EarlyInputLimits struct {
	// TTL is how long an early input waits for its session (default 5
	// minutes; a session's proposal normally reaches its participants
	// within its acceptance window, which starts when it is created).
	TTL time.Duration
	// PerOwner bounds the bytes of one owner's early inputs (default
	// 32 MiB: four inputs of MaxDimension values). An owner over it is
	// refused (ErrInput); other owners are not.
	PerOwner int64
	// Total bounds the bytes of all early inputs (default 256 MiB). When
	// it is reached after expired inputs were dropped, a new early input
	// is refused with ErrInputsFull.
	Total int64
}

// earlyInputOverhead is what an early input costs beyond its values.
const earlyInputOverhead = 256

func (l *EarlyInputLimits) defaults() {
	if l.TTL <= 0 {
		l.TTL = 5 * time.Minute
	}
	if l.PerOwner <= 0 {
		l.PerOwner = 4 * (8*MaxDimension + earlyInputOverhead)
	}
	if l.Total <= 0 {
		l.Total = 256 << 20
	}
}

// earlyInputs are the inputs waiting for their sessions, with their
// owners' and the node's byte counts. The Node's mu guards it.
type earlyInputs struct {
	lim    EarlyInputLimits
	byID   map[[32]byte]*earlyInput
	order  []*earlyInput // by the time given, oldest first; may hold removed ones
	owners map[string]int64
	total  int64
}

type earlyInput struct {
	session [32]byte
	owner   string
	in      Input
	size    int64
	at      time.Time
	removed bool
}

func newEarlyInputs(lim EarlyInputLimits) *earlyInputs {
	lim.defaults()
	return &earlyInputs{lim: lim, byID: map[[32]byte]*earlyInput{}, owners: map[string]int64{}}
}

// put keeps in for session on behalf of owner, replacing an input given
// for it before; see EarlyInputLimits for when it refuses.
func (e *earlyInputs) put(now time.Time, owner string, session [32]byte, in Input) error {
	e.expire(now)
	size := int64(8*len(in.Values) + earlyInputOverhead)
	var replaced, replacedOwn int64
	old := e.byID[session]
	if old != nil {
		replaced = old.size
		if old.owner == owner {
			replacedOwn = old.size
		}
	}
	if used := e.owners[owner] - replacedOwn; used+size > e.lim.PerOwner {
		return fmt.Errorf("%w: this token's inputs for sessions not known yet would take %d bytes, more than its %d",
			ErrInput, used+size, e.lim.PerOwner)
	}
	if e.total-replaced+size > e.lim.Total {
		return ErrInputsFull
	}
	if old != nil {
		e.remove(old)
	}
	x := &earlyInput{session: session, owner: owner, in: in, size: size, at: now}
	e.byID[session] = x
	e.order = append(e.order, x)
	e.owners[owner] += size
	e.total += size
	return nil
}

// take removes and returns the input waiting for session, if any.
func (e *earlyInputs) take(now time.Time, session [32]byte) (Input, bool) {
	e.expire(now)
	x := e.byID[session]
	if x == nil {
		return Input{}, false
	}
	e.remove(x)
	return x.in, true
}

// expire drops the inputs older than the TTL, oldest first.
func (e *earlyInputs) expire(now time.Time) {
	k := 0
	for ; k < len(e.order); k++ {
		x := e.order[k]
		if !x.removed && now.Sub(x.at) <= e.lim.TTL {
			break
		}
		if !x.removed {
			e.remove(x)
		}
	}
	clear(e.order[:k])
	e.order = e.order[k:]
}

// remove forgets x (its entry in order is skipped later).
func (e *earlyInputs) remove(x *earlyInput) {
	x.removed = true
	delete(e.byID, x.session)
	if e.owners[x.owner] -= x.size; e.owners[x.owner] == 0 {
		delete(e.owners, x.owner)
	}
	e.total -= x.size
}

// bytes is what the early inputs take now.
func (e *earlyInputs) bytes() int64 { return e.total }
