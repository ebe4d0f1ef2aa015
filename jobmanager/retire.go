package jobmanager

import (
	"context"
	"errors"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// Where Responses are retired: a job's Response lives in the space from
// the agent's commit until its job has been ended for Config.Lifetime;
// then the node hosting it takes it out and forgets the job.

func (n *Node) retireLoop(ctx context.Context) {
	period := min(max(n.cfg.Lifetime/4, 10*time.Millisecond), n.cfg.PollInterval)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.retireDue(ctx)
	}
}

// retireDue retires the jobs that ended Lifetime ago: their Responses are
// taken out of the space and the jobs forgotten.
func (n *Node) retireDue(ctx context.Context) {
	now := time.Now()
	n.mu.Lock()
	due := n.retry
	n.retry = nil
	for len(n.ended) > 0 {
		h := n.ended[0]
		if n.jobs[h.job.ID] != h { // forgotten already
			n.ended[0] = nil
			n.ended = n.ended[1:]
			continue
		}
		if now.Sub(h.terminalAt) < n.cfg.Lifetime {
			break
		}
		n.ended[0] = nil
		n.ended = n.ended[1:]
		due = append(due, h)
	}
	if len(n.ended) == 0 {
		n.ended = nil // let the backing array go
	}
	guids := make([]string, len(due))
	for i, h := range due {
		guids[i] = h.job.ID
	}
	n.mu.Unlock()

	var again []*hosted
	for i, h := range due {
		if ctx.Err() != nil {
			again = append(again, due[i:]...)
			break
		}
		_, err := n.sp.TryTake(ctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), GUID: guids[i], Manager: n.cfg.Handle})
		if err != nil && !errors.Is(err, space.ErrNoMatch) {
			n.log.Warn("jobmanager: retire", "job", guids[i], "err", err)
			again = append(again, h)
			continue
		}
		if err != nil { // no match: gone, moved, claimed, or not yet applied
			if e, ok := n.sp.Lookup(h.key); ok {
				r, _ := e.Tuple.(*tuplebroker.Response)
				if e.ClaimedBy != "" || r == nil || r.Manager == n.cfg.Handle {
					again = append(again, h) // still ours: try again
					continue
				}
			}
		}
		n.mu.Lock()
		n.forgetLocked(h)
		n.mu.Unlock()
	}
	if len(again) > 0 {
		n.mu.Lock()
		n.retry = append(n.retry, again...)
		n.mu.Unlock()
	}
}
