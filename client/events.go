package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"mime"
	"net/http"
	"time"

	"io"

	"tuplebroker"
)

const (
	// sseMinIdle is the least time an event stream may stay silent before
	// it is dropped and reopened: factories send a keepalive every 15 s.
	sseMinIdle = 20 * time.Second
	// DefaultRetries is how many times in a row an event stream may fail
	// (without delivering a state) before Events gives up, unless
	// WithRetries says otherwise.
	DefaultRetries = 5
)

// Event is one state of a job, as its event stream delivered it.
type Event struct {
	tuplebroker.Job
	// ID is the event's id in its stream.
	ID string
	// Raw is the job's JSON as sent, compacted.
	Raw json.RawMessage
}

// An EventsOption changes how Events follows a stream.
type EventsOption func(*eventsOptions)

type eventsOptions struct {
	retries   int
	reconnect func(err error, pause time.Duration)
}

// WithRetries sets how many times in a row the stream may fail before
// Events gives up (default DefaultRetries; at least 1).
func WithRetries(n int) EventsOption { return func(o *eventsOptions) { o.retries = max(n, 1) } }

// OnReconnect has fn called, with the failure and the pause before the next
// attempt, each time a stream is to be reopened.
func OnReconnect(fn func(err error, pause time.Duration)) EventsOption {
	return func(o *eventsOptions) { o.reconnect = fn }
}

// errFollowDone ends the reading of an event stream at a terminal state.
var errFollowDone = errors.New("terminal state reached")

// errStopped ends the reading of an event stream when the consumer stops.
var errStopped = errors.New("stopped")

// Events follows the job id's states (GET /v1/jobs/{id}/events): the
// sequence yields the current state first, then each state the factory
// sends, and ends after a terminal state (Finished, Failed or Cancelled).
//
// A stream that ends or fails before the terminal state is reopened (after
// a growing pause, with Last-Event-ID; the factory then sends the current
// state again, so a state may come twice: compare with
// tuplebroker.Job.Changed) until the retries in a row are used up; the
// sequence then yields the last failure, wrapped, and ends. Answers 4xx
// other than 408 and 429 are not retried: they are yielded as *Error (404:
// tuplebroker.ErrNotFound). When ctx ends the sequence yields ctx.Err().
// An error is always the last item.
func (c *Client) Events(ctx context.Context, id string, opts ...EventsOption) iter.Seq2[Event, error] {
	o := eventsOptions{retries: DefaultRetries}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(Event, error) bool) {
		if err := checkID(id); err != nil {
			yield(Event{}, err)
			return
		}
		var (
			lastEventID string
			fails       int
			done        bool
			stopped     bool
		)
		onEvent := func(ev sseEvent) error {
			lastEventID = ev.ID
			if ev.Type != "state" {
				return nil
			}
			j, raw, err := decodeJob([]byte(ev.Data))
			if err != nil {
				return fmt.Errorf("event %q: %w", ev.ID, err)
			}
			fails = 0
			if !yield(Event{Job: j, ID: ev.ID, Raw: raw}, nil) {
				stopped = true
				return errStopped
			}
			if j.State.Terminal() {
				done = true
				return errFollowDone
			}
			return nil
		}
		for {
			err := c.stream(ctx, id, lastEventID, onEvent)
			switch {
			case done || stopped:
				return
			case ctx.Err() != nil:
				yield(Event{}, ctx.Err())
				return
			}
			var ae *Error
			if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 &&
				ae.StatusCode != http.StatusTooManyRequests && ae.StatusCode != http.StatusRequestTimeout {
				yield(Event{}, err)
				return
			}
			if err == nil {
				err = errors.New("the event stream ended before the job did")
			}
			fails++
			if fails >= o.retries {
				yield(Event{}, fmt.Errorf("following job %s: %w (gave up after %d attempts)", id, err, fails))
				return
			}
			pause := min(250*time.Millisecond<<fails, 5*time.Second)
			if o.reconnect != nil {
				o.reconnect(err, pause)
			}
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				yield(Event{}, ctx.Err())
				return
			case <-t.C:
			}
		}
	}
}

// stream opens the event stream of job id once and hands its events to
// onEvent until it ends. The answer must come within the timeout; the stream
// is dropped when silent for max(timeout, sseMinIdle).
func (c *Client) stream(ctx context.Context, id, lastEventID string, onEvent func(sseEvent) error) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(c.timeout, cancel)
	defer watchdog.Stop()

	target := c.endpoint(nil, "v1", "jobs", id, "events")
	hdr := http.Header{"Accept": {"text/event-stream"}, "Cache-Control": {"no-cache"}}
	if lastEventID != "" {
		hdr.Set("Last-Event-ID", lastEventID)
	}
	req, err := c.newRequest(sctx, http.MethodGet, target, hdr, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return transportError(ctx, sctx, http.MethodGet, target, c.timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, err := readLimited(resp.Body, maxResponse, "the response to GET "+target)
		if err != nil {
			return transportError(ctx, sctx, http.MethodGet, target, c.timeout, err)
		}
		return errorFrom(response{method: http.MethodGet, url: target, status: resp.StatusCode, header: resp.Header, body: b})
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("GET %s: answered %q, not an event stream", target, resp.Header.Get("Content-Type"))
	}
	idle := max(c.timeout, sseMinIdle)
	watchdog.Reset(idle)
	body := &idleReader{ReadCloser: resp.Body, t: watchdog, d: idle}
	err = readSSE(sctx, body, sseDefaultLimit, onEvent)
	if errors.Is(err, errFollowDone) || errors.Is(err, errStopped) {
		return nil
	}
	if ctx.Err() == nil && sctx.Err() != nil {
		return fmt.Errorf("GET %s: no data for %s", target, idle)
	}
	return err
}

// idleReader pushes its timer back by d on every read that returns data.
type idleReader struct {
	io.ReadCloser
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}
