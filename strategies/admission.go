package strategies

import "math"

// ManagerSnapshot is what a manager node observes about itself when an
// unmanaged Response is offered: the JobManagers it hosts by job state, and
// how busy they keep it. Negative counts and a negative or NaN EventRate are
// treated as zero.
type ManagerSnapshot struct {
	// Pending and Running count hosted jobs that are not finished yet: their
	// JobManagers poll the backend.
	Pending, Running int
	// Terminal counts hosted jobs that have ended (Finished, Failed,
	// Cancelled) but whose JobManagers live on until their lifetime ends;
	// they only answer clients.
	Terminal int
	// EventRate is the recent rate of events the node handled, per second:
	// status changes published, client calls, notifications sent.
	EventRate float64
}

// Hosted returns the number of JobManagers the node hosts.
func (s ManagerSnapshot) Hosted() int {
	return max(s.Pending, 0) + max(s.Running, 0) + max(s.Terminal, 0)
}

// Admission decides whether a manager node takes one more job to host. It is
// a pure function of the snapshot, safe for concurrent use.
type Admission interface {
	Admit(s ManagerSnapshot) bool
}

// Estimator is an optional capability of an Admission: the load figure it
// compares against its budget, for metrics. Discover it with a type
// assertion.
type Estimator interface {
	Estimate(s ManagerSnapshot) float64
}

// AdmissionConfig configures the admission strategies; each reads its own
// section.
type AdmissionConfig struct {
	// MaxJobs ("maxjobs") is the most JobManagers a node hosts.
	MaxJobs  int
	Activity ActivityConfig
}

// ActivityConfig configures "activity". The node's load estimate is
//
//	PendingWeight×Pending + RunningWeight×Running + TerminalWeight×Terminal
//	+ EventWeight×EventRate
//
// and a job is admitted when the estimate with that job added (a new job
// starts pending, so PendingWeight more) is within Budget.
type ActivityConfig struct {
	PendingWeight, RunningWeight, TerminalWeight float64
	EventWeight                                  float64
	Budget                                       float64
}

// DefaultAdmissionConfig returns a valid configuration: at most 1000 jobs;
// activity with pending and running jobs weighing 1, ended ones 0.1, one
// event per second 0.5, within a budget of 500.
func DefaultAdmissionConfig() AdmissionConfig {
	return AdmissionConfig{
		MaxJobs: 1000,
		Activity: ActivityConfig{
			PendingWeight:  1,
			RunningWeight:  1,
			TerminalWeight: 0.1,
			EventWeight:    0.5,
			Budget:         500,
		},
	}
}

// Validate reports the first problem in either section as an error wrapping
// ErrInvalidConfig.
func (c AdmissionConfig) Validate() error {
	if c.MaxJobs < 1 {
		return invalid("admission.max_jobs %d must be at least 1", c.MaxJobs)
	}
	return c.Activity.Validate()
}

// Validate reports a problem as an error wrapping ErrInvalidConfig.
func (c ActivityConfig) Validate() error {
	for _, w := range []struct {
		name string
		v    float64
	}{
		{"pending_weight", c.PendingWeight}, {"running_weight", c.RunningWeight},
		{"terminal_weight", c.TerminalWeight}, {"event_weight", c.EventWeight}, {"budget", c.Budget},
	} {
		if !(w.v >= 0) || math.IsInf(w.v, 0) {
			return invalid("activity.%s %g must be a finite number ≥ 0", w.name, w.v)
		}
	}
	switch {
	case c.PendingWeight == 0:
		return invalid("activity.pending_weight must be positive: a new job must cost something, or admission is unbounded")
	case c.TerminalWeight > c.PendingWeight || c.TerminalWeight > c.RunningWeight:
		return invalid("activity.terminal_weight %g must not exceed pending_weight %g or running_weight %g (ended jobs are polled no more)",
			c.TerminalWeight, c.PendingWeight, c.RunningWeight)
	case c.Budget < c.PendingWeight:
		return invalid("activity.budget %g is below pending_weight %g: no job could ever be admitted", c.Budget, c.PendingWeight)
	}
	return nil
}

// maxJobs is the "maxjobs" admission: hosted < MaxJobs.
type maxJobs struct{ n int }

func (m maxJobs) Admit(s ManagerSnapshot) bool { return s.Hosted() < m.n }

func (m maxJobs) Estimate(s ManagerSnapshot) float64 { return float64(s.Hosted()) }

// activity is the "activity" admission.
type activity struct{ cfg ActivityConfig }

func (a activity) Estimate(s ManagerSnapshot) float64 {
	ev := s.EventRate
	if !(ev > 0) { // negative or NaN
		ev = 0
	}
	return a.cfg.PendingWeight*float64(max(s.Pending, 0)) +
		a.cfg.RunningWeight*float64(max(s.Running, 0)) +
		a.cfg.TerminalWeight*float64(max(s.Terminal, 0)) +
		a.cfg.EventWeight*ev
}

func (a activity) Admit(s ManagerSnapshot) bool {
	return a.Estimate(s)+a.cfg.PendingWeight <= a.cfg.Budget
}
