package sim

import (
	"context"
	"sync"
	"time"
)

// Clock is the Backend's time source: Now for job times and the rate
// window, Sleep for the submission round trip.
type Clock interface {
	Now() time.Time
	// Sleep returns nil once d has passed on this clock, or ctx.Err() if
	// ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is real time.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d of real time or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FakeClock is a Clock that moves only when told to, for deterministic
// tests. It is safe for concurrent use.
type FakeClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[*sleeper]struct{}
	changed  chan struct{} // closed and replaced whenever sleepers change
}

type sleeper struct {
	at   time.Time
	wake chan struct{}
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, sleepers: map[*sleeper]struct{}{}, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep blocks until the clock has been advanced by d, or ctx ends.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	c.mu.Lock()
	s := &sleeper{at: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers[s] = struct{}{}
	c.notifyLocked()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.sleepers[s]; !ok { // woken meanwhile: the sleep is over
			return nil
		}
		delete(c.sleepers, s)
		c.notifyLocked()
		return ctx.Err()
	}
}

// Advance moves the clock forward by d (a negative d is ignored) and wakes
// every sleeper due by then.
func (c *FakeClock) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t if t is later, and wakes every sleeper due by
// then.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.setLocked(t)
	}
}

// AdvanceToNext moves the clock to the earliest sleeper's wake-up time and
// wakes the sleepers due then. It returns the new time, or false (and does
// nothing) if nobody sleeps.
func (c *FakeClock) AdvanceToNext() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	found := false
	for s := range c.sleepers {
		if !found || s.at.Before(next) {
			next, found = s.at, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	if next.After(c.now) {
		c.setLocked(next)
	} else {
		c.setLocked(c.now)
	}
	return c.now, true
}

func (c *FakeClock) setLocked(t time.Time) {
	c.now = t
	woke := false
	for s := range c.sleepers {
		if !s.at.After(t) {
			close(s.wake)
			delete(c.sleepers, s)
			woke = true
		}
	}
	if woke {
		c.notifyLocked()
	}
}

func (c *FakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Sleepers returns how many goroutines are blocked in Sleep.
func (c *FakeClock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// WaitSleepers blocks until at least n goroutines are blocked in Sleep, or
// ctx ends.
func (c *FakeClock) WaitSleepers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have, changed := len(c.sleepers), c.changed
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
