package tuplebroker

import "time"

// Where the tuples are born and how they change. Every Response is built
// here, so a reader finds each one by name:
//
//   - NewResponse: an agent submitted the Request (or adopted the backend
//     job already submitted under its GUID).
//   - Request.Fail: an agent ends the job Failed before any backend has it.
//   - Request.Cancelled: the owner cancelled the job while it was queued.
//   - Request.Retried: the Request goes back to the space for another
//     attempt.
//   - Response.HostedBy: a manager node hosts the job (published).

// NewResponse is the Response of req once backend (of agent) accepted it as
// backendJobID at now; pushed says it came through a courier. It counts
// the successful submission as one more attempt.
func NewResponse(req *Request, agent, backend, backendJobID string, now time.Time, pushed bool) *Response {
	return &Response{
		GUID: req.GUID, UID: req.UID, Agent: agent, Backend: backend, BackendJobID: backendJobID,
		Submitted: now.UTC(), Attempts: req.Attempts + 1, Created: req.Created, Priority: req.Priority,
		Pushed: pushed,
	}
}

// Fail is the Response of a job that agent ended Failed at now, before any
// backend had it: sub is its sub-state (SubRejected, SubMaxAttempts) and
// reason says why. Attempts is req.Attempts as it stands.
func (r *Request) Fail(sub, reason, agent string, now time.Time) *Response {
	return &Response{
		GUID: r.GUID, UID: r.UID, Agent: agent, Failure: reason, SubState: sub, Attempts: r.Attempts,
		Submitted: now.UTC(), Created: r.Created, Priority: r.Priority,
	}
}

// Cancelled is the Response of a job its owner cancelled at now while it
// was still queued as r.
func (r *Request) Cancelled(now time.Time) *Response {
	return &Response{
		GUID: r.GUID, UID: r.UID, Cancelled: true, SubState: SubUserCancelled, Created: r.Created,
		Priority: r.Priority, Attempts: r.Attempts, Submitted: now.UTC(),
	}
}

// Retried is r back in the pool after a refused or failed attempt: one more
// attempt, cause as its LastError, reserved for no agent. r is unchanged.
func (r *Request) Retried(cause string) *Request {
	n := *r
	n.Attempts++
	n.LastError = cause
	n.PushedTo = ""
	return &n
}

// HostedBy is r published, hosted by the manager node handle (a first
// hosting, or a takeover from a dead node). r is unchanged.
func (r *Response) HostedBy(handle string) *Response {
	p := *r
	p.Published, p.Manager = true, handle
	return &p
}
