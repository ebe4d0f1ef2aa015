package strategies

import (
	"errors"
	"fmt"
	"testing"
)

func mustFactory(t *testing.T, name string, c FactoryConfig) FactoryStrategy {
	t.Helper()
	s, err := NewFactoryStrategy(name, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The push/pull matrix: every strategy × priority below, at and above the
// threshold × courier supply (none, held, free in the space, both, failing).
func TestFactoryMatrix(t *testing.T) {
	cfg := FactoryConfig{PushPriority: 5, KeepCouriers: 2, PushFailureLimit: 3}
	var (
		none    = Supply{}
		held1   = Supply{Held: 1}
		free1   = Supply{Free: 1}
		plenty  = Supply{Held: 1, Free: 10}
		hoard   = Supply{Held: 6, Free: 0}
		failing = Supply{Held: 2, Free: 10, RecentPushFailures: 3}
		flaky   = Supply{Held: 2, Free: 10, RecentPushFailures: 2}
		pull    = func(keep int) Decision { return Decision{Push: false, KeepCouriers: keep} }
		push    = func(keep int) Decision { return Decision{Push: true, KeepCouriers: keep} }
	)
	type row struct {
		priority int
		s        Supply
		want     Decision
	}
	matrix := map[string][]row{
		"pull": {
			{0, none, pull(0)}, {9, none, pull(0)}, {9, held1, pull(0)}, {9, plenty, pull(0)},
			{0, hoard, pull(0)}, {9, failing, pull(0)},
		},
		"push": {
			{0, none, pull(0)},    // no courier: fall back to pull
			{0, held1, push(0)},   // uses the held courier, none left to keep
			{0, free1, push(0)},   // takes the free one
			{-7, plenty, push(2)}, // priority does not matter; keeps K of the 10 left
			{0, hoard, push(2)},   // releases 3 of the 5 left
			{9, failing, pull(0)}, // pushes are failing: pull, hand couriers back
			{9, flaky, push(2)},   // below the failure limit
			{0, Supply{Held: 2}, push(1)},
		},
		"hybrid": {
			{4, none, pull(0)}, {5, none, pull(0)}, {9, none, pull(0)}, // no courier at all
			{4, held1, pull(1)}, // low priority pulls, but keeps its courier for later
			{5, held1, push(0)}, // at the threshold: push
			{4, free1, pull(1)}, // greedy: takes the free courier to hold
			{6, free1, push(0)},
			{0, plenty, pull(2)}, {-1, plenty, pull(2)}, {5, plenty, push(2)}, {1 << 30, plenty, push(2)},
			{4, hoard, pull(2)}, {5, hoard, push(2)},
			{9, failing, pull(0)}, {9, flaky, push(2)}, {4, flaky, pull(2)},
		},
	}
	for name, rows := range matrix {
		s := mustFactory(t, name, cfg)
		for _, r := range rows {
			t.Run(fmt.Sprintf("%s/prio%d/%+v", name, r.priority, r.s), func(t *testing.T) {
				if got := s.Decide(r.priority, r.s); got != r.want {
					t.Errorf("Decide = %+v, want %+v", got, r.want)
				}
			})
		}
	}
	if len(matrix) != len(FactoryStrategyNames()) {
		t.Errorf("matrix covers %d strategies, registry has %v", len(matrix), FactoryStrategyNames())
	}
}

// Properties over a grid of inputs: a push needs a courier; KeepCouriers is
// within [0, KeepCouriers] and what the supply can provide; pull never
// pushes; hybrid equals push for urgent jobs and differs from it only in the
// push bit for the rest.
func TestFactoryProperties(t *testing.T) {
	for _, keep := range []int{0, 1, 3} {
		for _, limit := range []int{0, 1, 4} {
			cfg := FactoryConfig{PushPriority: 3, KeepCouriers: keep, PushFailureLimit: limit}
			pull, push, hybrid := mustFactory(t, "pull", cfg), mustFactory(t, "push", cfg), mustFactory(t, "hybrid", cfg)
			for prio := -1; prio <= 5; prio++ {
				for held := -1; held <= 4; held++ {
					for free := -1; free <= 4; free++ {
						for fails := 0; fails <= 5; fails++ {
							s := Supply{Held: held, Free: free, RecentPushFailures: fails}
							avail := max(held, 0) + max(free, 0)
							for name, st := range map[string]FactoryStrategy{"pull": pull, "push": push, "hybrid": hybrid} {
								d := st.Decide(prio, s)
								if d.Push && avail == 0 {
									t.Fatalf("%s %+v: push without a courier", name, s)
								}
								left := avail
								if d.Push {
									left--
								}
								if d.KeepCouriers < 0 || d.KeepCouriers > keep || d.KeepCouriers > left {
									t.Fatalf("%s %+v: keep %d out of [0, min(%d, %d)]", name, s, d.KeepCouriers, keep, left)
								}
								if limit > 0 && fails >= limit && d != (Decision{}) {
									t.Fatalf("%s %+v: %+v despite %d failures (limit %d)", name, s, d, fails, limit)
								}
							}
							if d := pull.Decide(prio, s); d != (Decision{}) {
								t.Fatalf("pull %+v: %+v", s, d)
							}
							dp, dh := push.Decide(prio, s), hybrid.Decide(prio, s)
							if prio >= cfg.PushPriority && dh != dp {
								t.Fatalf("hybrid prio %d %+v: %+v, push gives %+v", prio, s, dh, dp)
							}
							if prio < cfg.PushPriority && dh.Push {
								t.Fatalf("hybrid pushed priority %d below the threshold", prio)
							}
						}
					}
				}
			}
		}
	}
}

func TestFactoryConfigValidate(t *testing.T) {
	if err := DefaultFactoryConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*FactoryConfig)
	}{
		{"threshold 0", func(c *FactoryConfig) { c.PushPriority = 0 }},
		{"threshold negative", func(c *FactoryConfig) { c.PushPriority = -3 }},
		{"keep negative", func(c *FactoryConfig) { c.KeepCouriers = -1 }},
		{"keep above the limit", func(c *FactoryConfig) { c.KeepCouriers = MaxKeepCouriers + 1 }},
		{"failure limit negative", func(c *FactoryConfig) { c.PushFailureLimit = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultFactoryConfig()
			tc.mod(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			if _, err := NewFactoryStrategy("hybrid", c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewFactoryStrategy = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	d, err := NewDispatcher("roundrobin")
	if err != nil {
		t.Fatal(err)
	}
	agents := []string{"slurm-a", "slurm-b", "gridengine"}
	var got []int
	for range 7 {
		i, err := d.Next(agents)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	if fmt.Sprint(got) != "[0 1 2 0 1 2 0]" {
		t.Fatalf("turns %v", got)
	}
	// The list may change between calls; the turn carries on modulo its length.
	if i, _ := d.Next(agents[:2]); i != 1 {
		t.Errorf("7th turn over 2 agents = %d, want 1", i)
	}
	if _, err := d.Next(nil); !errors.Is(err, ErrNoAgents) {
		t.Errorf("Next(nil) = %v, want ErrNoAgents", err)
	}
	// Each constructor call starts a fresh turn.
	d2, _ := NewDispatcher("roundrobin")
	if i, _ := d2.Next(agents); i != 0 {
		t.Errorf("fresh dispatcher starts at %d", i)
	}
}
