package space

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// entry is one stored tuple as last seen. Entries are immutable: an update
// replaces the entry.
type entry struct {
	key   string
	kind  string
	toks  []string
	rev   uint64
	env   *envelope
	tuple tuplebroker.Tuple
	// pending: written by a committed transaction whose write has not yet
	// reached the bucket (rev is the commit record's). Readable, not yet
	// takeable.
	pending bool
}

func (e *entry) visible(now time.Time) bool { return e.env.C == "" && !e.env.expired(now) }

func (e *entry) public() Entry {
	return Entry{Key: e.key, Revision: e.rev, Expires: e.env.expiry(), ClaimedBy: e.env.C, Tuple: cloneTuple(e.tuple)}
}

// localOp is a change this process made and the server acknowledged; it is
// applied to the mirror at once so a process reads its own writes.
type localOp struct {
	key    string
	rev    uint64
	data   []byte
	remove bool
	// env and tuple, when set, are data already decoded (saves a decode).
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

// mirror is this process's view of the bucket, fed by one ordered consumer,
// indexed by kind and by key token.
type mirror struct {
	s *Space

	mu      sync.RWMutex
	entries map[string]*entry
	byKind  map[string]map[string]*entry
	byTok   map[string][]map[string]map[string]*entry // kind → position → token → key
	txns    map[string]uint64                         // open transaction → record revision
	commits map[string]*committedTxn                  // committed, not yet fully applied
	claims  map[string]map[string]*entry              // transaction → claimed entries
	tomb    map[string]uint64                         // local removals the watch has not yet passed
	lost    map[string]lostMark                       // entries a CAS found stale
	rolling map[string]bool                           // claims being rolled back here
	applied uint64                                    // last stream sequence applied from the watch
	isReady bool
	ready   chan struct{}

	waitMu    sync.Mutex
	waiters   map[string]map[*waiter]struct{}   // kind → waiters
	notifiers map[string]map[*notifier]struct{} // kind → Notify streams

	ccMu   sync.Mutex
	it     jetstream.MessagesContext
	itDone chan struct{}

	// cmu serialises the consumer callback with a consumer restart.
	cmu sync.Mutex

	// trace, in tests, records every change the mirror considers; m.mu is
	// held when it is called.
	trace func(src, key string, rev uint64, what string)

	watch struct { // checkProgress's state, touched only by the sweep loop
		applied, restartedAt uint64
		since                time.Time
	}
}

func newMirror(s *Space) *mirror {
	return &mirror{
		s:         s,
		entries:   map[string]*entry{},
		byKind:    map[string]map[string]*entry{},
		byTok:     map[string][]map[string]map[string]*entry{},
		txns:      map[string]uint64{},
		commits:   map[string]*committedTxn{},
		claims:    map[string]map[string]*entry{},
		tomb:      map[string]uint64{},
		lost:      map[string]lostMark{},
		rolling:   map[string]bool{},
		ready:     make(chan struct{}),
		waiters:   map[string]map[*waiter]struct{}{},
		notifiers: map[string]map[*notifier]struct{}{},
	}
}

func (m *mirror) start(ctx context.Context) error {
	info, err := m.s.stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		m.markReady()
	}
	return m.consume(ctx, jetstream.DeliverLastPerSubjectPolicy, 0)
}

// consume (re)starts the ordered consumer that feeds the mirror. Messages
// are pulled one at a time by a single goroutine (the ordered consumer's
// iterator resets itself inside Next), so the mirror applies them strictly
// in stream order: with a callback, a message in flight during a consumer
// reset could be applied after its successors.
func (m *mirror) consume(ctx context.Context, policy jetstream.DeliverPolicy, from uint64) error {
	cons, err := m.s.js.OrderedConsumer(ctx, "KV_"+m.s.cfg.Bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{m.s.prefix + ">"},
		DeliverPolicy:  policy,
		OptStartSeq:    from,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				m.s.log.Debug("mirror consumer", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			m.onMsg(msg)
		}
	}()
	m.ccMu.Lock()
	m.it, m.itDone = it, done
	m.ccMu.Unlock()
	return nil
}

// stop stops the consumer and waits until its goroutine has applied its
// last message.
func (m *mirror) stop() {
	m.ccMu.Lock()
	it, done := m.it, m.itDone
	m.it, m.itDone = nil, nil
	m.ccMu.Unlock()
	if it != nil {
		it.Stop()
		<-done
	}
}

// checkProgress is the mirror's watchdog. The ordered consumer normally
// recovers by itself from reconnects and sequence gaps, but when the server
// that hosted it is lost (cluster failover) it can stay silent. If the
// stream has moved past what the mirror applied and the mirror has not
// advanced for stallAfter, the consumer is recreated from the next sequence.
func (m *mirror) checkProgress(ctx context.Context, now time.Time) {
	const stallAfter = 3 * time.Second
	w := &m.watch
	m.mu.RLock()
	applied, ready := m.applied, m.isReady
	m.mu.RUnlock()
	if ready && applied != w.applied {
		// Messages are arriving: the consumer is alive, no need to ask.
		w.applied, w.since = applied, time.Time{}
		return
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	info, err := m.s.stream.Info(ictx)
	cancel()
	if err != nil {
		return
	}
	last := info.State.LastSeq
	switch {
	case !ready || applied >= last:
		w.since = time.Time{}
	case w.since.IsZero():
		w.since = now
	case now.Sub(w.since) >= stallAfter && last != w.restartedAt:
		m.s.log.Warn("mirror stalled; recreating its consumer", "applied", applied, "stream_last", last)
		m.stop()
		if err := m.consume(ctx, jetstream.DeliverByStartSequencePolicy, applied+1); err != nil {
			m.s.log.Warn("mirror consumer restart", "err", err)
			return
		}
		w.restartedAt, w.since = last, now
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

// onMsg applies one message from the ordered consumer.
func (m *mirror) onMsg(msg jetstream.Msg) {
	m.cmu.Lock()
	defer m.cmu.Unlock()
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	m.applyMsgs([]jetstream.Msg{msg})
	m.mu.RLock()
	live := m.isReady
	m.mu.RUnlock()
	if md.NumPending == 0 && !live {
		m.markReady()
		m.s.sweepOnce(context.Background())
	}
}

func (m *mirror) applyMsgs(msgs []jetstream.Msg) {
	var orphans []*entry
	now := time.Now()
	m.mu.Lock()
	for _, msg := range msgs {
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		if md.Sequence.Stream <= m.applied {
			// A replay (a restarted consumer overlapping the old one): the
			// mirror already holds this message's effect or a later one.
			continue
		}
		key := strings.TrimPrefix(msg.Subject(), m.s.prefix)
		if m.trace != nil {
			m.trace("consumer", key, md.Sequence.Stream, fmt.Sprintf("removal=%v", isRemoval(msg.Headers())))
		}
		if id, ok := rollForwardTxn(msg.Headers()); ok {
			m.committedBy(id, strings.Fields(msg.Headers().Get(removesHeader)), md.Sequence.Stream)
		}
		orphans = m.applyOne(key, md.Sequence.Stream, isRemoval(msg.Headers()), msg.Data(), now, orphans)
		m.applied = md.Sequence.Stream
	}
	m.mu.Unlock()
	m.rollbackAsync(orphans)
}

func (m *mirror) applyLocal(ops []localOp) {
	var orphans []*entry
	now := time.Now()
	m.mu.Lock()
	for _, op := range ops {
		if !op.remove && op.rev <= m.applied {
			// The consumer has delivered this sequence already, and with it
			// everything after it: applying the value now could resurrect a
			// tuple removed since (a slow refresh or a late acknowledgement).
			continue
		}
		if m.trace != nil {
			m.trace("local", op.key, op.rev, fmt.Sprintf("removal=%v", op.remove))
		}
		orphans = m.applyDecoded(op.key, op.rev, op.remove, op.data, op.env, op.tuple, now, orphans)
		if op.remove {
			m.tomb[op.key] = op.rev
		}
	}
	m.mu.Unlock()
	m.rollbackAsync(orphans)
}

// applyOne applies one change; m.mu is held. It returns orphans extended by
// claims whose transaction has ended without committing.
func (m *mirror) applyOne(key string, rev uint64, removal bool, data []byte, now time.Time, orphans []*entry) []*entry {
	return m.applyDecoded(key, rev, removal, data, nil, nil, now, orphans)
}

func (m *mirror) applyDecoded(key string, rev uint64, removal bool, data []byte, env *envelope, tuple tuplebroker.Tuple, now time.Time, orphans []*entry) []*entry {
	if t, ok := m.tomb[key]; ok && rev <= t {
		return orphans
	}
	if id, ok := strings.CutPrefix(key, txnPrefix+"."); ok {
		if cur, ok := m.txns[id]; ok && rev <= cur {
			return orphans
		}
		if c, ok := m.commits[id]; ok && rev <= c.rev {
			return orphans
		}
		if removal {
			delete(m.txns, id)
			if c, ok := m.commits[id]; ok {
				// Fully applied: anything still pending from it is stale.
				delete(m.commits, id)
				for _, w := range c.rec.Writes {
					if e, ok := m.entries[w.Key]; ok && e.pending && e.rev == c.rev {
						m.del(w.Key)
					}
				}
				return orphans
			}
			for _, e := range m.claims[id] {
				orphans = append(orphans, e)
			}
			return orphans
		}
		rec, err := decodeTxnRecord(data)
		if err != nil {
			m.s.log.Error("skipping corrupt transaction record", "key", key, "rev", rev, "err", err)
			return orphans
		}
		if rec.Committed {
			delete(m.txns, id)
			m.commits[id] = &committedTxn{id: id, rev: rev, rec: rec, seen: now}
			m.applyCommitted(rev, rec, now)
			return orphans
		}
		m.txns[id] = rev
		return orphans
	}
	if cur, ok := m.entries[key]; ok && rev <= cur.rev {
		return orphans
	}
	if removal {
		m.del(key)
		return orphans
	}
	kind, toks := splitKey(key)
	var err error
	if env == nil || tuple == nil {
		env, tuple, err = decodeEnvelope(data)
	}
	if err == nil && env.K != kind {
		err = ErrCorrupt
	}
	if err != nil {
		m.s.log.Error("skipping corrupt tuple", "key", key, "rev", rev, "err", err)
		m.del(key)
		return orphans
	}
	prev, had := m.entries[key]
	e := &entry{key: key, kind: kind, toks: toks, rev: rev, env: env, tuple: tuple}
	m.put(e)
	if env.C != "" {
		if _, open := m.txns[env.C]; !open && m.isReady {
			orphans = append(orphans, e)
		}
	} else if !env.expired(now) {
		m.wake(e)
		// A committed write was notified when its commit was applied;
		// its arrival in the bucket is not a second write.
		if !had || !prev.pending {
			m.notify(e)
		}
	}
	return orphans
}

// committedTxn is a committed transaction whose operations are not yet all
// in the bucket.
type committedTxn struct {
	id   string
	rev  uint64
	rec  *txnRecord
	seen time.Time
}

// applyCommitted makes a committed transaction's effect visible at once, as
// one step: its claims vanish and its writes appear (pending until the real
// write arrives). m.mu is held.
func (m *mirror) applyCommitted(rev uint64, rec *txnRecord, now time.Time) {
	for _, r := range rec.Removes {
		if m.trace != nil {
			cur, ok := m.entries[r.Key]
			var cr uint64
			if ok {
				cr = cur.rev
			}
			m.trace("commit", r.Key, rev, fmt.Sprintf("remove claim rev %d (mirror has %v rev %d)", r.Rev, ok, cr))
		}
		if cur, ok := m.entries[r.Key]; ok && cur.rev <= r.Rev {
			m.del(r.Key)
		}
		if m.tomb[r.Key] < r.Rev {
			m.tomb[r.Key] = r.Rev
		}
	}
	for _, w := range rec.Writes {
		if cur, ok := m.entries[w.Key]; ok && cur.rev >= rev {
			continue
		}
		env, tuple, err := decodeEnvelope(w.Data)
		kind, toks := splitKey(w.Key)
		if err != nil || env.K != kind {
			m.s.log.Error("skipping corrupt write in committed transaction", "key", w.Key, "err", err)
			continue
		}
		e := &entry{key: w.Key, kind: kind, toks: toks, rev: rev, env: env, tuple: tuple, pending: true}
		m.put(e)
		if !env.expired(now) {
			m.wake(e)
			m.notify(e)
		}
	}
}

func (m *mirror) put(e *entry) {
	m.del(e.key)
	m.entries[e.key] = e
	k := m.byKind[e.kind]
	if k == nil {
		k = map[string]*entry{}
		m.byKind[e.kind] = k
	}
	k[e.key] = e
	pos := m.byTok[e.kind]
	for len(pos) < len(e.toks) {
		pos = append(pos, map[string]map[string]*entry{})
	}
	m.byTok[e.kind] = pos
	for i, t := range e.toks {
		set := pos[i][t]
		if set == nil {
			set = map[string]*entry{}
			pos[i][t] = set
		}
		set[e.key] = e
	}
	if c := e.env.C; c != "" {
		if m.claims[c] == nil {
			m.claims[c] = map[string]*entry{}
		}
		m.claims[c][e.key] = e
	}
}

func (m *mirror) del(key string) {
	e, ok := m.entries[key]
	if !ok {
		return
	}
	delete(m.entries, key)
	delete(m.byKind[e.kind], key)
	pos := m.byTok[e.kind]
	for i, t := range e.toks {
		if i < len(pos) {
			if set := pos[i][t]; set != nil {
				delete(set, key)
				if len(set) == 0 {
					delete(pos[i], t)
				}
			}
		}
	}
	if c := e.env.C; c != "" {
		delete(m.claims[c], key)
		if len(m.claims[c]) == 0 {
			delete(m.claims, c)
		}
	}
}

func (m *mirror) get(key string) (*entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[key]
	return e, ok
}

// scan calls fn for the entries that may match tmpl, using the smallest
// token index the template fixes, until fn returns false.
func (m *mirror) scan(tmpl tuplebroker.Template, fn func(*entry) bool) {
	kind := string(tmpl.Kind())
	toks := templateTokens(tmpl)
	var set map[string]*entry
	fixed := 0
	for i, t := range toks {
		if t == "" {
			continue
		}
		fixed++
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
	if fixed == len(toks) && fixed > 0 {
		if e, ok := m.entries[kind+"."+strings.Join(toks, ".")]; ok {
			fn(e)
		}
		return
	}
	if set == nil {
		set = m.byKind[kind]
	}
	for _, e := range set { // map order is random: takers spread over candidates
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

func (m *mirror) first(tmpl tuplebroker.Template, now time.Time) *entry {
	var found *entry
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.scan(tmpl, func(e *entry) bool {
		if e.visible(now) && tmpl.Match(e.tuple) {
			found = e
			return false
		}
		return true
	})
	return found
}

// candidates returns up to limit visible matching entries not known stale.
func (m *mirror) candidates(tmpl tuplebroker.Template, now time.Time, limit int) []*entry {
	var out []*entry
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.scan(tmpl, func(e *entry) bool {
		if l, ok := m.lost[e.key]; (ok && l.rev == e.rev) || e.pending {
			return true
		}
		if e.visible(now) && tmpl.Match(e.tuple) {
			out = append(out, e)
		}
		return len(out) < limit
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

func (m *mirror) txnIDs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.txns))
	for id := range m.txns {
		out = append(out, id)
	}
	return out
}

func (m *mirror) commitIDs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.commits))
	for id := range m.commits {
		out = append(out, id)
	}
	return out
}

func (m *mirror) txnOpen(id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.txns[id]
	return ok
}

// markLost records that a CAS against e lost: the mirror is behind.
func (m *mirror) markLost(e *entry) {
	m.mu.Lock()
	m.lost[e.key] = lostMark{rev: e.rev, at: time.Now()}
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

// rollbackAsync restores claims of ended transactions in the background.
func (m *mirror) rollbackAsync(orphans []*entry) {
	if len(orphans) == 0 {
		return
	}
	var mine []*entry
	m.mu.Lock()
	for _, e := range orphans {
		id := e.key + "@" + strconv.FormatUint(e.rev, 10)
		if !m.rolling[id] {
			m.rolling[id] = true
			mine = append(mine, e)
		}
	}
	m.mu.Unlock()
	if len(mine) == 0 {
		return
	}
	m.s.wg.Add(1)
	go func() {
		defer m.s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		alive := map[string]bool{}
		for _, e := range mine {
			// The mirror may have missed the record (a watcher that falls
			// behind skips superseded revisions): only the server decides
			// that a transaction is gone.
			id := e.env.C
			a, known := alive[id]
			if !known {
				a = m.s.txnAlive(ctx, id)
				alive[id] = a
			}
			if a {
				continue
			}
			if err := m.s.restore(ctx, e); err != nil && !isWrongSeq(err) {
				m.s.log.Warn("rolling back claim of ended transaction", "key", e.key, "txn", e.env.C, "err", err)
			}
		}
		m.mu.Lock()
		for _, e := range mine {
			delete(m.rolling, e.key+"@"+strconv.FormatUint(e.rev, 10))
		}
		m.mu.Unlock()
	}()
}

// txnAlive reports whether transaction id's record is still in the bucket
// (open or committed). On doubt (the server cannot be asked) it says yes:
// a claim left alone is rolled back by a later sweep, one rolled back wrongly
// would break the transaction.
func (s *Space) txnAlive(ctx context.Context, id string) bool {
	msg, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+txnPrefix+"."+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	return !isRemoval(msg.Header)
}

// restore puts a claimed tuple back as it was before the claim (or removes it
// if its own lease ended meanwhile). It is a CAS on the claim's revision, so
// any number of processes may race to do it.
func (s *Space) restore(ctx context.Context, e *entry) error {
	orig := *e.env
	orig.C = ""
	orig.R++
	if orig.expired(time.Now()) {
		return s.remove(ctx, e.key, e.rev)
	}
	data, err := encodeEnvelope(&orig)
	if err != nil {
		return err
	}
	hdr := nats.Header{}
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(e.rev, 10))
	if orig.X != 0 {
		setTTL(hdr, time.Until(orig.expiry()))
	}
	rev, err := s.publish(ctx, e.key, data, hdr)
	if err != nil {
		return err
	}
	s.mirror.applyLocal([]localOp{{key: e.key, rev: rev, data: data}})
	return nil
}

func (s *Space) sweepLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.sweepOnce(ctx)
			s.mirror.checkProgress(ctx, now)
		}
	}
}

// sweepOnce rolls back claims whose transaction is gone, forgets local
// removals the watch has passed, and re-reads entries a CAS found stale.
func (s *Space) sweepOnce(ctx context.Context) {
	m := s.mirror
	var orphans []*entry
	var stale []string
	now := time.Now()
	m.mu.Lock()
	for id, set := range m.claims {
		if _, open := m.txns[id]; !open {
			for _, e := range set {
				orphans = append(orphans, e)
			}
		}
	}
	for k, rev := range m.tomb {
		if rev <= m.applied {
			delete(m.tomb, k)
		}
	}
	var stuck []*committedTxn
	for _, c := range m.commits {
		if now.Sub(c.seen) > rollForwardAfter && !m.rolling[c.id] {
			m.rolling[c.id] = true
			stuck = append(stuck, c)
		}
	}
	for k, l := range m.lost {
		e, ok := m.entries[k]
		switch {
		case !ok || e.rev != l.rev:
			delete(m.lost, k)
		case now.Sub(l.at) > s.cfg.SweepInterval:
			stale = append(stale, k)
			delete(m.lost, k)
		}
	}
	m.mu.Unlock()
	m.rollbackAsync(orphans)
	for _, c := range stuck {
		s.wg.Add(1)
		go func(c *committedTxn) {
			defer s.wg.Done()
			if err := s.rollForward(ctx, c.id, c.rev, c.rec, true); err != nil {
				s.log.Warn("finishing a committed transaction", "txn", c.id, "err", err)
			}
			m.mu.Lock()
			delete(m.rolling, c.id)
			m.mu.Unlock()
		}(c)
	}
	for _, k := range stale {
		s.refresh(ctx, k)
	}
}

// rollForwardAfter is how long a committed transaction may stay unapplied
// before any Space finishes it for its holder.
const rollForwardAfter = 3 * time.Second

// refresh re-reads one key from the server into the mirror.
func (s *Space) refresh(ctx context.Context, key string) {
	msg, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+key)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if e, ok := s.mirror.get(key); ok {
			s.mirror.applyLocal([]localOp{{key: key, rev: e.rev + 1, remove: true}})
		}
	case err != nil:
		s.log.Debug("refresh", "key", key, "err", err)
	default:
		s.mirror.applyLocal([]localOp{{key: key, rev: msg.Sequence, data: msg.Data, remove: isRemoval(msg.Header)}})
	}
}

// rollForwardTxn returns the transaction whose roll-forward published a
// message, from its message id ("<txn>-w<i>" or "<txn>-r<i>").
func rollForwardTxn(h nats.Header) (string, bool) {
	if h == nil {
		return "", false
	}
	id := h.Get(jetstream.MsgIDHeader)
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i+2 > len(id) || (id[i+1] != 'w' && id[i+1] != 'r') {
		return "", false
	}
	if _, err := strconv.Atoi(id[i+2:]); err != nil {
		return "", false
	}
	return id[:i], true
}

// committedBy applies what a roll-forward message (stream sequence seq)
// proves: transaction id committed, removing the keys listed. A consumer that falls behind skips superseded messages — the
// bucket keeps one revision per key — so it may never see the committed
// record; the record's roll-forward then tells it. The claims of id vanish
// before its first write appears, as they would with the record. m.mu is
// held.
func (m *mirror) committedBy(id string, removes []string, seq uint64) {
	if _, known := m.commits[id]; known {
		return // the committed record was applied
	}
	for key, e := range m.claims[id] {
		m.del(key)
		if m.tomb[key] < e.rev {
			m.tomb[key] = e.rev
		}
	}
	// Keys it removed that this mirror still holds in an older revision
	// (it missed the claim too).
	for _, key := range removes {
		if e, ok := m.entries[key]; ok && e.rev < seq && !e.pending {
			m.del(key)
			if m.tomb[key] < e.rev {
				m.tomb[key] = e.rev
			}
		}
	}
	delete(m.txns, id)
}
