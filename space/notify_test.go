package space

import (
	"testing"
	"time"

	"tuplebroker"
)

func TestNotifyStreamsMatchingWrites(t *testing.T) {
	srv := startServer(t, "")
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 10*time.Second)
	want := newRequest("gpu=1")
	ch, err := other.Notify(ctx, tuplebroker.RequestTemplate{Class: want.Requirements.Class()})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := other.Notify(ctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), UID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Write(ctx, newRequest(""), Forever); err != nil { // other class
		t.Fatal(err)
	}
	if _, err := sp.Write(ctx, want, Forever); err != nil {
		t.Fatal(err)
	}
	next := func(i int) {
		t.Helper()
		select {
		case tu := <-ch:
			if guidOf(tu) != want.GUID {
				t.Fatalf("notified of %v", tu)
			}
		case <-ctx.Done():
			t.Fatalf("notification %d never came", i)
		}
	}
	// Seen before it is taken: the bucket keeps one revision per key, so a
	// lagging mirror would otherwise only ever see the tuple as put back.
	next(0)
	// A taken-and-aborted tuple is written back: notified again. The claim itself is not.
	tx, err := sp.Begin(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: want.GUID}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	next(1)
	// Published-flag template: an unpublished response and bob's are not delivered.
	for _, r := range []*tuplebroker.Response{
		{GUID: "g1", UID: "alice", Published: false},
		{GUID: "g2", UID: "bob", Published: true},
		{GUID: "g3", UID: "alice", Published: true, Manager: "m1"},
	} {
		if _, err := sp.Write(ctx, r, Forever); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case tu := <-pub:
		if guidOf(tu) != "g3" {
			t.Fatalf("published notify delivered %+v", tu)
		}
	case <-ctx.Done():
		t.Fatal("published response never notified")
	}
	select {
	case tu := <-ch:
		t.Fatalf("unexpected extra notification %+v", tu)
	case tu := <-pub:
		t.Fatalf("unexpected extra notification %+v", tu)
	case <-time.After(200 * time.Millisecond):
	}
}
