package gridengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
)

// Backend submits jobs to a Grid Engine cell with qsub and follows them
// with qstat and the cell's accounting file. It implements agents.Backend,
// agents.Finder, agents.Statuser, agents.Canceller and agents.Closer; all
// methods are safe for concurrent use.
type Backend struct {
	name         string
	capabilities []string
	tr           translator
	bins         map[string]string // command name → path
	env          []string
	spool        string
	ownSpool     bool
	lag          time.Duration
	retain       time.Duration
	timeout      time.Duration
	log          *slog.Logger
	acct         *accounting
	// run runs one Grid Engine command (tests wrap it to count calls).
	run runFunc

	mu        sync.Mutex
	marks     map[string]mark      // jobs this backend deleted
	vanished  map[string]time.Time // finished jobs first seen without a record
	lastPurge time.Time
}

// mark records a qdel by this backend.
type mark struct {
	at      time.Time
	pending bool // qdel removed the job at once: it had not started
}

// runFunc runs a Grid Engine command (by name: "qsub", "qstat", "qdel")
// and returns its standard output and error.
type runFunc func(ctx context.Context, cmd string, args ...string) (stdout, stderr []byte, err error)

// Interface checks.
var (
	_ agents.Backend   = (*Backend)(nil)
	_ agents.Finder    = (*Backend)(nil)
	_ agents.Statuser  = (*Backend)(nil)
	_ agents.Canceller = (*Backend)(nil)
	_ agents.Closer    = (*Backend)(nil)
)

// commands are the Grid Engine commands the backend runs.
var commands = []string{"qsub", "qstat", "qdel"}

// debianBin holds the Grid Engine binaries on Debian; /usr/bin has
// wrapper scripts that cost some 130 ms per call.
const debianBin = "/usr/lib/gridengine"

// maxOutput bounds what a command may print.
const maxOutput = 64 << 20

// New returns a backend configured by cfg, whose zero fields take the values
// of DefaultConfig. It checks the configuration and finds the commands; it
// does not contact the cell; ctx is checked first.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bins, err := findCommands(cfg.Bin)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		name:         cfg.Name,
		capabilities: slices.Clone(cfg.Capabilities),
		bins:         bins,
		spool:        cfg.Spool,
		lag:          cfg.AccountingLag,
		retain:       cfg.Retain,
		timeout:      cfg.CallTimeout,
		log:          log.With("backend", cfg.Name),
		acct:         newAccounting(cfg.Accounting, cfg.Retain),
		marks:        make(map[string]mark),
		vanished:     make(map[string]time.Time),
	}
	b.tr = translator{
		queue: cfg.Queue, pe: cfg.ParallelEnv, exclusive: cfg.ExclusiveResource,
		maxSlots: cfg.MaxSlots, maxMemory: cfg.MaxMemory,
		spmd: cfg.SPMD, workDir: cfg.WorkDir, id: agents.CurrentUser(),
	}
	b.env = []string{
		"SGE_ROOT=" + cfg.Root,
		"SGE_CELL=" + cfg.Cell,
		"PATH=/usr/bin:/bin",
		"TZ=UTC", // qstat -xml prints local times
		"LC_ALL=C",
	}
	if cfg.QmasterPort > 0 {
		b.env = append(b.env, "SGE_QMASTER_PORT="+strconv.Itoa(cfg.QmasterPort))
	}
	if cfg.ExecdPort > 0 {
		b.env = append(b.env, "SGE_EXECD_PORT="+strconv.Itoa(cfg.ExecdPort))
	}
	if b.spool == "" {
		if b.spool, err = os.MkdirTemp("", "tuplebroker-gridengine-"); err != nil {
			return nil, fmt.Errorf("gridengine: spool: %w", err)
		}
		b.ownSpool = true
	} else if fi, err := os.Stat(b.spool); err != nil {
		return nil, fmt.Errorf("gridengine: spool: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("gridengine: spool %q is not a directory", b.spool)
	}
	b.run = b.execRun
	return b, nil
}

// findCommands locates qsub, qstat and qdel in bin, or in debianBin or PATH.
func findCommands(bin string) (map[string]string, error) {
	if bin == "" {
		if fi, err := os.Stat(filepath.Join(debianBin, "qsub")); err == nil && fi.Mode().IsRegular() {
			bin = debianBin
		}
	}
	bins := make(map[string]string, len(commands))
	for _, c := range commands {
		var p string
		var err error
		if bin != "" {
			p = filepath.Join(bin, c)
			var fi os.FileInfo
			if fi, err = os.Stat(p); err == nil && (fi.IsDir() || fi.Mode().Perm()&0o111 == 0) {
				err = errors.New("not an executable file")
			}
		} else {
			p, err = exec.LookPath(c)
		}
		if err != nil {
			return nil, fmt.Errorf("gridengine: command %s: %w", c, err)
		}
		bins[c] = p
	}
	return bins, nil
}

// Name returns Config.Name.
func (b *Backend) Name() string { return b.name }

// Capabilities returns a copy of Config.Capabilities.
func (b *Backend) Capabilities() []string { return slices.Clone(b.capabilities) }

// Close removes the spool directory New made (agents.Closer); it waits for
// nothing. The cell's jobs are not touched.
func (b *Backend) Close(context.Context) error {
	if b.ownSpool {
		if err := os.RemoveAll(b.spool); err != nil {
			return fmt.Errorf("gridengine: close: %w", err)
		}
	}
	return nil
}

// boundedBuffer keeps the first max bytes written to it.
type boundedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if room := w.max - w.Len(); len(p) > room {
		w.overflow = true
		if room > 0 {
			w.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return w.Buffer.Write(p)
}

// execRun runs a command with the cell's environment and nothing else, in
// the spool directory (so no stray .sge_request applies), bounded by the
// call timeout. A command that times out counts as a refusal.
func (b *Backend) execRun(ctx context.Context, cmd string, args ...string) ([]byte, []byte, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	c := exec.CommandContext(cctx, b.bins[cmd], args...)
	c.Env = b.env
	c.Dir = b.spool
	c.WaitDelay = time.Second
	stdout, stderr := &boundedBuffer{max: maxOutput}, &boundedBuffer{max: 64 << 10}
	c.Stdout, c.Stderr = stdout, stderr
	err := c.Run()
	switch {
	case ctx.Err() != nil:
		return nil, nil, fmt.Errorf("gridengine: %s: %w", cmd, ctx.Err())
	case cctx.Err() != nil:
		return nil, nil, fmt.Errorf("gridengine: %s: %w: no answer within %v", cmd, tuplebroker.ErrRefused, b.timeout)
	case err == nil && stdout.overflow:
		return nil, nil, fmt.Errorf("gridengine: %s: output exceeds %d bytes", cmd, maxOutput)
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

// call runs cmd and classifies its failure.
func (b *Backend) call(ctx context.Context, cmd string, args ...string) (stdout, stderr []byte, err error) {
	stdout, stderr, err = b.run(ctx, cmd, args...)
	if err == nil {
		return stdout, stderr, nil
	}
	if stdout == nil && stderr == nil { // not run, or timed out: already explained
		return nil, nil, err
	}
	return stdout, stderr, classify(cmd, string(stdout)+"\n"+string(stderr), err)
}

// Submit translates the job and submits it with qsub under the name
// JobName(job.GUID), returning the Grid Engine job number. A job Grid
// Engine cannot run (see the package documentation) is rejected before
// qsub; qsub's own complaints are classified as refusals (qmaster
// unreachable, submission limits) or rejections (unknown queue or
// resource, unsatisfiable request).
func (b *Backend) Submit(ctx context.Context, job agents.Job) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s, err := b.tr.translate(job.GUID, job.Definition)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(b.spool, "job-*.sh")
	if err != nil {
		return "", fmt.Errorf("gridengine: job script: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(s.script)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("gridengine: job script: %w", err)
	}
	args := append([]string{"-terse"}, s.args...)
	args = append(args, f.Name())
	stdout, _, err := b.call(ctx, "qsub", args...)
	if err != nil {
		return "", err
	}
	// The job number is the last line; warnings may come before it.
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	id := strings.TrimSpace(lines[len(lines)-1])
	if !jobNumber(id) {
		return "", fmt.Errorf("gridengine: qsub printed %q, not a job number", truncate(string(stdout), 200))
	}
	b.log.Info("job submitted", "id", id, "guid", job.GUID, "attempt", job.Attempt, "name", s.name)
	return id, nil
}

// jobNumber reports whether s is a Grid Engine job number.
func jobNumber(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// qstat lists this user's jobs: pending, running, suspended and recently
// finished ("qstat -xml -s prsz"), in one call.
func (b *Backend) qstat(ctx context.Context) (map[string]qjob, error) {
	stdout, _, err := b.call(ctx, "qstat", "-xml", "-s", "prsz")
	if err != nil {
		return nil, err
	}
	return parseQstat(stdout)
}

// Find returns the number of the job named JobName(guid): the newest one in
// the queue (pending, running or just finished), else the latest in the
// accounting file. One qstat call and one read of what was appended to the
// accounting file.
func (b *Backend) Find(ctx context.Context, guid string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if !validGUID.MatchString(guid) {
		return "", false, nil // no job can carry this name
	}
	name := JobName(guid)
	jobs, err := b.qstat(ctx)
	if err != nil {
		return "", false, err
	}
	best := ""
	for id, j := range jobs {
		if j.Name == name && newerID(id, best) {
			best = id
		}
	}
	if best != "" {
		return best, true, nil
	}
	if err := b.acct.refresh(time.Now()); err != nil {
		return "", false, err
	}
	if id, ok := b.acct.named(name); ok {
		return id, true, nil
	}
	return "", false, nil
}

// newerID reports whether job number a is later than b ("" is earliest).
func newerID(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// Status reports the jobs among ids that Grid Engine still knows, with one
// qstat call for all of them and one read of what was appended to the
// accounting file. Jobs in the queue map by their state letters; finished
// jobs by their accounting record (exit status, "failed" code, wall time);
// jobs this backend deleted end Cancelled. A job that left the queue
// without an accounting record (deleted while pending by someone else)
// is reported ending for Config.AccountingLag, then Cancelled.
func (b *Backend) Status(ctx context.Context, ids []string) (map[string]tuplebroker.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]tuplebroker.Status, len(ids))
	want := make([]string, 0, len(ids))
	for _, id := range ids {
		if jobNumber(id) {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	jobs, err := b.qstat(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := b.acct.refresh(now); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.purgeLocked(now)
	for _, id := range want {
		j, queued := jobs[id]
		m, marked := b.marks[id]
		rec, recorded := b.acct.record(id)
		switch {
		case queued && !j.zombie():
			st := liveStatus(j)
			if st.State == tuplebroker.Failed && recorded && rec.failed != 0 {
				st.Reason += "; " + failedReason(rec.failed)
			}
			out[id] = st
			delete(b.vanished, id)
		case recorded:
			out[id] = recordStatus(rec, marked)
			delete(b.vanished, id)
		case marked:
			st := tuplebroker.Status{State: tuplebroker.Cancelled, SubState: tuplebroker.SubUserCancelled, Reason: "deleted on request", Ended: m.at}
			if m.pending {
				st.Reason += " before it started"
			}
			out[id] = st
		case queued: // finished, no accounting record yet
			first, seen := b.vanished[id]
			if !seen {
				first = now
				b.vanished[id] = now
			}
			if now.Sub(first) < b.lag {
				out[id] = tuplebroker.Status{State: tuplebroker.Running, SubState: SubEnding}
				continue
			}
			out[id] = tuplebroker.Status{State: tuplebroker.Cancelled, SubState: tuplebroker.SubBackendRemoved, Ended: first,
				Reason: fmt.Sprintf("left Grid Engine without an accounting record for %v: deleted before it started", b.lag)}
		}
	}
	return out, nil
}

// purgeLocked forgets old marks; b.mu is held.
func (b *Backend) purgeLocked(now time.Time) {
	if now.Sub(b.lastPurge) < min(b.retain/4, time.Minute) {
		return
	}
	b.lastPurge = now
	for id, m := range b.marks {
		if now.Sub(m.at) > b.retain {
			delete(b.marks, id)
		}
	}
	for id, t := range b.vanished {
		if now.Sub(t) > b.retain {
			delete(b.vanished, id)
		}
	}
}

// Cancel deletes the job with qdel. A pending job is removed at once; a
// running one is killed, and both end Cancelled. Cancelling a finished job
// does nothing; a job Grid Engine never knew gives tuplebroker.ErrUnknownJob.
func (b *Backend) Cancel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !jobNumber(id) {
		return fmt.Errorf("gridengine: job %q: %w", id, tuplebroker.ErrUnknownJob)
	}
	stdout, stderr, err := b.run(ctx, "qdel", id)
	if err != nil && stdout == nil && stderr == nil {
		return err // not run, or timed out
	}
	msg := strings.Join(strings.Fields(string(stdout)+" "+string(stderr)), " ")
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "does not exist"):
		if _, ok := b.acct.record(id); ok {
			return nil
		}
		if rerr := b.acct.refresh(time.Now()); rerr != nil {
			return rerr
		}
		if _, ok := b.acct.record(id); ok {
			return nil
		}
		if jobs, qerr := b.qstat(ctx); qerr == nil {
			if _, ok := jobs[id]; ok {
				return nil // finished, its record not yet written
			}
		}
		return fmt.Errorf("gridengine: qdel %s: %w: %s", id, tuplebroker.ErrUnknownJob, msg)
	case strings.Contains(lower, "has deleted job"):
		b.setMark(id, true)
	case err != nil && !strings.Contains(lower, "for deletion") && !strings.Contains(lower, "already"):
		return classify("qdel "+id, msg, err)
	default: // "registered the job N for deletion", "job N is already in deletion"
		b.setMark(id, false)
	}
	b.log.Info("job cancelled", "id", id, "qdel", msg)
	return nil
}

func (b *Backend) setMark(id string, pending bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.marks[id]; !ok {
		b.marks[id] = mark{at: time.Now(), pending: pending}
	}
}
