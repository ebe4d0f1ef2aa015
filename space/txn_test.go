package space

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestCommitIsAtomicForObservers: an observer polling the raw state
// throughout 1,000 take+write commits never sees a request gone (not even
// claimed) while its response does not yet exist. It reads the request key
// first and the response key second, so a commit between the reads can only
// make it see both — never neither.
func TestCommitIsAtomicForObservers(t *testing.T) {
	srv := startServer(t, "")
	agent := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	writer := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 120*time.Second)
	const n = 1000
	reqs := make([]*tuplebroker.Request, n)
	for i := range reqs {
		reqs[i] = newRequest("")
		if _, err := writer.Write(ctx, reqs[i], Forever); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("agent %s writer %s", agent.cfg.Holder, writer.cfg.Holder)
	var traceLog []string
	writer.mirror.mu.Lock()
	writer.mirror.trace = func(src, key string, rev uint64, what string) {
		traceLog = append(traceLog, fmt.Sprintf("%s %s %d %s", src, key, rev, what))
	}
	writer.mirror.mu.Unlock()
	var badKeys sync.Map
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
	var polls, halfApplied, sawBoth atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; !stop.Load(); i = (i + 7) % n {
				rk, _ := Key(reqs[i])
				sk, _ := Key(&tuplebroker.Response{GUID: reqs[i].GUID})
				reqPresent := present(ctx, stream, "$KV.tuples."+rk)
				respPresent := present(ctx, stream, "$KV.tuples."+sk)
				polls.Add(1)
				if !reqPresent && !respPresent {
					halfApplied.Add(1)
				}
				if reqPresent && respPresent {
					sawBoth.Add(1)
				}
			}
		}(w)
	}
	// And the mirror of another Space: a batch is applied to it whole.
	var mirrorHalf atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i = (i + 13) % n {
			rk, _ := Key(reqs[i])
			sk, _ := Key(&tuplebroker.Response{GUID: reqs[i].GUID})
			writer.mirror.mu.RLock()
			re, r := writer.mirror.entries[rk]
			se, s := writer.mirror.entries[sk]
			applied := writer.mirror.applied
			writer.mirror.mu.RUnlock()
			if r == s {
				if mirrorHalf.Add(1) < 5 {
					describe := func(e *entry) string {
						if e == nil {
							return "absent"
						}
						return fmt.Sprintf("rev %d claimed-by %q pending %v", e.rev, e.env.C, e.pending)
					}
					t.Logf("mirror: %s: request %s, response %s, applied %d", rk, describe(re), describe(se), applied)
					badKeys.Store(rk, sk)
					if re != nil && re.env.C != "" {
						badKeys.Store("txn."+re.env.C, "")
					}
				}
			}
		}
	}()
	for i := 0; i < n; i++ {
		if _, err := takeAndRespond(ctx, agent, tuplebroker.RequestTemplate{GUID: reqs[i].GUID}); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d raw polls, %d saw both sides of a commit in flight", polls.Load(), sawBoth.Load())
	if halfApplied.Load() != 0 {
		t.Fatalf("observer saw %d half-applied commits", halfApplied.Load())
	}
	if mirrorHalf.Load() != 0 {
		writer.mirror.mu.Lock()
		badKeys.Range(func(k, v any) bool {
			for _, l := range traceLog {
				f := strings.Fields(l)
				if f[1] == k.(string) || (v.(string) != "" && f[1] == v.(string)) {
					t.Logf("trace: %s", l)
				}
			}
			return true
		})
		writer.mirror.mu.Unlock()
		t.Fatalf("mirror showed %d half-applied commits", mirrorHalf.Load())
	}
	if polls.Load() < 1000 {
		t.Fatalf("observer polled only %d times", polls.Load())
	}
	if got := len(writer.Entries(tuplebroker.ResponseTemplate{})); got != n {
		t.Fatalf("%d responses, want %d", got, n)
	}
}

// The holder dies right after the commit point (the committed record is
// written, none of its operations are): the commit stands, every Space sees
// its effect at once, and another Space applies the operations exactly once.
func TestCommitFinishedByAnotherSpaceWhenHolderDies(t *testing.T) {
	srv := startServer(t, "")
	nc := rawConn(t, srv.ClientURL())
	holder, err := Open(ctxT(t, 10*time.Second), nc, WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	other := openSpace(t, srv.ClientURL(), WithMemoryStorage())
	ctx := ctxT(t, 30*time.Second)
	req := newRequest("")
	if _, err := holder.Write(ctx, req, Forever); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(&tuplebroker.Response{GUID: req.GUID, UID: "alice", Agent: "a", Backend: "b", BackendJobID: "7"}, Forever); err != nil {
		t.Fatal(err)
	}
	tx.commitHook = func() bool { return false } // die after the commit point
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	holder.Close()
	nc.Close()

	// Visible at once to the other Space (readable; takeable once written).
	if _, err := other.Read(ctx, tuplebroker.ResponseTemplate{GUID: req.GUID}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.TryRead(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("committed take visible: %v", err)
	}
	// Finished by the other Space: the response can be taken, the record goes.
	if _, err := other.Take(ctx, tuplebroker.ResponseTemplate{GUID: req.GUID}); err != nil {
		t.Fatalf("response never written: %v", err)
	}
	for len(other.Transactions()) > 0 || len(other.mirror.commitIDs()) > 0 {
		if ctx.Err() != nil {
			t.Fatal("committed record never removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Exactly once: the response was written once and, once taken, is not
	// written again; the request stays gone.
	time.Sleep(4 * time.Second) // past another roll-forward round
	if _, err := other.TryRead(ctx, tuplebroker.ResponseTemplate{GUID: req.GUID}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("response written again after it was taken: %v", err)
	}
	rk, _ := Key(req)
	js, _ := newJS(rawConn(t, srv.ClientURL()))
	st, _ := js.Stream(ctx, "KV_tuples")
	if present(ctx, st, "$KV.tuples."+rk) {
		t.Fatal("request still stored")
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
