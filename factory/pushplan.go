package factory

import (
	"errors"
	"slices"
	"time"

	"tuplebroker"
	"tuplebroker/strategies"
)

// The factory's push decisions, as pure functions of what it observes,
// its strategy and the time; accept, acquire, takeCourier and pushAsync
// (couriers.go) carry them out. Whether to push at all is the strategy's
// (strategies.FactoryStrategy).

// courierMargin is how much lease a courier must have left to be used: the
// push must reach the agent before the slot is offered again.
const courierMargin = time.Second

// maxCourierTries is how many agents' couriers one job tries to take.
const maxCourierTries = 4

// covers reports whether a courier's capabilities include every requirement.
func covers(c *tuplebroker.Courier, reqs []string) bool {
	for _, r := range reqs {
		if !slices.Contains(c.Capabilities, r) {
			return false
		}
	}
	return true
}

// usable reports whether c has lease enough left, at now, to carry a push.
func usable(c *tuplebroker.Courier, now time.Time) bool {
	return c.Expires.After(now.Add(courierMargin))
}

// fits reports whether c can carry a job with requirements reqs at now.
func fits(c *tuplebroker.Courier, reqs []string, now time.Time) bool {
	return usable(c, now) && covers(c, reqs)
}

// pushFallback reports whether a job is pulled for want of a courier: no
// courier was found (gotCourier false) though the strategy pushed it
// (dec), or would have pushed it had one been free.
func pushFallback(st strategies.FactoryStrategy, priority int, sup strategies.Supply, dec strategies.Decision, gotCourier bool) bool {
	if gotCourier {
		return false
	}
	return dec.Push || st.Decide(priority, strategies.Supply{Free: 1, RecentPushFailures: sup.RecentPushFailures}).Push
}

// pickHeld is the index in held of the first courier that can carry a job
// with requirements reqs at now, or -1.
func pickHeld(held []*tuplebroker.Courier, reqs []string, now time.Time) int {
	return slices.IndexFunc(held, func(c *tuplebroker.Courier) bool { return fits(c, reqs, now) })
}

// seenCourier is a courier in this factory's view of the space.
type seenCourier struct {
	c       *tuplebroker.Courier
	claimed bool // a transaction holds it
}

// courierAgents lists, in the order to try them, the agents to take a
// courier from for a job with requirements reqs: each agent with an
// unclaimed courier that fits at now, once, in the order shuffle leaves
// them (rand.Shuffle spreads factories over agents), at most
// maxCourierTries.
func courierAgents(seen []seenCourier, reqs []string, now time.Time, shuffle func(n int, swap func(i, j int))) []string {
	var agents []string
	for _, s := range seen {
		if !s.claimed && fits(s.c, reqs, now) && !slices.Contains(agents, s.c.Agent) {
			agents = append(agents, s.c.Agent)
		}
	}
	shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	if len(agents) > maxCourierTries {
		agents = agents[:maxCourierTries]
	}
	return agents
}

// retryPush reports whether a failed push is tried once more: the agent
// answered (err is not ErrUnavailable) and the request is still queued
// with no agent holding it — the agent's view of the space may have lagged
// this factory's write by milliseconds.
func retryPush(err error, queued bool) bool {
	return err != nil && !errors.Is(err, tuplebroker.ErrUnavailable) && queued
}
