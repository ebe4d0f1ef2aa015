package jobmanager

import (
	"fmt"
	"time"

	"tuplebroker"
)

// How a hosted job's view advances, as pure functions of the job, what a
// poll said of it, the node's configuration and the time. pollAgent and
// Cancel carry them out.

// tracking is what a node remembers of a hosted job besides its view.
type tracking struct {
	// missing counts polls in a row whose answer lacked the backend job.
	missing         int
	cancelRequested bool
}

// observation is what one poll said of one job.
type observation struct {
	status tuplebroker.Status
	known  bool // the backend reported the job; false: the answer lacked it
}

// advance is job j's next view after one poll observed obs, at now, and
// the tracking to remember. A status the backend knows replaces the job's
// state (marked cancel-requested while a requested cancel has not ended
// it); a job the backend has not known for missingPolls polls in a row
// ends Failed (SubBackendLost). A state that is no OGSA-BES state is an
// error, and the view stays as it was.
func advance(j tuplebroker.Job, tr tracking, obs observation, missingPolls int, now time.Time) (tuplebroker.Job, tracking, error) {
	if !obs.known {
		tr.missing++
		if tr.missing >= missingPolls {
			j.State, j.SubState, j.Ended = tuplebroker.Failed, SubBackendLost, now
			j.Reason = "backend no longer knows job " + j.BackendJobID
			j.ExitCode = nil
		}
		return j, tr, nil
	}
	tr.missing = 0
	st := obs.status
	switch st.State {
	case tuplebroker.Pending, tuplebroker.Running, tuplebroker.Finished, tuplebroker.Failed, tuplebroker.Cancelled:
	default:
		return j, tr, fmt.Errorf("backend reported unknown state %q", st.State)
	}
	j.State, j.SubState, j.Reason = st.State, st.SubState, st.Reason
	j.ExitCode = nil
	if st.ExitCode != nil {
		c := *st.ExitCode
		j.ExitCode = &c
	}
	if !st.Started.IsZero() {
		j.Started = st.Started
	}
	if !st.Ended.IsZero() {
		j.Ended = st.Ended
	}
	if tr.cancelRequested {
		j = markCancelRequested(j)
	}
	return j, tr, nil
}

// markCancelRequested is j once its owner asked to cancel it: a job that
// has not ended says so in its sub-state until the backend reports it
// ended.
func markCancelRequested(j tuplebroker.Job) tuplebroker.Job {
	if !j.State.Terminal() {
		j.SubState = SubCancelRequested
	}
	return j
}
