package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
)

// Backend runs jobs as child processes. It implements agents.Backend,
// agents.Finder, agents.Statuser, agents.Canceller, agents.Loader and
// agents.Closer; all methods are safe for concurrent use.
type Backend struct {
	name         string
	capabilities []string
	root         string
	slots        int
	grace        time.Duration
	retain       time.Duration
	log          *slog.Logger
	id           agents.User
	idPrefix     string // "<name>-<random>-"; job ids append a counter

	mu        sync.Mutex
	seq       uint64
	jobs      map[string]*job // by backend job id
	byGUID    map[string]*job // the latest job of each GUID
	starting  map[string]bool // GUIDs being started
	running   int             // slots taken (jobs starting or not yet reaped)
	exclusive bool            // an exclusive job is starting or running
	closed    bool            // Close was called
	hurry     bool            // Close ran out of time: SIGKILL at once
	lastPurge time.Time
	wg        sync.WaitGroup // one per taken slot
}

// Interface checks.
var (
	_ agents.Backend   = (*Backend)(nil)
	_ agents.Finder    = (*Backend)(nil)
	_ agents.Statuser  = (*Backend)(nil)
	_ agents.Canceller = (*Backend)(nil)
	_ agents.Loader    = (*Backend)(nil)
	_ agents.Closer    = (*Backend)(nil)
)

// cause is why a job is being terminated.
type cause int

const (
	causeNone     cause = iota
	causeCancel         // Cancel
	causeWall           // WallTimeLimit ran out
	causeShutdown       // Close
)

// job is one started process group.
type job struct {
	id, guid  string
	pid       int
	exclusive bool
	started   time.Time
	wall      time.Duration
	hasWall   bool
	termC     chan struct{} // closed when cause is set: SIGTERM, then SIGKILL after the grace
	killC     chan struct{} // closed to SIGKILL at once

	// Guarded by Backend.mu.
	cause  cause
	killed bool               // killC is closed
	exited bool               // the main process has exited (maybe not yet reaped)
	done   bool               // reaped; final is set
	final  tuplebroker.Status // the terminal status
	ended  time.Time
}

// New returns a backend configured by cfg, whose zero fields take the values
// of DefaultConfig. It waits for nothing; ctx is checked first.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Root != "" {
		if abs, err := filepath.Abs(cfg.Root); err == nil {
			cfg.Root = abs
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var nonce [4]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		name:         cfg.Name,
		capabilities: slices.Clone(cfg.Capabilities),
		root:         cfg.Root,
		slots:        cfg.Slots,
		grace:        cfg.KillGrace,
		retain:       cfg.Retain,
		log:          log.With("backend", cfg.Name),
		id:           agents.CurrentUser(),
		idPrefix:     cfg.Name + "-" + hex.EncodeToString(nonce[:]) + "-",
		jobs:         make(map[string]*job),
		byGUID:       make(map[string]*job),
		starting:     make(map[string]bool),
	}
	return b, nil
}

// Name returns Config.Name.
func (b *Backend) Name() string { return b.name }

// Capabilities returns a copy of Config.Capabilities.
func (b *Backend) Capabilities() []string { return slices.Clone(b.capabilities) }

func refusef(format string, args ...any) error {
	return fmt.Errorf("local: %w: %s", tuplebroker.ErrRefused, fmt.Sprintf(format, args...))
}

// Submit starts the job and returns its id, "<Name>-<random>-<n>". If a job
// submitted under the same GUID is still running, Submit returns its id and
// starts nothing.
func (b *Backend) Submit(ctx context.Context, gj agents.Job) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if gj.GUID == "" {
		return "", rejectf("job has no GUID")
	}
	s, err := b.prepare(gj.Definition)
	if err != nil {
		return "", err
	}

	b.mu.Lock()
	b.purge(time.Now())
	switch prev := b.byGUID[gj.GUID]; {
	case b.closed:
		b.mu.Unlock()
		return "", refusef("backend %s is closed", b.name)
	case prev != nil && !prev.done:
		b.mu.Unlock()
		return prev.id, nil
	case b.starting[gj.GUID]:
		b.mu.Unlock()
		return "", refusef("job %s is being started by another call", gj.GUID)
	case b.exclusive:
		b.mu.Unlock()
		return "", refusef("an exclusive job is running")
	case b.running >= b.slots:
		n := b.running
		b.mu.Unlock()
		return "", refusef("all %d slots are busy (%d jobs)", b.slots, n)
	case s.exclusive && b.running > 0:
		n := b.running
		b.mu.Unlock()
		return "", refusef("exclusive job must wait for %d running job(s)", n)
	}
	b.running++
	if s.exclusive {
		b.exclusive = true
	}
	b.starting[gj.GUID] = true
	b.wg.Add(1)
	b.mu.Unlock()

	j, err := b.start(ctx, gj, s)
	if err != nil {
		b.mu.Lock()
		b.release(s.exclusive)
		delete(b.starting, gj.GUID)
		b.mu.Unlock()
		b.wg.Done()
		return "", err
	}
	return j.id, nil
}

// release frees a slot; b.mu is held.
func (b *Backend) release(exclusive bool) {
	b.running--
	if exclusive {
		b.exclusive = false
	}
}

// start opens the job's files and starts its process. The slot is taken.
func (b *Backend) start(ctx context.Context, gj agents.Job, s *spec) (*job, error) {
	files, err := openStreams(s)
	if err != nil {
		return nil, err
	}
	defer files.close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        s.path,
		Args:        s.argv,
		Env:         s.env,
		Dir:         s.dir,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if cmd.Env == nil {
		cmd.Env = []string{} // never inherit the broker's environment
	}
	// A nil *os.File in an interface is not a nil interface: set only real
	// files; exec opens /dev/null for the others.
	if files.in != nil {
		cmd.Stdin = files.in
	}
	if files.out != nil {
		cmd.Stdout = files.out
	}
	if files.err != nil {
		cmd.Stderr = files.err
	}
	if err := cmd.Start(); err != nil {
		return nil, classifyStart(s, err)
	}
	j := &job{
		guid:      gj.GUID,
		pid:       cmd.Process.Pid,
		exclusive: s.exclusive,
		started:   time.Now(),
		wall:      s.wall,
		hasWall:   s.hasWall,
		termC:     make(chan struct{}),
		killC:     make(chan struct{}),
	}
	b.mu.Lock()
	b.seq++
	j.id = fmt.Sprintf("%s%d", b.idPrefix, b.seq)
	b.jobs[j.id] = j
	b.byGUID[j.guid] = j
	delete(b.starting, j.guid)
	if b.closed { // Close ran while this job was starting
		b.setCause(j, causeShutdown)
	}
	if b.hurry {
		b.kill(j)
	}
	b.mu.Unlock()
	b.log.Info("job started", "id", j.id, "guid", j.guid, "attempt", gj.Attempt, "pid", j.pid, "executable", s.path, "dir", s.dir)
	go b.supervise(j, cmd)
	return j, nil
}

// classifyStart turns a start failure that no retry can cure into a
// rejection.
func classifyStart(s *spec, err error) error {
	for _, e := range []error{syscall.ENOENT, syscall.EACCES, syscall.ENOEXEC, syscall.ENOTDIR,
		syscall.EISDIR, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.E2BIG, syscall.EPERM} {
		if errors.Is(err, e) {
			return rejectf("cannot execute %q: %v", s.path, unwrapPath(err))
		}
	}
	return fmt.Errorf("local: starting %q: %w", s.path, err)
}

// streams are the standard stream files of a starting job; nil means
// /dev/null. err may be out.
type streams struct{ in, out, err *os.File }

func (f *streams) close() {
	for _, x := range []*os.File{f.in, f.out, f.err} {
		if x != nil {
			x.Close() // the child has its own copies
		}
	}
	f.in, f.out, f.err = nil, nil, nil
}

// openStreams opens the job's Input, Output and Error files.
func openStreams(s *spec) (f streams, err error) {
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if s.in != "" {
		fi, err := os.Stat(s.in)
		switch {
		case err != nil:
			return f, openErr("Input", s.in, err)
		case fi.IsDir():
			return f, rejectf("Input %q is a directory", s.in)
		case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeCharDevice == 0:
			return f, rejectf("Input %q is not a regular file", s.in)
		}
		if f.in, err = os.Open(s.in); err != nil {
			return f, openErr("Input", s.in, err)
		}
	}
	if s.out != "" {
		if f.out, err = createOutput("Output", s.out); err != nil {
			return f, err
		}
	}
	if s.errf != "" {
		if s.errf == s.out {
			f.err = f.out
			return f, nil
		}
		if f.err, err = createOutput("Error", s.errf); err != nil {
			return f, err
		}
		if f.out != nil {
			fo, err1 := f.out.Stat()
			fe, err2 := f.err.Stat()
			if err1 == nil && err2 == nil && os.SameFile(fo, fe) {
				f.err.Close()
				f.err = f.out
			}
		}
	}
	return f, nil
}

// createOutput creates (mode 0600) or truncates an output file.
func createOutput(what, p string) (*os.File, error) {
	if fi, err := os.Stat(p); err == nil {
		switch {
		case fi.IsDir():
			return nil, rejectf("%s %q is a directory", what, p)
		case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeCharDevice == 0:
			// A FIFO would block the open; a socket cannot be opened.
			return nil, rejectf("%s %q is not a regular file", what, p)
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, openErr(what, p, err)
	}
	return f, nil
}

// openErr rejects the job for errors no retry cures.
func openErr(what, p string, err error) error {
	for _, e := range []error{fs.ErrNotExist, fs.ErrPermission, syscall.EISDIR, syscall.ENOTDIR,
		syscall.EROFS, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.ENXIO} {
		if errors.Is(err, e) {
			return rejectf("%s %q: %v", what, p, unwrapPath(err))
		}
	}
	return fmt.Errorf("local: %s %q: %w", what, p, err)
}

// setCause starts terminating j for c, unless it has exited or is already
// being terminated. b.mu is held.
func (b *Backend) setCause(j *job, c cause) bool {
	if j.exited || j.cause != causeNone {
		return false
	}
	j.cause = c
	close(j.termC)
	return true
}

// kill makes j's supervisor SIGKILL its group at once. b.mu is held.
func (b *Backend) kill(j *job) {
	if !j.killed && !j.exited {
		j.killed = true
		close(j.killC)
	}
}

// signalGroup signals every process of the group led by pid. The caller
// guarantees the leader is not yet reaped, so the group id is still ours.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig) // ESRCH: nothing left
}

// supervise enforces j's wall time limit and terminations, waits for its
// main process, kills what it left behind, reaps it and records its end.
func (b *Backend) supervise(j *job, cmd *exec.Cmd) {
	defer b.wg.Done()
	type exit struct {
		reaped bool
		err    error
	}
	exitC := make(chan exit, 1)
	go func() {
		reaped, err := awaitExit(cmd)
		exitC <- exit{reaped, err}
	}()
	var wallC, graceC <-chan time.Time
	if j.hasWall {
		t := time.NewTimer(time.Until(j.started.Add(j.wall)))
		defer t.Stop()
		wallC = t.C
	}
	var grace *time.Timer
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	termC, killC := j.termC, j.killC
	var ex exit
wait:
	for {
		select {
		case ex = <-exitC:
			break wait
		case <-wallC:
			wallC = nil
			b.mu.Lock()
			b.setCause(j, causeWall) // closes termC unless cancelled meanwhile
			b.mu.Unlock()
		case <-termC:
			termC = nil
			signalGroup(j.pid, syscall.SIGTERM)
			signalGroup(j.pid, syscall.SIGCONT) // a stopped process could not act on SIGTERM
			grace = time.NewTimer(b.grace)
			graceC = grace.C
		case <-graceC:
			graceC = nil
			signalGroup(j.pid, syscall.SIGKILL)
		case <-killC:
			killC = nil
			signalGroup(j.pid, syscall.SIGKILL)
		}
	}
	ended := time.Now()
	b.mu.Lock()
	j.exited = true
	c := j.cause
	b.mu.Unlock()

	// Whatever the job left running in its group ends with it. Before the
	// reap (on Linux) the zombie leader still holds the group id.
	signalGroup(j.pid, syscall.SIGKILL)
	err := ex.err
	if !ex.reaped {
		err = cmd.Wait()
	}
	st := b.endStatus(j, cmd.ProcessState, err, c, ended)

	b.mu.Lock()
	j.final = st
	j.ended = ended
	j.done = true
	b.release(j.exclusive)
	b.mu.Unlock()
	attrs := []any{"id", j.id, "guid", j.guid, "state", st.State, "substate", st.SubState, "reason", st.Reason, "duration", ended.Sub(j.started).Round(time.Millisecond)}
	if st.ExitCode != nil {
		attrs = append(attrs, "exit_code", *st.ExitCode)
	}
	b.log.Info("job ended", attrs...)
}

// endStatus is the terminal status of a job that ended for cause c.
func (b *Backend) endStatus(j *job, ps *os.ProcessState, err error, c cause, ended time.Time) tuplebroker.Status {
	st := tuplebroker.Status{Started: j.started, Ended: ended}
	var how string
	code := -1
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
			how = "killed by signal " + signalName(ws.Signal())
		} else {
			code = ps.ExitCode()
			how = fmt.Sprintf("exit status %d", code)
		}
		st.ExitCode = &code
	} else {
		how = fmt.Sprintf("lost the process: %v", err)
	}
	switch {
	case c == causeCancel:
		st.State, st.SubState, st.Reason = tuplebroker.Cancelled, tuplebroker.SubUserCancelled, "cancelled on request; "+how
	case c == causeShutdown:
		st.State, st.SubState, st.Reason = tuplebroker.Cancelled, tuplebroker.SubBackendRemoved, "local backend "+b.name+" shut down; "+how
	case c == causeWall:
		st.State, st.SubState = tuplebroker.Failed, tuplebroker.SubWallTimeLimit
		st.Reason = fmt.Sprintf("wall time limit of %s exceeded; %s", j.wall, how)
	case ps != nil && code == 0:
		st.State = tuplebroker.Finished
	default:
		st.State, st.SubState, st.Reason = tuplebroker.Failed, tuplebroker.SubExitedNonzero, how
	}
	return st
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("%d (%v)", int(s), s)
}

// Find returns the id of the latest job submitted under guid.
func (b *Backend) Find(ctx context.Context, guid string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.purge(time.Now())
	if j, ok := b.byGUID[guid]; ok {
		return j.id, true, nil
	}
	return "", false, nil
}

// Status reports the jobs it knows among ids.
func (b *Backend) Status(ctx context.Context, ids []string) (map[string]tuplebroker.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.purge(time.Now())
	out := make(map[string]tuplebroker.Status, len(ids))
	for _, id := range ids {
		j, ok := b.jobs[id]
		if !ok {
			continue
		}
		if !j.done {
			out[id] = tuplebroker.Status{State: tuplebroker.Running, SubState: tuplebroker.SubExecuting, Started: j.started}
			continue
		}
		st := j.final
		if st.ExitCode != nil {
			code := *st.ExitCode
			st.ExitCode = &code
		}
		out[id] = st
	}
	return out, nil
}

// Cancel terminates a running job: SIGTERM to its process group, SIGKILL
// after Config.KillGrace. It returns at once; the job turns Cancelled when
// its main process has been reaped. Cancelling an ended job does nothing.
func (b *Backend) Cancel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	j, ok := b.jobs[id]
	if !ok {
		return fmt.Errorf("local: job %q: %w", id, tuplebroker.ErrUnknownJob)
	}
	if b.setCause(j, causeCancel) {
		b.log.Info("job cancelling", "id", id, "guid", j.guid)
	}
	return nil
}

// Close refuses further submissions and terminates every running job (they
// end Cancelled/backend-removed), then waits until all are reaped. If ctx
// ends first, the remaining jobs are sent SIGKILL and Close returns ctx's
// error without waiting further. Close may be called more than once.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	for _, j := range b.jobs {
		b.setCause(j, causeShutdown)
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done:
			return nil
		default:
		}
		b.mu.Lock()
		b.hurry = true
		for _, j := range b.jobs {
			b.kill(j)
		}
		b.mu.Unlock()
		return fmt.Errorf("local: close: %w", ctx.Err())
	}
}

// purge forgets jobs that ended more than Config.Retain ago. b.mu is held.
func (b *Backend) purge(now time.Time) {
	if now.Sub(b.lastPurge) < min(b.retain/4, time.Minute) {
		return
	}
	b.lastPurge = now
	for id, j := range b.jobs {
		if j.done && now.Sub(j.ended) > b.retain {
			delete(b.jobs, id)
			if b.byGUID[j.guid] == j {
				delete(b.byGUID, j.guid)
			}
		}
	}
}

// Free reports how many more jobs could start now (agents.Loader): the
// agent leaves requests in the space while every slot is busy, so a full
// local machine queues jobs instead of refusing them.
func (b *Backend) Free() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.exclusive {
		return 0
	}
	return max(b.slots-b.running, 0)
}
