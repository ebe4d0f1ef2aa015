package tuplebroker_test

import (
	"context"
	"testing"
	"time"

	"tuplebroker"
)

// A Response ended before any backend tells its sub-state by its SubState
// field, whatever its reason says.
func TestJobFromResponseSubState(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	req := &tuplebroker.Request{GUID: "g", UID: "alice", Attempts: 2, Priority: 3, Created: now.Add(-time.Hour)}
	for _, tt := range []struct {
		name   string
		resp   *tuplebroker.Response
		state  tuplebroker.JobState
		sub    string
		reason string
	}{
		{"max attempts", req.Fail(tuplebroker.SubMaxAttempts, "too often", "a", now),
			tuplebroker.Failed, tuplebroker.SubMaxAttempts, "too often"},
		{"rejected, with a reason that reads like another sub-state", req.Fail(tuplebroker.SubRejected, "max-attempts exceeded in queue q", "a", now),
			tuplebroker.Failed, tuplebroker.SubRejected, "max-attempts exceeded in queue q"},
		{"failure with no sub-state (an older tuple)", &tuplebroker.Response{GUID: "g", Failure: "max-attempts after 5 attempts: x"},
			tuplebroker.Failed, tuplebroker.SubRejected, "max-attempts after 5 attempts: x"},
		{"cancelled while queued", req.Cancelled(now),
			tuplebroker.Cancelled, tuplebroker.SubUserCancelled, "cancelled while queued"},
		{"submitted", tuplebroker.NewResponse(req, "a", "be", "42", now, true),
			tuplebroker.Pending, tuplebroker.SubBackendQueued, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := tuplebroker.JobFromResponse(tt.resp)
			if j.State != tt.state || j.SubState != tt.sub || j.Reason != tt.reason {
				t.Fatalf("job %s/%s %q, want %s/%s %q", j.State, j.SubState, j.Reason, tt.state, tt.sub, tt.reason)
			}
		})
	}
}

func TestConstructors(t *testing.T) {
	now := time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	created := now.Add(-time.Minute)
	req := &tuplebroker.Request{GUID: "g", UID: "alice", Attempts: 2, Priority: 3, Created: created, PushedTo: "a", LastError: "e"}

	r := tuplebroker.NewResponse(req, "a", "be", "42", now, true)
	want := tuplebroker.Response{GUID: "g", UID: "alice", Agent: "a", Backend: "be", BackendJobID: "42",
		Submitted: now.UTC(), Attempts: 3, Created: created, Priority: 3, Pushed: true}
	if *r != want {
		t.Errorf("NewResponse = %+v, want %+v", *r, want)
	}
	f := req.Fail(tuplebroker.SubRejected, "no", "a", now)
	want = tuplebroker.Response{GUID: "g", UID: "alice", Agent: "a", Failure: "no", SubState: tuplebroker.SubRejected,
		Attempts: 2, Submitted: now.UTC(), Created: created, Priority: 3}
	if *f != want {
		t.Errorf("Fail = %+v, want %+v", *f, want)
	}
	c := req.Cancelled(now)
	want = tuplebroker.Response{GUID: "g", UID: "alice", Cancelled: true, SubState: tuplebroker.SubUserCancelled,
		Attempts: 2, Submitted: now.UTC(), Created: created, Priority: 3}
	if *c != want {
		t.Errorf("Cancelled = %+v, want %+v", *c, want)
	}
	n := req.Retried("refused")
	if n.Attempts != 3 || n.LastError != "refused" || n.PushedTo != "" || n.GUID != "g" {
		t.Errorf("Retried = %+v", n)
	}
	if req.Attempts != 2 || req.PushedTo != "a" || req.LastError != "e" {
		t.Errorf("Retried changed its receiver: %+v", req)
	}
	h := r.HostedBy("m1")
	if !h.Published || h.Manager != "m1" || r.Published || r.Manager != "" || h.BackendJobID != "42" {
		t.Errorf("HostedBy = %+v (from %+v)", h, r)
	}
}

func TestFinishContext(t *testing.T) {
	type key struct{}
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancelParent()
	fctx, cancel := tuplebroker.FinishContext(parent, time.Hour)
	defer cancel()
	if fctx.Value(key{}) != "v" {
		t.Fatal("values of the parent lost")
	}
	cancelParent()
	select {
	case <-fctx.Done():
		t.Fatal("ended with its parent")
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	select {
	case <-fctx.Done():
		if d := time.Since(start); d > tuplebroker.StopGrace {
			t.Fatalf("ended %v after its parent, want about %v", d+100*time.Millisecond, tuplebroker.StopGrace)
		}
	case <-time.After(2 * tuplebroker.StopGrace):
		t.Fatalf("still running %v after its parent ended", 2*tuplebroker.StopGrace)
	}

	// A limit shorter than the grace ends it first.
	short, cancel2 := tuplebroker.FinishContext(context.Background(), 50*time.Millisecond)
	defer cancel2()
	select {
	case <-short.Done():
	case <-time.After(time.Second):
		t.Fatal("limit not applied")
	}
}
