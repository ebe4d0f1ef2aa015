package factory

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"tuplebroker"
	"tuplebroker/bus"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// courierPool is the couriers a factory holds greedily, and its recent push
// failures.
type courierPool struct {
	mu       sync.Mutex
	held     []*tuplebroker.Courier
	failures []time.Time
}

// pruneLocked drops held couriers about to expire; cour.mu is held. Their
// slots go back to their agents when they expire.
func (p *courierPool) pruneLocked(now time.Time) {
	p.held = slices.DeleteFunc(p.held, func(c *tuplebroker.Courier) bool { return !usable(c, now) })
}

// supply is what the strategy sees for a job with these requirements: the
// couriers held, the free ones in the space that could carry the job, and
// the recent push failures.
func (f *Factory) supply(reqs []string, now time.Time) strategies.Supply {
	free := 0
	for _, e := range f.sp.Entries(tuplebroker.CourierTemplate{}) {
		if c, ok := e.Tuple.(*tuplebroker.Courier); ok && e.ClaimedBy == "" && fits(c, reqs, now) {
			free++
		}
	}
	p := &f.cour
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	cutoff := now.Add(-f.cfg.PushFailureWindow)
	p.failures = slices.DeleteFunc(p.failures, func(t time.Time) bool { return t.Before(cutoff) })
	return strategies.Supply{Held: len(p.held), Free: free, RecentPushFailures: len(p.failures)}
}

func (f *Factory) notePushFailure() {
	f.stats.pushFailures.Add(1)
	p := &f.cour
	p.mu.Lock()
	p.failures = append(p.failures, time.Now())
	p.mu.Unlock()
}

// acquire returns a courier that can carry a job with these requirements:
// a held one, else one taken from the space; nil if there is none.
func (f *Factory) acquire(ctx context.Context, reqs []string) *tuplebroker.Courier {
	now := time.Now()
	p := &f.cour
	p.mu.Lock()
	p.pruneLocked(now)
	if i := pickHeld(p.held, reqs, now); i >= 0 {
		c := p.held[i]
		p.held = slices.Delete(p.held, i, i+1)
		p.mu.Unlock()
		return c
	}
	p.mu.Unlock()
	return f.takeCourier(ctx, reqs)
}

// takeCourier takes a free courier that covers reqs from the space: it
// picks an agent among the fitting couriers it sees, takes one of that
// agent's couriers, and puts it back if it turns out not to fit.
func (f *Factory) takeCourier(ctx context.Context, reqs []string) *tuplebroker.Courier {
	var seen []seenCourier
	for _, e := range f.sp.Entries(tuplebroker.CourierTemplate{}) {
		if c, ok := e.Tuple.(*tuplebroker.Courier); ok {
			seen = append(seen, seenCourier{c: c, claimed: e.ClaimedBy != ""})
		}
	}
	for _, a := range courierAgents(seen, reqs, time.Now(), rand.Shuffle) {
		t, err := f.sp.TryTake(ctx, tuplebroker.CourierTemplate{Agent: a})
		if err != nil {
			if !errors.Is(err, space.ErrNoMatch) && ctx.Err() == nil {
				f.cfg.Logger.Warn("factory: take courier", "agent", a, "err", err)
			}
			continue
		}
		c := t.(*tuplebroker.Courier)
		if fits(c, reqs, time.Now()) {
			return c
		}
		f.release(ctx, c)
	}
	return nil
}

// release writes a courier back to the space with the lease it has left;
// one about to expire is dropped (its slot returns to its agent anyway).
func (f *Factory) release(ctx context.Context, c *tuplebroker.Courier) {
	left := time.Until(c.Expires)
	if left < courierMargin {
		return
	}
	if _, err := f.sp.Write(ctx, c, left); err != nil && !errors.Is(err, space.ErrExists) {
		f.cfg.Logger.Warn("factory: release courier", "agent", c.Agent, "slot", c.Slot, "err", err)
	}
}

// rebalance keeps keep couriers: it releases the surplus and takes more
// from the space while free ones remain.
func (f *Factory) rebalance(ctx context.Context, keep int) {
	if f.closed.Load() {
		keep = 0 // Close has released (or is releasing) the couriers
	}
	p := &f.cour
	p.mu.Lock()
	p.pruneLocked(time.Now())
	var surplus []*tuplebroker.Courier
	if len(p.held) > keep {
		surplus = slices.Clone(p.held[keep:])
		p.held = p.held[:keep]
	}
	deficit := keep - len(p.held)
	p.mu.Unlock()
	for _, c := range surplus {
		f.release(ctx, c)
	}
	for ; deficit > 0; deficit-- {
		c := f.takeCourier(ctx, nil)
		if c == nil {
			return
		}
		p.mu.Lock()
		if len(p.held) < keep {
			p.held = append(p.held, c)
			c = nil
		}
		p.mu.Unlock()
		if c != nil { // another request filled the quota meanwhile
			f.release(ctx, c)
			return
		}
	}
}

// releaseAll writes every held courier back.
func (f *Factory) releaseAll(ctx context.Context) {
	p := &f.cour
	p.mu.Lock()
	held := p.held
	p.held = nil
	p.mu.Unlock()
	for _, c := range held {
		f.release(ctx, c)
	}
}

// pushAsync pushes the request (already written, reserved for the
// courier's agent) in the background: the agent answers once it has
// submitted the job, which the POST does not wait for. A failed push
// un-reserves the request so that any agent may pull it.
//
// ctx bounds the un-reserving and releasing when the factory is closing and
// the push does not start.
func (f *Factory) pushAsync(ctx context.Context, c *tuplebroker.Courier, req *tuplebroker.Request) {
	class := req.Requirements.Class()
	started := f.background(func() {
		ctx, cancel := context.WithTimeout(f.ctx, f.cfg.PushTimeout)
		defer cancel()
		p := bus.Push{GUID: req.GUID, Class: class, Slot: c.Slot}
		err := f.push.PushTo(ctx, c.Address, p)
		if err != nil && retryPush(err, f.queued(req.GUID)) {
			// The agent's view of the space may not hold the request yet
			// (its mirror lags ours by milliseconds): try once more.
			select {
			case <-time.After(pushRetryDelay):
				err = f.push.PushTo(ctx, c.Address, p)
			case <-ctx.Done():
			}
		}
		if err == nil {
			f.stats.pushed.Add(1)
			return
		}
		// Only a push that left the request where it was is a failure:
		// if an agent has it (this one's own pull worker may have been
		// faster than the push), the job is on its way.
		if f.unreserve(f.ctx, req.GUID, class) {
			f.notePushFailure()
			f.cfg.Logger.Info("factory: push failed, job left to pull", "guid", req.GUID, "agent", c.Agent, "err", err)
		}
	})
	if !started { // closing: leave the job to pull, the courier to its agent
		f.unreserve(ctx, req.GUID, class)
		f.release(ctx, c)
	}
}

// pushRetryDelay is the pause before a failed push is tried again.
const pushRetryDelay = 200 * time.Millisecond

// queued reports whether the request is in the space and no agent holds it.
func (f *Factory) queued(guid string) bool {
	t := f.lookup(guid)
	return t.request != nil && !t.claimed
}

// unreserve rewrites the request with no PushedTo, in a transaction, and
// reports whether it did; a request already gone or claimed is an agent's.
// It runs on after ctx ends, for StopGrace at most: a request left reserved
// is anyone's anyway once its push window ends.
func (f *Factory) unreserve(ctx context.Context, guid, class string) bool {
	ctx, cancel := tuplebroker.FinishContext(ctx, 10*time.Second)
	defer cancel()
	tx, err := f.sp.Begin(ctx, 5*time.Second)
	if err != nil {
		f.cfg.Logger.Warn("factory: un-reserve pushed request", "guid", guid, "err", err)
		return false
	}
	t, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{Class: class, GUID: guid})
	if err != nil {
		_ = tx.Abort(ctx)
		if !errors.Is(err, space.ErrNoMatch) {
			f.cfg.Logger.Warn("factory: un-reserve pushed request", "guid", guid, "err", err)
		}
		return false
	}
	req := t.(*tuplebroker.Request)
	req.PushedTo = ""
	if err := tx.Write(req, space.Forever); err != nil {
		_ = tx.Abort(ctx)
		f.cfg.Logger.Warn("factory: un-reserve pushed request", "guid", guid, "err", err)
		return true
	}
	if err := tx.Commit(ctx); err != nil {
		// Rolled back: the request is there still, reserved until its
		// push window ends, then anyone's.
		f.cfg.Logger.Warn("factory: un-reserve pushed request", "guid", guid, "err", err)
	}
	return true
}

// advertTTL is how long the agents' adverts are cached for matchmaking.
const advertTTL = 2 * time.Second

// advertCache holds the capability sets of the pool's agents.
type advertCache struct {
	mu   sync.Mutex
	at   time.Time
	sets [][]string
}

// capabilitySets returns the agents' capability sets, at most maxAge old.
func (f *Factory) capabilitySets(ctx context.Context, maxAge time.Duration) ([][]string, error) {
	c := &f.adverts
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) <= maxAge {
		return c.sets, nil
	}
	ads, err := f.names.Adverts(ctx)
	if err != nil {
		return nil, err
	}
	sets := make([][]string, 0, len(ads))
	for _, a := range ads {
		sets = append(sets, a.Capabilities)
	}
	c.sets, c.at = sets, time.Now()
	return sets, nil
}

// unmet returns the requirements no agent of the pool offers (nil: the job
// is servable). A negative answer from the cache is checked once more
// against fresh adverts, so that a new agent is seen at once.
func (f *Factory) unmet(ctx context.Context, reqs []string) ([]string, error) {
	sets, err := f.capabilitySets(ctx, advertTTL)
	if err != nil {
		return nil, err
	}
	u := strategies.Unmet(reqs, sets)
	if u == nil {
		return nil, nil
	}
	if sets, err = f.capabilitySets(ctx, 100*time.Millisecond); err != nil {
		return nil, err
	}
	return strategies.Unmet(reqs, sets), nil
}
