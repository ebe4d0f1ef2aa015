package sim

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
)

// Backend is a simulated resource broker. It implements agents.Backend,
// agents.Finder, agents.Statuser, agents.Canceller, agents.Loader and
// agents.Closer, and is safe for concurrent use.
type Backend struct {
	cfg       Config
	clock     Clock
	rejects   map[string]bool
	offers    map[string]bool
	closeCtx  context.Context
	closeStop context.CancelFunc

	mu       sync.Mutex
	closed   bool
	inFlight int
	stats    Stats
	seq      uint64
	records  []Record
	window   fifo[time.Time] // times of the submissions in the rate window
	guids    map[string]*guidEntry
	jobs     map[string]*job

	// The scheduler (see sched.go).
	last    time.Time
	running runHeap
	queue   fifo[*job]
	queued  int // Pending jobs in queue
	ended   fifo[*job]
}

// guidEntry is what the Backend knows of one GUID.
type guidEntry struct {
	hash     uint64
	arrivals uint32 // submissions that passed the front door
	accepted uint32
	jobs     []*job // known jobs, oldest first
}

// Record is one accepted submission.
type Record struct {
	GUID         string
	BackendJobID string
	// At is when the scheduler accepted it (after the round trip).
	At time.Time
}

// Stats counts what became of the submissions so far, and the jobs now.
type Stats struct {
	// Accepted submissions, Duplicates included.
	Accepted int
	// Refused submissions (all causes, closed included), and by cause.
	Refused                                             int
	RefusedBusy, RefusedRate, RefusedQueue, RefusedLoad int
	// Rejected submissions.
	Rejected int
	// Duplicates counts accepted submissions of a GUID accepted before:
	// each one is a violation of exactly-once.
	Duplicates int
	// LostReplies counts accepted submissions whose reply was lost.
	LostReplies int
	// Abandoned counts submissions whose ctx ended during the round trip.
	Abandoned int
	// InFlightMax is the most submissions ever in flight at once.
	InFlightMax int
	// Cancelled counts jobs cancelled while Pending or Running.
	Cancelled int
	// Pending, Running and Known count the jobs now queued, running, and
	// remembered in any state.
	Pending, Running, Known int
}

var (
	_ agents.Backend   = (*Backend)(nil)
	_ agents.Finder    = (*Backend)(nil)
	_ agents.Statuser  = (*Backend)(nil)
	_ agents.Canceller = (*Backend)(nil)
	_ agents.Loader    = (*Backend)(nil)
	_ agents.Closer    = (*Backend)(nil)
)

// New validates cfg and returns a Backend. It waits for nothing; ctx is
// checked first.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Capabilities = slices.Clone(cfg.Capabilities)
	cfg.RejectRequirements = slices.Clone(cfg.RejectRequirements)
	b := &Backend{
		cfg:   cfg,
		clock: cfg.Clock,
		guids: map[string]*guidEntry{},
		jobs:  map[string]*job{},
	}
	if b.clock == nil {
		b.clock = RealClock{}
	}
	if len(cfg.RejectRequirements) > 0 {
		b.rejects = map[string]bool{}
		for _, l := range cfg.RejectRequirements {
			b.rejects[l] = true
		}
	}
	if cfg.RejectUnoffered {
		b.offers = map[string]bool{}
		for _, l := range cfg.Capabilities {
			b.offers[l] = true
		}
	}
	b.closeCtx, b.closeStop = context.WithCancel(context.Background())
	b.last = b.clock.Now()
	return b, nil
}

// Name returns Config.Name.
func (b *Backend) Name() string { return b.cfg.Name }

// Capabilities returns a copy of Config.Capabilities.
func (b *Backend) Capabilities() []string { return slices.Clone(b.cfg.Capabilities) }

// The purposes of the random draws.
const (
	drawJitter = iota + 1
	drawRefuse
	drawRunTime
	drawFail
	drawLostReply
)

// Submit simulates one submission; see the package doc for the steps. The
// backend job id is Name-N, N counting accepted submissions from 1.
func (b *Backend) Submit(ctx context.Context, sub agents.Job) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if sub.GUID == "" {
		return "", fmt.Errorf("sim %s: job has no GUID", b.cfg.Name)
	}

	// The front door.
	b.mu.Lock()
	if b.closed {
		b.stats.Refused++
		b.mu.Unlock()
		return "", b.closedErr()
	}
	if c := b.cfg.Concurrency; c > 0 && b.inFlight >= c {
		b.stats.Refused++
		b.stats.RefusedBusy++
		b.mu.Unlock()
		return "", fmt.Errorf("sim %s: %w: %w (%d in flight)", b.cfg.Name, tuplebroker.ErrRefused, ErrBusy, c)
	}
	b.inFlight++
	b.stats.InFlightMax = max(b.stats.InFlightMax, b.inFlight)
	g := b.guids[sub.GUID]
	if g == nil {
		g = &guidEntry{hash: hashString(sub.GUID)}
		b.guids[sub.GUID] = g
	}
	g.arrivals++
	n := g.arrivals
	b.mu.Unlock()

	// The round trip.
	delay := b.cfg.SubmitLatency
	if b.cfg.SubmitJitter > 0 {
		delay += time.Duration(b.draw(g.hash, n, drawJitter) * float64(b.cfg.SubmitJitter))
	}
	if delay > 0 {
		if err := b.sleep(ctx, delay); err != nil {
			b.mu.Lock()
			b.inFlight--
			if ctx.Err() != nil {
				b.stats.Abandoned++
			} else {
				b.stats.Refused++
			}
			b.mu.Unlock()
			return "", err
		}
	}

	// The scheduler's decision.
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() { b.inFlight-- }()
	if b.closed {
		b.stats.Refused++
		return "", b.closedErr()
	}
	t := b.advance(b.clock.Now())
	if limit := b.cfg.RefuseAbove; limit > 0 {
		for b.window.len() > 0 && !b.window.peek().After(t.Add(-time.Second)) {
			b.window.pop()
		}
		if float64(b.window.len()+1) > limit {
			b.stats.Refused++
			b.stats.RefusedRate++
			return "", fmt.Errorf("sim %s: %w: %w (above %g submissions/s)", b.cfg.Name, tuplebroker.ErrRefused, ErrRateLimited, limit)
		}
		b.window.push(t)
	}
	if b.rejects != nil || b.offers != nil {
		for _, req := range sub.Definition.Requirements() {
			if b.rejects[req] || (b.offers != nil && !b.offers[req]) {
				b.stats.Rejected++
				return "", fmt.Errorf("sim %s: %w: requirement %q cannot be served here", b.cfg.Name, tuplebroker.ErrRejected, req)
			}
		}
	}
	active := b.queued + b.running.Len()
	if slots := b.cfg.QueueSlots; slots > 0 && active >= slots {
		b.stats.Refused++
		b.stats.RefusedQueue++
		return "", fmt.Errorf("sim %s: %w: %w (%d jobs queued or running)", b.cfg.Name, tuplebroker.ErrRefused, ErrQueueFull, active)
	}
	load := Load{InFlight: b.inFlight, Concurrency: b.cfg.Concurrency, Active: active, QueueSlots: b.cfg.QueueSlots}
	if p := b.refusalProbability(load); p > 0 && b.draw(g.hash, n, drawRefuse) < p {
		b.stats.Refused++
		b.stats.RefusedLoad++
		return "", fmt.Errorf("sim %s: %w: %w (load %.2f)", b.cfg.Name, tuplebroker.ErrRefused, ErrOverloaded, load.Level())
	}

	// Accepted.
	b.seq++
	j := &job{
		id:        b.cfg.Name + "-" + strconv.FormatUint(b.seq, 10),
		guid:      sub.GUID,
		submitted: t,
		runTime:   b.cfg.RunTime.sample(b.draw(g.hash, n, drawRunTime)),
		exitCode:  b.cfg.ExitCode,
		heapIdx:   -1,
	}
	if b.cfg.FailFraction > 0 && b.draw(g.hash, n, drawFail) < b.cfg.FailFraction {
		j.exitCode = 1
	}
	b.stats.Accepted++
	if g.accepted > 0 {
		b.stats.Duplicates++
	}
	g.accepted++
	g.jobs = append(g.jobs, j)
	b.jobs[j.id] = j
	b.records = append(b.records, Record{GUID: sub.GUID, BackendJobID: j.id, At: t})
	b.enqueue(j, t)
	b.advance(t) // a job that runs for 0 ends now

	if p := b.cfg.LostReplyProbability; p > 0 && b.draw(g.hash, n, drawLostReply) < p {
		b.stats.LostReplies++
		return "", fmt.Errorf("sim %s: %w (the job may have been accepted)", b.cfg.Name, ErrLostReply)
	}
	return j.id, nil
}

func (b *Backend) refusalProbability(l Load) float64 {
	if f := b.cfg.RefusalProbability; f != nil {
		return clamp01(f(l))
	}
	return clamp01(b.cfg.RefuseBase + b.cfg.RefuseLoad*l.Level())
}

// sleep waits d on the clock, or until ctx ends (ctx.Err()) or the Backend
// is closed (ErrClosed).
func (b *Backend) sleep(ctx context.Context, d time.Duration) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(b.closeCtx, cancel)
	defer stop()
	err := b.clock.Sleep(sctx, d)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case b.closeCtx.Err() != nil:
		return b.closedErr()
	}
	return err
}

func (b *Backend) closedErr() error {
	return fmt.Errorf("sim %s: %w: %w", b.cfg.Name, tuplebroker.ErrRefused, ErrClosed)
}

// Find returns the id of the latest accepted job submitted under guid that
// the backend still remembers.
func (b *Backend) Find(ctx context.Context, guid string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return "", false, b.closedErr()
	}
	b.advance(b.clock.Now())
	if g := b.guids[guid]; g != nil && len(g.jobs) > 0 {
		return g.jobs[len(g.jobs)-1].id, true, nil
	}
	return "", false, nil
}

// Status reports the jobs' states now. Ids the backend does not know (or no
// longer remembers) are absent.
func (b *Backend) Status(ctx context.Context, backendJobIDs []string) (map[string]tuplebroker.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, b.closedErr()
	}
	b.advance(b.clock.Now())
	out := make(map[string]tuplebroker.Status, len(backendJobIDs))
	for _, id := range backendJobIDs {
		if j := b.jobs[id]; j != nil {
			out[id] = j.status()
		}
	}
	return out, nil
}

// Cancel cancels a Pending or Running job; cancelling an ended job does
// nothing. An unknown id is an error wrapping tuplebroker.ErrUnknownJob.
func (b *Backend) Cancel(ctx context.Context, backendJobID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.closedErr()
	}
	t := b.advance(b.clock.Now())
	j := b.jobs[backendJobID]
	if j == nil {
		return fmt.Errorf("sim %s: %w: %q", b.cfg.Name, tuplebroker.ErrUnknownJob, backendJobID)
	}
	if !j.state.Terminal() {
		b.cancel(j, t)
		b.stats.Cancelled++
	}
	return nil
}

// Submissions returns every accepted submission so far, in order,
// including those whose reply was lost. It works after Close.
func (b *Backend) Submissions() []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.records)
}

// Stats returns the counters and the jobs' states now. It works after
// Close.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.clock.Now())
	s := b.stats
	s.Pending, s.Running, s.Known = b.queued, b.running.Len(), len(b.jobs)
	return s
}

// Close stops the backend: submissions in their round trip and all later
// calls but Submissions and Stats return an error wrapping ErrClosed (and
// tuplebroker.ErrRefused). It is idempotent, waits for nothing and returns
// nil (agents.Closer).
func (b *Backend) Close(context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.closeStop()
	return nil
}

// draw returns a number in [0, 1) determined by the seed, the GUID's hash,
// the GUID's arrival number and the purpose of the draw.
func (b *Backend) draw(guidHash uint64, arrival uint32, purpose uint64) float64 {
	x := mix64(uint64(b.cfg.Seed) ^ mix64(guidHash^mix64(uint64(arrival)<<8|purpose)))
	return float64(x>>11) / (1 << 53)
}

// hashString is 64-bit FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Free reports how many more jobs the simulated broker would queue now
// (agents.Loader), like a scheduler reporting its free slots: QueueSlots
// minus the jobs queued or running; with unlimited QueueSlots, a large
// number. It says nothing of the rate limit or the refusal probability.
func (b *Backend) Free() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0
	}
	if b.cfg.QueueSlots == 0 {
		return 1 << 30
	}
	b.advance(b.clock.Now())
	return max(b.cfg.QueueSlots-b.queued-b.running.Len(), 0)
}
