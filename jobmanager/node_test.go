package jobmanager_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents/sim"
	"tuplebroker/jobmanager"
	"tuplebroker/space"
)

// 200 jobs through 2 agents and 2 nodes: each hosted by exactly one node,
// all Finished with exit code 0, their Responses naming a live node.
func TestPipeline200Jobs(t *testing.T) {
	c := newCluster(t)
	simA := c.agent(simConfig("simA", sim.Uniform(10*time.Millisecond, 200*time.Millisecond)))
	simB := c.agent(simConfig("simB", sim.Uniform(10*time.Millisecond, 200*time.Millisecond)))
	a := c.node(c.nodeConfig("mA", 1000), nil)
	b := c.node(c.nodeConfig("mB", 1000), nil)
	guids := c.submit("alice", 200)

	waitFor(t, 45*time.Second, "200 jobs finished", func() bool {
		return states(mustJobs(t, a, "alice"))[tuplebroker.Finished]+states(mustJobs(t, b, "alice"))[tuplebroker.Finished] == 200
	})
	host := map[string]string{}
	for _, n := range []*running{a, b} {
		for _, j := range mustJobs(t, n, "alice") {
			if prev, dup := host[j.ID]; dup {
				t.Errorf("job %s hosted by %s and %s", j.ID, prev, n.Handle())
			}
			host[j.ID] = n.Handle()
			if j.State != tuplebroker.Finished || j.ExitCode == nil || *j.ExitCode != 0 {
				t.Errorf("job %s: %s exit %v, want Finished exit 0", j.ID, j.State, j.ExitCode)
			}
			if j.Manager != n.Handle() {
				t.Errorf("job %s: manager %q, want %q", j.ID, j.Manager, n.Handle())
			}
			ev := n.events.of(j.ID)
			if len(ev) == 0 || ev[len(ev)-1].State != tuplebroker.Finished {
				t.Errorf("job %s: events %v, want the last one Finished", j.ID, ev)
			}
		}
	}
	if len(host) != 200 {
		t.Errorf("%d jobs hosted, want 200", len(host))
	}
	live := map[string]bool{}
	for _, h := range []string{"mA", "mB"} {
		an, err := c.names.Get(context.Background(), jobmanager.HeartbeatName(h))
		if err != nil {
			t.Fatalf("heartbeat of %s: %v", h, err)
		}
		live[h] = time.Since(an.Updated) < 2*time.Second
	}
	for _, g := range guids {
		r, ok := c.response(g)
		switch {
		case !ok:
			t.Errorf("job %s: not exactly one response", g)
		case !r.Published || !live[r.Manager] || r.Manager != host[g]:
			t.Errorf("job %s: response published=%v manager=%q, want published by live host %q", g, r.Published, r.Manager, host[g])
		}
	}
	if n := len(c.sp.Entries(tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(false)})); n != 0 {
		t.Errorf("%d unpublished responses left", n)
	}
	for _, s := range []*sim.Backend{simA, simB} {
		if d := s.Stats().Duplicates; d != 0 {
			t.Errorf("%s: %d duplicate submissions", s.Name(), d)
		}
	}
	t.Logf("hosted: mA %d, mB %d", len(mustJobs(t, a, "alice")), len(mustJobs(t, b, "alice")))
}

// One AgentStatus call per agent per poll interval, carrying every job of
// that agent, however many jobs there are.
func TestPollIsOneCallPerAgent(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	c.agent(simConfig("simB", sim.Fixed(time.Minute)))
	var cnt *counter
	cfg := c.nodeConfig("mA", 1000)
	n := c.node(cfg, func(b jobmanager.Backends) jobmanager.Backends { cnt = newCounter(b); return cnt })
	c.submit("alice", 80)
	waitFor(t, 30*time.Second, "80 jobs running", func() bool {
		return states(mustJobs(t, n, "alice"))[tuplebroker.Running] == 80
	})
	perAgent := map[string]int{}
	for _, j := range mustJobs(t, n, "alice") {
		perAgent[j.Agent]++
	}
	from := time.Now()
	const window = time.Second
	time.Sleep(window)
	for agent, jobs := range perAgent {
		var calls []statusCall
		for _, cl := range cnt.of(agent) {
			if cl.at.After(from) && cl.at.Before(from.Add(window)) {
				calls = append(calls, cl)
			}
		}
		// One call per tick, plus slack for late ticks.
		limit := int(window/cfg.PollInterval) + 2
		t.Logf("agent %s: %d jobs, %d calls in %v (limit %d)", agent, jobs, len(calls), window, limit)
		if len(calls) == 0 || len(calls) > limit {
			t.Errorf("agent %s: %d status calls in %v, want 1 to %d (one per %v)", agent, len(calls), window, limit, cfg.PollInterval)
		}
		for _, cl := range calls {
			if cl.ids != jobs {
				t.Errorf("agent %s: a call with %d ids, want all %d of its jobs at once", agent, cl.ids, jobs)
			}
		}
	}
}

// Only the owner sees, lists or cancels a job.
func TestOwnerOnly(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	n := c.node(c.nodeConfig("mA", 1000), nil)
	alice := c.submit("alice", 3)
	bob := c.submit("bob", 2)
	waitFor(t, 10*time.Second, "5 jobs hosted", func() bool { return n.Snapshot().Hosted() == 5 })
	ctx := context.Background()
	for _, g := range alice {
		if _, err := n.Job(ctx, "bob", g); !errors.Is(err, tuplebroker.ErrNotFound) {
			t.Errorf("bob's Job of alice's %s: %v, want ErrNotFound", g, err)
		}
		if _, err := n.Cancel(ctx, "bob", g); !errors.Is(err, tuplebroker.ErrNotFound) {
			t.Errorf("bob's Cancel of alice's %s: %v, want ErrNotFound", g, err)
		}
		if j, err := n.Job(ctx, "alice", g); err != nil || j.SubState == jobmanager.SubCancelRequested || j.Owner != "alice" {
			t.Errorf("alice's Job %s after bob's cancel: %+v, %v", g, j, err)
		}
	}
	if js, err := n.Jobs(ctx, "bob", alice); err != nil || len(js) != 0 {
		t.Errorf("bob's Jobs(alice's guids) = %v, %v; want none", js, err)
	}
	for uid, want := range map[string][]string{"alice": alice, "bob": bob} {
		var got []string
		for _, j := range mustJobs(t, n, uid) {
			got = append(got, j.ID)
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("Jobs(%s) = %v, want %v", uid, got, want)
		}
	}
	if js, _ := n.Jobs(ctx, "alice", append([]string{bob[0]}, alice...)); len(js) != 3 {
		t.Errorf("alice's Jobs over mixed guids: %d jobs, want her 3", len(js))
	}
	// Across the bus, the same. (ServeManager's flush needs a deadline.)
	sctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	srv, err := c.bus.ServeManager(sctx, "mA", n)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if _, err := c.bus.ManagerJob(ctx, "mA", "bob", alice[0]); !errors.Is(err, tuplebroker.ErrNotFound) {
		t.Errorf("bus: bob's Job of alice's job: %v, want ErrNotFound", err)
	}
	if j, err := c.bus.ManagerJob(ctx, "mA", "alice", alice[0]); err != nil || j.ID != alice[0] {
		t.Errorf("bus: alice's Job: %+v, %v", j, err)
	}
	if _, err := n.Job(ctx, "alice", "no-such-job"); !errors.Is(err, tuplebroker.ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
}

// Cancel a running and a pending job: cancel-requested at once, Cancelled as
// soon as the backend says so (the agent is polled at once: the poll
// interval here is far longer than the test), ErrConflict once ended.
func TestCancelPendingAndRunning(t *testing.T) {
	c := newCluster(t)
	cfg := simConfig("simA", sim.Fixed(time.Minute))
	cfg.RunSlots = 1
	be := c.agent(cfg)
	ncfg := c.nodeConfig("mA", 1000)
	ncfg.PollInterval = time.Minute
	n := c.node(ncfg, nil)
	guids := c.submit("alice", 2)
	waitFor(t, 10*time.Second, "2 jobs hosted", func() bool { return n.Snapshot().Hosted() == 2 })
	ctx := context.Background()
	byState := map[tuplebroker.JobState]string{}
	for _, g := range guids {
		j, err := n.Job(ctx, "alice", g)
		if err != nil {
			t.Fatal(err)
		}
		st, err := be.Status(ctx, []string{j.BackendJobID})
		if err != nil {
			t.Fatal(err)
		}
		byState[st[j.BackendJobID].State] = g
	}
	if byState[tuplebroker.Running] == "" || byState[tuplebroker.Pending] == "" {
		t.Fatalf("backend states %v, want one running and one pending", byState)
	}
	for _, s := range []tuplebroker.JobState{tuplebroker.Running, tuplebroker.Pending} {
		g := byState[s]
		j, err := n.Cancel(ctx, "alice", g)
		if err != nil {
			t.Fatalf("cancel %s job: %v", s, err)
		}
		if j.SubState != jobmanager.SubCancelRequested && j.State != tuplebroker.Cancelled {
			t.Errorf("cancel %s job: returned %s/%s, want %s", s, j.State, j.SubState, jobmanager.SubCancelRequested)
		}
		waitFor(t, 10*time.Second, "cancelled "+string(s)+" job", func() bool {
			j, err := n.Job(ctx, "alice", g)
			return err == nil && j.State == tuplebroker.Cancelled
		})
		if _, err := n.Cancel(ctx, "alice", g); !errors.Is(err, tuplebroker.ErrConflict) {
			t.Errorf("second cancel of %s job: %v, want ErrConflict", s, err)
		}
		var subs []string
		for _, e := range n.events.of(g) {
			subs = append(subs, string(e.State)+"/"+e.SubState)
		}
		requested := slices.ContainsFunc(n.events.of(g), func(e tuplebroker.Job) bool { return e.SubState == jobmanager.SubCancelRequested })
		if !requested || subs[len(subs)-1] != "Cancelled/"+tuplebroker.SubUserCancelled {
			t.Errorf("%s job events %v, want cancel-requested then Cancelled", s, subs)
		}
	}
	if got := be.Stats().Cancelled; got != 2 {
		t.Errorf("backend cancelled %d jobs, want 2", got)
	}
}

// A stopped node's jobs are taken over by another node within HostLease +
// TakeoverEvery, with their states from the backend; while it is alive they
// are not.
func TestTakeoverOfDeadNode(t *testing.T) {
	c := newCluster(t)
	cfg := simConfig("simA", sim.Fixed(time.Minute))
	cfg.RunSlots = 4
	be := c.agent(cfg)
	acfg := c.nodeConfig("mA", 1000)
	a := c.node(acfg, nil)
	guids := c.submit("alice", 10)
	waitFor(t, 10*time.Second, "A hosts 10 jobs, 4 running", func() bool {
		return states(mustJobs(t, a, "alice"))[tuplebroker.Running] == 4 && a.Snapshot().Hosted() == 10
	})
	b := c.node(c.nodeConfig("mB", 1000), nil)
	// A is alive for longer than a host lease: B takes nothing.
	time.Sleep(acfg.HostLease + acfg.HostLease/4)
	if h := b.Snapshot().Hosted(); h != 0 {
		t.Fatalf("B hosts %d jobs of a live node", h)
	}
	a.stop()
	stopped := time.Now()
	waitFor(t, 20*time.Second, "B hosts A's 10 jobs", func() bool { return b.Snapshot().Hosted() == 10 })
	took := time.Since(stopped)
	t.Logf("taken over in %v", took)
	if limit := acfg.HostLease + acfg.TakeoverEvery + time.Second; took > limit {
		t.Errorf("takeover took %v, want within HostLease + TakeoverEvery (%v, with 1s of slack)", took, limit)
	}
	ctx := context.Background()
	waitFor(t, 10*time.Second, "B's states match the backend", func() bool {
		for _, g := range guids {
			j, err := b.Job(ctx, "alice", g)
			if err != nil || j.Manager != "mB" {
				return false
			}
			st, err := be.Status(ctx, []string{j.BackendJobID})
			if err != nil || st[j.BackendJobID].State != j.State {
				return false
			}
		}
		return true
	})
	if s := states(mustJobs(t, b, "alice")); s[tuplebroker.Running] != 4 || s[tuplebroker.Pending] != 6 {
		t.Errorf("B's states %v, want 4 running and 6 pending", s)
	}
	for _, g := range guids {
		if r, ok := c.response(g); !ok || r.Manager != "mB" || !r.Published {
			t.Errorf("job %s: response %+v, want published naming mB", g, r)
		}
	}
}

// A node restarted under the same handle hosts its jobs again at once; a
// node beside it takes none of them.
func TestRestartHostsOwnJobsAgain(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	acfg := c.nodeConfig("mA", 1000)
	a := c.node(acfg, nil)
	guids := c.submit("alice", 5)
	waitFor(t, 10*time.Second, "5 jobs hosted", func() bool { return a.Snapshot().Hosted() == 5 })
	onA := mustJobs(t, a, "alice")
	b := c.node(c.nodeConfig("mB", 1000), nil)
	a.stop()
	a2 := c.node(acfg, nil)
	waitFor(t, 5*time.Second, "restarted A hosts its jobs", func() bool {
		s := states(mustJobs(t, a2, "alice"))
		return s[tuplebroker.Running] == len(onA)
	})
	time.Sleep(acfg.HostLease + acfg.TakeoverEvery + 500*time.Millisecond)
	if got := len(mustJobs(t, a2, "alice")); got != len(onA) {
		t.Errorf("restarted A hosts %d jobs, want %d", got, len(onA))
	}
	for _, j := range onA {
		if r, ok := c.response(j.ID); !ok || r.Manager != "mA" {
			t.Errorf("job %s: response %+v, want naming mA", j.ID, r)
		}
	}
	if got := a2.Snapshot().Hosted() + b.Snapshot().Hosted(); got != len(guids) {
		t.Errorf("%d jobs hosted after the restart, want %d", got, len(guids))
	}
}

// A node drops a job whose Response another node rewrote (took over).
func TestDropsJobTakenOverByAnother(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	a := c.node(c.nodeConfig("mA", 1000), nil)
	g := c.submit("alice", 1)[0]
	ctx := context.Background()
	waitFor(t, 10*time.Second, "job hosted", func() bool { _, err := a.Job(ctx, "alice", g); return err == nil })
	// "mX" is alive (so A does not take the job back) and takes the job.
	hb := func() {
		if err := c.names.Announce(ctx, jobmanager.HeartbeatName("mX"), []byte(`{"handle":"mX"}`)); err != nil {
			t.Error(err)
		}
	}
	hb()
	stopHB := make(chan struct{})
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		for {
			select {
			case <-stopHB:
				return
			case <-time.After(300 * time.Millisecond):
				hb()
			}
		}
	}()
	defer func() { close(stopHB); <-hbDone }()
	tx, err := c.sp.Begin(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	tu, err := tx.Take(tctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), GUID: g, Manager: "mA"})
	if err != nil {
		t.Fatal(err)
	}
	r := tu.(*tuplebroker.Response)
	r.Manager = "mX"
	if err := tx.Write(r, space.Forever); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "A drops the job", func() bool {
		_, err := a.Job(ctx, "alice", g)
		return errors.Is(err, tuplebroker.ErrNotFound)
	})
	time.Sleep(500 * time.Millisecond) // two takeover scans
	if r, ok := c.response(g); !ok || r.Manager != "mX" {
		t.Errorf("response %+v, want still naming mX", r)
	}
	if h := a.Snapshot().Hosted(); h != 0 {
		t.Errorf("A hosts %d jobs, want 0", h)
	}
}

// maxjobs N: the node hosts at most N; the rest wait for another node.
func TestAdmissionLimit(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	a := c.node(c.nodeConfig("mA", 5), nil)
	stop := make(chan struct{})
	most := make(chan int)
	go func() {
		m := 0
		for {
			m = max(m, a.Snapshot().Hosted())
			select {
			case <-stop:
				most <- m
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	c.submit("alice", 12)
	unpub := tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(false)}
	waitFor(t, 10*time.Second, "5 hosted, 7 waiting", func() bool {
		return a.Snapshot().Hosted() == 5 && len(c.sp.Entries(unpub)) == 7
	})
	time.Sleep(300 * time.Millisecond) // A would take more now if it could
	if n := len(c.sp.Entries(tuplebroker.ResponseTemplate{Manager: "mA"})); n != 5 {
		t.Errorf("%d responses name A, want 5", n)
	}
	b := c.node(c.nodeConfig("mB", 100), nil)
	waitFor(t, 10*time.Second, "B hosts the other 7", func() bool { return b.Snapshot().Hosted() == 7 })
	close(stop)
	if m := <-most; m > 5 {
		t.Errorf("A hosted %d jobs at once, want at most 5", m)
	}
	if h := a.Snapshot().Hosted(); h != 5 {
		t.Errorf("A hosts %d, want 5", h)
	}
}

// With Lifetime 500ms, a finished job's Response is retired and the job
// forgotten.
func TestLifetimeRetiresResponse(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(0)))
	cfg := c.nodeConfig("mA", 1000)
	cfg.Lifetime = 500 * time.Millisecond
	n := c.node(cfg, nil)
	guids := c.submit("alice", 3)
	ctx := context.Background()
	waitFor(t, 10*time.Second, "3 jobs hosted", func() bool {
		return len(c.sp.Entries(tuplebroker.ResponseTemplate{Manager: "mA"})) == 3
	})
	waitFor(t, 10*time.Second, "responses retired", func() bool {
		return len(c.sp.Entries(tuplebroker.ResponseTemplate{})) == 0
	})
	for _, g := range guids {
		if _, err := n.Job(ctx, "alice", g); !errors.Is(err, tuplebroker.ErrNotFound) {
			t.Errorf("retired job %s: %v, want ErrNotFound", g, err)
		}
		ev := n.events.of(g)
		if len(ev) == 0 || ev[len(ev)-1].State != tuplebroker.Finished {
			t.Errorf("job %s: events %v, want Finished before retirement", g, ev)
		}
	}
	if s := n.Snapshot(); s.Hosted() != 0 {
		t.Errorf("snapshot %+v after retirement, want nothing hosted", s)
	}
}

// Responses that ended before any backend are hosted as terminal jobs,
// never polled.
func TestTerminalResponses(t *testing.T) {
	c := newCluster(t)
	var cnt *counter
	n := c.node(c.nodeConfig("mA", 1000), func(b jobmanager.Backends) jobmanager.Backends { cnt = newCounter(b); return cnt })
	ctx := context.Background()
	failure := tuplebroker.SubMaxAttempts + " after 5 attempts: refused"
	for _, r := range []*tuplebroker.Response{
		(&tuplebroker.Request{GUID: "g-failed", UID: "alice", Attempts: 5}).Fail(tuplebroker.SubMaxAttempts, failure, "simA", time.Now()),
		(&tuplebroker.Request{GUID: "g-cancelled", UID: "alice"}).Cancelled(time.Now()),
	} {
		if _, err := c.sp.Write(ctx, r, space.Forever); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "2 jobs hosted", func() bool { return n.Snapshot().Hosted() == 2 })
	j, err := n.Job(ctx, "alice", "g-failed")
	if err != nil || j.State != tuplebroker.Failed || j.Reason != failure || j.SubState != tuplebroker.SubMaxAttempts {
		t.Errorf("failed response hosted as %+v, %v; want Failed/%s with reason %q", j, err, tuplebroker.SubMaxAttempts, failure)
	}
	j, err = n.Job(ctx, "alice", "g-cancelled")
	if err != nil || j.State != tuplebroker.Cancelled {
		t.Errorf("cancelled response hosted as %+v, %v; want Cancelled", j, err)
	}
	if s := n.Snapshot(); s.Terminal != 2 {
		t.Errorf("snapshot %+v, want 2 terminal", s)
	}
	time.Sleep(300 * time.Millisecond)
	if calls := cnt.of("simA"); len(calls) != 0 {
		t.Errorf("%d status calls for ended jobs, want none", len(calls))
	}
}

// A job its backend no longer knows ends Failed after MissingPolls polls;
// a job whose agent does not answer keeps its state.
func TestMissingAndUnavailableBackends(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	var cnt *counter
	cfg := c.nodeConfig("mA", 1000)
	n := c.node(cfg, func(b jobmanager.Backends) jobmanager.Backends { cnt = newCounter(b); return cnt })
	ctx := context.Background()
	for _, r := range []*tuplebroker.Response{
		tuplebroker.NewResponse(&tuplebroker.Request{GUID: "g-lost", UID: "alice"}, "simA", "simA", "simA-999", time.Now(), false),
		tuplebroker.NewResponse(&tuplebroker.Request{GUID: "g-ghost", UID: "alice"}, "ghost", "ghost", "ghost-1", time.Now(), false),
	} {
		if _, err := c.sp.Write(ctx, r, space.Forever); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "lost job failed", func() bool {
		j, err := n.Job(ctx, "alice", "g-lost")
		return err == nil && j.State == tuplebroker.Failed
	})
	j, _ := n.Job(ctx, "alice", "g-lost")
	if want := "backend no longer knows job simA-999"; j.Reason != want {
		t.Errorf("reason %q, want %q", j.Reason, want)
	}
	if calls := cnt.of("simA"); len(calls) != cfg.MissingPolls {
		t.Errorf("failed after %d polls, want %d", len(calls), cfg.MissingPolls)
	}
	waitFor(t, 10*time.Second, "ghost agent asked more than MissingPolls times", func() bool {
		return len(cnt.of("ghost")) > cfg.MissingPolls+2
	})
	for _, cl := range cnt.of("ghost") {
		if !errors.Is(cl.err, tuplebroker.ErrUnavailable) {
			t.Errorf("ghost agent call: %v, want ErrUnavailable", cl.err)
		}
	}
	if j, err := n.Job(ctx, "alice", "g-ghost"); err != nil || j.State != tuplebroker.Pending {
		t.Errorf("job of an unavailable agent: %+v, %v; want still Pending", j, err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := newCluster(t)
	good := c.nodeConfig("mA", 10)
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range map[string]func(*jobmanager.Config){
		"empty handle":  func(c *jobmanager.Config) { c.Handle = "" },
		"dotted handle": func(c *jobmanager.Config) { c.Handle = "a.b" },
		"no admission":  func(c *jobmanager.Config) { c.Admission = nil },
		"zero poll":     func(c *jobmanager.Config) { c.PollInterval = 0 },
		"zero lifetime": func(c *jobmanager.Config) { c.Lifetime = 0 },
		"short lease":   func(c *jobmanager.Config) { c.HostLease = 100 * time.Millisecond },
		"zero takeover": func(c *jobmanager.Config) { c.TakeoverEvery = 0 },
		"zero missing":  func(c *jobmanager.Config) { c.MissingPolls = 0 },
		"zero takers":   func(c *jobmanager.Config) { c.Takers = 0 },
		"short txn":     func(c *jobmanager.Config) { c.TxnLease = time.Millisecond },
		"zero batch":    func(c *jobmanager.Config) { c.Batch = 0 },
		"nil logger":    func(c *jobmanager.Config) { c.Logger = nil },
	} {
		cfg := good
		mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, jobmanager.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
		if _, err := jobmanager.New(cfg, c.sp, c.names, c.bus, c.bus); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// A published Response naming a running node that the node does not host
// (its commit's reply was lost) is hosted at the next takeover scan.
func TestHostsResponseNamingItself(t *testing.T) {
	c := newCluster(t)
	c.agent(simConfig("simA", sim.Fixed(time.Minute)))
	n := c.node(c.nodeConfig("mA", 1000), nil)
	g := c.submit("alice", 1)[0]
	ctx := context.Background()
	waitFor(t, 10*time.Second, "job hosted", func() bool { _, err := n.Job(ctx, "alice", g); return err == nil })
	r, _ := c.response(g)
	orphan := *r
	orphan.GUID = "g-orphan"
	if _, err := c.sp.Write(ctx, &orphan, space.Forever); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "orphan hosted", func() bool {
		j, err := n.Job(ctx, "alice", "g-orphan")
		return err == nil && j.State == tuplebroker.Running
	})
}
