package space

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"tuplebroker"
)

// The mirror is this process's view of the bucket: every tuple as last
// seen, indexed so that a template finds its candidates without scanning
// tuples it cannot match, and Requests kept in take order (order.go). It is
// fed by the consumer (consumer.go) and by this process's own acknowledged
// writes, and repaired by the sweep (recovery.go).

// entry is one stored tuple as last seen. Entries are immutable: an update
// replaces the entry. The envelope keeps no copy of the tuple's bytes.
type entry struct {
	key   string
	kind  string
	toks  []string
	rev   uint64
	env   *envelope
	tuple tuplebroker.Tuple
}

func (e *entry) visible(now time.Time) bool { return e.env.C == "" && !e.env.expired(now) }

func (e *entry) public() Entry {
	return Entry{Key: e.key, Revision: e.rev, Expires: e.env.expiry(), ClaimedBy: e.env.C,
		ClaimedUntil: unixTime(e.env.L), Returns: e.env.R, Tuple: cloneTuple(e.tuple)}
}

// change is one message's effect on one key: a value or a removal.
type change struct {
	key    string
	rev    uint64
	remove bool
	data   []byte
	// env and tuple, when set, are data already decoded.
	env   *envelope
	tuple tuplebroker.Tuple
}

type waiter struct {
	kind string
	toks []string
	ch   chan struct{}
}

type lostMark struct {
	rev uint64
	at  time.Time
}

// ClassTemplate is an optional interface of a Request template that fixes no
// requirements class: ServesClass reports whether the template can match
// requests with sample's requirements (every request of a class has the
// same). A take then looks only into the queues of those classes. Without
// it, every class's queue is offered to Match.
type ClassTemplate interface {
	ServesClass(sample *tuplebroker.Request) bool
}

type mirror struct {
	s *Space

	mu      sync.RWMutex
	entries map[string]*entry
	byKind  map[string]map[string]*entry
	// byTok indexes every index field but the last (the tuple's identity,
	// found through its key): kind → position → token → key → entry.
	byTok     map[string][]map[string]map[string]*entry
	sched     *scheduler        // visible Requests, in take order
	claims    map[string]*entry // claimed tuples, for the sweep
	tomb      map[string]uint64 // local removals the consumer has not yet passed
	lost      map[string]lostMark
	inflight  map[string]bool // claims this process is attempting
	restoring map[string]bool // expired claims this process is putting back
	applied   uint64          // last stream sequence applied from the consumer
	isReady   bool
	ready     chan struct{}

	waitMu        sync.Mutex
	waiters       map[string]map[*waiter]struct{}   // kind → waiters
	notifiers     map[string]map[*notifier]struct{} // kind → Notify streams fixing no key
	keyNotifiers  map[string]map[*notifier]struct{} // key → Notify streams fixing it
	consumerState consumerState

	// trace, in tests, records every change the mirror applies; m.mu is
	// held when it is called.
	trace func(src, key string, rev uint64, what string)
}

func newMirror(s *Space) *mirror {
	return &mirror{
		s:            s,
		entries:      map[string]*entry{},
		byKind:       map[string]map[string]*entry{},
		byTok:        map[string][]map[string]map[string]*entry{},
		sched:        newScheduler(s.cfg.Order),
		claims:       map[string]*entry{},
		tomb:         map[string]uint64{},
		lost:         map[string]lostMark{},
		inflight:     map[string]bool{},
		restoring:    map[string]bool{},
		ready:        make(chan struct{}),
		waiters:      map[string]map[*waiter]struct{}{},
		notifiers:    map[string]map[*notifier]struct{}{},
		keyNotifiers: map[string]map[*notifier]struct{}{},
	}
}

func (m *mirror) markReady() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.isReady {
		m.isReady = true
		close(m.ready)
	}
}

// applyLocal applies changes this process made and the server acknowledged,
// as one step, so a process reads its own writes at once.
func (m *mirror) applyLocal(chs []change) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range chs {
		if !ch.remove && ch.rev <= m.applied {
			// The consumer has delivered this sequence already, and with it
			// everything after it: applying the value now could resurrect a
			// tuple removed since (a late acknowledgement).
			continue
		}
		if m.trace != nil {
			m.trace("local", ch.key, ch.rev, fmt.Sprintf("removal=%v", ch.remove))
		}
		m.apply(ch, now)
		if ch.remove && m.tomb[ch.key] < ch.rev {
			m.tomb[ch.key] = ch.rev
		}
	}
}

// apply applies one change; m.mu is held.
func (m *mirror) apply(ch change, now time.Time) {
	if t, ok := m.tomb[ch.key]; ok && ch.rev <= t {
		return
	}
	cur, had := m.entries[ch.key]
	if had && ch.rev <= cur.rev {
		return
	}
	if ch.remove {
		m.sched.dispatched(ch.key) // a queued tuple taken outright
		m.del(ch.key)
		return
	}
	env, tuple := ch.env, ch.tuple
	var err error
	if env == nil || tuple == nil {
		env, tuple, err = decodeEnvelope(ch.data)
	}
	if err == nil && !keyFits(ch.key, env.K) {
		err = ErrCorrupt
	}
	if err != nil {
		m.s.log.Error("skipping corrupt tuple", "key", ch.key, "rev", ch.rev, "err", err)
		m.sched.remove(ch.key)
		m.del(ch.key)
		return
	}
	ev := *env
	ev.D = nil
	e := &entry{key: ch.key, kind: ev.K, toks: indexTokens(tuple), rev: ch.rev, env: &ev, tuple: tuple}
	req, queued := tuple.(*tuplebroker.Request)
	queued = queued && e.visible(now)
	if !queued {
		m.sched.dispatched(ch.key) // claimed, or replaced by its Response
	}
	m.del(ch.key)
	m.put(e)
	if queued {
		m.sched.add(e.key, e.toks[0], req.Priority, req.UID, req.Created)
	}
	if e.env.C != "" {
		m.claims[e.key] = e
	} else if !e.env.expired(now) {
		m.wake(e)
		m.notify(e)
	}
}

func (m *mirror) put(e *entry) {
	m.entries[e.key] = e
	k := m.byKind[e.kind]
	if k == nil {
		k = map[string]*entry{}
		m.byKind[e.kind] = k
	}
	k[e.key] = e
	pos := m.byTok[e.kind]
	for len(pos) < len(e.toks)-1 {
		pos = append(pos, map[string]map[string]*entry{})
	}
	m.byTok[e.kind] = pos
	for i, t := range e.toks[:max(len(e.toks)-1, 0)] {
		set := pos[i][t]
		if set == nil {
			set = map[string]*entry{}
			pos[i][t] = set
		}
		set[e.key] = e
	}
}

func (m *mirror) del(key string) {
	e, ok := m.entries[key]
	if !ok {
		return
	}
	delete(m.entries, key)
	delete(m.byKind[e.kind], key)
	delete(m.claims, key)
	m.sched.remove(key)
	pos := m.byTok[e.kind]
	for i, t := range e.toks[:max(len(e.toks)-1, 0)] {
		if i < len(pos) {
			if set := pos[i][t]; set != nil {
				delete(set, key)
				if len(set) == 0 {
					delete(pos[i], t)
				}
			}
		}
	}
}

func (m *mirror) get(key string) (*entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[key]
	return e, ok
}

// scan calls fn for the entries that may match tmpl, through the key when
// the template fixes the tuple's identity and else through the smallest
// token index it fixes, until fn returns false. m.mu is held.
func (m *mirror) scan(tmpl tuplebroker.Template, fn func(*entry) bool) {
	kind := string(tmpl.Kind())
	toks := templateTokens(tmpl)
	if key, ok := keyOf(kind, toks); ok {
		if e, ok := m.entries[key]; ok && e.kind == kind && tokensMatch(toks, e.toks) {
			fn(e)
		}
		return
	}
	var set map[string]*entry
	for i, t := range toks[:max(len(toks)-1, 0)] {
		if t == "" {
			continue
		}
		pos := m.byTok[kind]
		if i >= len(pos) {
			return
		}
		s := pos[i][t]
		if len(s) == 0 {
			return
		}
		if set == nil || len(s) < len(set) {
			set = s
		}
	}
	if set == nil {
		set = m.byKind[kind]
	}
	for _, e := range set {
		if !tokensMatch(toks, e.toks) {
			continue
		}
		if !fn(e) {
			return
		}
	}
}

func tokensMatch(want, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		if w != "" && w != got[i] {
			return false
		}
	}
	return true
}

// first returns a visible matching entry: for Requests the first in take
// order.
func (m *mirror) first(tmpl tuplebroker.Template, now time.Time) *entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if c := m.ordered(tmpl, now, 1, false); c != nil {
		if len(c) == 0 {
			return nil
		}
		return c[0]
	}
	var found *entry
	m.scan(tmpl, func(e *entry) bool {
		if e.visible(now) && tmpl.Match(e.tuple) {
			found = e
			return false
		}
		return true
	})
	return found
}

// candidates returns up to limit visible matching entries not known stale
// and not being claimed by this process: Requests in take order, other
// kinds in random order (so that takers in many processes spread out).
func (m *mirror) candidates(tmpl tuplebroker.Template, now time.Time, limit int) []*entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if c := m.ordered(tmpl, now, limit, true); c != nil {
		return c
	}
	var out []*entry
	m.scan(tmpl, func(e *entry) bool {
		if m.takeable(e, now) && tmpl.Match(e.tuple) {
			out = append(out, e)
		}
		return len(out) < 4*limit
	})
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (m *mirror) takeable(e *entry, now time.Time) bool {
	if l, ok := m.lost[e.key]; ok && l.rev == e.rev {
		return false
	}
	return !m.inflight[e.key] && e.visible(now)
}

// ordered answers a Request template that does not fix a GUID from the take
// order (nil, false-y: the template is not of that sort). m.mu is held.
func (m *mirror) ordered(tmpl tuplebroker.Template, now time.Time, limit int, forTake bool) []*entry {
	if tmpl.Kind() != tuplebroker.KindRequest {
		return nil
	}
	toks := templateTokens(tmpl)
	if _, ok := keyOf(string(tmpl.Kind()), toks); ok || len(toks) == 0 {
		return nil
	}
	var classes []string
	switch ct, ok := tmpl.(ClassTemplate); {
	case toks[0] != "":
		classes = []string{toks[0]}
	case ok:
		classes = []string{}
		for class, q := range m.sched.queues {
			if sample, ok := m.entries[q.age[0].key]; ok {
				if r, ok := sample.tuple.(*tuplebroker.Request); ok && ct.ServesClass(r) {
					classes = append(classes, class)
				}
			}
		}
	}
	out := []*entry{}
	m.sched.candidates(classes, now, limit, func(key string) bool {
		e, ok := m.entries[key]
		if !ok || (forTake && !m.takeable(e, now)) || !e.visible(now) || !tmpl.Match(e.tuple) {
			return false
		}
		out = append(out, e)
		return true
	})
	return out
}

func (m *mirror) entriesFor(tmpl tuplebroker.Template) []Entry {
	var out []Entry
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.scan(tmpl, func(e *entry) bool {
		if !e.env.expired(now) && tmpl.Match(e.tuple) {
			out = append(out, e.public())
		}
		return true
	})
	return out
}

// markLost records that a CAS against e lost: the mirror is behind.
func (m *mirror) markLost(e *entry) {
	m.mu.Lock()
	m.lost[e.key] = lostMark{rev: e.rev, at: time.Now()}
	m.mu.Unlock()
}

// startClaim marks key as being claimed by this process, so that its other
// takers try the next candidate; false if one already is.
func (m *mirror) startClaim(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inflight[key] {
		return false
	}
	m.inflight[key] = true
	return true
}

func (m *mirror) endClaim(key string) {
	m.mu.Lock()
	delete(m.inflight, key)
	m.mu.Unlock()
}

func (m *mirror) wait(tmpl tuplebroker.Template) *waiter {
	w := &waiter{kind: string(tmpl.Kind()), toks: templateTokens(tmpl), ch: make(chan struct{}, 1)}
	m.waitMu.Lock()
	set := m.waiters[w.kind]
	if set == nil {
		set = map[*waiter]struct{}{}
		m.waiters[w.kind] = set
	}
	set[w] = struct{}{}
	m.waitMu.Unlock()
	return w
}

func (m *mirror) unwait(w *waiter) {
	m.waitMu.Lock()
	delete(m.waiters[w.kind], w)
	m.waitMu.Unlock()
}

func (m *mirror) wake(e *entry) {
	m.waitMu.Lock()
	for w := range m.waiters[e.kind] {
		if tokensMatch(w.toks, e.toks) {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	m.waitMu.Unlock()
}

// queueInfo reports where a queued Request stands.
func (m *mirror) queueInfo(key string, now time.Time) (QueueInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ahead, depth, ok := m.sched.position(key, now)
	return QueueInfo{Ahead: ahead, ClassDepth: depth, Queued: m.sched.Len()}, ok
}

// keyFits reports whether a tuple of kind may be stored at key.
func keyFits(key, kind string) bool {
	if jobKind(kind) {
		return strings.HasPrefix(key, jobPrefix+".")
	}
	return strings.HasPrefix(key, kind+".")
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
