package strategies

import (
	"math"
	"time"
)

// adaptive is the "adaptive" throttle: additive increase, multiplicative
// decrease (AIMD) of a token bucket's rate, driven by the outcomes of the
// agent's own submissions.
//
//   - Accepted: if at least IncreaseInterval has passed since the success
//     window began, the rate grows by IncreaseStep (capped at MaxRate) and
//     a new window begins now.
//   - Refused: outside a cool-down, the rate is multiplied by
//     DecreaseFactor (Failed: by 1 - FailureWeight×(1 - DecreaseFactor)),
//     floored at MinRate, and a cool-down of CoolDown begins. Within it a
//     further refusal or failure only lowers the rate to base×factor, where
//     base is the rate the cool-down began at: the strongest event of a
//     burst wins, events never compound. Either way the success window
//     begins again when the cool-down ends, so the rate holds through it
//     (outcomes arriving then are of takes made before the cut).
type adaptive struct {
	cfg  AdaptiveConfig
	rate float64
	b    bucket

	seen        bool      // an outcome has been observed; windowStart is set
	windowStart time.Time // start of the current success window
	coolUntil   time.Time // end of the current cool-down (zero: none yet)
	coolBase    float64   // rate when the current cool-down began
}

func newAdaptive(c AdaptiveConfig) *adaptive {
	return &adaptive{cfg: c, rate: c.InitialRate, b: newBucket(c.InitialRate, c.Burst)}
}

// Allow spends a token if one is available at now at the current rate.
func (a *adaptive) Allow(now time.Time) (bool, time.Duration) { return a.b.allow(now) }

// Rate returns the current rate in takes per second.
func (a *adaptive) Rate() float64 { return a.rate }

// Observe adapts the rate to one outcome. Unknown outcomes are ignored.
func (a *adaptive) Observe(o Outcome, now time.Time) {
	if o != Accepted && o != Refused && o != Failed {
		return
	}
	if !a.seen {
		a.seen = true
		a.windowStart = now
	}
	switch o {
	case Accepted:
		if now.Sub(a.windowStart) >= a.cfg.IncreaseInterval {
			a.setRate(a.rate + a.cfg.IncreaseStep)
			a.windowStart = now
		}
	case Refused, Failed:
		factor := a.cfg.DecreaseFactor
		if o == Failed {
			factor = 1 - a.cfg.FailureWeight*(1-a.cfg.DecreaseFactor)
		}
		if now.Before(a.coolUntil) {
			a.setRate(math.Min(a.rate, a.coolBase*factor))
		} else {
			a.coolBase = a.rate
			a.coolUntil = now.Add(a.cfg.CoolDown)
			a.setRate(a.rate * factor)
		}
		a.windowStart = a.coolUntil
	}
}

func (a *adaptive) setRate(r float64) {
	r = math.Max(a.cfg.MinRate, math.Min(a.cfg.MaxRate, r))
	if r == a.rate {
		return
	}
	a.rate = r
	a.b.interval = intervalOf(r)
}
