package space

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Recovery: a claimed tuple whose claim lease has ended (its taker died or
// stopped renewing) is put back by whichever Space's sweep sees it first,
// with a compare-and-set on the claim's revision, so exactly one restore (or
// the holder's commit) wins. The sweep also re-reads keys whose CAS lost
// while the mirror still shows the old revision, and forgets local removals
// the consumer has passed.

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

// sweepOnce restores claims whose lease ended, prunes tombstones, and
// refreshes entries a CAS found stale.
func (s *Space) sweepOnce(ctx context.Context) {
	m := s.mirror
	now := time.Now()
	cut := now.Add(-s.cfg.ClaimGrace).UnixNano()
	var expired []*entry
	var stale []string
	m.mu.Lock()
	for _, e := range m.claims {
		if e.env.L != 0 && e.env.L <= cut && !m.restoring[e.key] {
			m.restoring[e.key] = true // one restore at a time per key here
			expired = append(expired, e)
		}
	}
	for k, rev := range m.tomb {
		if rev <= m.applied {
			delete(m.tomb, k)
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
	if len(expired) > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			for _, e := range expired {
				if err := s.restore(rctx, e); err != nil && !isWrongSeq(err) && rctx.Err() == nil {
					s.log.Warn("restoring a tuple whose claim expired", "key", e.key, "txn", e.env.C, "err", err)
				}
				m.mu.Lock()
				delete(m.restoring, e.key)
				m.mu.Unlock()
			}
		}()
	}
	for _, k := range stale {
		s.refresh(ctx, k)
	}
}

// restore puts a claimed tuple back as it was before the claim, counting the
// return (or removes it if its own lease ended meanwhile). It is a CAS on
// the claim's revision: any number of processes may race to do it.
func (s *Space) restore(ctx context.Context, e *entry) error {
	orig := *e.env
	orig.C, orig.L = "", 0
	orig.R++
	if orig.expired(time.Now()) {
		return s.remove(ctx, e.key, e.rev)
	}
	env, data, err := encodeWith(e.tuple, &orig)
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
	s.mirror.applyLocal([]change{{key: e.key, rev: rev, env: env, tuple: cloneTuple(e.tuple)}})
	return nil
}

// refresh re-reads one key from the server into the mirror.
func (s *Space) refresh(ctx context.Context, key string) {
	msg, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+key)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if e, ok := s.mirror.get(key); ok {
			s.mirror.applyLocal([]change{{key: key, rev: e.rev + 1, remove: true}})
		}
	case err != nil:
		s.log.Debug("refresh", "key", key, "err", err)
	default:
		s.mirror.applyLocal([]change{{key: key, rev: msg.Sequence, data: msg.Data, remove: isRemoval(msg.Header)}})
	}
}
