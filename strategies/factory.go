package strategies

// Supply is what a factory observes about couriers when a job arrives.
// Negative counts are treated as zero.
type Supply struct {
	// Held is the number of couriers this factory holds already (kept
	// greedily after earlier pushes).
	Held int
	// Free is the number of courier tuples free in the space, as last
	// counted. It may be stale: a take that then finds none is normal and
	// the factory falls back to pull.
	Free int
	// RecentPushFailures is the number of pushes through a courier that
	// failed recently (agent unreachable, refused); the caller chooses the
	// window.
	RecentPushFailures int
}

// Decision is a factory strategy's answer for one job.
type Decision struct {
	// Push: send the job straight to an agent through a courier, a held
	// one first, else one taken from the space. False: pull, i.e. write a
	// Request tuple for any agent to take.
	Push bool
	// KeepCouriers is how many couriers the factory should hold once this
	// job is handled, not counting the one a push uses up: the factory
	// releases any surplus back to the space and takes more while free ones
	// remain. It never exceeds what the observed supply can provide.
	KeepCouriers int
}

// FactoryStrategy chooses push or pull for one job from its priority (higher
// is more urgent) and the courier supply. It is a pure function: same inputs,
// same Decision, no state, safe for concurrent use.
type FactoryStrategy interface {
	Decide(priority int, s Supply) Decision
}

// FactoryConfig configures the factory strategies; "pull" reads none of it.
type FactoryConfig struct {
	// PushPriority is the hybrid threshold: jobs with priority ≥
	// PushPriority are pushed, the rest pulled. At least 1, because 0 is
	// the priority of every job that sets none, and pushing those is what
	// "push" does.
	PushPriority int
	// KeepCouriers (push, hybrid) is how many couriers the factory may hold
	// greedily for later jobs; 0 keeps none, so each courier used goes back
	// to its agent's pool.
	KeepCouriers int
	// PushFailureLimit (push, hybrid): with this many recent push failures
	// or more, jobs are pulled and held couriers released until the failures
	// age out. 0 disables the check.
	PushFailureLimit int
}

// MaxKeepCouriers bounds FactoryConfig.KeepCouriers: a factory holding more
// couriers than this starves every other factory of push slots.
const MaxKeepCouriers = 10_000

// DefaultFactoryConfig returns a valid configuration: push priority 1 and up,
// keep no couriers, stop pushing after 3 recent failures.
func DefaultFactoryConfig() FactoryConfig {
	return FactoryConfig{PushPriority: 1, KeepCouriers: 0, PushFailureLimit: 3}
}

// Validate reports a problem as an error wrapping ErrInvalidConfig.
func (c FactoryConfig) Validate() error {
	switch {
	case c.PushPriority < 1:
		return invalid("factory.push_priority %d must be at least 1 (0 is the default priority; to push every job use the push strategy)", c.PushPriority)
	case c.KeepCouriers < 0 || c.KeepCouriers > MaxKeepCouriers:
		return invalid("factory.keep_couriers %d is outside [0, %d]", c.KeepCouriers, MaxKeepCouriers)
	case c.PushFailureLimit < 0:
		return invalid("factory.push_failure_limit %d must not be negative (0 disables it)", c.PushFailureLimit)
	}
	return nil
}

// pullStrategy always pulls and keeps no couriers.
type pullStrategy struct{}

func (pullStrategy) Decide(int, Supply) Decision { return Decision{} }

// pushStrategy pushes every job a courier is available for.
type pushStrategy struct{ cfg FactoryConfig }

func (p pushStrategy) Decide(_ int, s Supply) Decision {
	return decide(p.cfg, true, s)
}

// hybridStrategy pushes urgent jobs and pulls the rest.
type hybridStrategy struct{ cfg FactoryConfig }

func (h hybridStrategy) Decide(priority int, s Supply) Decision {
	return decide(h.cfg, priority >= h.cfg.PushPriority, s)
}

// decide turns "this job wants a push" into a Decision: a push needs a
// courier and a recent history without too many failed pushes, else the job
// is pulled; couriers are kept up to KeepCouriers whatever the job does.
func decide(c FactoryConfig, wantPush bool, s Supply) Decision {
	held, free := max(s.Held, 0), max(s.Free, 0)
	if c.PushFailureLimit > 0 && s.RecentPushFailures >= c.PushFailureLimit {
		return Decision{} // pushes are failing: pull, and hand the couriers back
	}
	available := held + free
	push := wantPush && available > 0
	if push {
		available--
	}
	return Decision{Push: push, KeepCouriers: min(c.KeepCouriers, available)}
}
