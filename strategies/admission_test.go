package strategies

import (
	"errors"
	"math"
	"testing"
)

func mustAdmission(t *testing.T, name string, c AdmissionConfig) Admission {
	t.Helper()
	a, err := NewAdmission(name, c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMaxJobsBoundaries(t *testing.T) {
	a := mustAdmission(t, "maxjobs", AdmissionConfig{MaxJobs: 10, Activity: DefaultAdmissionConfig().Activity})
	for _, tc := range []struct {
		s    ManagerSnapshot
		want bool
	}{
		{ManagerSnapshot{}, true},
		{ManagerSnapshot{Pending: 9}, true},
		{ManagerSnapshot{Pending: 10}, false},
		{ManagerSnapshot{Pending: 3, Running: 3, Terminal: 3}, true},
		{ManagerSnapshot{Pending: 3, Running: 3, Terminal: 4}, false}, // ended jobs still count: they are hosted
		{ManagerSnapshot{Running: 11}, false},
		{ManagerSnapshot{Running: 9, EventRate: 1e9}, true}, // maxjobs ignores activity
		{ManagerSnapshot{Pending: -5, Running: 9}, true},    // negative counts are zero
	} {
		if got := a.Admit(tc.s); got != tc.want {
			t.Errorf("Admit(%+v) = %v, want %v", tc.s, got, tc.want)
		}
	}
	if one := mustAdmission(t, "maxjobs", AdmissionConfig{MaxJobs: 1, Activity: DefaultAdmissionConfig().Activity}); !one.Admit(ManagerSnapshot{}) || one.Admit(ManagerSnapshot{Terminal: 1}) {
		t.Error("maxjobs 1: wants exactly one job")
	}
}

func TestActivityBoundaries(t *testing.T) {
	// Weights in binary fractions, so the boundaries are exact.
	c := DefaultAdmissionConfig()
	c.Activity = ActivityConfig{PendingWeight: 1, RunningWeight: 2, TerminalWeight: 0.25, EventWeight: 0.5, Budget: 20}
	a := mustAdmission(t, "activity", c)
	est := a.(Estimator)
	for _, tc := range []struct {
		name string
		s    ManagerSnapshot
		est  float64
		want bool // est + 1 (the new pending job) ≤ 20
	}{
		{"empty", ManagerSnapshot{}, 0, true},
		{"exactly at budget with the new job", ManagerSnapshot{Pending: 19}, 19, true},
		{"one over", ManagerSnapshot{Pending: 20}, 20, false},
		{"running counts double", ManagerSnapshot{Running: 9, Pending: 1}, 19, true},
		{"running counts double, over", ManagerSnapshot{Running: 10}, 20, false},
		{"ended jobs are cheap", ManagerSnapshot{Terminal: 76}, 19, true},
		{"ended jobs are cheap, over", ManagerSnapshot{Terminal: 77}, 19.25, false},
		{"events", ManagerSnapshot{Pending: 9, EventRate: 20}, 19, true},
		{"events, over", ManagerSnapshot{Pending: 9, EventRate: 20.5}, 19.25, false},
		{"mixed", ManagerSnapshot{Pending: 2, Running: 5, Terminal: 4, EventRate: 10}, 2 + 10 + 1 + 5, true},
		{"negative and NaN are zero", ManagerSnapshot{Pending: -4, Running: -1, Terminal: -9, EventRate: math.NaN()}, 0, true},
		{"negative event rate is zero", ManagerSnapshot{Pending: 19, EventRate: -100}, 19, true},
		{"infinite event rate", ManagerSnapshot{EventRate: math.Inf(1)}, math.Inf(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := est.Estimate(tc.s); got != tc.est {
				t.Errorf("Estimate = %g, want %g", got, tc.est)
			}
			if got := a.Admit(tc.s); got != tc.want {
				t.Errorf("Admit = %v, want %v", got, tc.want)
			}
		})
	}
	// Filling an empty node one job at a time stops exactly at the budget,
	// and a job that ends frees room for more.
	var s ManagerSnapshot
	for a.Admit(s) {
		s.Pending++
	}
	if s.Pending != 20 {
		t.Fatalf("admitted %d pending jobs, want 20", s.Pending)
	}
	s.Pending, s.Terminal = 16, 4 // four ended: 16 + 1 = 17
	if !a.Admit(s) {
		t.Fatal("ended jobs did not free room")
	}
	if got := mustAdmission(t, "maxjobs", c).(Estimator).Estimate(ManagerSnapshot{Pending: 1, Running: 2, Terminal: 3}); got != 6 {
		t.Errorf("maxjobs estimate = %g, want the hosted count 6", got)
	}
}

func TestAdmissionConfigValidate(t *testing.T) {
	if err := DefaultAdmissionConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*AdmissionConfig)
	}{
		{"max jobs 0", func(c *AdmissionConfig) { c.MaxJobs = 0 }},
		{"max jobs negative", func(c *AdmissionConfig) { c.MaxJobs = -1 }},
		{"pending weight 0", func(c *AdmissionConfig) { c.Activity.PendingWeight = 0 }},
		{"running weight negative", func(c *AdmissionConfig) { c.Activity.RunningWeight = -1 }},
		{"event weight NaN", func(c *AdmissionConfig) { c.Activity.EventWeight = math.NaN() }},
		{"budget Inf", func(c *AdmissionConfig) { c.Activity.Budget = math.Inf(1) }},
		{"ended jobs weigh more than pending", func(c *AdmissionConfig) { c.Activity.TerminalWeight = c.Activity.PendingWeight * 2 }},
		{"ended jobs weigh more than running", func(c *AdmissionConfig) { c.Activity.RunningWeight, c.Activity.TerminalWeight = 0.05, 0.1 }},
		{"budget below one job", func(c *AdmissionConfig) { c.Activity.Budget = c.Activity.PendingWeight / 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultAdmissionConfig()
			tc.mod(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			for _, name := range AdmissionNames() {
				if _, err := NewAdmission(name, c); !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("NewAdmission(%q) = %v, want ErrInvalidConfig", name, err)
				}
			}
		})
	}
}
