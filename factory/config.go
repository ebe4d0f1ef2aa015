package factory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"tuplebroker"
	"tuplebroker/bus"
	"tuplebroker/jsdl"
	"tuplebroker/strategies"
)

// Managers is how a factory reaches the manager node hosting a job
// (satisfied by *bus.Bus). Each call names the caller's UID; errors wrap
// tuplebroker.ErrNotFound, ErrConflict or ErrUnavailable.
type Managers interface {
	ManagerJob(ctx context.Context, handle, uid, guid string) (tuplebroker.Job, error)
	ManagerCancel(ctx context.Context, handle, uid, guid string) (tuplebroker.Job, error)
	ManagerJobs(ctx context.Context, handle, uid string, guids []string) ([]tuplebroker.Job, error)
}

// Pusher pushes a job to an agent through a courier's address (satisfied by
// *bus.Bus).
type Pusher interface {
	PushTo(ctx context.Context, address string, p bus.Push) error
}

// Follower delivers a job's events until ctx ends (satisfied by *bus.Bus).
type Follower interface {
	Follow(ctx context.Context, guid string) (<-chan tuplebroker.Job, error)
}

// Config configures a factory. Start from DefaultConfig.
type Config struct {
	// Handle names this factory in the requests it writes (a bus name:
	// letters, digits, '-', '_').
	Handle string
	// Strategy chooses push or pull for each job.
	Strategy strategies.FactoryStrategy
	// Limits bound each JSDL document; Limits.MaxBytes is also the HTTP
	// body limit. They may be tighter than jsdl.DefaultLimits, never looser
	// (Validate): agents parse every request under jsdl.DefaultLimits, and
	// a document must travel base64-encoded in a tuple of at most 1 MiB. A
	// zero field means jsdl's default.
	Limits jsdl.Limits
	// DefaultWait is how long POST waits for the job to be hosted when the
	// client gives no wait; MaxWait caps what a client may ask for.
	DefaultWait, MaxWait time.Duration
	// CancelWait bounds how long DELETE waits for an agent that is
	// submitting the job to finish, before it can cancel it.
	CancelWait time.Duration
	// PushTimeout bounds one push to an agent (which answers once it has
	// submitted the job).
	PushTimeout time.Duration
	// PushFailureWindow is how long a failed push counts as recent for the
	// strategy.
	PushFailureWindow time.Duration
	// KeepAlive is the interval of comment lines on event streams.
	KeepAlive time.Duration
	// Tokens maps bearer tokens to users.
	Tokens *Tokens
	Logger *slog.Logger
}

// DefaultStrategy names the factory strategy of DefaultConfig.
const DefaultStrategy = "hybrid"

// DefaultConfig returns the defaults: the hybrid strategy (DefaultStrategy,
// with strategies.DefaultFactoryConfig), default JSDL limits, wait 10 s (at
// most 60 s), cancel wait 30 s, push timeout 30 s, push failures recent for
// a minute, keepalive every 15 s. Handle and Tokens must be set.
func DefaultConfig() Config {
	st, err := strategies.NewFactoryStrategy(DefaultStrategy, strategies.DefaultFactoryConfig())
	if err != nil {
		panic(fmt.Sprintf("factory: default strategy: %v", err)) // a programming error: the defaults are fixed
	}
	return Config{
		Strategy:          st,
		Limits:            jsdl.DefaultLimits(),
		DefaultWait:       10 * time.Second,
		MaxWait:           60 * time.Second,
		CancelWait:        30 * time.Second,
		PushTimeout:       30 * time.Second,
		PushFailureWindow: time.Minute,
		KeepAlive:         15 * time.Second,
		Logger:            slog.Default(),
	}
}

// ErrInvalidConfig wraps every Validate error.
var ErrInvalidConfig = errors.New("factory: invalid configuration")

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := bus.CheckName(c.Handle); err != nil {
		return bad("handle: %v", err)
	}
	switch {
	case c.Strategy == nil:
		return bad("no strategy")
	case c.Tokens == nil:
		return bad("no tokens")
	case c.Logger == nil:
		return bad("nil logger")
	case c.Limits.MaxBytes < 0:
		return bad("limits: max bytes %d is negative", c.Limits.MaxBytes)
	}
	if err := checkLimits(c.Limits); err != nil {
		return bad("limits: %v", err)
	}
	switch {
	case c.DefaultWait < 0 || c.MaxWait < 0:
		return bad("waits must not be negative (default %v, max %v)", c.DefaultWait, c.MaxWait)
	case c.DefaultWait > c.MaxWait:
		return bad("default wait %v exceeds max wait %v", c.DefaultWait, c.MaxWait)
	case c.CancelWait <= 0 || c.PushTimeout <= 0 || c.PushFailureWindow <= 0:
		return bad("cancel wait, push timeout and push failure window must be positive")
	case c.KeepAlive < 100*time.Millisecond:
		return bad("keepalive %v below 100ms", c.KeepAlive)
	}
	return nil
}

// maxBytes is the body limit: Limits.MaxBytes, or jsdl's default when unset
// (jsdl reads a zero limit as its default too).
func (c Config) maxBytes() int64 {
	if c.Limits.MaxBytes > 0 {
		return c.Limits.MaxBytes
	}
	return jsdl.DefaultLimits().MaxBytes
}

// checkLimits reports a limit looser than jsdl.DefaultLimits, the limits
// agents parse requests under: a document accepted under it would end
// Failed "invalid JSDL" at the agent (or not fit in a tuple).
func checkLimits(l jsdl.Limits) error {
	d := jsdl.DefaultLimits()
	for _, f := range []struct {
		name     string
		got, max int64
	}{
		{"max bytes", l.MaxBytes, d.MaxBytes},
		{"max depth", int64(l.MaxDepth), int64(d.MaxDepth)},
		{"max elements", int64(l.MaxElements), int64(d.MaxElements)},
		{"max text bytes", int64(l.MaxTextBytes), int64(d.MaxTextBytes)},
		{"max arguments", int64(l.MaxArguments), int64(d.MaxArguments)},
		{"max environment", int64(l.MaxEnvironment), int64(d.MaxEnvironment)},
	} {
		if f.got > f.max {
			return fmt.Errorf("%s %d exceeds %d, the limit agents parse requests under", f.name, f.got, f.max)
		}
	}
	return nil
}
