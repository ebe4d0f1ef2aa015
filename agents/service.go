package agents

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"tuplebroker"
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

// advertise announces the agent's advert every AdvertEvery until ctx ends.
// The advert is not withdrawn when the agent stops: it ages out of the
// names (space.NameRetention).
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
