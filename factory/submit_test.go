package factory

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"tuplebroker"
)

// A job posted to one factory is hosted (201, Location) and any other
// factory, with its own connection and view of the space, answers for it.
func TestSubmitHostedAndSeenByAnotherFactory(t *testing.T) {
	p := newPool(t)
	be, _ := p.startAgent(p.ctx, fastSim("simA", 100*time.Millisecond), agentOpts{})
	p.startManager("m1")
	f1 := p.newFactory("f1", nil)
	f2 := p.newFactory("f2", nil)

	r := f1.submit(t, aliceToken, helloJSDL, "", nil)
	if r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s, want 201", r.status, r.body)
	}
	j := r.job(t)
	if loc := r.header.Get("Location"); loc != "/v1/jobs/"+j.ID {
		t.Fatalf("Location %q, job id %q", loc, j.ID)
	}
	if j.Owner != "alice" || j.Manager != "m1" || j.Agent != "simA" || j.BackendJobID == "" {
		t.Fatalf("job %+v: want owner alice, manager m1, agent simA, a backend job id", j)
	}

	g := call(t, http.MethodGet, f2.url+r.header.Get("Location"), aliceToken, "", nil)
	if g.status != http.StatusOK {
		t.Fatalf("GET from the second factory: %d %s", g.status, g.body)
	}
	if j2 := g.job(t); j2.ID != j.ID || j2.Owner != "alice" {
		t.Fatalf("second factory sees %+v, first answered %+v", j2, j)
	}
	// Its view of the space may be milliseconds behind: it soon sees the
	// job hosted where the first one said.
	j2 := p.waitJob(f2, aliceToken, j.ID, "hosted, from the second factory", func(j tuplebroker.Job) bool { return j.Manager != "" })
	if j2.Manager != "m1" || j2.BackendJobID != j.BackendJobID || j2.Agent != "simA" {
		t.Fatalf("second factory sees %+v, first answered %+v", j2, j)
	}
	p.waitJob(f2, aliceToken, j.ID, "job finished", func(j tuplebroker.Job) bool { return j.State == tuplebroker.Finished })
	if n := len(be.Submissions()); n != 1 {
		t.Fatalf("backend has %d submissions, want 1", n)
	}
	if st := f1.Stats(); st.Accepted != 1 {
		t.Fatalf("f1 accepted %d, want 1", st.Accepted)
	}

	// The listing holds it, from either factory, filtered by state.
	l := call(t, http.MethodGet, f2.url+"/v1/jobs?state=Finished", aliceToken, "", nil)
	var list jobList
	if l.status != http.StatusOK || json.Unmarshal(l.body, &list) != nil {
		t.Fatalf("list: %d %s", l.status, l.body)
	}
	if len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID {
		t.Fatalf("list of Finished: %+v, want the job", list.Jobs)
	}
	l = call(t, http.MethodGet, f1.url+"/v1/jobs?state=Pending", aliceToken, "", nil)
	if json.Unmarshal(l.body, &list) != nil || len(list.Jobs) != 0 {
		t.Fatalf("list of Pending: %s, want none", l.body)
	}
}

// wait=0 answers 202 at once with the job still queued; the job runs and
// is hosted later all the same.
func TestSubmitWaitZero(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", 0), agentOpts{})
	p.startManager("m1")
	f := p.newFactory("f1", nil)

	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST wait=0: %d %s, want 202", r.status, r.body)
	}
	j := r.job(t)
	if r.header.Get("Location") != "/v1/jobs/"+j.ID || j.State != tuplebroker.Pending || j.Manager != "" {
		t.Fatalf("202 answer %+v (Location %q): want a pending, unhosted job", j, r.header.Get("Location"))
	}
	p.waitJob(f, aliceToken, j.ID, "job hosted", func(j tuplebroker.Job) bool { return j.Manager == "m1" })
}

// Without any manager node, the wait ends with 202 and the space's view.
func TestSubmitWaitEndsWith202(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", 0), agentOpts{})
	f := p.newFactory("f1", nil)
	r := f.submit(t, aliceToken, helloJSDL, "?wait=300ms", map[string]string{"Priority": "7"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s, want 202", r.status, r.body)
	}
	j := r.job(t)
	if j.State != tuplebroker.Pending || j.Priority != 7 || j.Owner != "alice" {
		t.Fatalf("job %+v: want pending, priority 7, owner alice", j)
	}
}

// Only the owner sees, cancels or follows a job; no token or a bad one is 401.
func TestOwnerOnly(t *testing.T) {
	p := newPool(t)
	runCtx, stop := context.WithCancel(p.ctx)
	_, done := p.startAgent(runCtx, fastSim("simA", 0), agentOpts{})
	stop() // the advert stays; nothing takes the job, so bob's DELETE could act
	<-done
	f := p.newFactory("f1", nil)

	r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := r.job(t).ID
	base := f.url + "/v1/jobs/" + id
	for _, c := range []struct{ method, url string }{
		{http.MethodGet, base}, {http.MethodDelete, base}, {http.MethodGet, base + "/events"},
	} {
		got := call(t, c.method, c.url, bobToken, "", nil)
		if got.status != http.StatusNotFound || got.problem(t).Type != problemBase+"not-found" {
			t.Errorf("bob %s %s: %d %s, want 404 not-found", c.method, c.url, got.status, got.body)
		}
	}
	var list jobList
	l := call(t, http.MethodGet, f.url+"/v1/jobs", bobToken, "", nil)
	if l.status != http.StatusOK || json.Unmarshal(l.body, &list) != nil || len(list.Jobs) != 0 {
		t.Errorf("bob's list: %d %s, want no jobs", l.status, l.body)
	}
	l = call(t, http.MethodGet, f.url+"/v1/jobs", aliceToken, "", nil)
	if json.Unmarshal(l.body, &list) != nil || len(list.Jobs) != 1 || list.Jobs[0].ID != id {
		t.Errorf("alice's list: %s, want her job", l.body)
	}
	// Bob's DELETE changed nothing.
	if j := f.getJob(t, aliceToken, id).job(t); j.State != tuplebroker.Pending {
		t.Errorf("after bob's DELETE alice's job is %s", j.State)
	}

	for _, tok := range []string{"", "not-a-known-token-at-all"} {
		for _, c := range []struct{ method, url string }{
			{http.MethodGet, base}, {http.MethodGet, f.url + "/v1/jobs"}, {http.MethodDelete, base}, {http.MethodPost, f.url + "/v1/jobs"},
		} {
			got := call(t, c.method, c.url, tok, helloJSDL, nil)
			if got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != `Bearer realm="tuplebroker"` ||
				got.problem(t).Type != problemBase+"unauthorized" {
				t.Errorf("token %q %s %s: %d %v %s, want 401 with WWW-Authenticate", tok, c.method, c.url, got.status, got.header, got.body)
			}
		}
	}
	if reqs := f.sp.Entries(tuplebroker.RequestTemplate{}); len(reqs) != 1 {
		t.Errorf("%d requests in the space, want alice's one", len(reqs))
	}
	if got := f.Stats().Rejected["unauthorized"]; got != 8 {
		t.Errorf("rejected unauthorized %d, want 8", got)
	}
	h := call(t, http.MethodGet, f.url+"/healthz", "", "", nil)
	if h.status != http.StatusOK || !slices.Equal(h.body, []byte("{\"status\":\"ok\",\"tuples\":1}\n")) {
		t.Errorf("healthz: %d %s", h.status, h.body)
	}
}
