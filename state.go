package tuplebroker

// JobState is a job's OGSA-BES state.
type JobState string

// The OGSA-BES states. Finished, Failed and Cancelled are terminal.
const (
	Pending   JobState = "Pending"
	Running   JobState = "Running"
	Finished  JobState = "Finished"
	Failed    JobState = "Failed"
	Cancelled JobState = "Cancelled"
)

// Terminal reports whether a job in state s can change no more.
func (s JobState) Terminal() bool { return s == Finished || s == Failed || s == Cancelled }

// Sub-states refine a state; backends may report others.
const (
	SubQueuedInSpace  = "queued-in-space" // Pending: a Request waits for an agent
	SubSubmitting     = "submitting"      // Pending: an agent is submitting it
	SubBackendQueued  = "backend-queued"  // Pending: the backend holds it in its queue
	SubStagingIn      = "staging-in"      // Running
	SubExecuting      = "executing"       // Running
	SubStagingOut     = "staging-out"     // Running
	SubExitedNonzero  = "exited-nonzero"  // Failed
	SubWallTimeLimit  = "walltime-limit"  // Failed
	SubUserCancelled  = "user-cancelled"  // Cancelled
	SubBackendRemoved = "backend-removed" // Cancelled: removed by the backend's administrator
	SubMaxAttempts    = "max-attempts"    // Failed: refused or failed too often
	SubRejected       = "rejected"        // Failed: the backend rejected it for good
)
