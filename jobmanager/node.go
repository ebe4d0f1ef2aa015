package jobmanager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tuplebroker"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// Backends is how a node reaches the agents: one batched status call per
// agent and poll, and cancel. *bus.Bus implements it.
type Backends interface {
	// AgentStatus reports the backend states of the given backend job ids;
	// ids the backend no longer knows are absent. An unreachable agent is
	// an error wrapping tuplebroker.ErrUnavailable.
	AgentStatus(ctx context.Context, agent string, backendJobIDs []string) (map[string]tuplebroker.Status, error)
	// AgentCancel asks agent to cancel one backend job.
	AgentCancel(ctx context.Context, agent, backendJobID string) error
}

// Events receives every change of a hosted job. *bus.Bus implements it.
type Events interface {
	PublishEvent(tuplebroker.Job) error
}

// Sub-states the manager node sets.
const (
	// SubCancelRequested: the owner asked to cancel; the backend has not
	// reported the job Cancelled yet.
	SubCancelRequested = "cancel-requested"
	// SubBackendLost: Failed because the backend no longer knows the job.
	SubBackendLost = "backend-lost"
)

// ErrAlreadyRun: Run was called twice on one Node.
var ErrAlreadyRun = errors.New("jobmanager: node already run")

// hosted is one JobManager. Its fields are guarded by Node.mu.
type hosted struct {
	job tuplebroker.Job
	key string // the published Response's key in the space
	tracking
	terminalAt time.Time // local time the job was first seen ended
}

// Node is a manager node. Create it with New and start it with Run; it
// implements bus.ManagerService. It is safe for concurrent use.
type Node struct {
	cfg      Config
	sp       *space.Space
	names    *space.Names
	backends Backends
	log      *slog.Logger
	out      *outbox
	rate     *rateMeter

	mu     sync.Mutex
	jobs   map[string]*hosted            // GUID → job
	owners map[string]map[string]*hosted // UID → GUID → job
	active map[string]map[string]*hosted // agent → GUID → job not yet ended
	// Hosted jobs by state, and admissions granted to jobs being taken.
	pending, running, terminal, reserved int
	// capacity is closed (and replaced) when the node may admit more.
	capacity chan struct{}
	// ended lists terminal jobs in the order they ended, for retirement;
	// retry lists those whose retirement must be tried again.
	ended, retry []*hosted
	// finals lists ended jobs whose outcome is not yet in their Response.
	finals []*hosted

	started atomic.Bool
	serving atomic.Bool
	offset  atomic.Int64 // names server's clock minus ours, ns

	pollMu sync.Mutex
	polls  map[string]*agentPoll // agents with a poll in flight
	kicks  chan string
}

// agentPoll is one agent's poll in flight; again asks for one more at once
// when it ends.
type agentPoll struct{ again bool }

// New returns a node over a space, its names, the agents and an event sink.
func New(cfg Config, sp *space.Space, names *space.Names, backends Backends, events Events) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sp == nil || names == nil || backends == nil || events == nil {
		return nil, fmt.Errorf("%w: nil space, names, backends or events", ErrInvalidConfig)
	}
	log := cfg.Logger.With("component", "jobmanager", "handle", cfg.Handle)
	return &Node{
		cfg: cfg, sp: sp, names: names, backends: backends, log: log,
		out:      newOutbox(events, log),
		rate:     newRateMeter(time.Now()),
		jobs:     map[string]*hosted{},
		owners:   map[string]map[string]*hosted{},
		active:   map[string]map[string]*hosted{},
		capacity: make(chan struct{}),
		polls:    map[string]*agentPoll{},
		kicks:    make(chan string, 64),
	}, nil
}

// Handle returns the node's handle.
func (n *Node) Handle() string { return n.cfg.Handle }

// Run announces the node, hosts again the Responses that already name it,
// then hosts, polls, takes over and retires jobs until ctx ends. It returns
// nil once everything has stopped; the published Responses stay in the
// space. It returns an error if the first heartbeat cannot be written, and
// ErrAlreadyRun if called twice.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	if err := n.beat(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("manager %s: first heartbeat: %w", n.cfg.Handle, err)
	}
	if k := n.rehost(); k > 0 {
		n.log.Info("jobmanager: hosting again the jobs naming this node", "jobs", k)
	}
	n.serving.Store(true)
	defer n.serving.Store(false)

	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	spawn(n.out.run)
	spawn(n.heartbeatLoop)
	spawn(func(ctx context.Context) { n.pollLoop(ctx, &wg) })
	spawn(n.takeoverLoop)
	spawn(n.retireLoop)
	spawn(n.finalLoop)
	for i := 0; i < n.cfg.Takers; i++ {
		spawn(n.takeLoop)
	}
	n.pollAll(ctx, &wg) // jobs hosted again: their state now, not in a poll interval
	<-ctx.Done()
	wg.Wait()
	return nil
}

// Snapshot returns what admission sees of the node now (without the jobs
// being taken).
func (n *Node) Snapshot() strategies.ManagerSnapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.snapshotLocked()
}

func (n *Node) snapshotLocked() strategies.ManagerSnapshot {
	return strategies.ManagerSnapshot{Pending: n.pending, Running: n.running, Terminal: n.terminal,
		EventRate: n.rate.rate(time.Now())}
}

// Job returns one hosted job of owner uid. A job not hosted here, or of
// another owner, is tuplebroker.ErrNotFound; a node not running answers
// tuplebroker.ErrUnavailable.
func (n *Node) Job(ctx context.Context, uid, guid string) (tuplebroker.Job, error) {
	if err := n.check(); err != nil {
		return tuplebroker.Job{}, err
	}
	n.rate.add(time.Now(), 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	h, err := n.lookupLocked(uid, guid)
	if err != nil {
		return tuplebroker.Job{}, err
	}
	return cloneJob(h.job), nil
}

// Jobs returns owner uid's hosted jobs among guids, in the order given
// (jobs not hosted here or of other owners are left out); with no guids,
// all of uid's hosted jobs, oldest first.
func (n *Node) Jobs(ctx context.Context, uid string, guids []string) ([]tuplebroker.Job, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	n.rate.add(time.Now(), 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []tuplebroker.Job{}
	if len(guids) == 0 {
		for _, h := range n.owners[uid] {
			out = append(out, cloneJob(h.job))
		}
		slices.SortFunc(out, func(a, b tuplebroker.Job) int {
			return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
		})
		return out, nil
	}
	seen := make(map[string]bool, len(guids))
	for _, g := range guids {
		if seen[g] {
			continue
		}
		seen[g] = true
		if h, ok := n.owners[uid][g]; ok {
			out = append(out, cloneJob(h.job))
		}
	}
	return out, nil
}

// Cancel asks the backend to cancel owner uid's job and returns the job
// marked SubCancelRequested; its state becomes Cancelled when the backend
// reports it (the node polls the job's agent at once). Errors: a job not
// hosted here or of another owner is tuplebroker.ErrNotFound; an ended job
// (or one its backend no longer knows) tuplebroker.ErrConflict; an agent
// that does not answer tuplebroker.ErrUnavailable.
func (n *Node) Cancel(ctx context.Context, uid, guid string) (tuplebroker.Job, error) {
	if err := n.check(); err != nil {
		return tuplebroker.Job{}, err
	}
	n.rate.add(time.Now(), 1)
	n.mu.Lock()
	h, err := n.lookupLocked(uid, guid)
	if err == nil && h.job.State.Terminal() {
		err = fmt.Errorf("cancel %s: job is %s: %w", guid, h.job.State, tuplebroker.ErrConflict)
	}
	var agent, id string
	if err == nil {
		agent, id = h.job.Agent, h.job.BackendJobID
	}
	n.mu.Unlock()
	if err != nil {
		return tuplebroker.Job{}, err
	}
	if err := n.backends.AgentCancel(ctx, agent, id); err != nil {
		if errors.Is(err, tuplebroker.ErrUnknownJob) {
			err = fmt.Errorf("%w: %w", tuplebroker.ErrConflict, err)
		}
		return tuplebroker.Job{}, fmt.Errorf("cancel %s (agent %s, backend job %s): %w", guid, agent, id, err)
	}
	n.mu.Lock()
	if n.jobs[guid] == h {
		h.cancelRequested = true
		n.setJobLocked(h, markCancelRequested(h.job), time.Now())
	}
	j := cloneJob(h.job)
	n.mu.Unlock()
	n.kick(agent)
	return j, nil
}

func (n *Node) check() error {
	if !n.serving.Load() {
		return fmt.Errorf("manager %s not running: %w", n.cfg.Handle, tuplebroker.ErrUnavailable)
	}
	return nil
}

// lookupLocked finds uid's job guid; n.mu is held.
func (n *Node) lookupLocked(uid, guid string) (*hosted, error) {
	h, ok := n.jobs[guid]
	if !ok || h.job.Owner != uid {
		return nil, fmt.Errorf("job %s: %w", guid, tuplebroker.ErrNotFound)
	}
	return h, nil
}

func cloneJob(j tuplebroker.Job) tuplebroker.Job {
	if j.ExitCode != nil {
		c := *j.ExitCode
		j.ExitCode = &c
	}
	return j
}

// --- bookkeeping; every method below is called with n.mu held ---

// countLocked adds d to the count of j's state.
func (n *Node) countLocked(j tuplebroker.Job, d int) {
	switch {
	case j.State.Terminal():
		n.terminal += d
	case j.State == tuplebroker.Running:
		n.running += d
	default:
		n.pending += d
	}
}

// signalLocked wakes the hosting workers waiting for admission.
func (n *Node) signalLocked() {
	close(n.capacity)
	n.capacity = make(chan struct{})
}

// adoptLocked hosts the published Response r (naming this node) unless its
// job is hosted already. With verify, it first checks that the space still
// holds r naming this node, unclaimed: a job retired or taken over since r
// was read is not hosted again.
func (n *Node) adoptLocked(r *tuplebroker.Response, verify bool, now time.Time) bool {
	if _, ok := n.jobs[r.GUID]; ok {
		return false
	}
	key := n.keyOf(r.GUID)
	if verify {
		e, ok := n.sp.Lookup(key)
		if !ok || e.ClaimedBy != "" {
			return false
		}
		if cur, ok := e.Tuple.(*tuplebroker.Response); !ok || cur.Manager != n.cfg.Handle {
			return false
		}
	}
	j := tuplebroker.JobFromResponse(r)
	j.Manager = n.cfg.Handle
	if !j.State.Terminal() && (r.BackendJobID == "" || r.Agent == "") {
		j.State, j.SubState, j.Ended = tuplebroker.Failed, SubBackendLost, now
		j.Reason = "response names no agent or backend job"
	}
	h := &hosted{job: j, key: key}
	n.jobs[r.GUID] = h
	if n.owners[j.Owner] == nil {
		n.owners[j.Owner] = map[string]*hosted{}
	}
	n.owners[j.Owner][r.GUID] = h
	n.countLocked(j, 1)
	if j.State.Terminal() {
		h.terminalAt = now
		n.ended = append(n.ended, h)
	} else {
		if n.active[j.Agent] == nil {
			n.active[j.Agent] = map[string]*hosted{}
		}
		n.active[j.Agent][r.GUID] = h
	}
	n.publishLocked(j, now)
	return true
}

func (n *Node) keyOf(guid string) string {
	k, err := space.Key(&tuplebroker.Response{GUID: guid, Published: true})
	if err != nil { // a GUID that cannot be a key token: never in the space
		return "resp.pub.invalid"
	}
	return k
}

// setJobLocked replaces h's job view with j, keeping the counts and
// indexes, and publishes j if it changed.
func (n *Node) setJobLocked(h *hosted, j tuplebroker.Job, now time.Time) {
	old := h.job
	n.countLocked(old, -1)
	n.countLocked(j, 1)
	h.job = j
	if !old.State.Terminal() && j.State.Terminal() {
		h.terminalAt = now
		n.ended = append(n.ended, h)
		n.finals = append(n.finals, h)
		if a := n.active[old.Agent]; a != nil {
			delete(a, old.ID)
			if len(a) == 0 {
				delete(n.active, old.Agent)
			}
		}
	}
	if old.State != j.State {
		n.signalLocked() // admission weighs states differently
	}
	if old.Changed(j) {
		n.publishLocked(j, now)
	}
}

// forgetLocked stops hosting h's job.
func (n *Node) forgetLocked(h *hosted) {
	j := h.job
	if n.jobs[j.ID] != h {
		return
	}
	delete(n.jobs, j.ID)
	if o := n.owners[j.Owner]; o != nil {
		delete(o, j.ID)
		if len(o) == 0 {
			delete(n.owners, j.Owner)
		}
	}
	if a := n.active[j.Agent]; a != nil && a[j.ID] == h {
		delete(a, j.ID)
		if len(a) == 0 {
			delete(n.active, j.Agent)
		}
	}
	n.countLocked(j, -1)
	n.signalLocked()
}

func (n *Node) publishLocked(j tuplebroker.Job, now time.Time) {
	n.out.put(cloneJob(j))
	n.rate.add(now, 1)
}

// --- admission ---

// tryReserve admits one more job if the admission strategy agrees, counting
// the jobs being taken as pending.
func (n *Node) tryReserve() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tryReserveLocked()
}

func (n *Node) tryReserveLocked() bool {
	s := n.snapshotLocked()
	s.Pending += n.reserved
	if !n.cfg.Admission.Admit(s) {
		return false
	}
	n.reserved++
	return true
}

// reserve waits until one more job is admitted, or ctx ends.
func (n *Node) reserve(ctx context.Context) error {
	for {
		n.mu.Lock()
		ok := n.tryReserveLocked()
		ch := n.capacity
		n.mu.Unlock()
		if ok {
			return nil
		}
		// Capacity grows when a job ends, is retired or dropped, or (for
		// rate-based admission) as time passes.
		t := time.NewTimer(n.cfg.PollInterval)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// release returns k admissions that were not used.
func (n *Node) release(k int) {
	if k == 0 {
		return
	}
	n.mu.Lock()
	n.reserved -= k
	n.signalLocked()
	n.mu.Unlock()
}
