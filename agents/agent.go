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
		_, err := a.sp.Read(rctx, a.tmpl.at(time.Now()))
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
		err = a.handleOne(ctx, a.tmpl.at(time.Now()), false)
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
