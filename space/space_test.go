package space

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tuplebroker"
)

func TestWriteReadTakeByTemplate(t *testing.T) {
	srv := startServer(t, "")
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 10*time.Second)

	gpu := newRequest("gpu=1")
	plain := newRequest("")
	for _, r := range []*tuplebroker.Request{gpu, plain} {
		if _, err := sp.Write(ctx, r, Forever); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.Write(ctx, gpu, Forever); !errors.Is(err, ErrExists) {
		t.Fatalf("second write of same key: %v, want ErrExists", err)
	}
	// A job's Response lives at its Request's key: it cannot be written
	// beside it.
	if _, err := sp.Write(ctx, &tuplebroker.Response{GUID: plain.GUID, UID: "alice"}, Forever); !errors.Is(err, ErrExists) {
		t.Fatalf("response beside its request: %v, want ErrExists", err)
	}
	resp := &tuplebroker.Response{GUID: newRequest("").GUID, UID: "alice", Agent: "a1", Backend: "local", BackendJobID: "42"}
	if _, err := sp.Write(ctx, resp, Forever); err != nil {
		t.Fatal(err)
	}

	// by class (the capability an agent serves)
	got, err := sp.TryRead(ctx, tuplebroker.RequestTemplate{Class: gpu.Requirements.Class()})
	if err != nil || got.(*tuplebroker.Request).GUID != gpu.GUID {
		t.Fatalf("read by class: %v %v", got, err)
	}
	// by GUID
	got, err = sp.TryRead(ctx, tuplebroker.RequestTemplate{GUID: plain.GUID})
	if err != nil || got.(*tuplebroker.Request).GUID != plain.GUID {
		t.Fatalf("read by guid: %v %v", got, err)
	}
	// by non-key field
	if _, err := sp.TryRead(ctx, tuplebroker.RequestTemplate{UID: "bob"}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("read by other uid: %v", err)
	}
	// by published flag
	if _, err := sp.TryRead(ctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true)}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("published response found: %v", err)
	}
	if r, err := sp.TryRead(ctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(false)}); err != nil || r.(*tuplebroker.Response).BackendJobID != "42" {
		t.Fatalf("unpublished response: %v %v", r, err)
	}
	// take removes, once
	if _, err := sp.TryTake(ctx, tuplebroker.RequestTemplate{GUID: gpu.GUID}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.TryTake(ctx, tuplebroker.RequestTemplate{GUID: gpu.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("second take: %v", err)
	}
	if n := len(sp.Entries(tuplebroker.RequestTemplate{})); n != 1 {
		t.Fatalf("%d requests left, want 1", n)
	}
	// A second space on another connection sees the same state.
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	if n := len(other.Entries(tuplebroker.RequestTemplate{})); n != 1 {
		t.Fatalf("other space sees %d requests, want 1", n)
	}
	// The taken key can be written again.
	if _, err := sp.Write(ctx, gpu, Forever); err != nil {
		t.Fatalf("rewrite after take: %v", err)
	}
}

func TestBlockingTakeWakesOnWrite(t *testing.T) {
	srv := startServer(t, "")
	a := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	b := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 10*time.Second)
	want := newRequest("os=LINUX")
	got := make(chan tuplebroker.Tuple, 1)
	go func() {
		tu, err := a.Take(ctx, tuplebroker.RequestTemplate{Class: want.Requirements.Class()})
		if err != nil {
			t.Error(err)
		}
		got <- tu
	}()
	time.Sleep(50 * time.Millisecond)
	// A non-matching write must not satisfy it.
	if _, err := b.Write(ctx, newRequest("os=WINNT"), Forever); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, want, Forever); err != nil {
		t.Fatal(err)
	}
	select {
	case tu := <-got:
		if tu.(*tuplebroker.Request).GUID != want.GUID {
			t.Fatalf("took %v", tu)
		}
	case <-ctx.Done():
		t.Fatal("blocked take never woke")
	}
	// ctx cancellation ends a blocked take.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := a.Take(cctx, tuplebroker.RequestTemplate{Class: want.Requirements.Class()}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take on empty space: %v", err)
	}
}

func TestLeaseExpiryAndRenewal(t *testing.T) {
	srv := startServer(t, "")
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 20*time.Second)
	short := newRequest("")
	kept := newRequest("")
	if _, err := sp.Write(ctx, short, 1200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	l, err := sp.Write(ctx, kept, 1200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Read(ctx, tuplebroker.RequestTemplate{GUID: short.GUID}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		time.Sleep(600 * time.Millisecond)
		if l, err = sp.Renew(ctx, l, 1200*time.Millisecond); err != nil {
			t.Fatalf("renew %d: %v", i, err)
		}
	}
	// 2.4 s after writing: the short one is past its lease, the renewed one is not.
	for _, s := range []*Space{sp, other} {
		if _, err := s.TryRead(ctx, tuplebroker.RequestTemplate{GUID: short.GUID}); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("expired tuple returned: %v", err)
		}
		if _, err := s.TryTake(ctx, tuplebroker.RequestTemplate{GUID: short.GUID}); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("expired tuple taken: %v", err)
		}
		if _, err := s.TryRead(ctx, tuplebroker.RequestTemplate{GUID: kept.GUID}); err != nil {
			t.Fatalf("renewed tuple lost: %v", err)
		}
	}
	// The server has reclaimed the expired key (not just hidden it).
	key, _ := Key(short)
	if _, err := sp.stream.GetLastMsgForSubject(ctx, sp.prefix+key); err == nil {
		msg, _ := sp.stream.GetLastMsgForSubject(ctx, sp.prefix+key)
		if !isRemoval(msg.Header) {
			t.Fatalf("expired tuple still stored: %q", msg.Data)
		}
	}
	if _, ok := other.Lookup(key); ok {
		t.Fatal("expired tuple still in another process's mirror")
	}
	// Renewing a lease that ended fails.
	time.Sleep(1500 * time.Millisecond)
	if _, err := sp.Renew(ctx, l, time.Second); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("renew after expiry: %v", err)
	}
}

func TestCorruptValuesAreSkipped(t *testing.T) {
	srv := startServer(t, "")
	logger, logs := bufferLogger()
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage(), WithLogger(logger))
	ctx := ctxT(t, 10*time.Second)
	nc := rawConn(t, srv.ClientURL())
	good := newRequest("")
	if _, err := sp.Write(ctx, good, Forever); err != nil {
		t.Fatal(err)
	}
	for key, val := range map[string]string{
		"req.any.garbage":    "\x00\xffnot json",
		"req.any.future":     `{"v":99,"k":"req","d":{"guid":"future"}}`,
		"req.any.wrongkind":  `{"v":1,"k":"resp","d":{"guid":"x"}}`,
		"resp.new.badfields": `{"v":1,"k":"resp","d":{"guid":17}}`,
		"txn.broken":         `{{{`,
	} {
		if err := nc.Publish(sp.prefix+key, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	later := openSpace(t, srv.ClientURL(), WithMemoryStorage(), WithLogger(logger)) // sees them at load
	time.Sleep(200 * time.Millisecond)
	for _, s := range []*Space{sp, later} {
		for {
			tu, err := s.TryTake(ctx, tuplebroker.RequestTemplate{})
			if errors.Is(err, ErrNoMatch) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if guidOf(tu) != good.GUID {
				t.Fatalf("took corrupt tuple %+v", tu)
			}
		}
		if _, err := s.TryRead(ctx, tuplebroker.ResponseTemplate{}); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("read corrupt response: %v", err)
		}
	}
	if got := logs.String(); !strings.Contains(got, "skipping corrupt tuple") || !strings.Contains(got, "req.any.future") || !strings.Contains(got, "txn.broken") || !strings.Contains(got, "req.any.wrongkind") {
		t.Fatalf("corrupt values not logged:\n%s", got)
	}
}
