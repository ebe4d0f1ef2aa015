package sim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
)

// Errors. Match them with errors.Is. Every error wrapping ErrBusy,
// ErrRateLimited, ErrQueueFull, ErrOverloaded or ErrClosed also wraps
// tuplebroker.ErrRefused; rejections wrap tuplebroker.ErrRejected.
var (
	// ErrInvalidConfig: a Config failed Validate. The message names the
	// field and the rule it broke.
	ErrInvalidConfig = errors.New("sim: invalid configuration")
	// ErrBusy: Concurrency submissions were already in flight.
	ErrBusy = errors.New("too many submissions in flight")
	// ErrRateLimited: the submission rate was above RefuseAbove.
	ErrRateLimited = errors.New("submission rate limit")
	// ErrQueueFull: QueueSlots jobs were already queued or running.
	ErrQueueFull = errors.New("queue full")
	// ErrOverloaded: the load-dependent refusal probability struck.
	ErrOverloaded = errors.New("scheduler overloaded")
	// ErrClosed: the Backend was closed.
	ErrClosed = errors.New("backend closed")
	// ErrLostReply: the reply to a submission was lost; the job may exist.
	// It wraps neither tuplebroker.ErrRefused nor tuplebroker.ErrRejected.
	ErrLostReply = errors.New("submission reply lost")
)

// Config configures a simulated resource broker. Start from DefaultConfig;
// zero limits mean "unlimited" and zero probabilities "never".
type Config struct {
	// Name is the backend's name (agents.Backend.Name) and the prefix of its
	// job ids. Non-empty, without white space.
	Name string
	// Capabilities are the "name=value" labels the backend offers.
	Capabilities []string
	// RejectRequirements are labels the backend can never serve: a job
	// requiring one is rejected (tuplebroker.ErrRejected). A label may also be in
	// Capabilities — a backend that advertises what it cannot do, to
	// exercise the rejection path.
	RejectRequirements []string
	// RejectUnoffered also rejects jobs requiring a label that is not in
	// Capabilities.
	RejectUnoffered bool

	// SubmitLatency is each submission's round trip; SubmitJitter adds a
	// uniform extra in [0, SubmitJitter).
	SubmitLatency, SubmitJitter time.Duration

	// Concurrency is the most submissions in flight at once; one more is
	// refused at once (ErrBusy). 0: unlimited.
	Concurrency int
	// QueueSlots is the most jobs queued or running at once; one more is
	// refused (ErrQueueFull). 0: unlimited.
	QueueSlots int
	// RunSlots is the most jobs running at once; the others queue, Pending,
	// until a slot frees. At most QueueSlots when both are set. 0: unlimited.
	RunSlots int
	// RefuseAbove refuses a submission (ErrRateLimited) that would make
	// more than RefuseAbove submissions in the sliding one-second window.
	// 0: never.
	RefuseAbove float64
	// RefuseBase + RefuseLoad × load is the probability of refusing a
	// submission (ErrOverloaded), load being Load.Level() in [0, 1]. Both in
	// [0, 1]; RefuseLoad needs Concurrency or QueueSlots, else load is
	// always 0.
	RefuseBase, RefuseLoad float64
	// RefusalProbability, when set, replaces RefuseBase and RefuseLoad
	// (which must then be 0). It is called with the backend's lock held:
	// it must be quick and must not call the Backend. Results are clamped
	// to [0, 1]; NaN counts as 0.
	RefusalProbability func(Load) float64
	// LostReplyProbability is the probability that an accepted
	// submission's reply is lost (ErrLostReply). In [0, 1].
	LostReplyProbability float64

	// RunTime is how long each job runs once started.
	RunTime Dist
	// ExitCode is the exit code of jobs that do not fail (0 to 255; non-zero
	// ends them Failed). FailFraction, in [0, 1], is the fraction of jobs
	// that exit 1 instead.
	ExitCode     int
	FailFraction float64
	// Retention is how long ended jobs are remembered. 0: forever.
	Retention time.Duration

	// Seed makes every random draw repeatable (see the package doc).
	Seed int64
	// Clock is the time source; nil means real time.
	Clock Clock
}

// DefaultConfig returns a valid configuration resembling a modest batch
// scheduler: "sim" offering os=LINUX and arch=x86_64, 50 ms + up to 50 ms
// per submission, 16 submissions in flight, 1000 queue slots of which 100
// run at once, at most 50 submissions/s, up to 10% load-dependent
// refusals, jobs running 1–5 s, exit 0, seed 1, real time.
func DefaultConfig() Config {
	return Config{
		Name:          "sim",
		Capabilities:  []string{"arch=x86_64", "os=LINUX"},
		SubmitLatency: 50 * time.Millisecond,
		SubmitJitter:  50 * time.Millisecond,
		Concurrency:   16,
		QueueSlots:    1000,
		RunSlots:      100,
		RefuseAbove:   50,
		RefuseLoad:    0.1,
		RunTime:       Uniform(time.Second, 5*time.Second),
		Seed:          1,
	}
}

// Validate reports the first problem as an error wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Name == "" || strings.IndexFunc(c.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return invalid("name %q must be non-empty and printable, without white space", c.Name)
	}
	for _, set := range []struct {
		field  string
		labels []string
	}{{"capabilities", c.Capabilities}, {"reject_requirements", c.RejectRequirements}} {
		for _, l := range set.labels {
			if name, _, ok := strings.Cut(l, "="); !ok || name == "" {
				return invalid("%s: label %q is not name=value", set.field, l)
			}
		}
	}
	switch {
	case c.SubmitLatency < 0:
		return invalid("submit_latency %v is negative", c.SubmitLatency)
	case c.SubmitJitter < 0:
		return invalid("submit_jitter %v is negative", c.SubmitJitter)
	case c.SubmitLatency > math.MaxInt64-c.SubmitJitter:
		return invalid("submit_latency %v + submit_jitter %v overflows", c.SubmitLatency, c.SubmitJitter)
	case c.Concurrency < 0:
		return invalid("concurrency %d is negative (0 means unlimited)", c.Concurrency)
	case c.QueueSlots < 0:
		return invalid("queue_slots %d is negative (0 means unlimited)", c.QueueSlots)
	case c.RunSlots < 0:
		return invalid("run_slots %d is negative (0 means unlimited)", c.RunSlots)
	case c.QueueSlots > 0 && c.RunSlots > c.QueueSlots:
		return invalid("run_slots %d exceeds queue_slots %d (queue slots count running jobs too)", c.RunSlots, c.QueueSlots)
	case !(c.RefuseAbove >= 0) || math.IsInf(c.RefuseAbove, 0):
		return invalid("refuse_above %g must be a finite rate ≥ 0 (0 means never)", c.RefuseAbove)
	case c.RefuseAbove > 0 && c.RefuseAbove < 1:
		return invalid("refuse_above %g is below 1: every submission would be refused", c.RefuseAbove)
	}
	for _, p := range []struct {
		field string
		v     float64
	}{{"refuse_base", c.RefuseBase}, {"refuse_load", c.RefuseLoad}, {"lost_reply_probability", c.LostReplyProbability}, {"fail_fraction", c.FailFraction}} {
		if !(p.v >= 0 && p.v <= 1) {
			return invalid("%s %g must be in [0, 1]", p.field, p.v)
		}
	}
	switch {
	case c.RefusalProbability != nil && (c.RefuseBase != 0 || c.RefuseLoad != 0):
		return invalid("refusal_probability replaces refuse_base and refuse_load; set one or the other")
	case c.RefuseLoad > 0 && c.Concurrency == 0 && c.QueueSlots == 0:
		return invalid("refuse_load %g needs concurrency or queue_slots: with neither the load is always 0", c.RefuseLoad)
	case c.ExitCode < 0 || c.ExitCode > 255:
		return invalid("exit_code %d is outside [0, 255]", c.ExitCode)
	case c.Retention < 0:
		return invalid("retention %v is negative (0 means forever)", c.Retention)
	}
	if err := c.RunTime.validate(); err != nil {
		return fmt.Errorf("%w: run_time: %w", ErrInvalidConfig, err)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Load is what a submission sees of the backend's load when the scheduler
// decides on it.
type Load struct {
	// InFlight counts the submissions in flight, this one included;
	// Concurrency is Config.Concurrency.
	InFlight, Concurrency int
	// Active counts the jobs queued or running, before this one;
	// QueueSlots is Config.QueueSlots.
	Active, QueueSlots int
}

// FrontDoor is the front door's fill in [0, 1]: the other submissions in
// flight over the most there can be, (InFlight-1)/(Concurrency-1); 0 when
// Concurrency is unlimited or 1.
func (l Load) FrontDoor() float64 {
	if l.Concurrency <= 1 {
		return 0
	}
	return clamp01(float64(l.InFlight-1) / float64(l.Concurrency-1))
}

// QueueFill is the queue's fill in [0, 1]: Active/QueueSlots; 0 when
// QueueSlots is unlimited.
func (l Load) QueueFill() float64 {
	if l.QueueSlots <= 0 {
		return 0
	}
	return clamp01(float64(l.Active) / float64(l.QueueSlots))
}

// Level is the larger of FrontDoor and QueueFill.
func (l Load) Level() float64 { return max(l.FrontDoor(), l.QueueFill()) }

func clamp01(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	}
	return 0 // negative or NaN
}

// DistKind names a distribution of durations.
type DistKind int

// The distributions. The zero Dist is Fixed(0).
const (
	// KindFixed: always Min (Max must equal Min).
	KindFixed DistKind = iota
	// KindUniform: uniform in [Min, Max].
	KindUniform
	// KindExponential: exponential with mean Mean, capped at Max unless
	// Max is 0.
	KindExponential
)

// String returns "fixed", "uniform", "exponential" or "DistKind(n)".
func (k DistKind) String() string {
	switch k {
	case KindFixed:
		return "fixed"
	case KindUniform:
		return "uniform"
	case KindExponential:
		return "exponential"
	}
	return fmt.Sprintf("DistKind(%d)", int(k))
}

// Dist is a distribution of durations. Build it with Fixed, Uniform or
// Exponential.
type Dist struct {
	Kind     DistKind
	Min, Max time.Duration
	Mean     time.Duration
}

// Fixed is always d. Fixed(0): jobs end as soon as they start.
func Fixed(d time.Duration) Dist { return Dist{Kind: KindFixed, Min: d, Max: d} }

// Uniform is uniform in [lo, hi].
func Uniform(lo, hi time.Duration) Dist { return Dist{Kind: KindUniform, Min: lo, Max: hi} }

// Exponential is exponential with the given mean, uncapped.
func Exponential(mean time.Duration) Dist { return Dist{Kind: KindExponential, Mean: mean} }

// maxDraw bounds every drawn duration, so that adding it to a time cannot
// overflow.
const maxDraw = time.Duration(1 << 62)

func (d Dist) validate() error {
	switch d.Kind {
	case KindFixed:
		if d.Min < 0 || d.Max != d.Min || d.Mean != 0 {
			return fmt.Errorf("fixed %v must be ≥ 0 with max = min and no mean (use Fixed)", d.Min)
		}
	case KindUniform:
		if d.Min < 0 || d.Max < d.Min || d.Mean != 0 {
			return fmt.Errorf("uniform needs 0 ≤ min %v ≤ max %v and no mean", d.Min, d.Max)
		}
	case KindExponential:
		if d.Mean <= 0 || d.Min != 0 || (d.Max != 0 && d.Max < d.Mean) {
			return fmt.Errorf("exponential needs mean %v > 0, no min, and max %v either 0 (uncapped) or ≥ mean", d.Mean, d.Max)
		}
	default:
		return fmt.Errorf("unknown kind %v", d.Kind)
	}
	if d.Max > maxDraw || d.Mean > maxDraw {
		return fmt.Errorf("durations above %v are not supported", maxDraw)
	}
	return nil
}

// sample maps u in [0, 1) to a duration of the distribution.
func (d Dist) sample(u float64) time.Duration {
	var x float64
	switch d.Kind {
	case KindUniform:
		x = float64(d.Min) + u*float64(d.Max-d.Min)
		if x > float64(d.Max) {
			x = float64(d.Max)
		}
	case KindExponential:
		x = -float64(d.Mean) * math.Log1p(-u)
		if d.Max > 0 && x > float64(d.Max) {
			x = float64(d.Max)
		}
	default:
		return d.Min
	}
	if !(x < float64(maxDraw)) {
		return maxDraw
	}
	return time.Duration(x)
}
