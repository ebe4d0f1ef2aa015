package strategies

import (
	"fmt"
	"math"
	"time"
)

// Outcome is what became of one submission an agent made to its backend. It
// is the only thing a Throttle observes besides the clock.
type Outcome int

// The outcomes. The zero Outcome is not valid; Observe ignores it.
const (
	// Accepted: the backend took the job.
	Accepted Outcome = iota + 1
	// Refused: the backend said "slow down" (connection refused, submission
	// rate too high, queue full). The request goes back to the space.
	Refused
	// Failed: the submission itself failed (error from the backend's
	// command, timeout). It says less about load than a refusal does, so the
	// adaptive throttle weighs it at most as much.
	Failed
)

// String returns "accepted", "refused", "failed" or "Outcome(n)".
func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Refused:
		return "refused"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Throttle decides how fast an agent may take requests from the space.
//
// The agent loop calls Allow before each take: ok = true spends one token and
// the agent may take one request now; ok = false means "not yet", and wait is
// how long until the next token if nothing else changes (the loop sleeps that
// long, or less if it wants to re-check). After each submission the loop
// reports what the backend did with Observe. Rate is the current limit in
// takes per second, for metrics and tests.
//
// A Throttle is a deterministic state machine: its answers depend only on the
// sequence of calls and the now values passed in; it never reads the clock,
// sleeps or starts goroutines. A now earlier than one seen before is treated
// as "no time has passed". A Throttle is not safe for concurrent use: each
// agent loop owns its own.
type Throttle interface {
	Allow(now time.Time) (ok bool, wait time.Duration)
	Observe(o Outcome, now time.Time)
	Rate() float64
}

// Bounds on every configured rate and burst. They keep the token arithmetic
// (nanosecond intervals, burst × interval) exact and free of overflow.
const (
	// MinRateLimit is the lowest rate a throttle can be configured with:
	// one take every 1000 s.
	MinRateLimit = 1e-3
	// MaxRateLimit is the highest rate a throttle can be configured with.
	MaxRateLimit = 1e6
	// MaxBurst is the largest burst a throttle can be configured with.
	MaxBurst = 1_000_000
)

// ThrottleConfig configures the throttles; each one reads its own section.
// Validate checks both sections, so a configuration is known good whichever
// name is chosen later.
type ThrottleConfig struct {
	Fixed    FixedConfig
	Adaptive AdaptiveConfig
}

// FixedConfig configures the "fixed" throttle: a token bucket.
type FixedConfig struct {
	// Rate is the sustained number of takes per second.
	Rate float64
	// Burst is how many takes may happen back to back after a quiet period
	// (the bucket's depth). 1 means strictly spaced takes.
	Burst int
}

// AdaptiveConfig configures the "adaptive" throttle: AIMD on the outcomes of
// the agent's own submissions.
type AdaptiveConfig struct {
	// InitialRate is the rate (takes per second) before any outcome is seen.
	InitialRate float64
	// MinRate and MaxRate bound the rate: refusals never push it below
	// MinRate (so the agent keeps probing) and successes never above MaxRate.
	MinRate, MaxRate float64
	// Burst is the token bucket's depth at every rate.
	Burst int
	// IncreaseStep is added to the rate (takes per second) for each success
	// window: an accepted outcome at least IncreaseInterval after the window
	// began ends it with a step and begins the next. The first window begins
	// at the first outcome observed; a refusal or failure discards the
	// current window, and the next begins when the cool-down ends (the rate
	// holds through a cool-down). At most one step per window and per
	// accepted outcome, so the increase is additive in time and an idle
	// agent does not creep up.
	IncreaseStep     float64
	IncreaseInterval time.Duration
	// DecreaseFactor multiplies the rate on a refusal; in (0, 1). 0.5 halves.
	DecreaseFactor float64
	// FailureWeight is how much a failure counts relative to a refusal, in
	// [0, 1]: a failure multiplies the rate by 1 - FailureWeight×(1 -
	// DecreaseFactor). 1 treats failures as refusals; 0 never slows down on
	// failures (they still end the current success window).
	FailureWeight float64
	// CoolDown is how long after a decrease further refusals and failures
	// do not compound: within it the rate falls at most to the strongest
	// single decrease from the rate the cool-down started at. A burst of N
	// refusals therefore halves once, not N times.
	CoolDown time.Duration
}

// DefaultThrottleConfig returns a valid configuration: fixed at 1 take/s with
// no burst; adaptive starting at 1 take/s within [0.1, 50], +0.25/s per second
// of clean successes, halving on refusal (failures count half), with a 2 s
// cool-down.
func DefaultThrottleConfig() ThrottleConfig {
	return ThrottleConfig{
		Fixed: FixedConfig{Rate: 1, Burst: 1},
		Adaptive: AdaptiveConfig{
			InitialRate:      1,
			MinRate:          0.1,
			MaxRate:          50,
			Burst:            1,
			IncreaseStep:     0.25,
			IncreaseInterval: time.Second,
			DecreaseFactor:   0.5,
			FailureWeight:    0.5,
			CoolDown:         2 * time.Second,
		},
	}
}

// Validate reports the first problem in either section as an error wrapping
// ErrInvalidConfig.
func (c ThrottleConfig) Validate() error {
	if err := c.Fixed.Validate(); err != nil {
		return err
	}
	return c.Adaptive.Validate()
}

// Validate reports a problem as an error wrapping ErrInvalidConfig.
func (c FixedConfig) Validate() error {
	if err := checkRate("fixed.rate", c.Rate); err != nil {
		return err
	}
	return checkBurst("fixed.burst", c.Burst)
}

// Validate reports a problem as an error wrapping ErrInvalidConfig.
func (c AdaptiveConfig) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"adaptive.initial_rate", c.InitialRate}, {"adaptive.min_rate", c.MinRate}, {"adaptive.max_rate", c.MaxRate}} {
		if err := checkRate(r.name, r.v); err != nil {
			return err
		}
	}
	switch {
	case c.MinRate > c.MaxRate:
		return invalid("adaptive: min_rate %g is above max_rate %g", c.MinRate, c.MaxRate)
	case c.InitialRate < c.MinRate || c.InitialRate > c.MaxRate:
		return invalid("adaptive: initial_rate %g is outside [min_rate %g, max_rate %g]", c.InitialRate, c.MinRate, c.MaxRate)
	}
	if err := checkBurst("adaptive.burst", c.Burst); err != nil {
		return err
	}
	switch {
	case !(c.IncreaseStep > 0) || math.IsInf(c.IncreaseStep, 0):
		return invalid("adaptive.increase_step %g must be a positive number of takes per second", c.IncreaseStep)
	case c.IncreaseInterval <= 0:
		return invalid("adaptive.increase_interval %v must be positive", c.IncreaseInterval)
	case !(c.DecreaseFactor > 0 && c.DecreaseFactor < 1):
		return invalid("adaptive.decrease_factor %g must be in (0, 1)", c.DecreaseFactor)
	case !(c.FailureWeight >= 0 && c.FailureWeight <= 1):
		return invalid("adaptive.failure_weight %g must be in [0, 1] (a failure weighs at most a refusal)", c.FailureWeight)
	case c.CoolDown <= 0:
		return invalid("adaptive.cool_down %v must be positive (else one burst of refusals compounds)", c.CoolDown)
	}
	return nil
}

func checkRate(field string, v float64) error {
	if !(v >= MinRateLimit && v <= MaxRateLimit) { // also rejects NaN
		return invalid("%s %g takes/s is outside [%g, %g]", field, v, MinRateLimit, MaxRateLimit)
	}
	return nil
}

func checkBurst(field string, v int) error {
	if v < 1 || v > MaxBurst {
		return invalid("%s %d is outside [1, %d]", field, v, MaxBurst)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// bucket is a token bucket kept in the form of the generic cell rate
// algorithm: instead of a fractional token count it stores tat, the
// theoretical time at which the bucket would be full again. All arithmetic
// is in integer nanoseconds, so rates and bursts are honoured exactly (to the
// nanosecond rounding of 1/rate) over any horizon. A fresh bucket is full.
type bucket struct {
	interval time.Duration // 1/rate
	burst    int
	tat      time.Time
}

func newBucket(rate float64, burst int) bucket {
	return bucket{interval: intervalOf(rate), burst: burst}
}

func intervalOf(rate float64) time.Duration {
	return time.Duration(math.Round(float64(time.Second) / rate))
}

func (b *bucket) allow(now time.Time) (bool, time.Duration) {
	t := b.tat
	if t.Before(now) {
		t = now
	}
	tolerance := time.Duration(b.burst-1) * b.interval
	if ahead := t.Sub(now); ahead > tolerance {
		return false, ahead - tolerance
	}
	b.tat = t.Add(b.interval)
	return true, 0
}

// fixed is the "fixed" throttle.
type fixed struct {
	rate float64
	b    bucket
}

func newFixed(c FixedConfig) *fixed {
	return &fixed{rate: c.Rate, b: newBucket(c.Rate, c.Burst)}
}

// Allow spends a token if one is available at now.
func (f *fixed) Allow(now time.Time) (bool, time.Duration) { return f.b.allow(now) }

// Observe ignores outcomes: a fixed throttle does not adapt.
func (f *fixed) Observe(Outcome, time.Time) {}

// Rate returns the configured rate.
func (f *fixed) Rate() float64 { return f.rate }
