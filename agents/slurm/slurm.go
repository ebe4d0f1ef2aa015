package slurm

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
)

// Backend submits jobs to one Slurm cluster with its command-line tools. It
// implements agents.Backend, agents.Finder, agents.Statuser and
// agents.Canceller; all methods are safe for concurrent use.
type Backend struct {
	name         string
	capabilities []string
	partition    string
	extra        []string
	spool        string
	tr           translator
	run          runner
	comp         *jobComp // nil: no jobcomp file
	log          *slog.Logger

	mu        sync.Mutex
	nodes     []node
	nodesAt   time.Time
	cancelled map[string]bool // ids cancelled through this backend
	cancelOrd []string        // the same ids, oldest first, for eviction
}

// Interface checks.
var (
	_ agents.Backend   = (*Backend)(nil)
	_ agents.Finder    = (*Backend)(nil)
	_ agents.Statuser  = (*Backend)(nil)
	_ agents.Canceller = (*Backend)(nil)
)

// Bounds of the backend's memory.
const (
	maxCancelled   = 100_000 // ids remembered as cancelled here
	maxCompEntries = 200_000 // jobcomp lines indexed
	nodesTTL       = time.Minute
	// maxJobsArg bounds the --jobs list of one squeue call; Linux allows
	// 128 KiB per argument.
	maxJobsArg = 64 << 10
)

// commands are the Slurm programs the backend runs.
var commands = []string{"sbatch", "squeue", "scancel", "sinfo"}

// New returns a backend configured by cfg, whose zero fields take the values
// of DefaultConfig. It fails if the configuration is invalid, a Slurm
// command cannot be found, or Spool cannot be created. It runs no Slurm
// command; ctx is checked first.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	paths := make(map[string]string, len(commands))
	for _, c := range commands {
		p := c
		if cfg.Bin != "" {
			p = filepath.Join(cfg.Bin, c)
		}
		lp, err := exec.LookPath(p)
		if err != nil {
			return nil, fmt.Errorf("slurm: %s: %w", c, err)
		}
		if !filepath.IsAbs(lp) {
			if lp, err = filepath.Abs(lp); err != nil {
				return nil, fmt.Errorf("slurm: %s: %w", c, err)
			}
		}
		paths[c] = lp
	}
	// Only what the commands need: which cluster, and for the queries
	// times in UTC in the standard format. sbatch's environment is the
	// jobs' base environment (--export=ALL) unless LoginEnvironment.
	id := agents.CurrentUser()
	query := []string{"TZ=UTC", "SLURM_TIME_FORMAT=standard", "PATH=/usr/bin:/bin"}
	jobBase := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + id.Home}
	if id.Name != "" {
		jobBase = append(jobBase, "USER="+id.Name, "LOGNAME="+id.Name)
	}
	if cfg.Conf != "" {
		query = append(query, "SLURM_CONF="+cfg.Conf)
		jobBase = append(jobBase, "SLURM_CONF="+cfg.Conf)
	}
	envs := map[string][]string{"sbatch": jobBase, "squeue": query, "scancel": query, "sinfo": query}
	export := "ALL"
	if cfg.LoginEnvironment {
		export = "NONE"
	}
	if cfg.Spool != "" {
		if err := os.MkdirAll(cfg.Spool, 0o700); err != nil {
			return nil, fmt.Errorf("slurm: Spool: %w", err)
		}
		if err := os.Chmod(cfg.Spool, 0o700); err != nil {
			return nil, fmt.Errorf("slurm: Spool: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("backend", cfg.Name)
	b := &Backend{
		name:         cfg.Name,
		capabilities: slices.Clone(cfg.Capabilities),
		partition:    cfg.Partition,
		extra:        slices.Clone(cfg.ExtraArgs),
		spool:        cfg.Spool,
		tr: translator{
			partition: cfg.Partition,
			root:      filepath.Clean(cfg.Root),
			srun:      cfg.Srun,
			export:    export,
			id:        id,
		},
		run:       execRunner(paths, envs, cfg.CallTimeout),
		log:       log,
		cancelled: make(map[string]bool),
	}
	switch comp := cfg.JobComp; comp {
	case "none":
	case "":
		if p := jobCompFromConf(cfg.Conf); p != "" {
			if f, err := os.Open(p); err == nil {
				f.Close()
				b.comp = newJobComp(p, time.Local, maxCompEntries)
			} else {
				log.Warn("slurm: jobcomp file named in the configuration is not readable; jobs older than MinJobAge will be unknown", "file", p, "err", err)
			}
		}
	default:
		b.comp = newJobComp(comp, time.Local, maxCompEntries)
	}
	return b, nil
}

// jobCompFromConf returns JobCompLoc from the slurm.conf at path when
// JobCompType is jobcomp/filetxt, else "".
func jobCompFromConf(path string) string {
	if path == "" {
		path = "/etc/slurm/slurm.conf"
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var typ, loc string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "jobcomptype":
			typ = strings.TrimSpace(v)
		case "jobcomploc":
			loc = strings.TrimSpace(v)
		}
	}
	if typ != "jobcomp/filetxt" || !filepath.IsAbs(loc) {
		return ""
	}
	return loc
}

// Name returns Config.Name.
func (b *Backend) Name() string { return b.name }

// Capabilities returns a copy of Config.Capabilities.
func (b *Backend) Capabilities() []string { return slices.Clone(b.capabilities) }

// Submit translates the job and submits it with sbatch under the job name
// job.GUID. It returns the Slurm job id. Errors wrap tuplebroker.ErrRejected
// (the job asks for what this cluster cannot give, or Slurm says so for
// good), tuplebroker.ErrRefused (slurmctld is unreachable, slow or over a submit
// limit; an sbatch killed after CallTimeout may have submitted the job,
// which Find then adopts), or neither.
func (b *Backend) Submit(ctx context.Context, job agents.Job) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var nodes []node
	if job.Definition != nil {
		if r := job.Definition.JobDescription.Resources; r != nil && len(r.CandidateHosts) > 0 {
			var err error
			if nodes, err = b.partitionNodes(ctx); err != nil {
				return "", err
			}
		}
	}
	sub, err := b.tr.translate(job.GUID, job.Definition, nodes)
	if err != nil {
		return "", err
	}
	args := make([]string, 0, len(b.extra)+len(sub.args)+1)
	args = append(args, b.extra...)
	args = append(args, sub.args...)
	stdin := sub.script
	if b.spool != "" {
		p, err := b.writeScript(job.GUID, sub.script)
		if err != nil {
			return "", err
		}
		defer os.Remove(p)
		args, stdin = append(args, p), nil
	}
	start := time.Now()
	out, _, err := b.run(ctx, "sbatch", args, stdin)
	if err != nil {
		err = wrapCmd("sbatch "+job.GUID, err)
		b.log.Info("slurm: submit failed", "guid", job.GUID, "err", err, "duration", time.Since(start).Round(time.Microsecond))
		return "", err
	}
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:] // warnings may come first
	}
	id, _, _ := strings.Cut(line, ";") // "<id>;<cluster>" on federations
	if !isJobID(id) {
		return "", fmt.Errorf("slurm: sbatch %s: unexpected answer %q", job.GUID, out)
	}
	b.log.Info("slurm: submitted", "guid", job.GUID, "id", id, "duration", time.Since(start).Round(time.Microsecond))
	return id, nil
}

// writeScript writes a script to a fresh file in Spool.
func (b *Backend) writeScript(guid string, script []byte) (string, error) {
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("slurm: spool: %w", err)
	}
	p := filepath.Join(b.spool, guid+"-"+hex.EncodeToString(nonce[:])+".sh")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("slurm: spool: %w", err)
	}
	_, err = f.Write(script)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return "", fmt.Errorf("slurm: spool: %w", err)
	}
	return p, nil
}

// partitionNodes returns the nodes of the partition (sinfo), cached for a
// minute.
func (b *Backend) partitionNodes(ctx context.Context) ([]node, error) {
	b.mu.Lock()
	if b.nodes != nil && time.Since(b.nodesAt) < nodesTTL {
		n := b.nodes
		b.mu.Unlock()
		return n, nil
	}
	b.mu.Unlock()
	args := []string{"--noheader", "--Node", "--format=%N|%n"}
	if b.partition != "" {
		args = append(args, "--partition="+b.partition)
	}
	out, _, err := b.run(ctx, "sinfo", args, nil)
	if err != nil {
		return nil, wrapCmd("sinfo", err)
	}
	var nodes []node
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(out), "\n") {
		name, host, _ := strings.Cut(strings.TrimSpace(line), "|")
		if !safeToken(name) || seen[name] {
			continue
		}
		seen[name] = true
		nodes = append(nodes, node{name: name, host: host})
	}
	b.mu.Lock()
	b.nodes, b.nodesAt = nodes, time.Now()
	b.mu.Unlock()
	return nodes, nil
}

// Find returns the id of the job named guid: squeue (every job slurmctld
// still holds, pending to ended less than MinJobAge ago), then the jobcomp
// file. If several jobs carry the name, the oldest wins. Errors from squeue
// are classified as for Submit.
func (b *Backend) Find(ctx context.Context, guid string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if !safeToken(guid) {
		return "", false, nil // not a name this backend submits under
	}
	out, _, err := b.run(ctx, "squeue", []string{"--noheader", "--states=all", "--name=" + guid, "--format=%i"}, nil)
	if err != nil {
		return "", false, wrapCmd("squeue --name "+guid, err)
	}
	var ids []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if id := strings.TrimSpace(line); isJobID(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && b.comp != nil {
		if ids, err = b.comp.find(guid); err != nil {
			b.log.Warn("slurm: reading the jobcomp file", "err", err)
		}
	}
	if len(ids) == 0 {
		return "", false, nil
	}
	slices.SortFunc(ids, cmpJobID)
	if len(ids) > 1 {
		b.log.Warn("slurm: several jobs carry one GUID; adopting the oldest", "guid", guid, "ids", ids)
	}
	return ids[0], true, nil
}

// cmpJobID orders numeric job ids.
func cmpJobID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// Status reports the jobs among ids that Slurm knows, with one squeue call
// for all of them (split only if the id list would exceed 64 KiB), then the
// jobcomp file for ids squeue has forgotten. Ids known to neither are absent
// from the result.
func (b *Backend) Status(ctx context.Context, ids []string) (map[string]tuplebroker.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	var list []string
	for _, id := range ids {
		if isJobID(id) && !want[id] {
			want[id] = true
			list = append(list, id)
		}
	}
	out := make(map[string]tuplebroker.Status, len(list))
	if len(list) == 0 {
		return out, nil
	}
	recs := make(map[string]record, len(list))
	for _, chunk := range chunkIDs(list, maxJobsArg) {
		res, _, err := b.run(ctx, "squeue", []string{"--noheader", "--states=all", "--jobs=" + chunk, "--Format=" + squeueFormat}, nil)
		if err != nil {
			var ce *cmdError
			if errors.As(err, &ce) && strings.Contains(ce.stderr, "Invalid job id specified") {
				continue // a single id slurmctld does not know
			}
			return nil, wrapCmd("squeue", err)
		}
		rs, bad := parseSqueue(res)
		if bad > 0 {
			b.log.Warn("slurm: squeue lines not understood", "count", bad)
		}
		for _, r := range rs {
			if want[r.id] {
				recs[r.id] = r
			}
		}
	}
	if len(recs) < len(list) && b.comp != nil {
		var missing []string
		for _, id := range list {
			if _, ok := recs[id]; !ok {
				missing = append(missing, id)
			}
		}
		found, err := b.comp.lookup(missing)
		if err != nil {
			b.log.Warn("slurm: reading the jobcomp file", "err", err)
		}
		for id, r := range found {
			recs[id] = r
		}
	}
	b.mu.Lock()
	for id, r := range recs {
		out[id] = r.status(b.cancelled[id])
	}
	b.mu.Unlock()
	return out, nil
}

// chunkIDs joins ids with commas into lists of at most max bytes.
func chunkIDs(ids []string, max int) []string {
	var chunks []string
	var cur strings.Builder
	for _, id := range ids {
		if cur.Len() > 0 && cur.Len()+1+len(id) > max {
			chunks = append(chunks, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(',')
		}
		cur.WriteString(id)
	}
	if cur.Len() > 0 {
		chunks = append(chunks, cur.String())
	}
	return chunks
}

// Cancel cancels a job with scancel: a pending job leaves the queue, a
// running one gets SIGTERM, SIGKILL after the cluster's KillWait. It
// returns at once; the job turns Cancelled (user-cancelled) when Slurm has
// ended it. Cancelling an ended job does nothing. An id Slurm does not know
// returns an error wrapping tuplebroker.ErrUnknownJob; other failures are
// classified as for Submit.
func (b *Backend) Cancel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !isJobID(id) {
		return fmt.Errorf("slurm: job %q: %w", id, tuplebroker.ErrUnknownJob)
	}
	b.markCancelled(id, true) // before: a poll racing the cancel must see it
	// scancel may exit 0 when it fails; --verbose makes it say why.
	_, stderr, err := b.run(ctx, "scancel", []string{"--verbose", id}, nil)
	msg := string(stderr)
	var ce *cmdError
	if errors.As(err, &ce) {
		msg = ce.stderr
	}
	switch {
	case strings.Contains(msg, "Invalid job id specified"):
		b.markCancelled(id, false)
		return fmt.Errorf("slurm: job %s: %w: %s", id, tuplebroker.ErrUnknownJob, oneLine(msg))
	case strings.Contains(msg, "already completing or completed"):
		return nil
	case err != nil:
		b.markCancelled(id, false)
		return wrapCmd("scancel "+id, err)
	case strings.Contains(msg, "error:"):
		b.markCancelled(id, false)
		return wrapCmd("scancel "+id, &cmdError{cmd: "scancel", stderr: msg, err: errors.New("failed")})
	}
	b.log.Info("slurm: cancelled", "id", id)
	return nil
}

// oneLine joins the lines of a command's message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// markCancelled records (or forgets) that id was cancelled through this
// backend.
func (b *Backend) markCancelled(id string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !on {
		delete(b.cancelled, id)
		return
	}
	if b.cancelled[id] {
		return
	}
	b.cancelled[id] = true
	b.cancelOrd = append(b.cancelOrd, id)
	for len(b.cancelOrd) > maxCancelled {
		delete(b.cancelled, b.cancelOrd[0])
		b.cancelOrd = b.cancelOrd[1:]
	}
}
