// Package factory is tuplebroker's JobSubmissionFactory: the HTTP front end
// that accepts JSDL job documents (POST /v1/jobs), writes them into the
// tuplespace as Request tuples (pull) or pushes them to an agent through a
// courier (push), waits for the job to be hosted by a manager node, and
// answers for any job by its stable URL (GET, DELETE, events).
//
// A factory keeps no state that is not in the space, except the couriers it
// holds greedily: any number of factories serve the same pool and any of
// them answers for any job. Idempotency keys live in the space's names; the
// job's state comes from its tuples while no manager node hosts it, and from
// the hosting manager node (over the bus) once one does.
//
// The HTTP contract (routes, status codes, problem+json errors) is the
// broker's API; the project's README lists it.
package factory

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tuplebroker/space"
)

// Factory is the HTTP JSDL front end. It is an http.Handler, safe for
// concurrent use.
type Factory struct {
	cfg    Config
	sp     *space.Space
	names  *space.Names
	mgr    Managers
	push   Pusher
	follow Follower
	mux    *http.ServeMux

	ctx    context.Context // ends at Close: background pushes
	cancel context.CancelFunc
	bgMu   sync.Mutex // orders background starts with Close
	wg     sync.WaitGroup
	closed atomic.Bool

	adverts advertCache
	cour    courierPool
	stats   counters
}

// ErrNilDependency: New was given a nil space, names or bus interface.
var ErrNilDependency = errors.New("factory: nil dependency")

// New builds a factory over a space, its names and the bus (mgr, push and
// follow are usually the same *bus.Bus). It returns an error wrapping
// ErrInvalidConfig or ErrNilDependency.
func New(cfg Config, sp *space.Space, names *space.Names, mgr Managers, push Pusher, follow Follower) (*Factory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sp == nil || names == nil || mgr == nil || push == nil || follow == nil {
		return nil, ErrNilDependency
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Factory{cfg: cfg, sp: sp, names: names, mgr: mgr, push: push, follow: follow,
		ctx: ctx, cancel: cancel}
	f.stats.rejected = map[string]int64{}
	f.routes()
	return f, nil
}

func (f *Factory) routes() {
	m := http.NewServeMux()
	m.Handle("GET /healthz", HealthHandler(f.sp))
	m.Handle("POST /v1/jobs", f.authed(f.submit))
	m.Handle("GET /v1/jobs", f.authed(f.list))
	m.Handle("GET /v1/jobs/{id}", f.authed(f.get))
	m.Handle("DELETE /v1/jobs/{id}", f.authed(f.cancelJob))
	m.Handle("GET /v1/jobs/{id}/events", f.authed(f.events))
	m.Handle("/v1/jobs", f.notAllowed("GET, HEAD, POST"))
	m.Handle("/v1/jobs/{id}", f.notAllowed("GET, HEAD, DELETE"))
	m.Handle("/v1/jobs/{id}/events", f.notAllowed("GET, HEAD"))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.writeError(w, r, newProblem(kindNotFound, "no such resource"))
	})
	f.mux = m
}

// ServeHTTP serves the API.
func (f *Factory) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// handler is an authenticated route: uid is the caller.
type handler func(w http.ResponseWriter, r *http.Request, uid string) error

// authed checks the bearer token, runs h, and answers its error.
func (f *Factory) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, ok := f.authenticate(r)
		if !ok {
			f.writeError(w, r, newProblem(kindUnauthorized, "send Authorization: Bearer <token> with a token the broker knows"))
			return
		}
		if err := h(w, r, uid); err != nil {
			if r.Context().Err() != nil && !errors.As(err, new(*problem)) {
				return // the client has gone: nobody to answer
			}
			f.writeError(w, r, err)
		}
	})
}

func (f *Factory) authenticate(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", false
	}
	return f.cfg.Tokens.User(tok)
}

func (f *Factory) notAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		f.writeError(w, r, newProblem(kindMethod, "allowed: %s", allow))
	})
}

// Close stops background pushes and releases the couriers the factory
// holds: each is written back to the space with the lease it has left.
// Close does not close the space.
func (f *Factory) Close() error {
	f.bgMu.Lock()
	first := f.closed.CompareAndSwap(false, true)
	f.bgMu.Unlock()
	if !first {
		return nil
	}
	f.cancel()
	f.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.releaseAll(ctx)
	return nil
}

// background runs fn in a goroutine Close waits for, unless the factory is
// closed (then it reports false and runs nothing).
func (f *Factory) background(fn func()) bool {
	f.bgMu.Lock()
	defer f.bgMu.Unlock()
	if f.closed.Load() {
		return false
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
	return true
}

// Stats are a factory's running totals.
type Stats struct {
	// Accepted counts jobs this factory created (replays not included).
	Accepted int64
	// Replays counts POSTs answered for an earlier job by its
	// Idempotency-Key.
	Replays int64
	// Pushed counts jobs an agent took through a courier this factory
	// used; PushFailures counts pushes that failed and left the job to
	// pull; PushFallbacks counts jobs the strategy wanted pushed that were
	// pulled because no courier was available.
	Pushed, PushFailures, PushFallbacks int64
	// Rejected counts 4xx answers by problem type slug ("invalid-jsdl",
	// "unauthorized", ...).
	Rejected map[string]int64
}

type counters struct {
	accepted, replays, pushed, pushFailures, pushFallbacks atomic.Int64

	mu       sync.Mutex
	rejected map[string]int64
}

func (c *counters) reject(slug string) {
	c.mu.Lock()
	c.rejected[slug]++
	c.mu.Unlock()
}

// Stats returns the factory's counters now.
func (f *Factory) Stats() Stats {
	c := &f.stats
	s := Stats{Accepted: c.accepted.Load(), Replays: c.replays.Load(), Pushed: c.pushed.Load(),
		PushFailures: c.pushFailures.Load(), PushFallbacks: c.pushFallbacks.Load(), Rejected: map[string]int64{}}
	c.mu.Lock()
	for k, v := range c.rejected {
		s.Rejected[k] = v
	}
	c.mu.Unlock()
	return s
}
