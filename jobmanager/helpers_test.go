package jobmanager_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/agents/sim"
	"tuplebroker/bus"
	"tuplebroker/jobmanager"
	"tuplebroker/jsdl"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// cluster is one embedded NATS server; every role gets its own connection,
// space, names and bus, as separate processes would.
type cluster struct {
	t    *testing.T
	url  string
	proc // the test's own view

	jsdl []byte
	reqs tuplebroker.Requirements
	log  *slog.Logger
}

type proc struct {
	sp    *space.Space
	names *space.Names
	bus   *bus.Bus
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	doc, err := os.ReadFile("../jsdl/testdata/hello.jsdl")
	if err != nil {
		t.Fatal(err)
	}
	def, err := jsdl.ParseBytes(doc, jsdl.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, url: srv.ClientURL(), jsdl: doc, reqs: def.Requirements(),
		log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	c.proc = c.open()
	return c
}

// open connects one more "process".
func (c *cluster) open() proc {
	c.t.Helper()
	nc, err := space.Connect(c.url)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx := context.Background()
	sp, err := space.Open(ctx, nc, space.WithMemoryStorage(), space.WithLogger(c.log))
	if err != nil {
		c.t.Fatal(err)
	}
	names, err := sp.OpenNames(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	b, err := bus.New(nc, bus.WithLogger(c.log))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { sp.Close(); nc.Close() })
	return proc{sp: sp, names: names, bus: b}
}

// simConfig is a fast, unlimited sim backend whose jobs run for runTime.
func simConfig(name string, runTime sim.Dist) sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Name = name
	cfg.SubmitLatency, cfg.SubmitJitter = 0, 0
	cfg.Concurrency, cfg.QueueSlots, cfg.RunSlots = 0, 0, 0
	cfg.RefuseAbove, cfg.RefuseLoad = 0, 0
	cfg.RunTime = runTime
	return cfg
}

// agent runs an agent over a sim backend, served on the bus, until the
// test ends.
func (c *cluster) agent(cfg sim.Config) *sim.Backend {
	c.t.Helper()
	be, err := sim.New(context.Background(), cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	tcfg := strategies.DefaultThrottleConfig()
	tcfg.Fixed = strategies.FixedConfig{Rate: 100000, Burst: 1000}
	th, err := strategies.NewThrottle("fixed", tcfg)
	if err != nil {
		c.t.Fatal(err)
	}
	p := c.open()
	acfg := agents.DefaultConfig()
	acfg.Name, acfg.TxnLease, acfg.Logger = cfg.Name, 5*time.Second, c.log
	a, err := agents.New(acfg, p.sp, be, th)
	if err != nil {
		c.t.Fatal(err)
	}
	// bus.ServeAgent flushes with ctx, which NATS requires to have a deadline.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	srv, err := p.bus.ServeAgent(ctx, cfg.Name, a)
	if err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	c.t.Cleanup(func() { cancel(); <-done; srv.Stop(); be.Close(context.Background()) })
	return be
}

// nodeConfig is a node configuration with short intervals for tests.
func (c *cluster) nodeConfig(handle string, maxJobs int) jobmanager.Config {
	cfg := jobmanager.DefaultConfig()
	cfg.Handle = handle
	acfg := strategies.DefaultAdmissionConfig()
	acfg.MaxJobs = maxJobs
	adm, err := strategies.NewAdmission("maxjobs", acfg)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Admission = adm
	cfg.PollInterval = 100 * time.Millisecond
	cfg.HostLease = 2 * time.Second
	cfg.TakeoverEvery = 250 * time.Millisecond
	cfg.Logger = c.log
	return cfg
}

// running is a node started by the test.
type running struct {
	*jobmanager.Node
	events *recorder
	stop   func() // cancels Run and waits for it
}

// node starts a node in its own process; wrap, if set, wraps the bus it
// uses to reach the agents.
func (c *cluster) node(cfg jobmanager.Config, wrap func(jobmanager.Backends) jobmanager.Backends) *running {
	c.t.Helper()
	p := c.open()
	var be jobmanager.Backends = p.bus
	if wrap != nil {
		be = wrap(be)
	}
	rec := &recorder{next: p.bus, byJob: map[string][]tuplebroker.Job{}}
	n, err := jobmanager.New(cfg, p.sp, p.names, be, rec)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				c.t.Errorf("node %s: Run: %v", cfg.Handle, err)
			}
		})
	}
	c.t.Cleanup(stop)
	// Wait until it serves (its first heartbeat is written).
	waitFor(c.t, 10*time.Second, "node "+cfg.Handle+" serving", func() bool {
		_, err := n.Job(ctx, "nobody", "none")
		return errors.Is(err, tuplebroker.ErrNotFound)
	})
	return &running{Node: n, events: rec, stop: stop}
}

// submit writes n requests for uid as a factory would and returns their GUIDs.
func (c *cluster) submit(uid string, n int) []string {
	c.t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		r := &tuplebroker.Request{GUID: uuid.NewString(), Factory: "f1", UID: uid, JSDL: c.jsdl,
			Requirements: c.reqs, Created: time.Now().UTC()}
		if _, err := c.sp.Write(context.Background(), r, space.Forever); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, r.GUID)
	}
	return out
}

// response returns the one Response of guid in the test's view.
func (c *cluster) response(guid string) (*tuplebroker.Response, bool) {
	es := c.sp.Entries(tuplebroker.ResponseTemplate{GUID: guid})
	if len(es) != 1 {
		return nil, false
	}
	return es[0].Tuple.(*tuplebroker.Response), true
}

// waitFor polls cond until it holds; the timeout only avoids a hang.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder records every event a node publishes and forwards it.
type recorder struct {
	next  jobmanager.Events
	mu    sync.Mutex
	byJob map[string][]tuplebroker.Job
}

func (r *recorder) PublishEvent(j tuplebroker.Job) error {
	r.mu.Lock()
	r.byJob[j.ID] = append(r.byJob[j.ID], j)
	r.mu.Unlock()
	return r.next.PublishEvent(j)
}

func (r *recorder) of(guid string) []tuplebroker.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tuplebroker.Job(nil), r.byJob[guid]...)
}

// counter counts the status calls a node makes, per agent.
type counter struct {
	jobmanager.Backends
	mu    sync.Mutex
	calls map[string][]statusCall
}

type statusCall struct {
	at  time.Time
	ids int
	err error
}

func newCounter(next jobmanager.Backends) *counter {
	return &counter{Backends: next, calls: map[string][]statusCall{}}
}

func (c *counter) AgentStatus(ctx context.Context, agent string, ids []string) (map[string]tuplebroker.Status, error) {
	at := time.Now()
	out, err := c.Backends.AgentStatus(ctx, agent, ids)
	c.mu.Lock()
	c.calls[agent] = append(c.calls[agent], statusCall{at: at, ids: len(ids), err: err})
	c.mu.Unlock()
	return out, err
}

func (c *counter) of(agent string) []statusCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]statusCall(nil), c.calls[agent]...)
}

// states counts jobs by state.
func states(js []tuplebroker.Job) map[tuplebroker.JobState]int {
	m := map[tuplebroker.JobState]int{}
	for _, j := range js {
		m[j.State]++
	}
	return m
}

func mustJobs(t *testing.T, n *running, uid string) []tuplebroker.Job {
	t.Helper()
	js, err := n.Jobs(context.Background(), uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
