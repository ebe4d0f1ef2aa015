package gridengine

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"tuplebroker/jsdl"
)

// NoExclusive as Config.ExclusiveResource means the cell cannot give a job a
// host to itself: jobs asking for ExclusiveExecution are rejected.
const NoExclusive = "NONE"

// Config configures a Grid Engine backend. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// Name identifies the backend instance (e.g. "gridengine").
	Name string
	// Root is SGE_ROOT, an absolute path (Debian: /var/lib/gridengine).
	Root string
	// Cell is SGE_CELL ("default").
	Cell string
	// QmasterPort and ExecdPort become SGE_QMASTER_PORT and SGE_EXECD_PORT
	// for every command; 0 leaves them unset (the commands then take the
	// ports from /etc/services).
	QmasterPort, ExecdPort int
	// Queue is passed as "qsub -q"; "" lets Grid Engine choose.
	Queue string
	// ParallelEnv is the parallel environment ("qsub -pe <ParallelEnv> N")
	// of jobs needing more than one slot; it must place all slots on one
	// host (allocation_rule $pe_slots). "" rejects multi-CPU jobs.
	ParallelEnv string
	// ExclusiveResource is the boolean complex with relop EXCL requested for
	// ExclusiveExecution ("-l <ExclusiveResource>=true"); the cell must
	// define it and attach it to its hosts (complex_values exclusive=true).
	// NoExclusive disables it.
	ExclusiveResource string
	// MaxSlots and MaxMemory, when positive, reject at submission jobs
	// asking for more slots or physical memory (bytes) than any host has;
	// Grid Engine itself would keep such a job pending forever.
	MaxSlots  int
	MaxMemory uint64
	// SPMD maps a JSDL SPMDVariation URI to the argv prefix starting such a
	// program, in which "{np}" stands for the number of processes (e.g.
	// {"mpirun", "-np", "{np}"}). SPMD applications of other variations are
	// rejected. Offer them in Capabilities as "spmd=<URI>".
	SPMD map[string][]string
	// Capabilities are the "name=value" labels offered, matched against
	// jsdl.JobDefinition.Requirements(); the "os=" and "arch=" labels are
	// also what Submit checks jobs against. Nil means
	// DefaultCapabilities(ExclusiveResource).
	Capabilities []string
	// Bin is the directory holding qsub, qstat and qdel; "" means Debian's
	// /usr/lib/gridengine if it has them (/usr/bin holds wrapper scripts
	// costing ~0.1 s a call), else PATH.
	Bin string
	// Spool is an existing directory where job scripts are written before
	// qsub copies them; "" makes a temporary one (removed by Close).
	Spool string
	// Accounting is the cell's accounting file, read for finished jobs;
	// "" means <Root>/<Cell>/common/accounting.
	Accounting string
	// WorkDir is the absolute working directory of jobs that name none (and
	// what relative ones resolve against); "" leaves Grid Engine's default,
	// the job owner's home directory on the execution host.
	WorkDir string
	// CallTimeout bounds every Grid Engine command; one that takes longer
	// is killed and counts as a refusal.
	CallTimeout time.Duration
	// AccountingLag is how long a job that has left the queue may lack its
	// accounting record before Status reports it removed (deleted while
	// pending leaves no record). It should exceed the cell's
	// accounting_flush_time.
	AccountingLag time.Duration
	// Retain is how long finished jobs stay known to Status and Find.
	Retain time.Duration
	// Logger receives one line per submission and cancel; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: Name "gridengine", the Debian SGE_ROOT
// and the "default" cell, any queue, no parallel environment (single-slot
// jobs only), the "exclusive" complex (which a cell must define, see
// ExclusiveResource), DefaultCapabilities, 30 s calls, a 20 s accounting
// lag (the stock accounting_flush_time is 15 s) and a 24 h retention.
func DefaultConfig() Config {
	return Config{
		Name:              "gridengine",
		Root:              "/var/lib/gridengine",
		Cell:              "default",
		ExclusiveResource: "exclusive",
		Capabilities:      DefaultCapabilities("exclusive"),
		CallTimeout:       30 * time.Second,
		AccountingLag:     20 * time.Second,
		Retain:            24 * time.Hour,
	}
}

// DefaultCapabilities returns the labels of a Linux cell of this machine's
// architecture: "os=LINUX", "arch=<ProcessorArchitecture>" and, unless
// exclusiveResource is "" or NoExclusive, "exclusive=true".
func DefaultCapabilities(exclusiveResource string) []string {
	caps := []string{"os=" + string(jsdl.OSLinux), "arch=" + string(jsdl.GoArch(runtime.GOARCH))}
	if exclusiveResource != "" && exclusiveResource != NoExclusive {
		caps = append(caps, "exclusive=true")
	}
	return caps
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.Root == "" {
		c.Root = d.Root
	}
	if c.Cell == "" {
		c.Cell = d.Cell
	}
	if c.ExclusiveResource == "" {
		c.ExclusiveResource = d.ExclusiveResource
	}
	if c.Capabilities == nil {
		c.Capabilities = DefaultCapabilities(c.ExclusiveResource)
	}
	if c.Accounting == "" && c.Root != "" && c.Cell != "" {
		c.Accounting = filepath.Join(c.Root, c.Cell, "common", "accounting")
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.AccountingLag == 0 {
		c.AccountingLag = d.AccountingLag
	}
	if c.Retain == 0 {
		c.Retain = d.Retain
	}
	return c
}

// objectName is what Grid Engine accepts as a queue, parallel environment
// or complex name (conservatively).
var objectName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Validate reports a configuration that cannot work. It is checked as given:
// New fills zero fields with defaults first.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		bad("gridengine: Name is empty")
	} else if strings.ContainsFunc(c.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("gridengine: Name %q contains spaces or control characters", c.Name)
	}
	if !filepath.IsAbs(c.Root) {
		bad("gridengine: Root %q is not an absolute path", c.Root)
	}
	if !objectName.MatchString(c.Cell) {
		bad("gridengine: Cell %q is not a valid cell name", c.Cell)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"QmasterPort", c.QmasterPort}, {"ExecdPort", c.ExecdPort}} {
		if p.v < 0 || p.v > 65535 {
			bad("gridengine: %s %d is not a port", p.name, p.v)
		}
	}
	if c.Queue != "" && !objectName.MatchString(c.Queue) {
		bad("gridengine: Queue %q is not a valid queue name", c.Queue)
	}
	if c.ParallelEnv != "" && !objectName.MatchString(c.ParallelEnv) {
		bad("gridengine: ParallelEnv %q is not a valid parallel environment name", c.ParallelEnv)
	}
	if !objectName.MatchString(c.ExclusiveResource) {
		bad("gridengine: ExclusiveResource %q is not a valid complex name", c.ExclusiveResource)
	}
	if c.MaxSlots < 0 {
		bad("gridengine: MaxSlots is negative")
	}
	for v, argv := range c.SPMD {
		if v == "" || len(argv) == 0 || argv[0] == "" {
			bad("gridengine: SPMD launcher for %q is empty", v)
		}
		for _, a := range argv {
			if strings.IndexByte(a, 0) >= 0 {
				bad("gridengine: SPMD launcher for %q contains a NUL byte", v)
			}
		}
	}
	for _, l := range c.Capabilities {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			bad("gridengine: capability %q is not name=value", l)
		}
		if k == "exclusive" && v == "true" && c.ExclusiveResource == NoExclusive {
			bad("gridengine: capability exclusive=true needs an ExclusiveResource")
		}
		if k == "spmd" && c.SPMD[v] == nil {
			bad("gridengine: capability %q has no SPMD launcher", l)
		}
	}
	if c.Bin != "" && !filepath.IsAbs(c.Bin) {
		bad("gridengine: Bin %q is not an absolute path", c.Bin)
	}
	if c.Spool != "" && !filepath.IsAbs(c.Spool) {
		bad("gridengine: Spool %q is not an absolute path", c.Spool)
	}
	if c.Accounting != "" && !filepath.IsAbs(c.Accounting) {
		bad("gridengine: Accounting %q is not an absolute path", c.Accounting)
	}
	if c.WorkDir != "" && (!filepath.IsAbs(c.WorkDir) || strings.IndexByte(c.WorkDir, 0) >= 0) {
		bad("gridengine: WorkDir %q is not an absolute path", c.WorkDir)
	}
	if c.CallTimeout <= 0 {
		bad("gridengine: CallTimeout must be positive")
	}
	if c.AccountingLag <= 0 {
		bad("gridengine: AccountingLag must be positive")
	}
	if c.Retain <= 0 {
		bad("gridengine: Retain must be positive")
	}
	return errors.Join(errs...)
}
