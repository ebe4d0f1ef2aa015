package factory

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"tuplebroker"
)

// openEvents opens a job's event stream; the caller closes the body.
func openEvents(t *testing.T, ctx context.Context, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	return resp
}

// The stream starts with the current state, reports each change, and ends
// by itself after the terminal state.
func TestEventsEndWithTerminalState(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", time.Second), agentOpts{})
	p.startManager("m1")
	f := p.newFactory("f1", nil)

	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := r.job(t).ID
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	resp := openEvents(t, ctx, f.url+"/v1/jobs/"+id+"/events", aliceToken)
	defer resp.Body.Close()
	evs, err := readEvents(t, resp.Body, 0) // to the end of the stream
	if err != nil {
		t.Fatalf("events %+v: %v", evs, err)
	}
	if len(evs) < 2 {
		t.Fatalf("events %+v: want at least the first state and the end", evs)
	}
	for i, ev := range evs {
		if ev.name != "state" || ev.id == "" || ev.job.ID != id || ev.job.Owner != "alice" {
			t.Errorf("event %d: %+v", i, ev)
		}
		if i > 0 && !ev.job.Changed(evs[i-1].job) {
			t.Errorf("event %d repeats event %d: %+v", i, i-1, ev.job)
		}
	}
	if evs[0].job.State.Terminal() {
		t.Errorf("first event %+v: the job runs for a second, want its state before the end", evs[0].job)
	}
	if last := evs[len(evs)-1].job; last.State != tuplebroker.Finished {
		t.Errorf("last event %+v, want Finished", last)
	}
	running := false
	for _, ev := range evs {
		running = running || ev.job.State == tuplebroker.Running
	}
	if !running {
		t.Errorf("no Running event in %+v", evs)
	}
}

// A job cancelled while queued ends its stream with Cancelled (its state is
// in the space, no manager node involved yet).
func TestEventsOfQueuedJobCancelled(t *testing.T) {
	p := newPool(t)
	runCtx, stop := context.WithCancel(p.ctx)
	_, done := p.startAgent(runCtx, fastSim("simA", 0), agentOpts{})
	stop()
	<-done
	f := p.newFactory("f1", nil)
	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	id := r.job(t).ID

	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	resp := openEvents(t, ctx, f.url+"/v1/jobs/"+id+"/events", aliceToken)
	defer resp.Body.Close()
	first, err := readEvents(t, resp.Body, 1)
	if err != nil || len(first) != 1 || first[0].job.SubState != tuplebroker.SubQueuedInSpace {
		t.Fatalf("first event %+v, %v: want queued-in-space", first, err)
	}
	if d := call(t, http.MethodDelete, f.url+"/v1/jobs/"+id, aliceToken, "", nil); d.status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
	rest, err := readEvents(t, resp.Body, 0)
	if err != nil || len(rest) != 1 || rest[0].job.State != tuplebroker.Cancelled || rest[0].id != "2" {
		t.Fatalf("after cancel: %+v, %v: want one Cancelled event, id 2, then the end", rest, err)
	}
}

// A client that goes away ends the handler.
func TestEventsEndOnDisconnect(t *testing.T) {
	p := newPool(t)
	runCtx, stop := context.WithCancel(p.ctx)
	_, done := p.startAgent(runCtx, fastSim("simA", 0), agentOpts{})
	stop()
	<-done
	// Keepalives every 15 s: a write error on one is not what ends the
	// handler here, the request's context is.
	f := p.newFactory("f1", nil)
	// Serve the factory once more, recording when event handlers return.
	ended := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/events") {
			ended <- struct{}{}
		}
	})
	srv := newHTTPServer(t, mux)

	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	id := r.job(t).ID
	ctx, cancel := context.WithCancel(p.ctx)
	resp := openEvents(t, ctx, srv+"/v1/jobs/"+id+"/events", aliceToken)
	if evs, err := readEvents(t, resp.Body, 1); err != nil || len(evs) != 1 {
		t.Fatalf("first event: %+v %v", evs, err)
	}
	select {
	case <-ended:
		t.Fatal("the stream of a pending job ended by itself")
	case <-time.After(300 * time.Millisecond): // a few polls of the space
	}
	cancel()
	resp.Body.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the event handler still runs after the client went away")
	}
}
