// Package sim is a simulated resource broker for benchmarks and
// load-balancing tests: an agents.Backend whose behaviour under load is
// configured rather than real. It is not a mock of any particular
// scheduler; it behaves like a batch scheduler's front door under load, so
// that agents, throttles and dispatchers can be measured against backends
// that are slow, saturated, rate-limited or flaky in known, repeatable ways.
//
// # Submission
//
// A submission goes through these steps; the first that says no decides
// (every refusal wraps tuplebroker.ErrRefused, a rejection tuplebroker.ErrRejected):
//
//  1. The front door: at most Config.Concurrency submissions are in flight
//     at once. One more is refused at once, without waiting, with an error
//     wrapping ErrBusy.
//  2. The round trip: Submit waits SubmitLatency plus a uniform jitter in
//     [0, SubmitJitter) on the Clock. If ctx ends first Submit returns
//     ctx.Err() and nothing was submitted; if the Backend is closed first,
//     ErrClosed.
//  3. The scheduler decides at the clock's time t after the round trip,
//     in steps 3 to 6. Rate limit: if Config.RefuseAbove > 0 and accepting
//     would make more than RefuseAbove submissions reach this step in the
//     window (t-1s, t], the submission is refused (ErrRateLimited).
//     Submissions refused here do not count towards the window; all others
//     that reach this step do.
//  4. Rejection: a job requiring a label listed in RejectRequirements (or,
//     with RejectUnoffered, one not in Capabilities) is rejected.
//  5. Queue: at most QueueSlots jobs are queued or running; one more is
//     refused (ErrQueueFull).
//  6. Load: the job is refused (ErrOverloaded) with probability RefuseBase +
//     RefuseLoad × load, or RefusalProbability(load), load being the larger
//     of the front door's and the queue's fill (see Load).
//  7. Otherwise the job is accepted and recorded. If its GUID was accepted
//     before, the submission is also counted in Stats.Duplicates: the
//     exactly-once audit.
//  8. The reply: with probability LostReplyProbability the reply to an
//     accepted submission is lost and Submit returns an error wrapping
//     ErrLostReply (neither refused nor rejected: a failed attempt) although
//     the job exists — the case agents.Finder is for.
//
// # Jobs
//
// At most RunSlots accepted jobs run at once (0: all of them); the rest wait
// in a FIFO queue, Pending with sub-state backend-queued. A job runs for a
// time drawn from Config.RunTime, then ends Finished (exit code
// Config.ExitCode, 0 by default) or, for a FailFraction of jobs, Failed with
// exit code 1 (sub-state exited-nonzero; a non-zero ExitCode also ends
// Failed). Cancel moves a Pending or Running job to Cancelled
// (user-cancelled) and frees its slot; cancelling an ended job does nothing.
// Ended jobs are forgotten Retention after they end (0: never), after which
// Find, Status and Cancel no longer know them.
//
// Job state is not driven by goroutines or timers: each call catches the
// simulated scheduler up to the clock's current time, replaying job ends
// and queue starts in time order, so 100k jobs cost memory, not goroutines.
//
// # Determinism
//
// Every random draw — jitter, refusal, run time, exit code, lost reply — is
// a hash of Config.Seed, the job's GUID, how many times that GUID arrived
// before and what the draw is for, so a job's draws do not depend on how
// submissions of other jobs interleave. With a FakeClock and one submitter,
// a run is fully repeatable; with several, only the load-dependent
// decisions depend on the interleaving.
//
// # Audit
//
// Submissions lists every accepted submission (GUID, backend job id, time)
// and Stats counts accepted, refused (by cause), rejected, duplicate,
// lost-reply and abandoned submissions and the most submissions ever in flight,
// so tests can check exactly-once delivery across many agents.
package sim
