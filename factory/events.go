package factory

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"tuplebroker"
)

// Event stream intervals: while no manager node hosts the job its state is
// in the space, read again at spacePoll; once hosted, events come from the
// manager node and its state is asked for again every hostedPoll, in case
// an event was lost.
const (
	spacePoll  = 250 * time.Millisecond
	hostedPoll = 5 * time.Second
	maxStream  = 24 * time.Hour
)

// events answers GET /v1/jobs/{id}/events: a text/event-stream of the job's
// states, the current one first, ending after a terminal state.
func (f *Factory) events(w http.ResponseWriter, r *http.Request, uid string) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	// A stream lasts at most maxStream (the client reconnects); the
	// deadline is also what the bus's Follow needs to flush its
	// subscription.
	ctx, cancel := context.WithTimeout(r.Context(), maxStream)
	defer cancel()
	// Follow first, so that no event after the current state is missed.
	evs, err := f.follow.Follow(ctx, id)
	if err != nil {
		return unavailable("cannot follow the job's events", err)
	}
	v, err := f.find(ctx, uid, id)
	if err != nil {
		return err
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	n := 0
	last := v.job
	send := func(j tuplebroker.Job) error {
		data, err := json.Marshal(j)
		if err != nil {
			return err
		}
		n++
		if _, err := fmt.Fprintf(w, "event: state\nid: %d\ndata: %s\n\n", n, data); err != nil {
			return err
		}
		last = j
		return rc.Flush()
	}
	if err := send(v.job); err != nil || v.job.State.Terminal() {
		return nil
	}
	hosted := v.hosted != nil
	poll := time.NewTicker(spacePoll)
	defer poll.Stop()
	if hosted {
		poll.Reset(hostedPoll)
	}
	keep := time.NewTicker(f.cfg.KeepAlive)
	defer keep.Stop()
	for {
		var next tuplebroker.Job
		select {
		case <-ctx.Done():
			return nil
		case <-f.ctx.Done():
			return nil
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return nil
			}
			if rc.Flush() != nil {
				return nil
			}
			continue
		case j := <-evs:
			if j.ID != id || j.Owner != uid {
				continue
			}
			next = j
		case <-poll.C:
			cur, err := f.current(ctx, uid, id)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				continue // gone (retired) or unreadable: keep what was sent
			}
			if !hosted && cur.hosted != nil {
				hosted = true
				poll.Reset(hostedPoll)
			}
			next = cur.job
		}
		if !next.Changed(last) {
			continue
		}
		if send(next) != nil || next.State.Terminal() {
			return nil
		}
	}
}
