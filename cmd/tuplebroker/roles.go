package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"tuplebroker/agents"
	"tuplebroker/agents/gridengine"
	"tuplebroker/agents/local"
	"tuplebroker/agents/sim"
	"tuplebroker/agents/slurm"
	"tuplebroker/bus"
	"tuplebroker/factory"
	"tuplebroker/jobmanager"
	"tuplebroker/jsdl"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// pool is the set of roles one process runs over one space: any of a
// factory (HTTP), a manager node and agents. Wiring lives here and nowhere
// else.
type pool struct {
	cfg   poolConfig
	log   *slog.Logger
	nc    *space.Conn
	sp    *space.Space
	names *space.Names
	bus   *bus.Bus

	// listener, if set, is where the factory serves HTTP.
	listener net.Listener
	// noFactory: serve HTTP on listener (/healthz only) without a factory.
	noFactory bool
	// tokensFile for the factory; required when listener is set.
	tokensFile string
	manager    bool
	agents     []agentConfig
	// ready, if set, is called once every role has started.
	ready func(httpAddr string) error

	// Filled in by start, for tests and benchmarks.
	factory *factory.Factory
	node    *jobmanager.Node
	running []*agents.Agent
	sims    []*sim.Backend
}

// run starts every role and blocks until ctx ends or a role fails, then
// stops them all: HTTP first (no new jobs), then agents and the manager.
func (p *pool) run(ctx context.Context) error {
	b, err := bus.New(p.nc, bus.WithLogger(p.log))
	if err != nil {
		return err
	}
	p.bus = b
	names, err := p.sp.OpenNames(ctx)
	if err != nil {
		return err
	}
	p.names = names

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	fail := func(err error) { cancel(err) }
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	for _, ac := range p.agents {
		a, closer, err := p.startAgent(ctx, ac)
		if err != nil {
			return err
		}
		closers = append(closers, closer)
		srv, err := b.ServeAgent(ctx, ac.Name, a)
		if err != nil {
			return fmt.Errorf("agent %s: %w", ac.Name, err)
		}
		closers = append(closers, srv.Stop)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil {
				fail(fmt.Errorf("agent %s: %w", ac.Name, err))
			}
		}()
	}

	if p.manager {
		mc := p.cfg.Manager
		cfg := jobmanager.DefaultConfig()
		cfg.Handle = mc.Handle
		if cfg.Handle == "" {
			cfg.Handle = "m-" + uuid.NewString()[:8]
		}
		acfg := strategies.DefaultAdmissionConfig()
		// Ended jobs count until their lifetime ends (1 h): a node must hold
		// an hour of a busy pool's jobs.
		acfg.MaxJobs = defaultMaxJobs
		if mc.MaxJobs > 0 {
			acfg.MaxJobs = mc.MaxJobs
		}
		adm := mc.Admission
		if adm == "" {
			adm = "maxjobs"
		}
		if cfg.Admission, err = strategies.NewAdmission(adm, acfg); err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		cfg.PollInterval = mc.PollInterval.or(cfg.PollInterval)
		cfg.Lifetime = mc.Lifetime.or(cfg.Lifetime)
		cfg.HostLease = mc.HostLease.or(cfg.HostLease)
		cfg.Logger = p.log.With("role", "manager", "handle", cfg.Handle)
		node, err := jobmanager.New(cfg, p.sp, names, b, b)
		if err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		p.node = node
		srv, err := b.ServeManager(ctx, cfg.Handle, node)
		if err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		closers = append(closers, srv.Stop)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.Run(ctx); err != nil {
				fail(fmt.Errorf("manager: %w", err))
			}
		}()
	}

	stopHTTP := func() {}
	if p.listener != nil {
		h := factory.HealthHandler(p.sp) // without a factory: /healthz only
		closeFactory := func() {}
		if !p.noFactory {
			f, err := p.newFactory(ctx)
			if err != nil {
				return err
			}
			p.factory = f
			h, closeFactory = f, func() { _ = f.Close() }
		}
		hs := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(p.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("http: %w", err))
			}
		}()
		stopHTTP = func() {
			// In-flight requests finish, new ones are refused.
			shutdownHTTP(hs, p.log)
			closeFactory()
		}
	}

	// Matchmaking reads the agents' adverts: be ready once ours are out.
	if err := p.awaitAdverts(ctx); err != nil {
		return err
	}
	if p.ready != nil {
		addr := ""
		if p.listener != nil {
			addr = p.listener.Addr().String()
		}
		if err := p.ready(addr); err != nil {
			cancel(err)
		}
	}
	<-ctx.Done()
	err = context.Cause(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	// HTTP first (no new jobs), then wait for the roles, which end with
	// ctx; the deferred closers then release backends and subscriptions.
	stopHTTP()
	wg.Wait()
	return err
}

func (p *pool) newFactory(ctx context.Context) (*factory.Factory, error) {
	fc := p.cfg.Factory
	cfg := factory.DefaultConfig()
	cfg.Handle = fc.Handle
	if cfg.Handle == "" {
		cfg.Handle = "f-" + uuid.NewString()[:8]
	}
	fcfg := strategies.DefaultFactoryConfig()
	if fc.PushPriority > 0 {
		fcfg.PushPriority = fc.PushPriority
	}
	fcfg.KeepCouriers = fc.KeepCouriers
	name := fc.Strategy
	if name == "" {
		name = factory.DefaultStrategy
	}
	st, err := strategies.NewFactoryStrategy(name, fcfg)
	if err != nil {
		return nil, fmt.Errorf("factory: %w", err)
	}
	cfg.Strategy = st
	cfg.DefaultWait = fc.Wait.or(cfg.DefaultWait)
	cfg.MaxWait = fc.MaxWait.or(cfg.MaxWait)
	cfg.Limits = jsdl.DefaultLimits()
	if fc.MaxBodyBytes > 0 {
		cfg.Limits.MaxBytes = fc.MaxBodyBytes
	}
	tokens, err := factory.LoadTokens(p.tokensFile)
	if err != nil {
		return nil, fmt.Errorf("factory: %w", err)
	}
	cfg.Tokens = tokens
	cfg.Logger = p.log.With("role", "factory", "handle", cfg.Handle)
	f, err := factory.New(cfg, p.sp, p.names, p.bus, p.bus, p.bus)
	if err != nil {
		return nil, fmt.Errorf("factory: %w", err)
	}
	return f, nil
}

// startAgent builds one agent and its backend; closer releases the backend.
func (p *pool) startAgent(ctx context.Context, ac agentConfig) (*agents.Agent, func(), error) {
	kind, err := lookupBackend(ac.Backend)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %w", ac.Name, err)
	}
	be, err := kind.build(ctx, p, ac)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %w", ac.Name, err)
	}
	closer := func() {}
	if c, ok := be.(agents.Closer); ok {
		closer = func() {
			cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			if err := c.Close(cctx); err != nil {
				p.log.Error("closing backend", "agent", ac.Name, "err", err)
			}
		}
	}
	th, err := ac.Throttle.build()
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("agent %s: %w", ac.Name, err)
	}
	cfg := agents.DefaultConfig()
	cfg.Name = ac.Name
	if ac.Workers > 0 {
		cfg.Workers = ac.Workers
	}
	if ac.MaxAttempts > 0 {
		cfg.MaxAttempts = ac.MaxAttempts
	}
	cfg.Couriers = cfg.Workers
	if ac.Couriers != nil {
		cfg.Couriers = *ac.Couriers
	}
	cfg.Address = p.bus.AgentAddress(ac.Name)
	cfg.Names = p.names
	cfg.Logger = p.log.With("role", "agent", "agent", ac.Name)
	a, err := agents.New(cfg, p.sp, be, th)
	if err != nil {
		closer()
		return nil, nil, err
	}
	p.running = append(p.running, a)
	return a, closer, nil
}

// defaultMaxJobs is a manager node's default maxjobs admission limit.
const defaultMaxJobs = 200_000

// currentUser names the user serve creates its first token for.
func currentUser() string {
	for _, v := range []string{"USER", "LOGNAME"} {
		if u := os.Getenv(v); u != "" && bus.CheckName(u) == nil {
			return u
		}
	}
	return fmt.Sprintf("uid%d", os.Getuid())
}

// simRecordLine is one line of a sim record file.
type simRecordLine struct {
	Record *sim.Record `json:"record,omitempty"`
	Stats  *sim.Stats  `json:"stats,omitempty"`
}

func writeSimRecord(path string, sb *sim.Backend) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range sb.Submissions() {
		if err := enc.Encode(simRecordLine{Record: &r}); err != nil {
			return err
		}
	}
	st := sb.Stats()
	if err := enc.Encode(simRecordLine{Stats: &st}); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// awaitAdverts waits until every agent this process runs has advertised.
func (p *pool) awaitAdverts(ctx context.Context) error {
	if len(p.agents) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ads, err := p.names.Adverts(wctx)
		if err == nil {
			seen := map[string]bool{}
			for _, a := range ads {
				seen[a.Agent] = true
			}
			all := true
			for _, a := range p.agents {
				all = all && seen[a.Name]
			}
			if all {
				return nil
			}
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("agents did not advertise: %w", context.Cause(wctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// closeTimeout bounds the release of one backend (agents.Closer) when its
// agent stops: a local backend's jobs get their kill grace, then SIGKILL.
const closeTimeout = 15 * time.Second

// backendKind is one backend an agent may name: how to check its section of
// the configuration before anything starts, and how to build it.
type backendKind struct {
	// check reports what the agent's configuration lacks for this backend.
	check func(ac agentConfig) error
	// build returns the backend, configured from the agent's section.
	build func(ctx context.Context, p *pool, ac agentConfig) (agents.Backend, error)
}

// backendKinds are the backends by the name agents give in "backend": one
// map literal, built here and nowhere else.
func backendKinds() map[string]backendKind {
	return map[string]backendKind{
		"local":      {check: func(agentConfig) error { return nil }, build: newLocalBackend},
		"sim":        {check: checkSimSection, build: newSimBackend},
		"slurm":      {check: needSection("slurm", func(ac agentConfig) bool { return ac.Slurm != nil }), build: newSlurmBackend},
		"gridengine": {check: needSection("gridengine", func(ac agentConfig) bool { return ac.GridEngine != nil }), build: newGridEngineBackend},
	}
}

// lookupBackend returns the backend of that name; an unknown or empty name
// is an error listing the known ones.
func lookupBackend(name string) (backendKind, error) {
	kinds := backendKinds()
	k, ok := kinds[name]
	if !ok {
		known := strings.Join(slices.Sorted(maps.Keys(kinds)), ", ")
		if name == "" {
			return k, fmt.Errorf("no backend (%s)", known)
		}
		return k, fmt.Errorf("unknown backend %q (%s)", name, known)
	}
	return k, nil
}

// needSection requires the agent's section of the backend's name.
func needSection(name string, has func(agentConfig) bool) func(agentConfig) error {
	return func(ac agentConfig) error {
		if !has(ac) {
			return fmt.Errorf("backend %s needs a %q section", name, name)
		}
		return nil
	}
}

func checkSimSection(ac agentConfig) error {
	_, err := ac.Sim.build(ac.Name)
	return err
}

func newLocalBackend(ctx context.Context, p *pool, ac agentConfig) (agents.Backend, error) {
	cfg := local.DefaultConfig()
	cfg.Name = ac.Name
	if lc := ac.Local; lc != nil {
		if lc.Slots > 0 {
			cfg.Slots = lc.Slots
		}
		if lc.Root != "" {
			cfg.Root = lc.Root
		}
		if len(lc.Capabilities) > 0 {
			cfg.Capabilities = lc.Capabilities
		}
	}
	cfg.Logger = p.log.With("backend", ac.Name)
	return local.New(ctx, cfg)
}

func newSimBackend(ctx context.Context, p *pool, ac agentConfig) (agents.Backend, error) {
	cfg, err := ac.Sim.build(ac.Name)
	if err != nil {
		return nil, err
	}
	sb, err := sim.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.sims = append(p.sims, sb)
	if ac.Sim != nil && ac.Sim.RecordFile != "" {
		return recordingSim{Backend: sb, path: ac.Sim.RecordFile}, nil
	}
	return sb, nil
}

// recordingSim is a sim backend that writes its record file when closed.
type recordingSim struct {
	*sim.Backend
	path string
}

func (r recordingSim) Close(ctx context.Context) error {
	if err := r.Backend.Close(ctx); err != nil {
		return err
	}
	if err := writeSimRecord(r.path, r.Backend); err != nil {
		return fmt.Errorf("sim record: %w", err)
	}
	return nil
}

func newSlurmBackend(ctx context.Context, p *pool, ac agentConfig) (agents.Backend, error) {
	sc := ac.Slurm
	cfg := slurm.DefaultConfig()
	cfg.Name = ac.Name
	cfg.Conf, cfg.Partition, cfg.Bin, cfg.Spool = sc.Conf, sc.Partition, sc.Bin, sc.Spool
	if sc.Root != "" {
		cfg.Root = sc.Root
	}
	cfg.ExtraArgs = sc.ExtraArgs
	if len(sc.Capabilities) > 0 {
		cfg.Capabilities = sc.Capabilities
	}
	cfg.CallTimeout = sc.CallTimeout.or(cfg.CallTimeout)
	cfg.Logger = p.log.With("backend", ac.Name)
	return slurm.New(ctx, cfg)
}

func newGridEngineBackend(ctx context.Context, p *pool, ac agentConfig) (agents.Backend, error) {
	gc := ac.GridEngine
	cfg := gridengine.DefaultConfig()
	cfg.Name = ac.Name
	cfg.Root = gc.Root
	if gc.Cell != "" {
		cfg.Cell = gc.Cell
	}
	cfg.QmasterPort, cfg.ExecdPort = gc.QmasterPort, gc.ExecdPort
	cfg.Queue, cfg.ParallelEnv, cfg.MaxSlots = gc.Queue, gc.ParallelEnv, gc.MaxSlots
	if gc.ExclusiveResource != "" {
		cfg.ExclusiveResource = gc.ExclusiveResource
	}
	cfg.WorkDir, cfg.Spool = gc.WorkDir, gc.Spool
	if len(gc.Capabilities) > 0 {
		cfg.Capabilities = gc.Capabilities
	}
	cfg.CallTimeout = gc.CallTimeout.or(cfg.CallTimeout)
	cfg.Logger = p.log.With("backend", ac.Name)
	return gridengine.New(ctx, cfg)
}
