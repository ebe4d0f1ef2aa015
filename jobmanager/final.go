package jobmanager

import (
	"context"
	"errors"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// finalBatch bounds the Responses rewritten in one transaction.
const finalBatch = 32

// finalLoop records each ended job's outcome in its Response (Final), so
// that a node hosting it later — after this node died, or after a backend
// that forgets ended jobs restarted — answers with the outcome instead of
// asking a backend that no longer knows the job.
func (n *Node) finalLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		due := n.finals
		n.finals = nil
		n.mu.Unlock()
		var again []*hosted
		for len(due) > 0 {
			k := min(len(due), finalBatch)
			again = append(again, n.recordFinal(ctx, due[:k])...)
			due = due[k:]
		}
		if len(again) > 0 {
			n.mu.Lock()
			n.finals = append(n.finals, again...)
			n.mu.Unlock()
		}
	}
}

// recordFinal rewrites the Responses of hs with their final job state in one
// transaction; it returns the ones to try again.
func (n *Node) recordFinal(ctx context.Context, hs []*hosted) []*hosted {
	tx, err := n.sp.Begin(ctx, n.cfg.TxnLease)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("jobmanager: recording final states", "err", err)
		}
		return hs
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.TxnLease)
	defer cancel()
	var again []*hosted
	wrote := 0
	for _, h := range hs {
		n.mu.Lock()
		j, ours := cloneJob(h.job), n.jobs[h.job.ID] == h
		n.mu.Unlock()
		if !ours {
			continue // retired or moved meanwhile
		}
		t, err := tx.TryTake(ctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), GUID: j.ID, Manager: n.cfg.Handle})
		if errors.Is(err, space.ErrNoMatch) {
			if e, ok := n.sp.Lookup(h.key); ok && e.ClaimedBy != "" {
				again = append(again, h) // busy (being retired or moved): later
			}
			continue
		}
		if err != nil {
			again = append(again, h)
			continue
		}
		r := *t.(*tuplebroker.Response)
		j.Manager = ""
		r.Final = &j
		if err := tx.Write(&r, space.Forever); err != nil {
			again = append(again, h)
			continue
		}
		wrote++
	}
	if wrote == 0 {
		_ = tx.Abort(fctx)
		return again
	}
	if err := tx.Commit(fctx); err != nil {
		n.log.Warn("jobmanager: recording final states", "err", err)
		return hs
	}
	return again
}
