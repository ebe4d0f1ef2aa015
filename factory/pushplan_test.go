package factory

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/strategies"
)

func TestPushFallback(t *testing.T) {
	mk := func(name string) strategies.FactoryStrategy {
		t.Helper()
		st, err := strategies.NewFactoryStrategy(name, strategies.DefaultFactoryConfig())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	pull, push, hyb := mk("pull"), mk("push"), mk("hybrid")
	none := strategies.Supply{}
	failing := strategies.Supply{RecentPushFailures: 3} // the default push failure limit
	for _, tt := range []struct {
		name     string
		st       strategies.FactoryStrategy
		priority int
		sup      strategies.Supply
		courier  bool
		want     bool
	}{
		{"pull never falls back", pull, 5, none, false, false},
		{"push with a courier", push, 0, strategies.Supply{Free: 1}, true, false},
		{"push, no courier", push, 0, none, false, true},
		{"push, the courier went to another factory", push, 0, strategies.Supply{Free: 1}, false, true},
		{"push, pushes failing: pulled by choice", push, 0, failing, false, false},
		{"hybrid, low priority: pulled by choice", hyb, 0, none, false, false},
		{"hybrid, high priority, no courier", hyb, 1, none, false, true},
		{"hybrid, high priority, courier", hyb, 1, strategies.Supply{Free: 2}, true, false},
		{"hybrid, high priority, pushes failing", hyb, 1, failing, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dec := tt.st.Decide(tt.priority, tt.sup)
			if got := pushFallback(tt.st, tt.priority, tt.sup, dec, tt.courier); got != tt.want {
				t.Fatalf("pushFallback = %v, want %v (decision %+v)", got, tt.want, dec)
			}
		})
	}
}

func TestPickHeld(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	linux := &tuplebroker.Courier{Agent: "a", Capabilities: []string{"os=LINUX"}, Expires: now.Add(time.Minute)}
	both := &tuplebroker.Courier{Agent: "b", Capabilities: []string{"os=LINUX", "arch=x86_64"}, Expires: now.Add(time.Minute)}
	expiring := &tuplebroker.Courier{Agent: "c", Capabilities: []string{"os=LINUX", "arch=x86_64"}, Expires: now.Add(courierMargin)}
	for _, tt := range []struct {
		name string
		held []*tuplebroker.Courier
		reqs []string
		want int
	}{
		{"none held", nil, nil, -1},
		{"no requirements: the first", []*tuplebroker.Courier{linux, both}, nil, 0},
		{"the first that covers", []*tuplebroker.Courier{linux, both}, []string{"arch=x86_64"}, 1},
		{"none covers", []*tuplebroker.Courier{linux}, []string{"arch=x86_64"}, -1},
		{"about to expire: skipped", []*tuplebroker.Courier{expiring, both}, []string{"arch=x86_64"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickHeld(tt.held, tt.reqs, now); got != tt.want {
				t.Fatalf("pickHeld = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCourierAgents(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cour := func(agent string, slot int, exp time.Duration, caps ...string) *tuplebroker.Courier {
		return &tuplebroker.Courier{Agent: agent, Slot: slot, Capabilities: caps, Expires: now.Add(exp)}
	}
	keep := func(int, func(i, j int)) {}
	reverse := func(n int, swap func(i, j int)) {
		for i := 0; i < n/2; i++ {
			swap(i, n-1-i)
		}
	}
	many := []seenCourier{}
	for i := range 6 {
		many = append(many, seenCourier{c: cour(fmt.Sprintf("a%d", i), 0, time.Minute)})
	}
	for _, tt := range []struct {
		name    string
		seen    []seenCourier
		reqs    []string
		shuffle func(int, func(i, j int))
		want    []string
	}{
		{"none", nil, nil, keep, nil},
		{"each agent once", []seenCourier{{c: cour("a", 0, time.Minute)}, {c: cour("a", 1, time.Minute)}, {c: cour("b", 0, time.Minute)}},
			nil, keep, []string{"a", "b"}},
		{"claimed, expiring and not covering are left out", []seenCourier{
			{c: cour("claimed", 0, time.Minute), claimed: true},
			{c: cour("expiring", 0, courierMargin/2)},
			{c: cour("windows", 0, time.Minute, "os=WINDOWS")},
			{c: cour("linux", 0, time.Minute, "os=LINUX")},
		}, []string{"os=LINUX"}, keep, []string{"linux"}},
		{"in the shuffled order", []seenCourier{{c: cour("a", 0, time.Minute)}, {c: cour("b", 0, time.Minute)}, {c: cour("c", 0, time.Minute)}},
			nil, reverse, []string{"c", "b", "a"}},
		{"at most maxCourierTries, after the shuffle", many, nil, reverse, []string{"a5", "a4", "a3", "a2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := courierAgents(tt.seen, tt.reqs, now, tt.shuffle); !slices.Equal(got, tt.want) {
				t.Fatalf("courierAgents = %v, want %v", got, tt.want)
			}
		})
	}
	// A real shuffle spreads the first try over the agents.
	first := map[string]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		first[courierAgents(many, nil, now, r.Shuffle)[0]] = true
	}
	if len(first) != len(many) {
		t.Fatalf("first tries went to %d of %d agents", len(first), len(many))
	}
}

func TestRetryPush(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		queued bool
		want   bool
	}{
		{"pushed", nil, true, false},
		{"agent did not find the request yet", errors.New("no match"), true, true},
		{"agent unreachable", fmt.Errorf("push: %w", tuplebroker.ErrUnavailable), true, false},
		{"an agent holds the request already", errors.New("no match"), false, false},
		{"refused, request still queued", fmt.Errorf("%w: no slot", tuplebroker.ErrRefused), true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryPush(tt.err, tt.queued); got != tt.want {
				t.Fatalf("retryPush = %v, want %v", got, tt.want)
			}
		})
	}
}
