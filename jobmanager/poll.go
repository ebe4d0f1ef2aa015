package jobmanager

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"tuplebroker"
)

// kick asks for a poll of agent now, not at the next interval.
func (n *Node) kick(agent string) {
	select {
	case n.kicks <- agent:
	default: // the next tick polls it
	}
}

func (n *Node) pollLoop(ctx context.Context, wg *sync.WaitGroup) {
	t := time.NewTicker(n.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.dropMoved()
			n.pollAll(ctx, wg)
		case a := <-n.kicks:
			n.startPoll(ctx, wg, a)
		}
	}
}

// pollAll starts a poll of every agent with hosted jobs that have not ended.
func (n *Node) pollAll(ctx context.Context, wg *sync.WaitGroup) {
	n.mu.Lock()
	agents := make([]string, 0, len(n.active))
	for a := range n.active {
		agents = append(agents, a)
	}
	n.mu.Unlock()
	for _, a := range agents {
		n.startPoll(ctx, wg, a)
	}
}

// startPoll polls agent in the background. An agent has at most one poll in
// flight; asked again meanwhile, it is polled once more when that one ends.
func (n *Node) startPoll(ctx context.Context, wg *sync.WaitGroup, agent string) {
	n.pollMu.Lock()
	if p, ok := n.polls[agent]; ok {
		p.again = true
		n.pollMu.Unlock()
		return
	}
	p := &agentPoll{}
	n.polls[agent] = p
	n.pollMu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			n.pollAgent(ctx, agent)
			n.pollMu.Lock()
			if p.again && ctx.Err() == nil {
				p.again = false
				n.pollMu.Unlock()
				continue
			}
			delete(n.polls, agent)
			n.pollMu.Unlock()
			return
		}
	}()
}

// pollAgent asks agent, in one call, for the states of all its hosted jobs
// that have not ended, and applies the answer.
func (n *Node) pollAgent(ctx context.Context, agent string) {
	n.mu.Lock()
	byID := make(map[string][]*hosted, len(n.active[agent]))
	for _, h := range n.active[agent] {
		byID[h.job.BackendJobID] = append(byID[h.job.BackendJobID], h)
	}
	n.mu.Unlock()
	if len(byID) == 0 {
		return
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	cctx, cancel := context.WithTimeout(ctx, max(n.cfg.PollInterval, 5*time.Second))
	states, err := n.backends.AgentStatus(cctx, agent, ids)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// Keep the states; the next poll asks again.
		lvl := slog.LevelWarn
		if errors.Is(err, tuplebroker.ErrUnavailable) {
			lvl = slog.LevelDebug
		}
		n.log.Log(ctx, lvl, "jobmanager: agent status", "agent", agent, "jobs", len(ids), "err", err)
		return
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, hs := range byID {
		st, known := states[id]
		for _, h := range hs {
			if n.jobs[h.job.ID] != h || h.job.State.Terminal() || h.job.BackendJobID != id {
				continue // forgotten, ended or changed meanwhile
			}
			j, tr, err := advance(h.job, h.tracking, observation{status: st, known: known}, n.cfg.MissingPolls, now)
			h.tracking = tr
			if err != nil {
				n.log.Warn("jobmanager: agent reported an unknown state", "job", h.job.ID, "agent", h.job.Agent, "state", st.State)
				continue
			}
			n.setJobLocked(h, j, now)
		}
	}
}

// dropMoved forgets the hosted jobs whose Response now names another node:
// a node that thought this one dead took them over.
func (n *Node) dropMoved() {
	n.mu.Lock()
	defer n.mu.Unlock()
	var moved []*hosted
	for _, h := range n.jobs {
		e, ok := n.sp.Lookup(h.key)
		if !ok || e.ClaimedBy != "" {
			continue
		}
		if r, ok := e.Tuple.(*tuplebroker.Response); ok && r.Manager != n.cfg.Handle {
			moved = append(moved, h)
		}
	}
	for _, h := range moved {
		n.log.Info("jobmanager: job taken over by another node", "job", h.job.ID)
		n.forgetLocked(h)
	}
}
