package agents

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/strategies"
)

func TestFresh(t *testing.T) {
	for _, tt := range []struct {
		name     string
		attempts int
		returned int
		want     bool
	}{
		{"never held, never failed", 0, 0, true},
		{"came back from an ended transaction", 0, 1, false},
		{"a failed attempt", 1, 0, false},
		{"both", 2, 3, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fresh(&tuplebroker.Request{Attempts: tt.attempts}, tt.returned); got != tt.want {
				t.Fatalf("fresh = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	created := now.Add(-time.Minute)
	p := policy{agent: "a1", backend: "be1", maxAttempts: 3}
	req := func(attempts int) *tuplebroker.Request {
		return &tuplebroker.Request{GUID: "g1", UID: "alice", Priority: 7, Attempts: attempts, Created: created,
			PushedTo: "a1", LastError: "earlier"}
	}
	refused := fmt.Errorf("%w: busy", tuplebroker.ErrRefused)
	rejected := fmt.Errorf("%w: no such queue", tuplebroker.ErrRejected)
	broken := errors.New("connection reset")
	for _, tt := range []struct {
		name string
		at   attempt
		want decision // resp and req are checked field by field below
		// for commit and fail: the response's fields
		sub, failure string
		attempts     int
		// for requeue: the request's LastError
		lastError string
	}{
		{name: "submitted", at: attempt{req: req(0), backendJobID: "42"},
			want: decision{act: commitJob, observe: true, outcome: strategies.Accepted}, attempts: 1},
		{name: "submitted through a courier on a later attempt", at: attempt{req: req(2), backendJobID: "43", pushed: true},
			want: decision{act: commitJob, observe: true, outcome: strategies.Accepted}, attempts: 3},
		{name: "invalid document", at: attempt{req: req(1), invalid: errors.New("bad root")},
			want: decision{act: failJob}, sub: tuplebroker.SubRejected, failure: "invalid JSDL: bad root", attempts: 1},
		{name: "rejected for good", at: attempt{req: req(0), err: rejected},
			want: decision{act: failJob}, sub: tuplebroker.SubRejected, failure: rejected.Error(), attempts: 0},
		{name: "refused: requeued", at: attempt{req: req(0), err: refused},
			want: decision{act: requeueJob, observe: true, outcome: strategies.Refused}, attempts: 1, lastError: refused.Error()},
		{name: "failed: requeued", at: attempt{req: req(1), err: broken},
			want: decision{act: requeueJob, observe: true, outcome: strategies.Failed}, attempts: 2, lastError: broken.Error()},
		{name: "refused the last time", at: attempt{req: req(2), err: refused},
			want: decision{act: failJob, observe: true, outcome: strategies.Refused}, sub: tuplebroker.SubMaxAttempts,
			failure: "max-attempts after 3 attempts: " + refused.Error(), attempts: 3},
		{name: "failed past the limit", at: attempt{req: req(5), err: broken},
			want: decision{act: failJob, observe: true, outcome: strategies.Failed}, sub: tuplebroker.SubMaxAttempts,
			failure: "max-attempts after 6 attempts: " + broken.Error(), attempts: 6},
		{name: "a backend reason that starts like a sub-state is still a rejection",
			at:   attempt{req: req(0), err: fmt.Errorf("%w: max-attempts reached in queue", tuplebroker.ErrRejected)},
			want: decision{act: failJob}, sub: tuplebroker.SubRejected, attempts: 0,
			failure: "backend rejected the job: max-attempts reached in queue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := *tt.at.req
			d := decide(tt.at, p, now)
			if got := *tt.at.req; got.Attempts != in.Attempts || got.LastError != in.LastError || got.PushedTo != in.PushedTo {
				t.Errorf("decide changed its input: %+v, was %+v", *tt.at.req, in)
			}
			if d.act != tt.want.act || d.observe != tt.want.observe || (d.observe && d.outcome != tt.want.outcome) {
				t.Fatalf("decision %v observe=%v outcome=%v, want %v observe=%v outcome=%v",
					d.act, d.observe, d.outcome, tt.want.act, tt.want.observe, tt.want.outcome)
			}
			switch d.act {
			case requeueJob:
				r := d.req
				if d.resp != nil || r == nil {
					t.Fatalf("requeue with response %+v, request %+v", d.resp, r)
				}
				if r.GUID != "g1" || r.Attempts != tt.attempts || r.LastError != tt.lastError || r.PushedTo != "" || !r.Created.Equal(created) {
					t.Fatalf("requeued %+v, want attempts %d, last error %q, no push reservation", r, tt.attempts, tt.lastError)
				}
			default:
				r := d.resp
				if d.req != nil || r == nil {
					t.Fatalf("%v with request %+v, response %+v", d.act, d.req, r)
				}
				if r.GUID != "g1" || r.UID != "alice" || r.Agent != "a1" || r.Priority != 7 || !r.Created.Equal(created) ||
					!r.Submitted.Equal(now) || r.Submitted.Location() != time.UTC || r.Attempts != tt.attempts || r.Published || r.Manager != "" {
					t.Fatalf("response %+v", r)
				}
				if d.act == commitJob {
					if r.Backend != "be1" || r.BackendJobID != tt.at.backendJobID || r.Pushed != tt.at.pushed || r.Failure != "" || r.SubState != "" {
						t.Fatalf("committed response %+v", r)
					}
					return
				}
				if r.Backend != "" || r.BackendJobID != "" || r.Failure != tt.failure || r.SubState != tt.sub {
					t.Fatalf("failed response: failure %q sub %q backend %q; want failure %q sub %q",
						r.Failure, r.SubState, r.Backend, tt.failure, tt.sub)
				}
				j := tuplebroker.JobFromResponse(r)
				if j.State != tuplebroker.Failed || j.SubState != tt.sub || !strings.Contains(j.Reason, strings.TrimPrefix(tt.failure, "invalid JSDL: ")) {
					t.Fatalf("job %+v", j)
				}
			}
		})
	}
}

// A template judges push reservations at the time it was given, never the
// clock's.
func TestServableJudgesAtItsTime(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := servable{agent: "a1", caps: map[string]bool{"os=LINUX": true}}
	for _, tt := range []struct {
		name string
		r    tuplebroker.Request
		now  time.Time
		want bool
	}{
		{"open request", tuplebroker.Request{Created: created}, created, true},
		{"pushed to another agent, in the window", tuplebroker.Request{Created: created, PushedTo: "b"}, created.Add(time.Second), false},
		{"pushed to this agent: its push handler takes it", tuplebroker.Request{Created: created, PushedTo: "a1"}, created.Add(time.Second), false},
		{"pushed, window over", tuplebroker.Request{Created: created, PushedTo: "b"}, created.Add(tuplebroker.PushWindow), true},
		{"pushed, judged before it was created", tuplebroker.Request{Created: created, PushedTo: "b"}, created.Add(-time.Hour), false},
		{"requirement not offered", tuplebroker.Request{Created: created, Requirements: tuplebroker.Requirements{"os=WINDOWS"}}, created, false},
		{"requirement offered", tuplebroker.Request{Created: created, Requirements: tuplebroker.Requirements{"os=LINUX"}}, created, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if got := s.at(tt.now).Match(&r); got != tt.want {
				t.Fatalf("Match at %v = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}
