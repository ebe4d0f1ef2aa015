package factory

import (
	"context"
	"net/http"
	"testing"
	"time"

	"tuplebroker"
)

// A job still queued in the space is cancelled at once and never reaches a
// backend; a second cancel is a conflict.
func TestCancelQueuedJob(t *testing.T) {
	p := newPool(t)
	// The agent advertises, then stops: its advert stays, nothing takes.
	runCtx, stop := context.WithCancel(p.ctx)
	be, done := p.startAgent(runCtx, fastSim("simA", 0), agentOpts{})
	stop()
	<-done
	p.startManager("m1")
	f := p.newFactory("f1", nil)

	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := r.job(t).ID
	d := call(t, http.MethodDelete, f.url+"/v1/jobs/"+id, aliceToken, "", nil)
	if d.status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
	if j := d.job(t); j.State != tuplebroker.Cancelled || j.SubState != tuplebroker.SubUserCancelled || j.ID != id {
		t.Fatalf("DELETE answered %+v, want Cancelled", j)
	}
	p.eventually("request gone", func() bool { reqs, _ := p.spaceJobs(); return len(reqs) == 0 })
	// A manager node hosts it as Cancelled.
	p.waitJob(f, aliceToken, id, "hosted as Cancelled", func(j tuplebroker.Job) bool {
		return j.Manager == "m1" && j.State == tuplebroker.Cancelled
	})
	if d := call(t, http.MethodDelete, f.url+"/v1/jobs/"+id, aliceToken, "", nil); d.status != http.StatusConflict {
		t.Fatalf("second DELETE: %d %s, want 409", d.status, d.body)
	}

	// An agent running again takes later jobs, never the cancelled one.
	be2, _ := p.startAgent(p.ctx, fastSim("simA", 0), agentOpts{})
	r = f.submit(t, aliceToken, echoJSDL("later"), "", nil)
	if r.status != http.StatusCreated {
		t.Fatalf("later job: %d %s", r.status, r.body)
	}
	for _, b := range [][]string{guids(be.Submissions()), guids(be2.Submissions())} {
		for _, g := range b {
			if g == id {
				t.Fatalf("the cancelled job reached a backend")
			}
		}
	}
	if n := len(be2.Submissions()); n != 1 {
		t.Fatalf("backend has %d submissions, want the later job only", n)
	}
}

// Cancelling a hosted, running job goes through its manager node; an ended
// job cannot be cancelled.
func TestCancelHostedJob(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", time.Hour), agentOpts{})
	p.startManager("m1")
	f := p.newFactory("f1", nil)

	r := f.submit(t, aliceToken, helloJSDL, "", nil)
	if r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := r.job(t).ID
	p.waitJob(f, aliceToken, id, "running", func(j tuplebroker.Job) bool { return j.State == tuplebroker.Running })
	d := call(t, http.MethodDelete, f.url+"/v1/jobs/"+id, aliceToken, "", nil)
	if d.status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
	p.waitJob(f, aliceToken, id, "cancelled", func(j tuplebroker.Job) bool { return j.State == tuplebroker.Cancelled })
	if d := call(t, http.MethodDelete, f.url+"/v1/jobs/"+id, aliceToken, "", nil); d.status != http.StatusConflict ||
		d.problem(t).Type != problemBase+"conflict" {
		t.Fatalf("DELETE of a cancelled job: %d %s, want 409", d.status, d.body)
	}
}

// A job an agent is submitting is cancelled once it is hosted: DELETE
// waits for the submission instead of failing or losing the cancel.
func TestCancelWhileSubmitting(t *testing.T) {
	p := newPool(t)
	cfg := fastSim("simA", time.Hour)
	cfg.SubmitLatency = time.Second
	be, _ := p.startAgent(p.ctx, cfg, agentOpts{})
	p.startManager("m1")
	f := p.newFactory("f1", nil)

	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	id := r.job(t).ID
	p.waitJob(f, aliceToken, id, "submitting", func(j tuplebroker.Job) bool { return j.SubState == tuplebroker.SubSubmitting })
	d := call(t, http.MethodDelete, f.url+"/v1/jobs/"+id, aliceToken, "", nil)
	if d.status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
	if j := d.job(t); j.Manager != "m1" || j.BackendJobID == "" {
		t.Fatalf("DELETE answered %+v: want the hosted job", j)
	}
	p.waitJob(f, aliceToken, id, "cancelled", func(j tuplebroker.Job) bool { return j.State == tuplebroker.Cancelled })
	if n := len(be.Submissions()); n != 1 {
		t.Fatalf("%d submissions, want 1", n)
	}
}
