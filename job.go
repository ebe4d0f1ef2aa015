package tuplebroker

import (
	"cmp"
	"errors"
	"time"
)

// Job is what a user sees of one job: its OGSA-BES state and where it ran.
// Factories answer with it, manager nodes compute it, events carry it.
type Job struct {
	ID       string   `json:"id"` // the GUID
	Owner    string   `json:"owner"`
	State    JobState `json:"state"`
	SubState string   `json:"sub_state,omitempty"`
	Priority int      `json:"priority,omitempty"`
	// Agent, Backend and BackendJobID say where the job landed; empty
	// until an agent has submitted it.
	Agent        string `json:"agent,omitempty"`
	Backend      string `json:"backend,omitempty"`
	BackendJobID string `json:"backend_job_id,omitempty"`
	// Pushed: the job reached its agent through a courier, not by pull.
	Pushed   bool `json:"pushed,omitempty"`
	ExitCode *int `json:"exit_code,omitempty"`
	// Reason explains a Failed or Cancelled state, or the last refused
	// attempt of a job still pending.
	Reason string `json:"reason,omitempty"`
	// Waiting says, in words, why a Pending job waits: its place in the
	// queue, an agent submitting it, or no agent that can serve it.
	Waiting  string `json:"waiting,omitempty"`
	Attempts int    `json:"attempts"`
	// Manager is the handle of the manager node hosting the job, if any.
	Manager   string    `json:"manager,omitempty"`
	Created   time.Time `json:"created"`
	Submitted time.Time `json:"submitted,omitzero"`
	Started   time.Time `json:"started,omitzero"`
	Ended     time.Time `json:"ended,omitzero"`
}

// Changed reports whether o differs from j in anything an event reports.
func (j Job) Changed(o Job) bool {
	ec := func(a, b *int) bool { return (a == nil) != (b == nil) || (a != nil && *a != *b) }
	return j.State != o.State || j.SubState != o.SubState || j.BackendJobID != o.BackendJobID ||
		j.Manager != o.Manager || ec(j.ExitCode, o.ExitCode) || j.Reason != o.Reason
}

// Errors shared by the roles; transports carry them across processes.
var (
	// ErrNotFound: no such job for this owner. A job that exists but
	// belongs to someone else is reported the same way.
	ErrNotFound = errors.New("job not found")
	// ErrUnavailable: the component that can answer is unreachable now;
	// retry later.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrConflict: the operation does not apply to the job's current state.
	ErrConflict = errors.New("conflict with the job's state")
)

// JobFromRequest is a job still waiting in the space as a Request; claimed
// says an agent holds it in a transaction (submitting).
func JobFromRequest(r *Request, claimed bool) Job {
	j := Job{
		ID: r.GUID, Owner: r.UID, State: Pending, SubState: SubQueuedInSpace,
		Priority: r.Priority, Attempts: r.Attempts, Reason: r.LastError, Created: r.Created,
	}
	if claimed {
		j.SubState = SubSubmitting
	}
	return j
}

// JobFromResponse is a job as its Response alone tells it, before any
// manager node has polled its backend: submitted and pending, or ended
// before reaching a backend (failed, or cancelled while queued), or ended
// as its manager recorded (Final).
func JobFromResponse(r *Response) Job {
	if r.Final != nil {
		j := *r.Final
		j.Manager = r.Manager
		return j
	}
	j := Job{
		ID: r.GUID, Owner: r.UID, State: Pending, SubState: SubBackendQueued,
		Priority: r.Priority, Agent: r.Agent, Backend: r.Backend, BackendJobID: r.BackendJobID,
		Pushed: r.Pushed, Attempts: r.Attempts, Manager: r.Manager, Created: r.Created, Submitted: r.Submitted,
	}
	switch {
	case r.Cancelled:
		j.State, j.SubState, j.Reason, j.Ended = Cancelled, cmp.Or(r.SubState, SubUserCancelled), "cancelled while queued", r.Submitted
	case r.Failure != "":
		j.State, j.SubState, j.Reason, j.Ended = Failed, cmp.Or(r.SubState, SubRejected), r.Failure, r.Submitted
	}
	return j
}
