package jobmanager

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"tuplebroker"
)

// outbox delivers job events to Events in the order they were queued,
// from one goroutine, so that a slow Events never holds the node's lock.
type outbox struct {
	events Events
	log    *slog.Logger

	mu    sync.Mutex
	queue []tuplebroker.Job
	wake  chan struct{}
}

func newOutbox(ev Events, log *slog.Logger) *outbox {
	return &outbox{events: ev, log: log, wake: make(chan struct{}, 1)}
}

// put queues one event; it never blocks.
func (o *outbox) put(j tuplebroker.Job) {
	o.mu.Lock()
	o.queue = append(o.queue, j)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run publishes queued events until ctx ends; events still queued then are
// dropped (followers can always ask for the current state).
func (o *outbox) run(ctx context.Context) {
	var batch []tuplebroker.Job
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		}
		o.mu.Lock()
		batch, o.queue = o.queue, batch[:0]
		o.mu.Unlock()
		for _, j := range batch {
			if err := o.events.PublishEvent(j); err != nil && ctx.Err() == nil {
				o.log.Debug("jobmanager: publish event", "job", j.ID, "err", err)
			}
		}
		clear(batch)
	}
}

// rateMeter estimates events per second over the last rateWindow seconds,
// in one-second buckets.
type rateMeter struct {
	mu      sync.Mutex
	buckets [rateWindow]int64
	sec     int64 // the Unix second of the newest bucket
	start   time.Time
}

const rateWindow = 10

func newRateMeter(now time.Time) *rateMeter { return &rateMeter{sec: now.Unix(), start: now} }

// advance moves the window to now's second; r.mu is held.
func (r *rateMeter) advance(now time.Time) {
	s := now.Unix()
	if s <= r.sec {
		return
	}
	for i := r.sec + 1; i <= s && i <= r.sec+rateWindow; i++ {
		r.buckets[i%rateWindow] = 0
	}
	r.sec = s
}

func (r *rateMeter) add(now time.Time, n int64) {
	r.mu.Lock()
	r.advance(now)
	r.buckets[r.sec%rateWindow] += n
	r.mu.Unlock()
}

// rate is events per second over the window (or since the start, if that
// is shorter).
func (r *rateMeter) rate(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(now)
	var sum int64
	for _, b := range r.buckets {
		sum += b
	}
	span := min(now.Sub(r.start).Seconds(), rateWindow)
	if span < 1 {
		span = 1
	}
	return float64(sum) / span
}
