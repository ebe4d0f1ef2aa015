// Package strategies holds tuplebroker's decision modules: the pluggable
// strategies of "Load-balancing EU-DataGrid Resource Brokers" (Lee et al.),
// each a small interface chosen by name in configuration.
//
// Every strategy is pure decision logic: its answer is a function of what it
// is shown (and, for throttles, of the outcomes reported before and the
// now passed in). None reads the clock, sleeps, starts goroutines or does
// I/O; the agent, factory and manager loops observe the world, call the
// strategy and carry out its decision. All of them are tested exhaustively
// on synthetic timelines.
//
// # Agent throttle — how fast an agent takes requests
//
// [Throttle]: Allow(now) (ok, wait) before each take, Observe(outcome, now)
// after each submission, Rate() for metrics. Built by [NewThrottle] from a
// [ThrottleConfig]; stateful, one per agent loop, not safe for concurrent
// use.
//
//   - "fixed" observes nothing but the clock: a token bucket at
//     FixedConfig.Rate takes/s with FixedConfig.Burst depth.
//   - "adaptive" observes each submission's [Outcome] — [Accepted],
//     [Refused] (the backend said slow down) or [Failed] (the submission
//     errored) — and runs AIMD on its bucket's rate: +IncreaseStep per
//     IncreaseInterval of clean successes, ×DecreaseFactor on a refusal, a
//     milder cut on a failure (FailureWeight), at most one cut per CoolDown
//     (a burst of refusals halves once), always within [MinRate, MaxRate].
//
// # Factory strategy — push or pull for each job
//
// [FactoryStrategy]: Decide(priority, supply) [Decision]. It observes the
// job's priority and the factory's courier [Supply] (couriers held, couriers
// free in the space, recent push failures) and answers push or pull, plus how
// many couriers to keep. Built by [NewFactoryStrategy] from a
// [FactoryConfig]; stateless.
//
//   - "pull": always write a Request tuple for any agent to take.
//   - "push": push every job through a courier when one is available, else
//     pull.
//   - "hybrid": push jobs with priority ≥ PushPriority, pull the rest; a
//     push with no courier falls back to pull.
//
// Push and hybrid keep up to KeepCouriers couriers greedily for later jobs
// and pull (releasing their couriers) while recent push failures reach
// PushFailureLimit.
//
// Alongside, [Dispatcher] ([NewDispatcher]) is the benchmark baseline the
// paper's strategies are compared against: central delegation that sends
// each job straight to an agent it picks, ignoring the space.
//
//   - "roundrobin": agents in turn, whatever their capacity or refusals.
//
// # Manager admission — whether a manager node hosts one more job
//
// [Admission]: Admit([ManagerSnapshot]) bool. It observes the node's hosted
// JobManagers by state (pending, running, ended) and its recent event rate.
// Built by [NewAdmission] from an [AdmissionConfig]; stateless.
//
//   - "maxjobs": admit while hosted jobs < MaxJobs.
//   - "activity": admit while the estimated polling work, with the new job
//     added, stays within Budget; pending and running jobs weigh at least
//     as much as ended ones (by default 10×), plus a weight per event per
//     second.
//
// An admission that can say how loaded it thinks the node is also implements
// [Estimator].
//
// # Registry and configuration
//
// Each point's registry is one map literal, name → constructor, in
// registry.go; [ThrottleNames], [FactoryStrategyNames], [DispatcherNames]
// and [AdmissionNames] list them. An unknown name returns an error wrapping
// [ErrUnknownStrategy] that lists the valid names. Each configuration has a
// DefaultXConfig constructor and a Validate method with cross-field checks
// (MinRate ≤ InitialRate ≤ MaxRate, Burst ≥ 1, DecreaseFactor in (0, 1),
// PushPriority ≥ 1, ended jobs weighing no more than live ones, a budget
// that fits one job, …); constructors validate and return errors wrapping
// [ErrInvalidConfig].
package strategies
