package jobmanager

import (
	"testing"
	"time"

	"tuplebroker"
)

func TestAdvance(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	started, ended := now.Add(-time.Minute), now.Add(-time.Second)
	zero, one := 0, 1
	pending := tuplebroker.Job{ID: "g", BackendJobID: "42", State: tuplebroker.Pending, SubState: tuplebroker.SubBackendQueued}
	running := tuplebroker.Job{ID: "g", BackendJobID: "42", State: tuplebroker.Running, SubState: tuplebroker.SubExecuting,
		Started: started, ExitCode: &one}
	for _, tt := range []struct {
		name string
		job  tuplebroker.Job
		tr   tracking
		obs  observation
		// want
		state   tuplebroker.JobState
		sub     string
		reason  string
		exit    *int
		started time.Time
		ended   time.Time
		missing int
		err     bool
	}{
		{name: "running", job: pending, obs: observation{known: true, status: tuplebroker.Status{State: tuplebroker.Running, SubState: tuplebroker.SubExecuting, Started: started}},
			state: tuplebroker.Running, sub: tuplebroker.SubExecuting, started: started},
		{name: "finished keeps the start it had", job: running, obs: observation{known: true, status: tuplebroker.Status{State: tuplebroker.Finished, ExitCode: &zero, Ended: ended}},
			state: tuplebroker.Finished, exit: &zero, started: started, ended: ended},
		{name: "an answer without exit code clears the old one", job: running, obs: observation{known: true, status: tuplebroker.Status{State: tuplebroker.Running}},
			state: tuplebroker.Running, started: started},
		{name: "known again resets the missing count", job: pending, tr: tracking{missing: 2}, obs: observation{known: true, status: tuplebroker.Status{State: tuplebroker.Pending, SubState: "q"}},
			state: tuplebroker.Pending, sub: "q"},
		{name: "cancel requested, still running", job: running, tr: tracking{cancelRequested: true}, obs: observation{known: true, status: tuplebroker.Status{State: tuplebroker.Running, SubState: tuplebroker.SubExecuting}},
			state: tuplebroker.Running, sub: SubCancelRequested, started: started},
		{name: "cancel requested, cancelled", job: running, tr: tracking{cancelRequested: true}, obs: observation{known: true, status: tuplebroker.Status{State: tuplebroker.Cancelled, SubState: tuplebroker.SubUserCancelled, Reason: "by owner", Ended: ended}},
			state: tuplebroker.Cancelled, sub: tuplebroker.SubUserCancelled, reason: "by owner", started: started, ended: ended},
		{name: "unknown state: unchanged, error", job: running, tr: tracking{missing: 1}, obs: observation{known: true, status: tuplebroker.Status{State: "Exploded"}},
			state: tuplebroker.Running, sub: tuplebroker.SubExecuting, exit: &one, started: started, err: true},
		{name: "missing once", job: running, obs: observation{},
			state: tuplebroker.Running, sub: tuplebroker.SubExecuting, exit: &one, started: started, missing: 1},
		{name: "missing twice", job: running, tr: tracking{missing: 1}, obs: observation{},
			state: tuplebroker.Running, sub: tuplebroker.SubExecuting, exit: &one, started: started, missing: 2},
		{name: "missing the third time in a row: lost", job: running, tr: tracking{missing: 2}, obs: observation{},
			state: tuplebroker.Failed, sub: SubBackendLost, reason: "backend no longer knows job 42", started: started, ended: now, missing: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j, tr, err := advance(tt.job, tt.tr, tt.obs, 3, now)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if j.State != tt.state || j.SubState != tt.sub || j.Reason != tt.reason || !j.Started.Equal(tt.started) || !j.Ended.Equal(tt.ended) {
				t.Fatalf("job %s/%s %q started %v ended %v; want %s/%s %q started %v ended %v",
					j.State, j.SubState, j.Reason, j.Started, j.Ended, tt.state, tt.sub, tt.reason, tt.started, tt.ended)
			}
			if (j.ExitCode == nil) != (tt.exit == nil) || (j.ExitCode != nil && *j.ExitCode != *tt.exit) {
				t.Fatalf("exit code %v, want %v", j.ExitCode, tt.exit)
			}
			if tt.obs.status.ExitCode != nil && j.ExitCode == tt.obs.status.ExitCode {
				t.Fatal("the job shares the status's exit code")
			}
			if tr.missing != tt.missing || tr.cancelRequested != tt.tr.cancelRequested {
				t.Fatalf("tracking %+v, want missing %d", tr, tt.missing)
			}
			if j.ID != "g" || j.BackendJobID != "42" {
				t.Fatalf("identity changed: %+v", j)
			}
		})
	}
}

func TestMarkCancelRequested(t *testing.T) {
	for _, s := range []tuplebroker.JobState{tuplebroker.Pending, tuplebroker.Running} {
		if j := markCancelRequested(tuplebroker.Job{State: s, SubState: "x"}); j.SubState != SubCancelRequested {
			t.Errorf("%s: sub-state %q", s, j.SubState)
		}
	}
	for _, s := range []tuplebroker.JobState{tuplebroker.Finished, tuplebroker.Failed, tuplebroker.Cancelled} {
		if j := markCancelRequested(tuplebroker.Job{State: s, SubState: "x"}); j.SubState != "x" {
			t.Errorf("%s: sub-state %q", s, j.SubState)
		}
	}
}
