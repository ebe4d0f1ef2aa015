package jobmanager

import (
	"context"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// finalLoop records each ended job's outcome in its Response (Final), so
// that a node hosting it later — after this node died, or after a backend
// that forgets ended jobs restarted — answers with the outcome instead of
// asking a backend that no longer knows the job. Each is one compare-and-set
// of the Response at the revision this node last saw.
func (n *Node) finalLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Record what ended just before the stop: a node restarting
			// must not find Finished jobs with no outcome. But do not
			// hang the stop on an unreachable space.
			fctx, cancel := tuplebroker.FinishContext(ctx, tuplebroker.StopGrace)
			n.flushFinals(fctx)
			cancel()
			return
		case <-t.C:
			n.flushFinals(ctx)
		}
	}
}

// flushFinals records every pending final state once; those that could not
// be recorded are kept for the next call.
func (n *Node) flushFinals(ctx context.Context) {
	n.mu.Lock()
	due := n.finals
	n.finals = nil
	n.mu.Unlock()
	var again []*hosted
	for _, h := range due {
		if ctx.Err() != nil || !n.recordFinal(ctx, h) {
			again = append(again, h)
		}
	}
	if len(again) > 0 {
		n.mu.Lock()
		n.finals = append(n.finals, again...)
		n.mu.Unlock()
	}
}

// recordFinal writes h's final job state into its Response; false means
// try again later (the Response is busy: claimed, or changing).
func (n *Node) recordFinal(ctx context.Context, h *hosted) bool {
	n.mu.Lock()
	j, ours := cloneJob(h.job), n.jobs[h.job.ID] == h
	n.mu.Unlock()
	if !ours {
		return true // retired or moved meanwhile
	}
	e, ok := n.sp.Lookup(h.key)
	if !ok {
		return true // retired
	}
	r, isResp := e.Tuple.(*tuplebroker.Response)
	switch {
	case !isResp || r.Manager != n.cfg.Handle:
		return true // moved to another node: its business now
	case e.ClaimedBy != "":
		return false
	}
	p := *r
	j.Manager = ""
	p.Final = &j
	if _, err := n.sp.Update(ctx, e.Lease(), &p, space.Forever); err != nil {
		if ctx.Err() == nil {
			n.log.Debug("jobmanager: recording final state", "job", j.ID, "err", err)
		}
		return false
	}
	return true
}
