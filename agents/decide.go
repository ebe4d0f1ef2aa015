package agents

import (
	"errors"
	"fmt"
	"time"

	"tuplebroker"
	"tuplebroker/strategies"
)

// The agent's decisions, as pure functions of what it knows, its
// configuration and the time: no I/O, no clock. handleOne (take.go)
// carries them out.

// fresh reports whether a taken request cannot be in any backend yet, so
// that the backend lookup (Finder) can be skipped: no transaction held it
// before (returned: how many times it came back from an ended
// transaction) and no attempt at it failed. Only a request that was held,
// may have been submitted by an agent that died before committing.
func fresh(req *tuplebroker.Request, returned int) bool {
	return returned == 0 && req.Attempts == 0
}

// policy is the part of the agent's configuration its decisions read.
type policy struct {
	agent, backend string
	maxAttempts    int
}

// attempt is what an agent knows once it has handled one taken request.
type attempt struct {
	req    *tuplebroker.Request
	pushed bool // it came through a courier
	// invalid is the parser's error for a document the agent could not
	// read; the backend was not asked.
	invalid error
	// backendJobID and err are the backend's answer (Submit, or the
	// adopted job Find returned).
	backendJobID string
	err          error
}

// action is what the agent does with a taken request.
type action int

const (
	// commitJob: write resp (the job is in the backend) and commit.
	commitJob action = iota
	// requeueJob: write req back (one more attempt) and commit.
	requeueJob
	// failJob: write resp (the job ended Failed) and commit.
	failJob
)

func (a action) String() string {
	switch a {
	case commitJob:
		return "commit"
	case requeueJob:
		return "requeue"
	case failJob:
		return "fail"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// decision is what the agent does after the backend answered.
type decision struct {
	act  action
	resp *tuplebroker.Response // commitJob, failJob
	req  *tuplebroker.Request  // requeueJob
	// observe: the throttle observes outcome (a rejection or an invalid
	// document says nothing of the backend's load).
	observe bool
	outcome strategies.Outcome
}

// decide is what the agent does with at's request, at now: commit the
// response of a submitted job; fail a document it cannot read or a job the
// backend rejects for good; requeue a refused or failed submission with one
// more attempt, or fail it once it has had p.maxAttempts.
func decide(at attempt, p policy, now time.Time) decision {
	req, err := at.req, at.err
	switch {
	case at.invalid != nil:
		return decision{act: failJob, resp: req.Fail(tuplebroker.SubRejected, fmt.Sprintf("invalid JSDL: %v", at.invalid), p.agent, now)}
	case err == nil:
		return decision{act: commitJob, observe: true, outcome: strategies.Accepted,
			resp: tuplebroker.NewResponse(req, p.agent, p.backend, at.backendJobID, now, at.pushed)}
	case errors.Is(err, tuplebroker.ErrRejected):
		return decision{act: failJob, resp: req.Fail(tuplebroker.SubRejected, err.Error(), p.agent, now)}
	}
	d := decision{observe: true, outcome: strategies.Failed}
	if errors.Is(err, tuplebroker.ErrRefused) {
		d.outcome = strategies.Refused
	}
	next := req.Retried(err.Error())
	if next.Attempts >= p.maxAttempts {
		d.act = failJob
		d.resp = next.Fail(tuplebroker.SubMaxAttempts,
			fmt.Sprintf("%s after %d attempts: %v", tuplebroker.SubMaxAttempts, next.Attempts, err), p.agent, now)
		return d
	}
	d.act, d.req = requeueJob, next
	return d
}
