package agents_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/agents/sim"
	"tuplebroker/space"
)

// The take order, end to end: real NATS, a real agent, a one-slot simulated
// resource broker whose records say in which order jobs reached it.

func (p *pool) write(ctx context.Context, uid string, prio int) string {
	r := &tuplebroker.Request{GUID: uuid.NewString(), UID: uid, Factory: "test", JSDL: []byte(helloJSDL),
		Created: time.Now(), Priority: prio}
	if _, err := p.sp.Write(ctx, r, space.Forever); err != nil {
		p.t.Fatal(err)
	}
	return r.GUID
}

func oneSlot(name string) (sim.Config, agents.Config) {
	cfg := sim.Config{Name: name, Capabilities: []string{"os=LINUX"}, QueueSlots: 1, RunTime: sim.Fixed(10 * time.Millisecond), Seed: 1}
	acfg := agents.DefaultConfig()
	acfg.Workers = 1
	return cfg, acfg
}

func order(be *sim.Backend) []string {
	var out []string
	for _, r := range be.Submissions() {
		out = append(out, r.GUID)
	}
	return out
}

func waitSubmitted(t *testing.T, ctx context.Context, be *sim.Backend, n int) []string {
	t.Helper()
	for len(be.Submissions()) < n {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d submitted", len(be.Submissions()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return order(be)
}

// 16 ordinary jobs, then 3 urgent ones: the urgent ones reach the backend
// before at least 12 of the ordinary ones.
func TestPriorityJobsOvertake(t *testing.T) {
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, acfg := oneSlot("one")
	be := p.startAgent(ctx, cfg, acfg, "fixed")
	var ordinary, urgent []string
	for i := 0; i < 16; i++ {
		ordinary = append(ordinary, p.write(ctx, "a", 0))
	}
	for i := 0; i < 3; i++ {
		urgent = append(urgent, p.write(ctx, "a", 500))
	}
	got := waitSubmitted(t, ctx, be, 19)
	lastUrgent := 0
	for _, g := range urgent {
		lastUrgent = max(lastUrgent, slices.Index(got, g))
	}
	after := 0
	for _, g := range ordinary {
		if slices.Index(got, g) > lastUrgent {
			after++
		}
	}
	if after < 12 {
		t.Fatalf("the urgent jobs went before only %d of 16 ordinary ones: %v", after, got)
	}
	// Within one user and one priority: submission order.
	var seen []string
	for _, g := range got {
		if slices.Contains(ordinary, g) {
			seen = append(seen, g)
		}
	}
	if !slices.Equal(seen, ordinary) {
		t.Fatalf("ordinary jobs out of submission order")
	}
}

// User a queues 1,000 jobs, then user b sends 10: every one of b's reaches
// the backend within the next 30 dispatches.
func TestFairShareAgainstAFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 jobs")
	}
	p := newPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for i := 0; i < 1000; i++ {
		p.write(ctx, "a", 0)
	}
	cfg, acfg := oneSlot("one")
	be := p.startAgent(ctx, cfg, acfg, "fixed")
	waitSubmitted(t, ctx, be, 20)
	var bs []string
	for i := 0; i < 10; i++ {
		bs = append(bs, p.write(ctx, "b", 0))
	}
	n0 := len(be.Submissions())
	got := waitSubmitted(t, ctx, be, n0+30)
	for _, g := range bs {
		if i := slices.Index(got, g); i < 0 || i >= n0+30 {
			t.Fatalf("b's job at dispatch %d, b sent its 10 when %d were dispatched", i, n0)
		}
	}
}
