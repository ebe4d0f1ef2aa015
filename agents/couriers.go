package agents

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// Where Couriers are born and retired: offerCouriers keeps one in the
// space per free courier slot and withdraws them when the agent stops; a
// factory takes one and pushes through it (Push), and the slot is offered
// again once the push ends.

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
		cctx, cancel := tuplebroker.FinishContext(ctx, tuplebroker.StopGrace)
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
