package space

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The consumer feeds the mirror: one ordered consumer over the bucket,
// pulled by a single goroutine so messages apply strictly in stream order,
// with a watchdog that recreates it when it stalls (a lost server). The
// messages of one atomic batch (a multi-key commit, batchHeader) are held
// back until the batch is complete and then applied in one step, so no
// reader of the mirror sees part of a commit.

type consumerState struct {
	mu     sync.Mutex
	it     jetstream.MessagesContext
	itDone chan struct{}

	// the batch being assembled (consumer goroutine only)
	batchID string
	batch   []change

	// watchdog state, touched only by the sweep loop
	wApplied, wRestartedAt uint64
	wSince                 time.Time
}

func (m *mirror) start(ctx context.Context) error {
	info, err := m.s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("open space: stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		m.markReady()
	}
	return m.consume(ctx, jetstream.DeliverLastPerSubjectPolicy, 0)
}

// consume (re)starts the ordered consumer.
func (m *mirror) consume(ctx context.Context, policy jetstream.DeliverPolicy, from uint64) error {
	cons, err := m.s.js.OrderedConsumer(ctx, "KV_"+m.s.cfg.Bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{m.s.prefix + ">"},
		DeliverPolicy:  policy,
		OptStartSeq:    from,
	})
	if err != nil {
		return fmt.Errorf("mirror consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("mirror consumer: %w", err)
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
	cs := &m.consumerState
	cs.mu.Lock()
	cs.it, cs.itDone = it, done
	cs.mu.Unlock()
	return nil
}

// stop stops the consumer and waits until its goroutine has applied its
// last message.
func (m *mirror) stop() {
	cs := &m.consumerState
	cs.mu.Lock()
	it, done := cs.it, cs.itDone
	cs.it, cs.itDone = nil, nil
	cs.mu.Unlock()
	if it != nil {
		it.Stop()
		<-done
	}
}

// onMsg applies one message, or holds it while its batch is incomplete.
func (m *mirror) onMsg(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	h := msg.Headers()
	ch := change{key: strings.TrimPrefix(msg.Subject(), m.s.prefix), rev: seq, remove: isRemoval(h), data: msg.Data()}
	cs := &m.consumerState
	id, i, n := parseBatch(h.Get(batchHeader))
	if cs.batchID != "" && id != cs.batchID {
		// The rest of the held batch was superseded before this consumer
		// read it (the bucket keeps one revision per key): apply what came.
		m.applyConsumed(cs.batch, seq-1)
		cs.batchID, cs.batch = "", nil
	}
	if id != "" && i < n {
		cs.batchID = id
		cs.batch = append(cs.batch, ch)
		return
	}
	chs := append(cs.batch, ch)
	cs.batchID, cs.batch = "", nil
	m.applyConsumed(chs, seq)
	if md.NumPending == 0 {
		m.mu.RLock()
		live := m.isReady
		m.mu.RUnlock()
		if !live {
			m.markReady()
			m.s.sweepOnce(context.Background())
		}
	}
}

// applyConsumed applies messages from the consumer as one step; through is
// the last stream sequence they account for.
func (m *mirror) applyConsumed(chs []change, through uint64) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range chs {
		if ch.rev <= m.applied {
			// A replay (a restarted consumer overlapping the old one).
			continue
		}
		if m.trace != nil {
			m.trace("consumer", ch.key, ch.rev, fmt.Sprintf("removal=%v", ch.remove))
		}
		m.apply(ch, now)
	}
	if through > m.applied {
		m.applied = through
	}
}

// batchHeader marks each message of a multi-key commit: "<id> <i> <n>".
const batchHeader = "Tb-Batch"

func batchValue(id string, i, n int) string {
	return id + " " + strconv.Itoa(i) + " " + strconv.Itoa(n)
}

func parseBatch(v string) (id string, i, n int) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return "", 0, 0
	}
	i, err1 := strconv.Atoi(f[1])
	n, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || i < 1 || i > n {
		return "", 0, 0
	}
	return f[0], i, n
}

// checkProgress is the consumer's watchdog. The ordered consumer normally
// recovers by itself from reconnects and sequence gaps, but when the server
// that hosted it is lost (cluster failover) it can stay silent. If the
// stream has moved past what the mirror applied and the mirror has not
// advanced for stallAfter, the consumer is recreated from the next sequence.
func (m *mirror) checkProgress(ctx context.Context, now time.Time) {
	const stallAfter = 3 * time.Second
	cs := &m.consumerState
	m.mu.RLock()
	applied, ready := m.applied, m.isReady
	m.mu.RUnlock()
	if ready && applied != cs.wApplied {
		cs.wApplied, cs.wSince = applied, time.Time{}
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
		cs.wSince = time.Time{}
	case cs.wSince.IsZero():
		cs.wSince = now
	case now.Sub(cs.wSince) >= stallAfter && last != cs.wRestartedAt:
		m.s.log.Warn("mirror stalled; recreating its consumer", "applied", applied, "stream_last", last)
		m.stop()
		if err := m.consume(ctx, jetstream.DeliverByStartSequencePolicy, applied+1); err != nil {
			m.s.log.Warn("mirror consumer restart", "err", err)
			return
		}
		cs.wRestartedAt, cs.wSince = last, now
	}
}
