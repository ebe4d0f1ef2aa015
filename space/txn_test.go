package space

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tuplebroker"
)

// takeAndRespond is the agent's transaction: take one request, write its
// unpublished response, commit.
func takeAndRespond(ctx context.Context, sp *Space, tmpl tuplebroker.Template) (*tuplebroker.Request, error) {
	tx, err := sp.Begin(ctx, 5*time.Second)
	if err != nil {
		return nil, err
	}
	tu, err := tx.TryTake(ctx, tmpl)
	if err != nil {
		tx.Abort(ctx)
		return nil, err
	}
	r := tu.(*tuplebroker.Request)
	if err := tx.Write(&tuplebroker.Response{GUID: r.GUID, UID: r.UID, Agent: "a", Backend: "sim", BackendJobID: "j-" + r.GUID}, Forever); err != nil {
		tx.Abort(ctx)
		return nil, err
	}
	return r, tx.Commit(ctx)
}

func TestTxnCommitAbortVisibility(t *testing.T) {
	srv := startServer(t, "")
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 10*time.Second)
	req := newRequest("")
	if _, err := sp.Write(ctx, req, Forever); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Read(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); err != nil {
		t.Fatal(err)
	}

	tx, err := sp.Begin(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); err != nil {
		t.Fatal(err)
	}
	resp := &tuplebroker.Response{GUID: req.GUID, UID: "alice", Agent: "a", Backend: "sim", BackendJobID: "1"}
	if err := tx.Write(resp, Forever); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	// Until commit: the taken tuple is invisible everywhere, the written one does not exist.
	for _, s := range []*Space{sp, other} {
		if _, err := s.TryRead(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("taken tuple visible before commit: %v", err)
		}
		if _, err := s.TryTake(ctx, tuplebroker.RequestTemplate{}); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("taken tuple takeable before commit: %v", err)
		}
		if _, err := s.TryRead(ctx, tuplebroker.ResponseTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("written tuple visible before commit: %v", err)
		}
	}
	// Abort puts it back and wakes a blocked taker elsewhere.
	woke := make(chan error, 1)
	go func() {
		_, err := other.Take(ctx, tuplebroker.RequestTemplate{GUID: req.GUID})
		woke <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := tx.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("blocked taker after abort: %v", err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("commit after abort: %v", err)
	}
	if _, err := sp.TryRead(ctx, tuplebroker.ResponseTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("aborted write exists: %v", err)
	}

	// Commit: request gone, response present, for every observer.
	req2 := newRequest("")
	if _, err := sp.Write(ctx, req2, Forever); err != nil {
		t.Fatal(err)
	}
	if _, err := takeAndRespond(ctx, sp, tuplebroker.RequestTemplate{GUID: req2.GUID}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Read(ctx, tuplebroker.ResponseTemplate{GUID: req2.GUID}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.TryRead(ctx, tuplebroker.RequestTemplate{GUID: req2.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("committed take still visible: %v", err)
	}
	if n := len(other.Transactions()); n != 0 {
		t.Fatalf("%d transaction records left", n)
	}
}

// TestTxnLeaseExpiryRollsBack: a holder that stops renewing loses its
// transaction; the taken tuple comes back to a taker blocked in another
// process-like Space, and the late commit fails without applying anything.
func TestTxnLeaseExpiryRollsBack(t *testing.T) {
	srv := startServer(t, "")
	holder := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 20*time.Second)
	req := newRequest("")
	if _, err := holder.Write(ctx, req, Forever); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Take(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(&tuplebroker.Response{GUID: req.GUID, UID: "alice", Agent: "a", Backend: "b", BackendJobID: "1"}, Forever); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := other.Take(ctx, tuplebroker.RequestTemplate{GUID: req.GUID})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("tuple back after %v, lease was 1s", waited)
	}
	if guidOf(got) != req.GUID {
		t.Fatal("wrong tuple")
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("late commit: %v, want ErrLeaseExpired", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := other.TryRead(ctx, tuplebroker.ResponseTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("late commit applied its write: %v", err)
	}
}

func TestTxnRenewKeepsItAlive(t *testing.T) {
	srv := startServer(t, "")
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 20*time.Second)
	req := newRequest("")
	if _, err := sp.Write(ctx, req, Forever); err != nil {
		t.Fatal(err)
	}
	tx, err := sp.Begin(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		time.Sleep(500 * time.Millisecond)
		if err := tx.Renew(ctx, time.Second); err != nil {
			t.Fatalf("renew %d: %v", i, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit after 2.5s of renewals: %v", err)
	}
}

// TestCommitIsAtomicForObservers: a transaction takes two Requests and
// writes both Responses — two keys, one atomic batch. Another Space's mirror
// never shows one job answered and the other still queued, and a raw reader
// of the bucket never finds a job's key empty (the Request becomes its
// Response in one compare-and-set).
func TestCommitIsAtomicForObservers(t *testing.T) {
	srv := startServer(t, "")
	agent := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	writer := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 120*time.Second)
	const n = 400
	reqs := make([]*tuplebroker.Request, 2*n)
	for i := range reqs {
		reqs[i] = newRequest("")
		if _, err := writer.Write(ctx, reqs[i], Forever); err != nil {
			t.Fatal(err)
		}
	}
	obsConn := rawConn(t, srv.ClientURL())
	js, err := newJS(obsConn)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KV_tuples")
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var polls, empty, mixed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i = (i + 7) % (2 * n) {
			k, _ := Key(reqs[i])
			if !present(ctx, stream, "$KV.tuples."+k) {
				empty.Add(1)
			}
			polls.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		kindAt := func(i int) string {
			k, _ := Key(reqs[i])
			e, ok := writer.mirror.entries[k]
			switch {
			case !ok:
				return "absent"
			case e.env.C != "":
				return "claimed"
			}
			return e.kind
		}
		for i := 0; !stop.Load(); i = (i + 13) % n {
			writer.mirror.mu.RLock()
			a, b := kindAt(2*i), kindAt(2*i+1)
			writer.mirror.mu.RUnlock()
			done := func(k string) bool { return k == string(tuplebroker.KindResponse) }
			if done(a) != done(b) {
				if mixed.Add(1) < 5 {
					t.Logf("mirror: pair %d: %s and %s", i, a, b)
				}
			}
		}
	}()
	for i := 0; i < n; i++ {
		tx, err := agent.Begin(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reqs[2*i : 2*i+2] {
			if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: r.GUID}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Write(&tuplebroker.Response{GUID: r.GUID, UID: r.UID, Agent: "a", Backend: "sim", BackendJobID: "j"}, Forever); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if empty.Load() != 0 {
		t.Fatalf("raw observer found a job's key empty %d times", empty.Load())
	}
	if mixed.Load() != 0 {
		t.Fatalf("mirror showed %d half-applied commits", mixed.Load())
	}
	if polls.Load() < 1000 {
		t.Fatalf("observer polled only %d times", polls.Load())
	}
	waitFor(t, ctx, func() bool { return len(writer.Entries(tuplebroker.ResponseTemplate{})) == 2*n })
}

// TestBatchIsAllOrNothing: one stale compare-and-set in a batch stores none
// of it.
func TestBatchIsAllOrNothing(t *testing.T) {
	srv := startServer(t, "")
	sp := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 10*time.Second)
	a, b := newRequest(""), newRequest("")
	la, err := sp.Write(ctx, a, Forever)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := sp.Write(ctx, b, Forever)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	opA := batchOp{key: la.Key, expect: la.Revision, expectSet: true}
	opB := batchOp{key: lb.Key, expect: lb.Revision + 1000, expectSet: true} // stale
	for i, op := range []*batchOp{&opA, &opB} {
		if err := op.value(&tuplebroker.Response{GUID: []string{a.GUID, b.GUID}[i], UID: "alice"}, Forever, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.commitOps(ctx, "t", []batchOp{opA, opB}); !isWrongSeq(err) {
		t.Fatalf("batch with a stale CAS: %v, want a wrong-sequence error", err)
	}
	js, _ := newJS(rawConn(t, srv.ClientURL()))
	st, _ := js.Stream(ctx, "KV_tuples")
	m, err := st.GetLastMsgForSubject(ctx, "$KV.tuples."+la.Key)
	if err != nil || m.Sequence != la.Revision {
		t.Fatalf("first op of a failed batch stored: %v seq %d, want %d", err, m.Sequence, la.Revision)
	}
	// The same batch with a fresh revision is stored whole, at consecutive
	// sequences, and both mirrors see it.
	opB.expect = lb.Revision
	chs, err := sp.commitOps(ctx, "t", []batchOp{opA, opB})
	if err != nil {
		t.Fatal(err)
	}
	if chs[1].rev != chs[0].rev+1 {
		t.Fatalf("batch sequences %d, %d", chs[0].rev, chs[1].rev)
	}
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	for _, g := range []string{a.GUID, b.GUID} {
		if _, err := other.Read(ctx, tuplebroker.ResponseTemplate{GUID: g}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTakeCountsReturns: a tuple put back by an aborted transaction says so
// to its next taker (agents rely on it to know whether a job may already be
// in a backend), across processes' views (the count travels in the value).
func TestTakeCountsReturns(t *testing.T) {
	srv := startServer(t, "")
	a := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	b := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 20*time.Second)
	req := newRequest("")
	if _, err := a.Write(ctx, req, Forever); err != nil {
		t.Fatal(err)
	}
	tmpl := tuplebroker.RequestTemplate{GUID: req.GUID}
	for want := 0; want < 3; want++ {
		tx, err := b.Begin(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, n, err := tx.TakeCounted(ctx, tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("take %d: returned %d times, want %d", want, n, want)
		}
		if err := tx.Abort(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
