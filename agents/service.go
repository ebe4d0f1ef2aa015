package agents

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// Counters are an agent's running totals.
type Counters struct {
	// Submitted counts jobs handed to the backend (or adopted) and
	// committed; Pushed counts those of them that came through a courier.
	Submitted, Pushed atomic.Int64
	// Refused and Failed count submissions that went back to the space.
	Refused, Failed atomic.Int64
	// Ended counts jobs the agent ended Failed (rejected, invalid, too many
	// attempts).
	Ended atomic.Int64
}

func (c *Counters) count(n *atomic.Int64, pushed bool) {
	n.Add(1)
	if pushed {
		c.Pushed.Add(1)
	}
}

// Stats is a snapshot of an agent's counters and throttle.
type Stats struct {
	Agent                                     string
	Submitted, Pushed, Refused, Failed, Ended int64
	// Rate is the throttle's current rate, submissions per second.
	Rate float64
}

// Stats returns the agent's counters now.
func (a *Agent) Stats() Stats {
	a.thMu.Lock()
	rate := a.th.Rate()
	a.thMu.Unlock()
	c := &a.counters
	return Stats{Agent: a.cfg.Name, Submitted: c.Submitted.Load(), Pushed: c.Pushed.Load(),
		Refused: c.Refused.Load(), Failed: c.Failed.Load(), Ended: c.Ended.Load(), Rate: rate}
}

// Name is the agent's name.
func (a *Agent) Name() string { return a.cfg.Name }

// Status reports backend states for a manager node (bus.AgentService).
func (a *Agent) Status(ctx context.Context, backendJobIDs []string) (map[string]tuplebroker.Status, error) {
	st, ok := a.be.(Statuser)
	if !ok {
		return nil, fmt.Errorf("agent %s: backend %s reports no job states: %w", a.cfg.Name, a.be.Name(), tuplebroker.ErrUnavailable)
	}
	out, err := st.Status(ctx, backendJobIDs)
	if err != nil {
		return nil, fmt.Errorf("agent %s: status: %w", a.cfg.Name, err)
	}
	return out, nil
}

// Cancel cancels one backend job (bus.AgentService).
func (a *Agent) Cancel(ctx context.Context, backendJobID string) error {
	c, ok := a.be.(Canceller)
	if !ok {
		return fmt.Errorf("agent %s: backend %s cannot cancel: %w", a.cfg.Name, a.be.Name(), tuplebroker.ErrConflict)
	}
	if err := c.Cancel(ctx, backendJobID); err != nil {
		return fmt.Errorf("agent %s: cancel %s: %w", a.cfg.Name, backendJobID, err)
	}
	return nil
}

// ErrNoSlot: a push arrived while every courier slot is busy.
var ErrNoSlot = errors.New("no free courier slot")

// Push takes the pushed request now, outside the throttle: the courier the
// factory holds was this agent's promise of a free slot (bus.AgentService).
// It returns once the request is handled (submitted and committed, or back
// in the space); an error means the factory should leave the request to
// pull, where it already is.
func (a *Agent) Push(ctx context.Context, guid, class string, slot int) error {
	if a.cfg.Couriers == 0 {
		return fmt.Errorf("agent %s: push: %w", a.cfg.Name, ErrNoSlot)
	}
	select {
	case a.pushes <- struct{}{}:
	default:
		return fmt.Errorf("agent %s: push %s: %w: %w", a.cfg.Name, guid, tuplebroker.ErrRefused, ErrNoSlot)
	}
	defer func() {
		<-a.pushes
		// The slot is free again: offer its courier at once.
		select {
		case a.freed <- slot:
		default:
		}
	}()
	if err := a.handleOne(ctx, pushed{guid: guid, class: class, servable: a.tmpl}, true); err != nil {
		return fmt.Errorf("agent %s: push %s: %w", a.cfg.Name, guid, err)
	}
	return nil
}

// pushed selects one pushed request, if the agent can serve it.
type pushed struct {
	guid, class string
	servable
}

func (p pushed) Index() []string { return []string{p.class, p.guid} }

func (p pushed) Match(t tuplebroker.Tuple) bool {
	r, ok := t.(*tuplebroker.Request)
	return ok && r.GUID == p.guid && p.servable.serves(r)
}

// advertise announces the agent's advert until ctx ends, then withdraws it.
func (a *Agent) advertise(ctx context.Context) {
	ad := tuplebroker.Advert{Agent: a.cfg.Name, Backend: a.be.Name(), Capabilities: a.be.Capabilities(),
		Address: a.cfg.Address, Workers: a.cfg.Workers, Couriers: a.cfg.Couriers}
	t := time.NewTicker(a.cfg.AdvertEvery)
	defer t.Stop()
	for {
		if err := a.cfg.Names.Advertise(ctx, ad); err != nil && ctx.Err() == nil {
			a.cfg.Logger.Warn("agent: advert", "agent", a.cfg.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			// The advert stays: matchmaking asks what the pool can ever
			// serve, and a stopped agent is still part of the pool until
			// its advert ages out of the names (space.NameRetention).
			return
		case <-t.C:
		}
	}
}

// offerCouriers keeps one courier tuple in the space per free courier slot
// until ctx ends, then withdraws them. A courier is rewritten (fresh
// Expires) at a third of its lease; one a factory has taken stays out of the
// pool until its Expires, the time the factory may hold it.
func (a *Agent) offerCouriers(ctx context.Context) {
	type slot struct {
		lease   *space.Lease
		takenTo time.Time
	}
	slots := make([]slot, a.cfg.Couriers)
	t := time.NewTicker(a.cfg.CourierLease / 3)
	defer t.Stop()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		for _, s := range slots {
			if s.lease != nil {
				_ = a.sp.Cancel(cctx, *s.lease)
			}
		}
	}()
	for {
		now := time.Now()
		busy := len(a.pushes)
		if l, ok := a.be.(Loader); ok {
			// Offer no more couriers than the backend has free slots.
			busy = max(busy, a.cfg.Couriers-l.Free())
		}
		for i := range slots {
			s := &slots[i]
			c := &tuplebroker.Courier{Agent: a.cfg.Name, Slot: i, Address: a.cfg.Address,
				Capabilities: a.be.Capabilities(), Expires: now.Add(a.cfg.CourierLease).UTC()}
			if s.lease != nil {
				l, err := a.sp.Update(ctx, *s.lease, c, a.cfg.CourierLease)
				if err == nil {
					s.lease = &l
					continue
				}
				if ctx.Err() != nil {
					return
				}
				// Taken by a factory (or lost): the slot is the factory's
				// until the courier's Expires.
				s.takenTo = s.lease.Expires
				s.lease = nil
			}
			if now.Before(s.takenTo) || i >= a.cfg.Couriers-busy {
				continue
			}
			l, err := a.sp.Write(ctx, c, a.cfg.CourierLease)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, space.ErrExists) { // a dead predecessor's courier: it expires
					a.cfg.Logger.Warn("agent: offer courier", "agent", a.cfg.Name, "slot", i, "err", err)
				}
				continue
			}
			s.lease = &l
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case i := <-a.freed:
			// The factory that took slot i's courier has used it.
			if i >= 0 && i < len(slots) {
				slots[i] = slot{}
			}
		}
	}
}
