package factory

import (
	"fmt"
	"strings"
	"time"

	"tuplebroker"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// advertUp is how old an agent's advert may be for the agent to count as up
// (agents announce every 10 s by default).
const advertUp = 30 * time.Second

// pendingFacts is what a factory knows about a job still queued as a
// Request.
type pendingFacts struct {
	Claimed      bool
	ClaimedUntil time.Time
	Queue        space.QueueInfo
	Queued       bool // Queue is set
	Requirements []string
	Adverts      []tuplebroker.Advert
	Now          time.Time
}

// whyPending says why a queued job waits, in a user's words. A pure
// function of what the factory observed.
func whyPending(f pendingFacts) string {
	if f.Claimed {
		s := "an agent has taken it and is submitting it"
		if !f.ClaimedUntil.IsZero() {
			if f.ClaimedUntil.Before(f.Now) {
				s += fmt.Sprintf("; its hold ended %s ago and the job goes back to the queue", f.Now.Sub(f.ClaimedUntil).Round(time.Second))
			} else {
				s += fmt.Sprintf(" (held until %s)", f.ClaimedUntil.UTC().Format(time.RFC3339))
			}
		}
		return s
	}
	var up [][]string
	for _, a := range f.Adverts {
		if f.Now.Sub(a.Seen) <= advertUp {
			up = append(up, a.Capabilities)
		}
	}
	if u := strategies.Unmet(f.Requirements, up); u != nil || len(up) == 0 {
		if len(f.Requirements) == 0 || len(up) == 0 {
			return "no agent is up to take it; it waits in the queue until one is"
		}
		return "no agent offering " + strings.Join(f.Requirements, ", ") + " is up; it waits in the queue until one is"
	}
	if f.Queued {
		switch f.Queue.Ahead {
		case 0:
			return "next in the queue for the agents that can run it"
		case 1:
			return "queued: about 1 job goes before it"
		}
		return fmt.Sprintf("queued: about %d jobs go before it (%d queued with the same requirements)", f.Queue.Ahead, f.Queue.ClassDepth)
	}
	return "queued"
}
