package agents_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/agents/sim"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

const helloJSDL = `<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
  xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix"><jsdl:JobDescription><jsdl:Application>
  <jsdl-posix:POSIXApplication><jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>
  <jsdl-posix:Argument>hello</jsdl-posix:Argument></jsdl-posix:POSIXApplication></jsdl:Application>
  </jsdl:JobDescription></jsdl:JobDefinition>`

type pool struct {
	t    *testing.T
	url  string
	sp   *space.Space // the test's own view
	sims []*sim.Backend
}

func newPool(t *testing.T) *pool {
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	p := &pool{t: t, url: srv.ClientURL()}
	p.sp = p.open()
	return p
}

func (p *pool) open() *space.Space {
	nc, err := space.Connect(p.url)
	if err != nil {
		p.t.Fatal(err)
	}
	sp, err := space.Open(context.Background(), nc, space.WithMemoryStorage())
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { sp.Close(); nc.Close() })
	return sp
}

// startAgent runs an agent over a sim backend on its own connection until
// the test ends.
func (p *pool) startAgent(ctx context.Context, cfg sim.Config, acfg agents.Config, throttle string) *sim.Backend {
	be, err := sim.New(context.Background(), cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	tcfg := strategies.DefaultThrottleConfig()
	tcfg.Fixed = strategies.FixedConfig{Rate: 100000, Burst: 1000}
	tcfg.Adaptive.InitialRate, tcfg.Adaptive.MaxRate, tcfg.Adaptive.Burst = 2000, 100000, 100
	th, err := strategies.NewThrottle(throttle, tcfg)
	if err != nil {
		p.t.Fatal(err)
	}
	acfg.Name = cfg.Name
	a, err := agents.New(acfg, p.open(), be, th)
	if err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	p.t.Cleanup(func() { <-done })
	p.sims = append(p.sims, be)
	return be
}

func (p *pool) submit(ctx context.Context, n int) map[string]bool {
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		r := &tuplebroker.Request{GUID: uuid.NewString(), UID: "alice", Factory: "test", JSDL: []byte(helloJSDL), Created: time.Now()}
		if _, err := p.sp.Write(ctx, r, space.Forever); err != nil {
			p.t.Fatal(err)
		}
		want[r.GUID] = true
	}
	return want
}

// wait returns the responses once there is one per GUID.
func (p *pool) wait(ctx context.Context, want map[string]bool) map[string]*tuplebroker.Response {
	for {
		got := map[string]*tuplebroker.Response{}
		for _, e := range p.sp.Entries(tuplebroker.ResponseTemplate{}) {
			r := e.Tuple.(*tuplebroker.Response)
			got[r.GUID] = r
		}
		if len(got) >= len(want) {
			return got
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("%d of %d responses before timeout", len(got), len(want))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// audit checks that every GUID was accepted by exactly one backend, once.
func (p *pool) audit(want map[string]bool, resps map[string]*tuplebroker.Response) map[string]int {
	p.t.Helper()
	perBackend := map[string]int{}
	seen := map[string]string{}
	for _, be := range p.sims {
		st := be.Stats()
		if st.Duplicates != 0 {
			p.t.Errorf("%s accepted %d duplicate submissions", be.Name(), st.Duplicates)
		}
		for _, rec := range be.Submissions() {
			if prev, ok := seen[rec.GUID]; ok && prev != be.Name() {
				p.t.Errorf("%s submitted to both %s and %s", rec.GUID, prev, be.Name())
			}
			seen[rec.GUID] = be.Name()
			perBackend[be.Name()]++
		}
	}
	for g := range want {
		r := resps[g]
		if r == nil {
			p.t.Errorf("no response for %s", g)
			continue
		}
		if r.Failure != "" {
			continue
		}
		if seen[g] != r.Backend {
			p.t.Errorf("response for %s names backend %q, submitted to %q", g, r.Backend, seen[g])
		}
	}
	if n := len(p.sp.Entries(tuplebroker.RequestTemplate{})); n != 0 {
		p.t.Errorf("%d requests left in the space", n)
	}
	return perBackend
}

// Three agents over three simulated brokers share 1,500 requests: each job is
// submitted exactly once to exactly one backend and gets one response.
func TestAgentsShareWorkExactlyOnce(t *testing.T) {
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, name := range []string{"sim-a", "sim-b", "sim-c"} {
		cfg := sim.DefaultConfig()
		cfg.Name, cfg.Seed = name, int64(len(name)+len(p.sims))
		cfg.SubmitLatency = time.Millisecond
		acfg := agents.DefaultConfig()
		acfg.MaxAttempts = 1000 // the sims refuse above 50 submissions/s: retried, never failed
		p.startAgent(ctx, cfg, acfg, "adaptive")
	}
	want := p.submit(ctx, 1500)
	resps := p.wait(ctx, want)
	per := p.audit(want, resps)
	t.Logf("per backend: %v", per)
	total := 0
	for _, n := range per {
		total += n
	}
	if total != len(want) {
		t.Errorf("%d submissions for %d jobs", total, len(want))
	}
	for g, r := range resps {
		if r.Failure != "" {
			t.Fatalf("%s failed: %s", g, r.Failure)
		}
	}
	for _, be := range p.sims {
		if per[be.Name()] == 0 {
			t.Errorf("%s got no work", be.Name())
		}
	}
}

// A backend that loses the reply after accepting (the agent cannot know the
// job landed) is covered by Finder: the retry adopts the job instead of
// submitting it again.
func TestLostReplyIsAdoptedNotResubmitted(t *testing.T) {
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := sim.DefaultConfig()
	cfg.Name, cfg.Seed, cfg.LostReplyProbability = "sim-lossy", 7, 0.3
	acfg := agents.DefaultConfig()
	acfg.MaxAttempts = 50
	be := p.startAgent(ctx, cfg, acfg, "fixed")
	want := p.submit(ctx, 300)
	resps := p.wait(ctx, want)
	p.audit(want, resps)
	st := be.Stats()
	if st.LostReplies == 0 {
		t.Fatal("no reply was lost: the test proves nothing")
	}
	if st.Accepted != len(want) {
		t.Fatalf("%d accepted submissions for %d jobs", st.Accepted, len(want))
	}
	for _, r := range resps {
		if r.Failure != "" {
			t.Fatalf("job failed: %s", r.Failure)
		}
	}
	t.Logf("%d lost replies, all adopted", st.LostReplies)
}

// A broker refusing half its submissions: no job fails, and the other
// broker takes more of the load.
func TestRefusingBackendLosesNothing(t *testing.T) {
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	acfg := agents.DefaultConfig()
	acfg.MaxAttempts = 1000
	bad := sim.DefaultConfig()
	bad.Name, bad.Seed, bad.RefuseBase, bad.SubmitLatency = "sim-refusing", 3, 0.5, time.Millisecond
	good := sim.DefaultConfig()
	good.Name, good.Seed, good.SubmitLatency = "sim-good", 4, time.Millisecond
	badBe := p.startAgent(ctx, bad, acfg, "adaptive")
	p.startAgent(ctx, good, acfg, "adaptive")
	want := p.submit(ctx, 600)
	resps := p.wait(ctx, want)
	per := p.audit(want, resps)
	for g, r := range resps {
		if r.Failure != "" {
			t.Fatalf("%s failed: %s", g, r.Failure)
		}
	}
	t.Logf("per backend %v; refusing backend refused %d", per, badBe.Stats().Refused)
	if badBe.Stats().Refused == 0 {
		t.Fatal("the refusing backend never refused")
	}
	if per["sim-good"] <= per["sim-refusing"] {
		t.Fatalf("load did not move away from the refusing backend: %v", per)
	}
}

// A job refused past its maximum attempts ends Failed with the reason, and a
// backend's permanent rejection fails the job at once.
func TestMaxAttemptsAndRejectionFail(t *testing.T) {
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := sim.DefaultConfig()
	cfg.Name, cfg.RefuseBase = "sim-always-refuses", 1
	acfg := agents.DefaultConfig()
	acfg.MaxAttempts = 3
	be := p.startAgent(ctx, cfg, acfg, "fixed")
	want := p.submit(ctx, 5)
	resps := p.wait(ctx, want)
	for g, r := range resps {
		if r.Failure == "" || r.Attempts != 3 || r.Backend != "" {
			t.Fatalf("%s: %+v, want failed after 3 attempts", g, r)
		}
		if !strings.Contains(r.Failure, tuplebroker.SubMaxAttempts) {
			t.Fatalf("reason %q does not say why", r.Failure)
		}
	}
	if st := be.Stats(); st.Accepted != 0 || st.Refused != 15 {
		t.Fatalf("stats %+v, want 0 accepted and 15 refused", st)
	}
}

// A submission slower than the transaction lease: the agent renews the
// lease while it waits, so no other agent sees the request come back and
// submits it a second time.
func TestSlowSubmissionKeepsItsLease(t *testing.T) {
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acfg := agents.DefaultConfig()
	acfg.TxnLease = time.Second
	for _, name := range []string{"sim-slow-a", "sim-slow-b"} {
		cfg := sim.DefaultConfig()
		cfg.Name, cfg.SubmitLatency, cfg.SubmitJitter = name, 2500*time.Millisecond, 0
		p.startAgent(ctx, cfg, acfg, "fixed")
	}
	want := p.submit(ctx, 6)
	resps := p.wait(ctx, want)
	p.audit(want, resps)
	accepted := 0
	for _, be := range p.sims {
		accepted += be.Stats().Accepted
	}
	if accepted != len(want) {
		t.Fatalf("%d accepted submissions for %d jobs", accepted, len(want))
	}
}
