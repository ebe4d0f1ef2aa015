package sim

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// baseConfig is unlimited, instantaneous and deterministic.
func baseConfig(clk Clock) Config {
	return Config{Name: "t", Capabilities: []string{"os=LINUX"}, Seed: 7, Clock: clk}
}

// newSim builds a Backend on a FakeClock at t0 from baseConfig changed by mod.
func newSim(t testing.TB, mod func(*Config)) (*Backend, *FakeClock) {
	t.Helper()
	clk := NewFakeClock(t0)
	cfg := baseConfig(clk)
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b, clk
}

func ajob(guid string) agents.Job { return agents.Job{GUID: guid, UID: "u"} }

func jobOn(guid string, os jsdl.OperatingSystemType, arch jsdl.ProcessorArchitecture) agents.Job {
	j := ajob(guid)
	j.Definition = &jsdl.JobDefinition{JobDescription: jsdl.JobDescription{
		Resources: &jsdl.Resources{OperatingSystem: &jsdl.OperatingSystem{Type: os}, CPUArchitecture: arch},
	}}
	return j
}

type result struct {
	id  string
	err error
}

// submitAsync submits in a goroutine; the channel gets the result.
func submitAsync(ctx context.Context, b *Backend, j agents.Job) <-chan result {
	ch := make(chan result, 1)
	go func() {
		id, err := b.Submit(ctx, j)
		ch <- result{id, err}
	}()
	return ch
}

func mustSubmit(t testing.TB, b *Backend, guid string) string {
	t.Helper()
	id, err := b.Submit(context.Background(), ajob(guid))
	if err != nil {
		t.Fatalf("submit %s: %v", guid, err)
	}
	return id
}

func wait(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("submission did not return")
		return result{}
	}
}

func waitSleepers(t testing.TB, c *FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitSleepers(ctx, n); err != nil {
		t.Fatalf("waiting for %d sleepers (have %d): %v", n, c.Sleepers(), err)
	}
}

func status(t testing.TB, b *Backend, id string) tuplebroker.Status {
	t.Helper()
	m, err := b.Status(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := m[id]
	if !ok {
		t.Fatalf("status: %s unknown", id)
	}
	return st
}

func wantState(t testing.TB, b *Backend, id string, state tuplebroker.JobState, sub string) tuplebroker.Status {
	t.Helper()
	st := status(t, b, id)
	if st.State != state || st.SubState != sub {
		t.Fatalf("%s: state %s/%s, want %s/%s", id, st.State, st.SubState, state, sub)
	}
	return st
}

func wantErr(t testing.TB, err error, want ...error) {
	t.Helper()
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("error %v does not wrap %v", err, w)
		}
	}
}

func guid(i int) string { return fmt.Sprintf("g-%06d", i) }
