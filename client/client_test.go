package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/client"
)

const problemBase = "https://tuplebroker.dev/problems/"

// asError checks that err is a *client.Error with status and problem type
// slug, and returns it.
func asError(t *testing.T, err error, status int, slug string) *client.Error {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *client.Error", err, err)
	}
	if ce.StatusCode != status || ce.Problem.Status != status || ce.Problem.Type != problemBase+slug || ce.Problem.Title == "" {
		t.Fatalf("error %d %+v, want %d %s with a title", ce.StatusCode, ce.Problem, status, slug)
	}
	return ce
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestClient runs the API's calls against one real pool whose agent runs a
// job for 200 ms.
func TestClient(t *testing.T) {
	p := newPool(t, 200*time.Millisecond)
	alice, bob := p.client(aliceToken), p.client(bobToken)

	t.Run("health", func(t *testing.T) {
		h, err := alice.Health(ctxFor(t, time.Minute))
		if err != nil || h.Status != "ok" {
			t.Fatalf("Health = %+v, %v", h, err)
		}
	})

	t.Run("unauthorized", func(t *testing.T) {
		c := p.client("not-a-known-token")
		_, err := c.Jobs(ctxFor(t, time.Minute), client.Filter{})
		ce := asError(t, err, http.StatusUnauthorized, "unauthorized")
		if errors.Is(err, tuplebroker.ErrNotFound) || errors.Is(err, tuplebroker.ErrConflict) || errors.Is(err, tuplebroker.ErrUnavailable) {
			t.Errorf("401 matches a domain error: %v", err)
		}
		if !strings.Contains(ce.Error(), "401") || ce.Method != http.MethodGet || !strings.HasPrefix(ce.URL, p.url+"/v1/jobs") {
			t.Errorf("error %q (%s %s)", ce.Error(), ce.Method, ce.URL)
		}
		// No token at all: the same.
		_, err = p.client("").Job(ctxFor(t, time.Minute), "some-id")
		asError(t, err, http.StatusUnauthorized, "unauthorized")
	})

	t.Run("submit waits for hosting", func(t *testing.T) {
		var raw []json.RawMessage
		s, err := alice.Submit(ctxFor(t, time.Minute), echoJSDL("wait"), client.SubmitOptions{Wait: 20 * time.Second, Priority: 7}, client.RawJSON(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if s.StatusCode != http.StatusCreated || s.Manager != "m1" || s.Owner != "alice" || s.Priority != 7 || s.ID == "" {
			t.Fatalf("Submit with wait = %d %+v, want 201, hosted by m1, owner alice, priority 7", s.StatusCode, s.Job)
		}
		if s.Location != "/v1/jobs/"+s.ID {
			t.Errorf("Location %q for job %s", s.Location, s.ID)
		}
		var back tuplebroker.Job
		if len(raw) != 1 || json.Unmarshal(raw[0], &back) != nil || back.ID != s.ID || strings.ContainsAny(string(raw[0]), "\n ") {
			t.Errorf("raw JSON %q, want the job, compacted", raw)
		}
	})

	t.Run("submit without waiting", func(t *testing.T) {
		s, err := alice.Submit(ctxFor(t, time.Minute), echoJSDL("nowait"), client.SubmitOptions{Wait: client.NoWait})
		if err != nil {
			t.Fatal(err)
		}
		if s.StatusCode != http.StatusAccepted || s.State != tuplebroker.Pending {
			t.Fatalf("Submit with NoWait = %d %+v, want 202 Pending", s.StatusCode, s.Job)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		ctx := ctxFor(t, time.Minute)
		opts := client.SubmitOptions{IdempotencyKey: "key-1", Wait: client.NoWait}
		first, err := alice.Submit(ctx, echoJSDL("idem"), opts)
		if err != nil {
			t.Fatal(err)
		}
		again, err := alice.Submit(ctx, echoJSDL("idem"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID {
			t.Fatalf("same key, same document: job %s, then %s", first.ID, again.ID)
		}
		_, err = alice.Submit(ctx, echoJSDL("other"), opts)
		asError(t, err, http.StatusConflict, "idempotency-conflict")
		if !errors.Is(err, tuplebroker.ErrConflict) {
			t.Errorf("409 does not match tuplebroker.ErrConflict: %v", err)
		}
	})

	t.Run("invalid JSDL", func(t *testing.T) {
		doc := strings.Replace(helloJSDL, "<jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>", "", 1)
		_, err := alice.Submit(ctxFor(t, time.Minute), []byte(doc), client.SubmitOptions{})
		ce := asError(t, err, http.StatusBadRequest, "invalid-jsdl")
		if len(ce.Problem.Errors) != 1 || ce.Problem.Errors[0].Path != "/JobDefinition/JobDescription/Application" || ce.Problem.Errors[0].Reason == "" {
			t.Errorf("errors %+v, want one at /JobDefinition/JobDescription/Application with a reason", ce.Problem.Errors)
		}
		if ce.Problem.Detail == "" || ce.Problem.Instance != "/v1/jobs" {
			t.Errorf("problem %+v, want a detail and instance /v1/jobs", ce.Problem)
		}
		if errors.Is(err, tuplebroker.ErrNotFound) || errors.Is(err, tuplebroker.ErrConflict) {
			t.Errorf("400 matches a domain error: %v", err)
		}
	})

	t.Run("bad priority", func(t *testing.T) {
		_, err := alice.Submit(ctxFor(t, time.Minute), echoJSDL("prio"), client.SubmitOptions{Priority: 1001})
		asError(t, err, http.StatusBadRequest, "bad-priority")
	})

	t.Run("unmet requirements", func(t *testing.T) {
		doc := strings.Replace(helloJSDL, "</jsdl:JobDescription>", `<jsdl:Resources><jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>WINNT</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem></jsdl:Resources></jsdl:JobDescription>`, 1)
		_, err := alice.Submit(ctxFor(t, time.Minute), []byte(doc), client.SubmitOptions{})
		ce := asError(t, err, http.StatusUnprocessableEntity, "unmet-requirements")
		if len(ce.Problem.Unmet) != 1 || ce.Problem.Unmet[0] != "os=WINNT" {
			t.Errorf("unmet %q, want [os=WINNT]", ce.Problem.Unmet)
		}
	})

	t.Run("another user's job is not found", func(t *testing.T) {
		ctx := ctxFor(t, time.Minute)
		s, err := alice.Submit(ctx, echoJSDL("mine"), client.SubmitOptions{Wait: client.NoWait})
		if err != nil {
			t.Fatal(err)
		}
		if j, err := alice.Job(ctx, s.ID); err != nil || j.ID != s.ID || j.Owner != "alice" {
			t.Fatalf("alice's Job = %+v, %v", j, err)
		}
		_, err = bob.Job(ctx, s.ID)
		asError(t, err, http.StatusNotFound, "not-found")
		if !errors.Is(err, tuplebroker.ErrNotFound) {
			t.Errorf("404 does not match tuplebroker.ErrNotFound: %v", err)
		}
		if _, err := bob.Cancel(ctx, s.ID); !errors.Is(err, tuplebroker.ErrNotFound) {
			t.Errorf("bob's Cancel of alice's job: %v, want ErrNotFound", err)
		}
		n := 0
		for ev, err := range bob.Events(ctx, s.ID) {
			if n++; !errors.Is(err, tuplebroker.ErrNotFound) {
				t.Errorf("bob's Events of alice's job: %+v, %v; want ErrNotFound", ev, err)
			}
		}
		if n != 1 {
			t.Errorf("bob's Events of alice's job: %d items, want the error alone", n)
		}
		// An id that names no job cannot step out of /v1/jobs/.
		for _, id := range []string{"", ".", ".."} {
			if _, err := alice.Job(ctx, id); err == nil {
				t.Errorf("Job(%q) succeeded", id)
			}
		}
		if _, err := alice.Job(ctx, "../../healthz"); !errors.Is(err, tuplebroker.ErrNotFound) {
			t.Errorf("Job(../../healthz): %v, want ErrNotFound", err)
		}
	})

	t.Run("events to a terminal state", func(t *testing.T) {
		ctx := ctxFor(t, time.Minute)
		s, err := alice.Submit(ctx, echoJSDL("events"), client.SubmitOptions{Wait: client.NoWait})
		if err != nil {
			t.Fatal(err)
		}
		var evs []client.Event
		for ev, err := range alice.Events(ctx, s.ID) {
			if err != nil {
				t.Fatalf("after %d events: %v", len(evs), err)
			}
			evs = append(evs, ev)
		}
		if len(evs) < 2 {
			t.Fatalf("events %+v: want at least the first state and the end", evs)
		}
		for i, ev := range evs {
			var back tuplebroker.Job
			if ev.ID == "" || ev.Job.ID != s.ID || ev.Owner != "alice" || json.Unmarshal(ev.Raw, &back) != nil || back.State != ev.State {
				t.Errorf("event %d: %+v", i, ev)
			}
			if i < len(evs)-1 && ev.State.Terminal() {
				t.Errorf("event %d is terminal (%s) but not the last", i, ev.State)
			}
		}
		last := evs[len(evs)-1]
		if last.State != tuplebroker.Finished || last.ExitCode == nil || *last.ExitCode != 0 {
			t.Fatalf("last event %+v, want Finished with exit code 0", last.Job)
		}
		// A finished job's stream is its final state alone.
		n := 0
		for ev, err := range alice.Events(ctx, s.ID) {
			if err != nil || ev.State != tuplebroker.Finished {
				t.Fatalf("events of a finished job: %+v %v", ev.Job, err)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("%d events for a finished job, want 1", n)
		}
		// Breaking out of the loop ends the stream.
		for range alice.Events(ctx, s.ID) {
			break
		}
	})

	t.Run("list", func(t *testing.T) {
		ctx := ctxFor(t, time.Minute)
		var raws []json.RawMessage
		jobs, err := alice.Jobs(ctx, client.Filter{}, client.RawJSON(&raws))
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) < 5 || len(raws) != len(jobs) {
			t.Fatalf("%d jobs (%d raw), want at least 5 with their JSON", len(jobs), len(raws))
		}
		for i := 1; i < len(jobs); i++ {
			if jobs[i].Owner != "alice" || jobs[i].Created.After(jobs[i-1].Created) {
				t.Errorf("job %d: %+v: not alice's or not newest first", i, jobs[i])
			}
		}
		two, err := alice.Jobs(ctx, client.Filter{Limit: 2})
		if err != nil || len(two) != 2 {
			t.Fatalf("Limit 2: %d jobs, %v", len(two), err)
		}
		fin, err := alice.Jobs(ctx, client.Filter{State: tuplebroker.Finished})
		if err != nil || len(fin) == 0 {
			t.Fatalf("Finished jobs: %d, %v", len(fin), err)
		}
		for _, j := range fin {
			if j.State != tuplebroker.Finished {
				t.Errorf("State filter Finished listed %+v", j)
			}
		}
		if none, err := bob.Jobs(ctx, client.Filter{}); err != nil || len(none) != 0 {
			t.Errorf("bob's jobs: %+v, %v; want none", none, err)
		}
		_, err = alice.Jobs(ctx, client.Filter{State: "Sleeping"})
		asError(t, err, http.StatusBadRequest, "bad-query")
	})
}

// TestCancel: a running job is cancelled; cancelling it again once it has
// ended is a 409.
func TestCancel(t *testing.T) {
	p := newPool(t, time.Hour)
	alice := p.client(aliceToken)
	ctx := ctxFor(t, 2*time.Minute)
	s, err := alice.Submit(ctx, []byte(helloJSDL), client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var states []tuplebroker.JobState
	cancelled := false
	for ev, err := range alice.Events(ctx, s.ID) {
		if err != nil {
			t.Fatalf("events after %v: %v", states, err)
		}
		states = append(states, ev.State)
		if ev.State == tuplebroker.Running && !cancelled {
			j, err := alice.Cancel(ctx, s.ID)
			if err != nil {
				t.Fatalf("Cancel of a running job: %v", err)
			}
			if j.ID != s.ID || (j.State != tuplebroker.Cancelled && j.SubState != "cancel-requested") {
				t.Fatalf("Cancel answered %+v, want Cancelled or cancel-requested", j)
			}
			cancelled = true
		}
	}
	if !cancelled || states[len(states)-1] != tuplebroker.Cancelled {
		t.Fatalf("states %v, want Running then Cancelled at the end", states)
	}
	_, err = alice.Cancel(ctx, s.ID)
	asError(t, err, http.StatusConflict, "conflict")
	if !errors.Is(err, tuplebroker.ErrConflict) || errors.Is(err, tuplebroker.ErrNotFound) {
		t.Errorf("second Cancel: %v, want a match of ErrConflict only", err)
	}
}
