package space

import (
	"context"
	"sync/atomic"

	"tuplebroker"
)

// notifyBuffer is how many notifications a Notify stream holds for a slow
// reader before it drops (and counts) further ones.
const notifyBuffer = 4096

// notifier is one Notify stream, fed by the mirror.
type notifier struct {
	kind    string
	toks    []string
	tmpl    tuplebroker.Template
	ch      chan tuplebroker.Tuple
	dropped atomic.Int64
}

// Notify streams the tuples matching tmpl that are written from now on, until
// ctx ends (the channel is then closed). Tuples put back by an aborted or
// expired transaction, and tuples rewritten (renewed, updated), are written
// again and so are notified again; a transaction's writes are notified once,
// when it commits. Only tuples are delivered, never removals or claims.
//
// Notify is served from this Space's mirror, which sees every change to the
// bucket: it costs no server round trip and no consumer, so a caller may
// open one per request. A reader that falls notifyBuffer tuples behind
// loses the excess (logged); use Entries or TryRead to catch up. The bucket
// keeps one revision per key, so a mirror that has fallen behind never sees
// a tuple that was written and taken (or rewritten) before it caught up:
// Notify is for tuples that stay, like published Responses, not a log of
// every write.
func (s *Space) Notify(ctx context.Context, tmpl tuplebroker.Template) (<-chan tuplebroker.Tuple, error) {
	if err := s.check(tmpl); err != nil {
		return nil, err
	}
	if err := s.live(); err != nil {
		return nil, err
	}
	n := &notifier{kind: string(tmpl.Kind()), toks: templateTokens(tmpl), tmpl: tmpl, ch: make(chan tuplebroker.Tuple, notifyBuffer)}
	m := s.mirror
	// A stream on one tuple (a factory waiting for its job's Response) is
	// found by key: a write costs nothing for the streams of other tuples.
	reg, at := m.notifiers, n.kind
	if key, ok := keyOf(n.kind, n.toks); ok {
		reg, at = m.keyNotifiers, key
	}
	m.waitMu.Lock()
	set := reg[at]
	if set == nil {
		set = map[*notifier]struct{}{}
		reg[at] = set
	}
	set[n] = struct{}{}
	m.waitMu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closed:
		}
		m.waitMu.Lock()
		delete(reg[at], n)
		if len(reg[at]) == 0 {
			delete(reg, at)
		}
		m.waitMu.Unlock()
		// No sender holds n after its removal (senders hold waitMu).
		close(n.ch)
		if d := n.dropped.Load(); d > 0 {
			s.log.Warn("notify: a slow reader lost notifications", "template", templateFilter(tmpl), "dropped", d)
		}
	}()
	return n.ch, nil
}

// notify delivers a newly visible entry to the matching Notify streams; it
// never blocks.
func (m *mirror) notify(e *entry) {
	m.waitMu.Lock()
	defer m.waitMu.Unlock()
	for _, set := range []map[*notifier]struct{}{m.notifiers[e.kind], m.keyNotifiers[e.key]} {
		for n := range set {
			if n.kind != e.kind || !tokensMatch(n.toks, e.toks) || !n.tmpl.Match(e.tuple) {
				continue
			}
			select {
			case n.ch <- cloneTuple(e.tuple):
			default:
				n.dropped.Add(1)
			}
		}
	}
}
