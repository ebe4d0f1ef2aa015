package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/client"
	"tuplebroker/space"
)

const poolToken = "pool-test-token-0123456789abcdef"

// testPool is a whole pool in this process: NATS (memory), the space, a
// factory on a loopback port, a manager node and the configured agents.
type testPool struct {
	p    *pool
	cl   *client.Client
	done chan error
}

func startPool(t testing.TB, cfg poolConfig) *testPool {
	t.Helper()
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithCancel(context.Background())
	sp, err := space.Open(ctx, nc, space.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(poolToken+" alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cl, err := client.New("http://"+ln.Addr().String(), poolToken, client.WithTimeout(time.Minute), client.WithHTTPClient(client.NewHTTPClient(32)))
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPool{
		p:    &pool{cfg: cfg, log: log, nc: nc, sp: sp, listener: ln, tokensFile: tokens, manager: true, agents: cfg.Agents},
		cl:   cl,
		done: make(chan error, 1),
	}
	ready := make(chan struct{})
	tp.p.ready = func(string) error { close(ready); return nil }
	go func() { tp.done <- tp.p.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-tp.done:
			if err != nil {
				t.Errorf("pool: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("pool did not stop within a minute")
		}
	})
	select {
	case <-ready:
	case err := <-tp.done:
		t.Fatalf("pool: %v", err)
	}
	return tp
}

func (tp *testPool) submit(t testing.TB, doc []byte, priority int) tuplebroker.Job {
	t.Helper()
	s, err := tp.cl.Submit(context.Background(), doc, client.SubmitOptions{Priority: priority, Wait: client.NoWait})
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	return s.Job
}

func (tp *testPool) get(t testing.TB, id string) tuplebroker.Job {
	t.Helper()
	j, err := tp.cl.Job(context.Background(), id)
	if err != nil {
		t.Fatalf("GET %s: %v", id, err)
	}
	return j
}

// waitEnded polls every job until it is terminal and returns them.
func (tp *testPool) waitEnded(t testing.TB, ids []string, within time.Duration) []tuplebroker.Job {
	t.Helper()
	out := make([]tuplebroker.Job, len(ids))
	deadline := time.Now().Add(within)
	for i, id := range ids {
		for {
			j := tp.get(t, id)
			if j.State.Terminal() {
				out[i] = j
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still %s/%s after %v", id, j.State, j.SubState, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

var trueJSDL = []byte(`<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
    xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix">
  <jsdl:JobDescription><jsdl:Application><jsdl-posix:POSIXApplication>
    <jsdl-posix:Executable>/bin/true</jsdl-posix:Executable>
  </jsdl-posix:POSIXApplication></jsdl:Application></jsdl:JobDescription>
</jsdl:JobDefinition>`)

func simAgent(name string, s simConfig, th throttleConfig, couriers int) agentConfig {
	return agentConfig{Name: name, Backend: "sim", Workers: 4, Couriers: &couriers, Throttle: th, Sim: &s}
}

func fastManager() managerConfig {
	return managerConfig{PollInterval: duration(200 * time.Millisecond)}
}

// TestRefusingBackend: one of three sim brokers refuses half of its
// submissions. No user sees a failure, its agent's adaptive rate falls
// below the others', and the others take the load.
func TestRefusingBackend(t *testing.T) {
	th := throttleConfig{Strategy: "adaptive", Rate: 100, MaxRate: 1000, Burst: 4}
	cfg := poolConfig{
		Factory: factoryConfig{Strategy: "pull"},
		Manager: fastManager(),
		Agents: []agentConfig{
			simAgent("sim-a", simConfig{SubmitLatency: duration(2 * time.Millisecond)}, th, 0),
			simAgent("sim-b", simConfig{SubmitLatency: duration(2 * time.Millisecond)}, th, 0),
			simAgent("sim-bad", simConfig{SubmitLatency: duration(2 * time.Millisecond), RefuseBase: 0.5}, th, 0),
		},
	}
	tp := startPool(t, cfg)
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, tp.submit(t, trueJSDL, 0).ID)
	}
	retried := 0
	for _, j := range tp.waitEnded(t, ids, 2*time.Minute) {
		if j.State != tuplebroker.Finished {
			t.Fatalf("job %s ended %s: %s", j.ID, j.State, j.Reason)
		}
		if j.Attempts > 1 {
			retried++
		}
	}
	per := map[string]int64{}
	rate := map[string]float64{}
	var refused int64
	for _, a := range tp.p.running {
		st := a.Stats()
		per[st.Agent], rate[st.Agent] = st.Submitted, st.Rate
		if st.Agent == "sim-bad" {
			refused = st.Refused
		}
	}
	t.Logf("submitted per agent %v, rates %v, sim-bad refused %d, %d jobs needed more than one attempt", per, rate, refused, retried)
	if refused == 0 || retried == 0 {
		t.Fatalf("the refusing backend refused nothing (%d) or no job was retried (%d)", refused, retried)
	}
	if per["sim-bad"] >= per["sim-a"] || per["sim-bad"] >= per["sim-b"] {
		t.Errorf("the refusing backend took as much as a healthy one: %v", per)
	}
	if rate["sim-bad"] >= rate["sim-a"] || rate["sim-bad"] >= rate["sim-b"] {
		t.Errorf("the refusing agent's rate did not fall below the others': %v", rate)
	}
}

// TestMaxAttempts: a job every backend refuses ends Failed, with the
// reason, after the configured number of attempts.
func TestMaxAttempts(t *testing.T) {
	th := throttleConfig{Strategy: "fixed", Rate: 1000, Burst: 10}
	a := simAgent("sim-full", simConfig{RefuseBase: 1}, th, 0)
	a.MaxAttempts = 3
	tp := startPool(t, poolConfig{Factory: factoryConfig{Strategy: "pull"}, Manager: fastManager(), Agents: []agentConfig{a}})
	j := tp.waitEnded(t, []string{tp.submit(t, trueJSDL, 0).ID}, time.Minute)[0]
	if j.State != tuplebroker.Failed || j.SubState != tuplebroker.SubMaxAttempts || j.Attempts != 3 {
		t.Fatalf("job = %s/%s after %d attempts (%s); want Failed/%s after 3", j.State, j.SubState, j.Attempts, j.Reason, tuplebroker.SubMaxAttempts)
	}
	t.Logf("reason: %s", j.Reason)
}

// TestPushAndFallback: with the hybrid strategy, priority jobs travel
// through couriers (Job.Pushed) while ordinary ones are pulled; with no
// courier on offer, priority jobs fall back to pull and still run.
func TestPushAndFallback(t *testing.T) {
	th := throttleConfig{Strategy: "fixed", Rate: 1000, Burst: 10}
	for _, tc := range []struct {
		name     string
		couriers int
		pushed   bool
	}{{"couriers offered", 2, true}, {"no couriers", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			tp := startPool(t, poolConfig{
				Factory: factoryConfig{Strategy: "hybrid", PushPriority: 5},
				Manager: fastManager(),
				Agents:  []agentConfig{simAgent("sim-a", simConfig{}, th, tc.couriers), simAgent("sim-b", simConfig{}, th, tc.couriers)},
			})
			// Let the agents offer their couriers.
			time.Sleep(500 * time.Millisecond)
			var urgent, plain []string
			for i := 0; i < 20; i++ {
				urgent = append(urgent, tp.submit(t, trueJSDL, 10).ID)
				plain = append(plain, tp.submit(t, trueJSDL, 0).ID)
			}
			pushed := 0
			for _, j := range tp.waitEnded(t, urgent, time.Minute) {
				if j.State != tuplebroker.Finished {
					t.Fatalf("urgent job %s ended %s: %s", j.ID, j.State, j.Reason)
				}
				if j.Pushed {
					pushed++
				}
			}
			for _, j := range tp.waitEnded(t, plain, time.Minute) {
				if j.State != tuplebroker.Finished || j.Pushed {
					t.Fatalf("plain job %s: %s pushed=%v", j.ID, j.State, j.Pushed)
				}
			}
			var agentPushed int64
			for _, a := range tp.p.running {
				agentPushed += a.Stats().Pushed
			}
			t.Logf("%s: %d of %d urgent jobs pushed (agents counted %d); factory stats %+v", tc.name, pushed, len(urgent), agentPushed, tp.p.factory.Stats())
			if tc.pushed && (pushed == 0 || int64(pushed) != agentPushed) {
				t.Fatalf("no urgent job was pushed, or counts disagree: jobs %d, agents %d", pushed, agentPushed)
			}
			if !tc.pushed && pushed != 0 {
				t.Fatalf("%d jobs pushed with no couriers on offer", pushed)
			}
		})
	}
}

// cancel cancels the job and returns the answer's status and job.
func (tp *testPool) cancel(t *testing.T, id string) (int, tuplebroker.Job) {
	t.Helper()
	j, err := tp.cl.Cancel(context.Background(), id)
	if ce := (*client.Error)(nil); errors.As(err, &ce) {
		return ce.StatusCode, tuplebroker.Job{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return http.StatusOK, j
}

func (tp *testPool) waitFor(t *testing.T, id string, ok func(tuplebroker.Job) bool, within time.Duration) tuplebroker.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j := tp.get(t, id)
		if ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: still %s/%s after %v", id, j.State, j.SubState, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCancelLocalJobs: on a local agent with one slot, a running job is
// cancelled (its process group killed) and a job still queued in the space
// behind it is cancelled without ever starting.
func TestCancelLocalJobs(t *testing.T) {
	root := t.TempDir()
	one, none := 1, 0
	tp := startPool(t, poolConfig{
		Factory: factoryConfig{Strategy: "pull"},
		Manager: fastManager(),
		Agents: []agentConfig{{Name: "local", Backend: "local", Workers: 1, Couriers: &none,
			Local: &localConfig{Slots: one, Root: root}}},
	})
	sleep, err := os.ReadFile("../../examples/sleep.jsdl")
	if err != nil {
		t.Fatal(err)
	}
	running := tp.submit(t, sleep, 0)
	tp.waitFor(t, running.ID, func(j tuplebroker.Job) bool { return j.State == tuplebroker.Running }, time.Minute)
	queued := tp.submit(t, sleep, 0)
	time.Sleep(300 * time.Millisecond) // the agent, if it were to take it, would have
	if j := tp.get(t, queued.ID); j.State != tuplebroker.Pending || j.SubState != tuplebroker.SubQueuedInSpace {
		t.Fatalf("second job with the only slot busy: %s/%s, want Pending/%s", j.State, j.SubState, tuplebroker.SubQueuedInSpace)
	}
	if code, j := tp.cancel(t, queued.ID); code != http.StatusOK || j.State != tuplebroker.Cancelled {
		t.Fatalf("cancel queued: %d %s/%s", code, j.State, j.SubState)
	}
	if code, _ := tp.cancel(t, running.ID); code != http.StatusOK {
		t.Fatalf("cancel running: %d", code)
	}
	j := tp.waitFor(t, running.ID, func(j tuplebroker.Job) bool { return j.State.Terminal() }, time.Minute)
	if j.State != tuplebroker.Cancelled {
		t.Fatalf("running job after cancel: %s/%s (%s)", j.State, j.SubState, j.Reason)
	}
	if code, _ := tp.cancel(t, running.ID); code != http.StatusConflict {
		t.Fatalf("second cancel: %d, want 409", code)
	}
	// The queued job never reached the backend.
	if j := tp.get(t, queued.ID); j.State != tuplebroker.Cancelled || j.BackendJobID != "" {
		t.Fatalf("queued job: %+v", j)
	}
}
