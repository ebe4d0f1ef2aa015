package slurm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"tuplebroker/jsdl"
)

// Config configures a Slurm backend. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// Name identifies the backend instance (agents.Backend.Name), e.g.
	// "slurm-a".
	Name string
	// Conf is the slurm.conf of the cluster, given to every Slurm command
	// as SLURM_CONF. "" leaves SLURM_CONF unset (the commands' built-in
	// default, /etc/slurm/slurm.conf, or configless operation).
	Conf string
	// Partition is the partition jobs are submitted to; "" is the
	// cluster's default partition.
	Partition string
	// Capabilities are the "name=value" labels offered, matched against
	// jsdl.JobDefinition.Requirements(). Submit rejects a job requiring an
	// os=, arch=, exclusive= or spmd= label missing here, so advertise
	// "spmd=<SPMDVariation URI>" only for the variations srun can launch on
	// the cluster.
	Capabilities []string
	// Bin is the directory holding sbatch, squeue, scancel and sinfo; ""
	// looks each up in PATH when New runs.
	Bin string
	// Srun is the srun command written into SPMD job scripts, which run on
	// the compute node; "" is "srun" (the node's PATH).
	Srun string
	// Spool, if set, is a directory (created with mode 0700) where each
	// generated batch script is written and handed to sbatch as a file; it
	// is removed once sbatch returns. "" passes scripts on sbatch's stdin.
	Spool string
	// Root is the working directory of jobs without a WorkingDirectory and
	// the directory a relative WorkingDirectory resolves against; it is
	// also sbatch's --chdir. It must be an absolute path that exists on the
	// compute nodes (New does not check). Default "/".
	Root string
	// LoginEnvironment starts jobs in the user's login environment on the
	// node (sbatch --export=NONE: slurmd runs "su - user" for every job,
	// which halves the job throughput of a small cluster) instead of the
	// minimal base: PATH=/usr/local/bin:/usr/bin:/bin, HOME, USER and
	// LOGNAME of the broker's user, and SLURM_CONF. The JSDL Environment is
	// set on top of either.
	LoginEnvironment bool
	// ExtraArgs are options added to every sbatch call before the
	// backend's own (site policy such as --account=, --qos=, --hold). They
	// come from the operator, never from a job.
	ExtraArgs []string
	// JobComp is the jobcomp/filetxt file the cluster writes (JobCompLoc),
	// read for jobs squeue has forgotten (older than MinJobAge). "" reads
	// JobCompType and JobCompLoc from Conf and uses the file if it is
	// readable here; "none" never reads one.
	JobComp string
	// CallTimeout bounds every Slurm command; a command that runs out of it
	// is killed and the call refused (tuplebroker.ErrRefused). sbatch and squeue
	// retry an unreachable slurmctld for about 9 s by themselves.
	CallTimeout time.Duration
	// Logger receives one line per submission, cancel and anomaly; nil
	// discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: Name "slurm", the default SLURM_CONF,
// the default partition, DefaultCapabilities, commands from PATH, scripts on
// stdin, Root "/", the jobcomp file named in the configuration, and a 10 s
// CallTimeout.
func DefaultConfig() Config {
	return Config{
		Name:         "slurm",
		Capabilities: DefaultCapabilities(),
		Root:         "/",
		CallTimeout:  10 * time.Second,
	}
}

// DefaultCapabilities returns "os=LINUX", "arch=<this machine's
// architecture>" and "exclusive=true" (ExclusiveExecution becomes
// --exclusive). The compute nodes are assumed to be like the submit host.
func DefaultCapabilities() []string {
	return []string{"os=" + string(jsdl.GoOS(runtime.GOOS)), "arch=" + string(jsdl.GoArch(runtime.GOARCH)), "exclusive=true"}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.Capabilities == nil {
		c.Capabilities = d.Capabilities
	}
	if c.Root == "" {
		c.Root = d.Root
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.Srun == "" {
		c.Srun = "srun"
	}
	return c
}

// Validate reports a configuration that cannot work. It is checked as given:
// New fills zero fields with defaults first.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		bad("slurm: Name is empty")
	} else if strings.ContainsFunc(c.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("slurm: Name %q contains spaces or control characters", c.Name)
	}
	if c.Conf != "" {
		if !filepath.IsAbs(c.Conf) {
			bad("slurm: Conf %q is not an absolute path", c.Conf)
		} else if fi, err := os.Stat(c.Conf); err != nil {
			bad("slurm: Conf: %w", err)
		} else if fi.IsDir() {
			bad("slurm: Conf %q is a directory", c.Conf)
		}
	}
	if c.Partition != "" && !safeToken(c.Partition) {
		bad("slurm: Partition %q is not a plain name", c.Partition)
	}
	for _, l := range c.Capabilities {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			bad("slurm: capability %q is not name=value", l)
		}
	}
	if c.Bin != "" && !filepath.IsAbs(c.Bin) {
		bad("slurm: Bin %q is not an absolute path", c.Bin)
	}
	if strings.ContainsAny(c.Srun, "\x00\n") {
		bad("slurm: Srun contains a NUL byte or newline")
	}
	if c.Spool != "" && !filepath.IsAbs(c.Spool) {
		bad("slurm: Spool %q is not an absolute path", c.Spool)
	}
	if c.Root == "" {
		bad("slurm: Root is empty")
	} else if !filepath.IsAbs(c.Root) {
		bad("slurm: Root %q is not an absolute path", c.Root)
	} else if strings.IndexByte(c.Root, 0) >= 0 {
		bad("slurm: Root contains a NUL byte")
	}
	for _, a := range c.ExtraArgs {
		if strings.IndexByte(a, 0) >= 0 {
			bad("slurm: ExtraArgs element %q contains a NUL byte", a)
		}
	}
	if c.JobComp != "" && c.JobComp != "none" && !filepath.IsAbs(c.JobComp) {
		bad("slurm: JobComp %q is neither \"none\" nor an absolute path", c.JobComp)
	}
	if c.CallTimeout <= 0 {
		bad("slurm: CallTimeout must be positive, not %v", c.CallTimeout)
	}
	return errors.Join(errs...)
}

// safeToken reports whether s is a plain Slurm name (partition, node):
// letters, digits and "._-".
func safeToken(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
