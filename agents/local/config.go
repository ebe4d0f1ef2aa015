package local

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

// Config configures a local backend. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// Name identifies the backend instance; it also prefixes its job ids.
	Name string
	// Slots is how many jobs may run at once; Submit beyond it returns an
	// error wrapping tuplebroker.ErrRefused.
	Slots int
	// Root is the working directory of jobs without a WorkingDirectory, and
	// the directory a relative WorkingDirectory resolves against. It must be
	// an existing directory; New makes it absolute.
	Root string
	// Capabilities are the "name=value" labels offered, matched against
	// jsdl.JobDefinition.Requirements(). The "os=" and "arch=" labels are
	// also what Submit checks a job's OperatingSystem and CPUArchitecture
	// against.
	Capabilities []string
	// KillGrace is how long a terminated job gets between SIGTERM and
	// SIGKILL.
	KillGrace time.Duration
	// Retain is how long an ended job stays known to Status and Find.
	Retain time.Duration
	// Logger receives one line per job start and end; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: Name "local", one slot per CPU, the
// current directory as Root, DefaultCapabilities, a 10 s kill grace and a 24 h
// retention.
func DefaultConfig() Config {
	root, err := os.Getwd()
	if err != nil {
		root = os.TempDir()
	}
	return Config{
		Name:         "local",
		Slots:        runtime.NumCPU(),
		Root:         root,
		Capabilities: DefaultCapabilities(),
		KillGrace:    10 * time.Second,
		Retain:       24 * time.Hour,
	}
}

// DefaultCapabilities returns the labels describing this machine in JSDL
// terms: "os=<OperatingSystemType>" (LINUX, MACOS, FreeBSD, ...) and
// "arch=<ProcessorArchitecture>" (x86_64, x86_32, arm, powerpc, ...), both
// derived from the Go runtime's GOOS and GOARCH, plus "exclusive=true"
// because ExclusiveExecution is honoured.
func DefaultCapabilities() []string {
	return []string{
		"os=" + string(jsdl.GoOS(runtime.GOOS)),
		"arch=" + string(jsdl.GoArch(runtime.GOARCH)),
		"exclusive=true",
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.Slots == 0 {
		c.Slots = d.Slots
	}
	if c.Root == "" {
		c.Root = d.Root
	}
	if c.Capabilities == nil {
		c.Capabilities = d.Capabilities
	}
	if c.KillGrace == 0 {
		c.KillGrace = d.KillGrace
	}
	if c.Retain == 0 {
		c.Retain = d.Retain
	}
	return c
}

// Validate reports a configuration that cannot work. It is checked as given:
// New fills zero fields with defaults first.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		bad("local: Name is empty")
	} else if strings.ContainsFunc(c.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("local: Name %q contains spaces or control characters", c.Name)
	}
	if c.Slots < 1 {
		bad("local: Slots must be at least 1, not %d", c.Slots)
	}
	if c.Root == "" {
		bad("local: Root is empty")
	} else if !filepath.IsAbs(c.Root) {
		bad("local: Root %q is not an absolute path", c.Root)
	} else if fi, err := os.Stat(c.Root); err != nil {
		bad("local: Root: %w", err)
	} else if !fi.IsDir() {
		bad("local: Root %q is not a directory", c.Root)
	}
	for _, l := range c.Capabilities {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			bad("local: capability %q is not name=value", l)
		}
	}
	if c.KillGrace < 0 {
		bad("local: KillGrace is negative")
	}
	if c.Retain < 0 {
		bad("local: Retain is negative")
	}
	return errors.Join(errs...)
}
