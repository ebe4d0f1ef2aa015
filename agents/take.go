package agents

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tuplebroker"
	"tuplebroker/jsdl"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// Where a Request is taken and retired: an agent takes it inside a
// transaction, asks its backend, and commits what decide (decide.go) chose —
// the job's Response (NewResponse or Request.Fail) in its place, or the
// Request back for another attempt (Request.Retried).

// requestLimits bound the JSDL documents an agent parses: jsdl's defaults,
// the loosest limits a factory may accept a document under
// (factory.Config.Validate), so that no document a factory accepted is
// failed here as invalid.
func requestLimits() jsdl.Limits { return jsdl.DefaultLimits() }

// handleOne takes one request in a transaction, submits it, and commits
// {request gone, response written}, or puts it back with one more attempt.
func (a *Agent) handleOne(ctx context.Context, tmpl tuplebroker.Template, pushed bool) error {
	tx, err := a.sp.Begin(ctx, a.cfg.TxnLease)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var tu tuplebroker.Tuple
	var returned int
	if pushed {
		// The factory wrote the request just before pushing: this
		// process's mirror may not have it yet.
		tctx, cancel := context.WithTimeout(ctx, pushTakeWait)
		tu, returned, err = tx.TakeCounted(tctx, tmpl)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = space.ErrNoMatch
		}
	} else {
		tu, returned, err = tx.TryTakeCounted(ctx, tmpl)
	}
	if err != nil {
		actx, cancel := tuplebroker.FinishContext(ctx, a.cfg.TxnLease)
		tx.Abort(actx)
		cancel()
		if errors.Is(err, space.ErrNoMatch) {
			if pushed {
				return fmt.Errorf("pushed request: %w", err)
			}
			return nil // another agent was faster
		}
		return fmt.Errorf("take: %w", err)
	}
	req := tu.(*tuplebroker.Request)
	stop := a.keepAlive(ctx, tx)
	defer stop()

	at := attempt{req: req, pushed: pushed}
	if def, err := jsdl.ParseBytes(req.JSDL, requestLimits()); err != nil {
		at.invalid = err
	} else if err := Admit(def, a.be.Capabilities()); err != nil {
		at.err = err // what no backend of this kind can run: rejected here
	} else {
		job := Job{GUID: req.GUID, UID: req.UID, Definition: def, Attempt: req.Attempts}
		at.backendJobID, at.err = a.submitOnce(ctx, job, fresh(req, returned))
	}
	// Once taken, finish the transaction even if ctx ends (an abandoned
	// transaction would hold the request until its lease ends), but not
	// for longer than the stop grace once it has.
	fctx, cancel := tuplebroker.FinishContext(ctx, a.cfg.TxnLease)
	defer cancel()
	return a.carryOut(fctx, tx, decide(at, a.policy(), time.Now()))
}

func (a *Agent) policy() policy {
	return policy{agent: a.cfg.Name, backend: a.be.Name(), maxAttempts: a.cfg.MaxAttempts}
}

// carryOut writes what d chose into the transaction and commits it, and
// tells the throttle and the counters.
func (a *Agent) carryOut(ctx context.Context, tx *space.Txn, d decision) error {
	if d.observe {
		a.observe(d.outcome)
	}
	switch d.act {
	case commitJob:
		r := d.resp
		if err := tx.Write(r, space.Forever); err != nil {
			return fmt.Errorf("write response for %s: %w", r.GUID, err)
		}
		if err := tx.Commit(ctx); err != nil {
			// The job is in the backend under its GUID: the request comes
			// back when the lease ends and the next taker adopts the job.
			return fmt.Errorf("commit %s (backend job %s): %w", r.GUID, r.BackendJobID, err)
		}
		a.counters.count(&a.counters.Submitted, r.Pushed)
		return nil
	case requeueJob:
		a.countRetry(d)
		if err := tx.Write(d.req, space.Forever); err != nil {
			return fmt.Errorf("requeue %s: %w", d.req.GUID, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("requeue %s: %w", d.req.GUID, err)
		}
		return nil
	default: // failJob
		a.countRetry(d)
		if err := tx.Write(d.resp, space.Forever); err != nil {
			return fmt.Errorf("fail %s: %w", d.resp.GUID, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("fail %s: %w", d.resp.GUID, err)
		}
		a.counters.Ended.Add(1)
		return nil
	}
}

// countRetry counts a refused or failed submission (one the throttle
// observed as such).
func (a *Agent) countRetry(d decision) {
	if !d.observe {
		return
	}
	switch d.outcome {
	case strategies.Refused:
		a.counters.count(&a.counters.Refused, false)
	case strategies.Failed:
		a.counters.count(&a.counters.Failed, false)
	}
}

// submitOnce adopts the backend job already submitted under the GUID, if
// the backend can find one, else submits. A fresh request (see fresh)
// skips the lookup: no agent can have submitted it.
func (a *Agent) submitOnce(ctx context.Context, job Job, fresh bool) (string, error) {
	if f, ok := a.be.(Finder); ok && !fresh {
		id, found, err := f.Find(ctx, job.GUID)
		if err != nil {
			return "", fmt.Errorf("%w: looking up %s: %v", tuplebroker.ErrRefused, job.GUID, err)
		}
		if found {
			return id, nil
		}
	}
	return a.be.Submit(ctx, job)
}

// keepAlive renews the transaction at a third of its lease until stopped.
func (a *Agent) keepAlive(ctx context.Context, tx *space.Txn) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.cfg.TxnLease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := tx.Renew(ctx, a.cfg.TxnLease); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// servable selects the requests whose requirements the backend offers and
// that are not reserved, at now, for another agent by a push. Give it its
// time with at before each read or take.
type servable struct {
	agent string
	caps  map[string]bool
	now   time.Time
}

// at is s judging push reservations at now.
func (s servable) at(now time.Time) servable {
	s.now = now
	return s
}

func (servable) Kind() tuplebroker.Kind { return tuplebroker.KindRequest }
func (servable) Index() []string        { return []string{"", ""} }

// Match reports whether the request is open to pull at s.now — not pushed
// to an agent within the push window (not even to this one: its push
// handler takes it) — and every requirement of it is a capability.
func (s servable) Match(t tuplebroker.Tuple) bool {
	r, ok := t.(*tuplebroker.Request)
	if !ok || r.ReservedFor("", s.now) {
		return false
	}
	return s.serves(r)
}

// serves reports whether every requirement of r is a capability.
func (s servable) serves(r *tuplebroker.Request) bool {
	for _, need := range r.Requirements {
		if !s.caps[need] {
			return false
		}
	}
	return true
}

// ServesClass reports whether the backend offers every requirement of
// sample's class (space.ClassTemplate): the space then offers this agent's
// takes only the queues it can serve, in take order.
func (s servable) ServesClass(sample *tuplebroker.Request) bool { return s.serves(sample) }
