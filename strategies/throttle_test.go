package strategies

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mustFixed(t *testing.T, rate float64, burst int) Throttle {
	t.Helper()
	cfg := DefaultThrottleConfig()
	cfg.Fixed = FixedConfig{Rate: rate, Burst: burst}
	th, err := NewThrottle("fixed", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// pollCount asks Allow every step over [0, horizon] and counts the grants
// (taking as many as are granted at each instant).
func pollCount(th Throttle, step, horizon time.Duration) int {
	n := 0
	for el := time.Duration(0); el <= horizon; el += step {
		for {
			ok, _ := th.Allow(at(el))
			if !ok {
				break
			}
			n++
		}
	}
	return n
}

func TestFixedExactCounts(t *testing.T) {
	for _, tc := range []struct {
		name          string
		rate          float64
		burst         int
		step, horizon time.Duration
		want          int // burst + horizon/interval: the bucket starts full
	}{
		{"1/s no burst", 1, 1, 10 * time.Millisecond, 10 * time.Second, 1 + 10},
		{"5/s burst 3", 5, 3, 10 * time.Millisecond, 10 * time.Second, 3 + 50},
		{"2.5/s burst 10", 2.5, 10, time.Millisecond, time.Minute, 10 + 150},
		{"1000/s", 1000, 1, time.Millisecond, time.Second, 1 + 1000},
		{"0.1/s burst 2", 0.1, 2, 100 * time.Millisecond, time.Hour, 2 + 360},
		// With no burst, spare time between polls is not banked: one take
		// per poll.
		{"no burst, polled coarser than the interval", 100, 1, 50 * time.Millisecond, 10 * time.Second, 1 + 200},
		{"burst 5, polled coarser than the interval", 100, 5, 50 * time.Millisecond, 10 * time.Second, 5 + 1000},
		{"huge burst", 1, 1000, time.Second, 100 * time.Second, 1000 + 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := mustFixed(t, tc.rate, tc.burst)
			if got := pollCount(th, tc.step, tc.horizon); got != tc.want {
				t.Errorf("granted %d over %v, want %d", got, tc.horizon, tc.want)
			}
			if th.Rate() != tc.rate {
				t.Errorf("Rate() = %g, want %g", th.Rate(), tc.rate)
			}
		})
	}
}

func TestFixedBurstAndWait(t *testing.T) {
	th := mustFixed(t, 5, 3) // interval 200 ms
	for i := range 3 {
		if ok, wait := th.Allow(at(0)); !ok || wait != 0 {
			t.Fatalf("take %d of the burst: ok=%v wait=%v", i+1, ok, wait)
		}
	}
	if ok, wait := th.Allow(at(0)); ok || wait != 200*time.Millisecond {
		t.Fatalf("after the burst: ok=%v wait=%v, want false 200ms", ok, wait)
	}
	if ok, wait := th.Allow(at(150 * time.Millisecond)); ok || wait != 50*time.Millisecond {
		t.Fatalf("at 150ms: ok=%v wait=%v, want false 50ms", ok, wait)
	}
	if ok, _ := th.Allow(at(200 * time.Millisecond)); !ok {
		t.Fatal("at 200ms: no token")
	}
	// A long quiet period refills the bucket to its depth and no further.
	quiet := time.Hour
	n := 0
	for {
		ok, _ := th.Allow(at(quiet))
		if !ok {
			break
		}
		n++
	}
	if n != 3 {
		t.Errorf("after an hour idle: %d back-to-back takes, want the burst 3", n)
	}
}

// A caller that sleeps exactly the wait it is told gets takes exactly one
// interval apart, for a rate whose interval is not a round number.
func TestFixedWaitDriven(t *testing.T) {
	th := mustFixed(t, 3, 1) // interval 333333333 ns
	const interval = 333333333 * time.Nanosecond
	now := time.Duration(0)
	var grants []time.Duration
	for now <= 30*time.Second {
		ok, wait := th.Allow(at(now))
		if ok {
			grants = append(grants, now)
			continue
		}
		if wait <= 0 {
			t.Fatalf("refused with wait %v", wait)
		}
		now += wait
	}
	if len(grants) != 91 { // 0 … 90 intervals = 29.99999997 s
		t.Fatalf("%d takes in 30 s at 3/s, want 91", len(grants))
	}
	for i, g := range grants {
		if g != time.Duration(i)*interval {
			t.Fatalf("take %d at %v, want %v", i, g, time.Duration(i)*interval)
		}
	}
}

func TestFixedIgnoresOutcomesAndBackwardsTime(t *testing.T) {
	th := mustFixed(t, 1, 1)
	for _, o := range []Outcome{Refused, Failed, Accepted, 0, 99} {
		th.Observe(o, at(0))
	}
	if th.Rate() != 1 {
		t.Fatalf("Rate() = %g after outcomes, want 1", th.Rate())
	}
	if ok, _ := th.Allow(at(time.Second)); !ok {
		t.Fatal("first take refused")
	}
	// A clock that steps back grants nothing extra.
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond} {
		if ok, wait := th.Allow(at(d)); ok || wait <= 0 {
			t.Fatalf("at %v after a take at 1s: ok=%v wait=%v", d, ok, wait)
		}
	}
	if ok, _ := th.Allow(at(2 * time.Second)); !ok {
		t.Fatal("take at 2s refused")
	}
}

func adaptiveCfg() AdaptiveConfig {
	return AdaptiveConfig{
		InitialRate:      4,
		MinRate:          0.5,
		MaxRate:          10,
		Burst:            1,
		IncreaseStep:     0.5,
		IncreaseInterval: time.Second,
		DecreaseFactor:   0.5,
		FailureWeight:    0.5,
		CoolDown:         2 * time.Second,
	}
}

func mustAdaptive(t *testing.T, c AdaptiveConfig) Throttle {
	t.Helper()
	cfg := DefaultThrottleConfig()
	cfg.Adaptive = c
	th, err := NewThrottle("adaptive", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

type event struct {
	at   time.Duration
	o    Outcome
	want float64 // Rate() after the event
}

func replay(t *testing.T, th Throttle, evs []event) {
	t.Helper()
	for i, e := range evs {
		th.Observe(e.o, at(e.at))
		if got := th.Rate(); math.Abs(got-e.want) > 1e-12 {
			t.Fatalf("event %d (%v at %v): rate %g, want %g", i, e.o, e.at, got, e.want)
		}
	}
}

func TestAdaptiveTimelines(t *testing.T) {
	ms := time.Millisecond
	s := time.Second
	for _, tc := range []struct {
		name string
		cfg  func(*AdaptiveConfig)
		evs  []event
	}{
		{"a burst of refusals halves once", nil, []event{
			{0, Refused, 2}, {10 * ms, Refused, 2}, {20 * ms, Refused, 2}, {500 * ms, Refused, 2},
			{1999 * ms, Refused, 2},
			{2 * s, Refused, 1}, // the cool-down is over: a new burst halves again
			{2*s + ms, Refused, 1}, {3 * s, Refused, 1},
		}},
		{"a failure weighs half a refusal", nil, []event{
			{0, Failed, 3}, // 4 × (1 - 0.5×0.5)
			{s, Failed, 3},
			{2 * s, Failed, 2.25},
		}},
		{"the strongest event of a cool-down wins, never compounded", nil, []event{
			{0, Failed, 3},         // base 4 × 0.75
			{100 * ms, Refused, 2}, // base 4 × 0.5, not 3 × 0.5
			{200 * ms, Failed, 2},  // min(2, 4 × 0.75)
			{300 * ms, Refused, 2},
		}},
		{"failures weigh like refusals at weight 1", func(c *AdaptiveConfig) { c.FailureWeight = 1 }, []event{
			{0, Failed, 2}, {s, Failed, 2}, {2 * s, Failed, 1},
		}},
		{"failures do not slow down at weight 0", func(c *AdaptiveConfig) { c.FailureWeight = 0 }, []event{
			{0, Failed, 4}, {2 * s, Failed, 4},
			{2*s + 100*ms, Refused, 2}, // within the (no-op) failure's cool-down: base 4 × 0.5
		}},
		{"additive increase, one step per success window", nil, []event{
			{0, Accepted, 4}, // starts the window
			{500 * ms, Accepted, 4},
			{999 * ms, Accepted, 4},
			{s, Accepted, 4.5},
			{1500 * ms, Accepted, 4.5},
			{2 * s, Accepted, 5},
			{2*s + 999*ms, Accepted, 5}, // the window began at 2 s
			{3 * s, Accepted, 5.5},
		}},
		{"an idle agent does not creep up", nil, []event{
			{0, Accepted, 4},
			{time.Hour, Accepted, 4.5}, // one step for one success, however long the gap
			{time.Hour + 10*ms, Accepted, 4.5},
		}},
		{"the rate holds through the cool-down, then recovers additively", nil, []event{
			{0, Accepted, 4},
			{100 * ms, Refused, 2},
			{1100 * ms, Accepted, 2}, // in the cool-down (until 2.1 s)
			{2100 * ms, Accepted, 2}, // the window restarts at the cool-down's end
			{3099 * ms, Accepted, 2},
			{3100 * ms, Accepted, 2.5},
			{4100 * ms, Accepted, 3},
			{5100 * ms, Accepted, 3.5},
			{6100 * ms, Accepted, 4},
		}},
		{"a refusal ends the success window", nil, []event{
			{0, Accepted, 4},
			{900 * ms, Refused, 2},
			{1000 * ms, Accepted, 2}, // would have completed the old window
			{2900 * ms, Accepted, 2},
			{3900 * ms, Accepted, 2.5},
		}},
		{"never below MinRate", nil, []event{
			{0, Refused, 2}, {2 * s, Refused, 1}, {4 * s, Refused, 0.5}, {6 * s, Refused, 0.5}, {60 * s, Refused, 0.5},
		}},
		{"never above MaxRate", func(c *AdaptiveConfig) { c.IncreaseStep = 4 }, []event{
			{0, Accepted, 4}, {s, Accepted, 8}, {2 * s, Accepted, 10}, {3 * s, Accepted, 10},
		}},
		{"unknown outcomes are ignored", nil, []event{
			{0, 0, 4}, {s, Outcome(42), 4}, {2 * s, Outcome(-1), 4},
			{3 * s, Accepted, 4}, // the window starts at the first real outcome
			{4 * s, Accepted, 4.5},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := adaptiveCfg()
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			replay(t, mustAdaptive(t, c), tc.evs)
		})
	}
}

// Allow paces takes at the current rate as it changes.
func TestAdaptiveAllowFollowsRate(t *testing.T) {
	th := mustAdaptive(t, adaptiveCfg()) // 4/s: 250 ms
	if ok, _ := th.Allow(at(0)); !ok {
		t.Fatal("first take refused")
	}
	if _, wait := th.Allow(at(0)); wait != 250*time.Millisecond {
		t.Fatalf("wait at 4/s = %v, want 250ms", wait)
	}
	th.Observe(Refused, at(0)) // 2/s: 500 ms
	if ok, _ := th.Allow(at(250 * time.Millisecond)); !ok {
		t.Fatal("the token earned before the decrease was lost")
	}
	if _, wait := th.Allow(at(250 * time.Millisecond)); wait != 500*time.Millisecond {
		t.Fatalf("wait at 2/s = %v, want 500ms", wait)
	}
	// At a steady 2/s (no outcomes reported), the next takes come at
	// 0.75 s, 1.25 s, …, 60.75 s.
	if n := pollCount(th, 10*time.Millisecond, 61*time.Second); n != 121 {
		t.Fatalf("%d further takes by 61 s at 2/s, want 121", n)
	}
}

// Invariants over long pseudo-random (seeded, so reproducible) timelines:
// the rate stays in [MinRate, MaxRate]; it never rises by more than one step
// per window; within a cool-down it never falls below base × DecreaseFactor.
func TestAdaptiveInvariants(t *testing.T) {
	c := adaptiveCfg()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		th := mustAdaptive(t, c)
		twin := mustAdaptive(t, c)
		now := time.Duration(0)
		lastUp := time.Duration(-time.Hour)
		coolUntil := time.Duration(-1)
		var base float64
		for range 5000 {
			now += time.Duration(rng.IntN(400)) * time.Millisecond
			o := []Outcome{Accepted, Accepted, Accepted, Accepted, Accepted, Accepted, Refused, Failed}[rng.IntN(8)]
			before := th.Rate()
			th.Observe(o, at(now))
			twin.Observe(o, at(now))
			r := th.Rate()
			if r != twin.Rate() {
				t.Fatalf("seed %d: two throttles fed the same timeline disagree: %g vs %g", seed, r, twin.Rate())
			}
			if r < c.MinRate || r > c.MaxRate {
				t.Fatalf("seed %d at %v: rate %g outside [%g, %g]", seed, now, r, c.MinRate, c.MaxRate)
			}
			switch {
			case r > before:
				if o != Accepted || r-before > c.IncreaseStep+1e-12 || now-lastUp < c.IncreaseInterval {
					t.Fatalf("seed %d at %v: %v raised %g → %g (last rise at %v)", seed, now, o, before, r, lastUp)
				}
				lastUp = now
			case r < before:
				if o == Accepted {
					t.Fatalf("seed %d at %v: accepted lowered the rate", seed, now)
				}
				if now >= coolUntil {
					base, coolUntil = before, now+c.CoolDown
				}
				if floor := math.Max(c.MinRate, base*c.DecreaseFactor); r < floor-1e-12 {
					t.Fatalf("seed %d at %v: rate %g below the cool-down floor %g", seed, now, r, floor)
				}
			}
		}
	}
}

func TestThrottleConfigValidate(t *testing.T) {
	if err := DefaultThrottleConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*ThrottleConfig)
	}{
		{"fixed rate 0", func(c *ThrottleConfig) { c.Fixed.Rate = 0 }},
		{"fixed rate negative", func(c *ThrottleConfig) { c.Fixed.Rate = -1 }},
		{"fixed rate NaN", func(c *ThrottleConfig) { c.Fixed.Rate = math.NaN() }},
		{"fixed rate +Inf", func(c *ThrottleConfig) { c.Fixed.Rate = math.Inf(1) }},
		{"fixed rate above the limit", func(c *ThrottleConfig) { c.Fixed.Rate = 2 * MaxRateLimit }},
		{"fixed burst 0", func(c *ThrottleConfig) { c.Fixed.Burst = 0 }},
		{"fixed burst above the limit", func(c *ThrottleConfig) { c.Fixed.Burst = MaxBurst + 1 }},
		{"adaptive min above max", func(c *ThrottleConfig) { c.Adaptive.MinRate, c.Adaptive.MaxRate = 5, 4 }},
		{"adaptive initial below min", func(c *ThrottleConfig) { c.Adaptive.InitialRate = c.Adaptive.MinRate / 2 }},
		{"adaptive initial above max", func(c *ThrottleConfig) { c.Adaptive.InitialRate = c.Adaptive.MaxRate * 2 }},
		{"adaptive min rate 0", func(c *ThrottleConfig) { c.Adaptive.MinRate = 0 }},
		{"adaptive burst 0", func(c *ThrottleConfig) { c.Adaptive.Burst = 0 }},
		{"adaptive step 0", func(c *ThrottleConfig) { c.Adaptive.IncreaseStep = 0 }},
		{"adaptive step NaN", func(c *ThrottleConfig) { c.Adaptive.IncreaseStep = math.NaN() }},
		{"adaptive step Inf", func(c *ThrottleConfig) { c.Adaptive.IncreaseStep = math.Inf(1) }},
		{"adaptive interval 0", func(c *ThrottleConfig) { c.Adaptive.IncreaseInterval = 0 }},
		{"adaptive decrease 0", func(c *ThrottleConfig) { c.Adaptive.DecreaseFactor = 0 }},
		{"adaptive decrease 1", func(c *ThrottleConfig) { c.Adaptive.DecreaseFactor = 1 }},
		{"adaptive decrease NaN", func(c *ThrottleConfig) { c.Adaptive.DecreaseFactor = math.NaN() }},
		{"adaptive failure weight above 1", func(c *ThrottleConfig) { c.Adaptive.FailureWeight = 1.5 }},
		{"adaptive failure weight negative", func(c *ThrottleConfig) { c.Adaptive.FailureWeight = -0.1 }},
		{"adaptive cool-down 0", func(c *ThrottleConfig) { c.Adaptive.CoolDown = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultThrottleConfig()
			tc.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			for _, name := range ThrottleNames() {
				if _, err := NewThrottle(name, c); !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("NewThrottle(%q) = %v, want ErrInvalidConfig", name, err)
				}
			}
		})
	}
	// Edge values that are valid.
	c := DefaultThrottleConfig()
	c.Adaptive.MinRate, c.Adaptive.InitialRate, c.Adaptive.MaxRate = 2, 2, 2
	c.Adaptive.FailureWeight = 0
	c.Fixed = FixedConfig{Rate: MinRateLimit, Burst: MaxBurst}
	if err := c.Validate(); err != nil {
		t.Errorf("edge values: %v", err)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Accepted: "accepted", Refused: "refused", Failed: "failed", 0: "Outcome(0)"} {
		if got := o.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(o), got, want)
		}
	}
}
