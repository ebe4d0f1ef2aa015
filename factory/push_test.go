package factory

import (
	"context"
	"net/http"
	"testing"
	"time"

	"tuplebroker"
)

// With the hybrid strategy, priority jobs go to an agent through its
// couriers; with no courier free (another factory holds them all) they are
// pulled, and run all the same; that factory's Close gives them back.
func TestPushThroughCouriersAndFallBackToPull(t *testing.T) {
	p := newPool(t)
	// Agent a offers two couriers; its pull workers may take one job, then
	// none for 1000 s: what it runs after that came by push.
	beA, _ := p.startAgent(p.ctx, fastSim("simA", 0), agentOpts{couriers: 2, courierLease: 30 * time.Second, slowPull: true})
	p.startManager("m1")
	f := p.newFactory("f1", func(c *Config) { c.Strategy = hybrid(t, 0) })
	couriers := func() int { return len(p.sp.Entries(tuplebroker.CourierTemplate{})) }

	// A priority-0 job is pulled (and uses up a's one pull).
	r := f.submit(t, aliceToken, echoJSDL("pulled"), "", nil)
	if r.status != http.StatusCreated {
		t.Fatalf("pull job: %d %s", r.status, r.body)
	}
	if j := r.job(t); j.Pushed || j.Agent != "simA" {
		t.Fatalf("pull job %+v: want pulled by simA", j)
	}
	p.eventually("two couriers offered", func() bool { return couriers() == 2 })

	// Two priority jobs: pushed through the couriers.
	for i := 0; i < 2; i++ {
		r := f.submit(t, aliceToken, echoJSDL("pushed"), "", map[string]string{"Priority": "5"})
		if r.status != http.StatusCreated {
			t.Fatalf("push job %d: %d %s", i, r.status, r.body)
		}
		if j := r.job(t); !j.Pushed || j.Agent != "simA" {
			t.Fatalf("push job %d: %+v, want pushed to simA", i, j)
		}
	}
	p.eventually("two pushes counted", func() bool { return f.Stats().Pushed == 2 })
	p.eventually("couriers offered again", func() bool { return couriers() == 2 })

	// A greedy factory takes both couriers with its next job (a pull: it
	// stays queued, nobody may pull now).
	greedy := p.newFactory("f2", func(c *Config) { c.Strategy = hybrid(t, 2) })
	if r := greedy.submit(t, aliceToken, echoJSDL("queued"), "?wait=0", nil); r.status != http.StatusAccepted {
		t.Fatalf("greedy factory's job: %d %s", r.status, r.body)
	}
	p.eventually("the greedy factory holding every courier", func() bool { return couriers() == 0 })

	// No courier free: the next priority job is pulled, by agent b.
	p.startAgent(p.ctx, fastSim("simB", 0), agentOpts{})
	r = f.submit(t, aliceToken, echoJSDL("fallback"), "", map[string]string{"Priority": "5"})
	if r.status != http.StatusCreated {
		t.Fatalf("fallback job: %d %s", r.status, r.body)
	}
	if j := r.job(t); j.Pushed || j.Agent != "simB" {
		t.Fatalf("fallback job %+v: want pulled by simB", j)
	}
	st := f.Stats()
	if st.Accepted != 4 || st.Pushed != 2 || st.PushFallbacks != 1 || st.PushFailures != 0 {
		t.Fatalf("stats %+v: want 4 accepted, 2 pushed, 1 fallback, no failure", st)
	}
	if n := len(beA.Submissions()); n != 3 {
		t.Fatalf("simA has %d submissions, want 3", n)
	}

	// Closing the greedy factory writes its couriers back.
	greedy.Close()
	p.eventually("couriers written back", func() bool { return couriers() == 2 })
}

// A push the agent cannot take (no free slot there) leaves the job to
// pull: the request is un-reserved, so another agent takes it at once
// rather than after the push window.
func TestFailedPushLeavesJobToPull(t *testing.T) {
	p := newPool(t)
	// A courier in the space whose agent serves no push slots: a stale one.
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	_, _, b := p.open()
	c := &tuplebroker.Courier{Agent: "ghost", Slot: 0, Address: b.AgentAddress("ghost"),
		Capabilities: []string{"arch=x86_64", "os=LINUX"}, Expires: time.Now().Add(time.Minute).UTC()}
	if _, err := p.sp.Write(ctx, c, time.Minute); err != nil {
		t.Fatal(err)
	}
	p.startAgent(p.ctx, fastSim("simB", 0), agentOpts{})
	p.startManager("m1")
	f := p.newFactory("f1", func(c *Config) { c.Strategy = hybrid(t, 0) })

	r := f.submit(t, aliceToken, helloJSDL, "?wait=5s", map[string]string{"Priority": "9"})
	if r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s, want 201 within the push window", r.status, r.body)
	}
	if j := r.job(t); j.Agent != "simB" || j.Pushed {
		t.Fatalf("job %+v: want pulled by simB", j)
	}
	p.eventually("push failure counted", func() bool { return f.Stats().PushFailures == 1 })
	if st := f.Stats(); st.Pushed != 0 {
		t.Fatalf("stats %+v", st)
	}
}
