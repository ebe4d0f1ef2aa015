package agents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tuplebroker"
	"tuplebroker/jsdl"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// pushTakeWait is how long a pushed request may take to reach this
// process's view of the space.
const pushTakeWait = 2 * time.Second

// Config configures an agent. Start from DefaultConfig.
type Config struct {
	// Name is the agent's name, written into every response.
	Name string
	// Workers is how many requests the agent handles at once.
	Workers int
	// TxnLease is the lease of each take-submit-commit transaction; it is
	// renewed while a submission is in progress.
	TxnLease time.Duration
	// MaxAttempts ends a job Failed after this many refused or failed
	// submissions (across all agents).
	MaxAttempts int
	Logger      *slog.Logger

	// Couriers is how many courier slots the agent offers for pushes
	// (0: none). Couriers need Address and Names.
	Couriers int
	// CourierLease is each courier tuple's lease; it is renewed while the
	// slot stays free.
	CourierLease time.Duration
	// Address is where factories reach the agent (bus.AgentAddress), put in
	// couriers and adverts.
	Address string
	// Names, if set, is where the agent advertises its capabilities (for
	// matchmaking) every AdvertEvery.
	Names       *space.Names
	AdvertEvery time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Workers: 4, TxnLease: 30 * time.Second, MaxAttempts: 5, Logger: slog.Default(),
		CourierLease: 10 * time.Second, AdvertEvery: 10 * time.Second}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("agent: empty name")
	case c.Workers < 1:
		return fmt.Errorf("agent %s: workers %d < 1", c.Name, c.Workers)
	case c.TxnLease < space.MinTxnLease:
		return fmt.Errorf("agent %s: transaction lease %v below %v", c.Name, c.TxnLease, space.MinTxnLease)
	case c.MaxAttempts < 1:
		return fmt.Errorf("agent %s: max attempts %d < 1", c.Name, c.MaxAttempts)
	case c.Logger == nil:
		return fmt.Errorf("agent %s: nil logger", c.Name)
	case c.Couriers < 0:
		return fmt.Errorf("agent %s: couriers %d < 0", c.Name, c.Couriers)
	case c.Couriers > 0 && (c.Address == "" || c.CourierLease < time.Second):
		return fmt.Errorf("agent %s: couriers need an address and a lease of 1s or more", c.Name)
	case c.Names != nil && c.AdvertEvery < 100*time.Millisecond:
		return fmt.Errorf("agent %s: advert interval %v too short", c.Name, c.AdvertEvery)
	}
	return nil
}

// Agent takes the requests its backend can serve and submits them.
type Agent struct {
	cfg  Config
	sp   *space.Space
	be   Backend
	tmpl servable

	thMu sync.Mutex
	th   strategies.Throttle

	submitting atomic.Int32  // workers between taking and committing
	pushes     chan struct{} // one token per courier slot in use by a push
	freed      chan int      // courier slots whose push just ended
	counters   Counters
}

// New builds an agent over a space, a backend and a throttle.
func New(cfg Config, sp *space.Space, be Backend, th strategies.Throttle) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sp == nil || be == nil || th == nil {
		return nil, fmt.Errorf("agent %s: nil space, backend or throttle", cfg.Name)
	}
	caps := map[string]bool{}
	for _, c := range be.Capabilities() {
		caps[c] = true
	}
	return &Agent{cfg: cfg, sp: sp, be: be, th: th, tmpl: servable{agent: cfg.Name, caps: caps},
		pushes: make(chan struct{}, max(cfg.Couriers, 1)), freed: make(chan int, max(cfg.Couriers, 1))}, nil
}

// Run handles requests until ctx ends, then returns nil once every worker
// has finished its current request.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if a.cfg.Names != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.advertise(ctx)
		}()
	}
	if a.cfg.Couriers > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.offerCouriers(ctx)
		}()
	}
	for i := 0; i < a.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.work(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (a *Agent) work(ctx context.Context) {
	for ctx.Err() == nil {
		// Wait for work first, then for the throttle: an idle agent does
		// not spend its tokens.
		// A request pushed to another agent matches again once its push
		// window ends, with no write to wake us: look again now and then.
		rctx, cancel := context.WithTimeout(ctx, tuplebroker.PushWindow/2)
		_, err := a.sp.Read(rctx, a.tmpl)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			continue
		}
		if err := a.reserveSlot(ctx); err != nil {
			return
		}
		if err := a.waitThrottle(ctx); err != nil {
			a.submitting.Add(-1)
			return
		}
		err = a.handleOne(ctx, a.tmpl, false)
		a.submitting.Add(-1)
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Warn("agent: request not handled", "agent", a.cfg.Name, "err", err)
		}
	}
}

// reserveSlot counts this worker among those submitting, waiting first,
// for a Loader backend, until it has a slot free that no other worker is
// about to take. release with a.submitting.Add(-1).
func (a *Agent) reserveSlot(ctx context.Context) error {
	l, ok := a.be.(Loader)
	for {
		n := a.submitting.Add(1)
		if !ok || l.Free()-int(n-1) > 0 {
			return nil
		}
		a.submitting.Add(-1)
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *Agent) waitThrottle(ctx context.Context) error {
	for {
		a.thMu.Lock()
		ok, wait := a.th.Allow(time.Now())
		a.thMu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *Agent) observe(o strategies.Outcome) {
	a.thMu.Lock()
	a.th.Observe(o, time.Now())
	a.thMu.Unlock()
}

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
		tx.Abort(context.WithoutCancel(ctx))
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
	// Once taken, finish the transaction even if ctx ends: an abandoned
	// transaction would hold the request until its lease ends.
	fctx := context.WithoutCancel(ctx)

	def, err := jsdl.ParseBytes(req.JSDL, jsdl.DefaultLimits())
	if err != nil {
		return a.fail(fctx, tx, req, fmt.Sprintf("invalid JSDL: %v", err))
	}
	job := Job{GUID: req.GUID, UID: req.UID, Definition: def, Attempt: req.Attempts}
	// A request no transaction held before and with no failed attempt
	// cannot be in the backend yet: only one that was, may be.
	fresh := returned == 0 && req.Attempts == 0
	id, err := a.submitOnce(ctx, job, fresh)
	switch {
	case err == nil:
		a.observe(strategies.Accepted)
		resp := &tuplebroker.Response{
			GUID: req.GUID, UID: req.UID, Agent: a.cfg.Name, Backend: a.be.Name(),
			BackendJobID: id, Submitted: time.Now().UTC(), Attempts: req.Attempts + 1,
			Created: req.Created, Priority: req.Priority, Pushed: pushed,
		}
		if err := tx.Write(resp, space.Forever); err != nil {
			return fmt.Errorf("write response for %s: %w", req.GUID, err)
		}
		if err := tx.Commit(fctx); err != nil {
			// The job is in the backend under its GUID: the request comes
			// back when the lease ends and the next taker adopts the job.
			return fmt.Errorf("commit %s (backend job %s): %w", req.GUID, id, err)
		}
		a.counters.count(&a.counters.Submitted, pushed)
		return nil
	case errors.Is(err, tuplebroker.ErrRejected):
		return a.fail(fctx, tx, req, err.Error())
	case errors.Is(err, tuplebroker.ErrRefused):
		a.observe(strategies.Refused)
		a.counters.count(&a.counters.Refused, false)
	default:
		a.observe(strategies.Failed)
		a.counters.count(&a.counters.Failed, false)
	}
	return a.retry(fctx, tx, req, err)
}

// submitOnce adopts the backend job already submitted under the GUID, if
// the backend can find one, else submits. A fresh request (never held by a
// transaction that ended without committing, no failed attempt) skips the
// lookup: no agent can have submitted it.
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

// retry puts the request back with one more attempt, or fails it.
func (a *Agent) retry(ctx context.Context, tx *space.Txn, req *tuplebroker.Request, cause error) error {
	req.Attempts++
	req.LastError = cause.Error()
	if req.Attempts >= a.cfg.MaxAttempts {
		return a.fail(ctx, tx, req, fmt.Sprintf("%s after %d attempts: %v", tuplebroker.SubMaxAttempts, req.Attempts, cause))
	}
	req.PushedTo = "" // back to the pool for any agent
	if err := tx.Write(req, space.Forever); err != nil {
		return fmt.Errorf("requeue %s: %w", req.GUID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("requeue %s: %w", req.GUID, err)
	}
	return nil
}

// fail retires the request with a response that records why it failed.
func (a *Agent) fail(ctx context.Context, tx *space.Txn, req *tuplebroker.Request, reason string) error {
	resp := &tuplebroker.Response{GUID: req.GUID, UID: req.UID, Agent: a.cfg.Name, Failure: reason, Attempts: req.Attempts,
		Submitted: time.Now().UTC(), Created: req.Created, Priority: req.Priority}
	if err := tx.Write(resp, space.Forever); err != nil {
		return fmt.Errorf("fail %s: %w", req.GUID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("fail %s: %w", req.GUID, err)
	}
	a.counters.Ended.Add(1)
	return nil
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
// that are not reserved for another agent by a push.
type servable struct {
	agent string
	caps  map[string]bool
}

func (servable) Kind() tuplebroker.Kind { return tuplebroker.KindRequest }
func (servable) Index() []string        { return []string{"", ""} }

// Match reports whether the request is open to pull — not pushed to an
// agent within the push window (not even to this one: its push handler
// takes it) — and every requirement of it is a capability.
func (s servable) Match(t tuplebroker.Tuple) bool {
	r, ok := t.(*tuplebroker.Request)
	if !ok || r.ReservedFor("", time.Now()) {
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
