package gridengine

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"tuplebroker"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// namePrefix starts every job name: Grid Engine refuses names starting with
// a digit, as a UUID may.
const namePrefix = "tb-"

// JobName returns the Grid Engine job name of the job with the given GUID.
func JobName(guid string) string { return namePrefix + guid }

// validGUID: a GUID becomes part of the job name, which Grid Engine parses
// (no '/', ':', '@', '\\', '*', '?', whitespace) and which qacct would take
// for a job number if it were all digits.
var validGUID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$`)

// validHost is a host name that is safe inside a "-l h=a|b" request.
var validHost = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$`)

// submission is a job translated for qsub: its name, its options (argv,
// never through a shell) and its job script.
type submission struct {
	name   string
	args   []string
	script string
}

// translator turns JSDL documents into submissions; it is a pure function
// of the configuration and the job.
type translator struct {
	queue, pe, exclusive string
	maxSlots             int
	maxMemory            uint64
	spmd                 map[string][]string
	workDir              string
	id                   agents.User
}

// rejectf returns an error wrapping tuplebroker.ErrRejected.
func rejectf(format string, args ...any) error {
	return fmt.Errorf("gridengine: %w: %s", tuplebroker.ErrRejected, fmt.Sprintf(format, args...))
}

// quote single-quotes s for sh: every byte but NUL stands for itself
// between single quotes, and a quote ends the quoting, is escaped with a
// backslash and reopens it.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// translate translates a job agents.Admit has admitted, checking what only
// the configuration can tell (exclusivity, SPMD launchers, slots, memory).
// Its errors wrap tuplebroker.ErrRejected.
func (t *translator) translate(guid string, def *jsdl.JobDefinition) (*submission, error) {
	if !validGUID.MatchString(guid) {
		return nil, rejectf("GUID %q cannot name a Grid Engine job", guid)
	}
	a, err := def.Program() // nil: "job has no executable"
	if err != nil {
		return nil, rejectf("%v", err)
	}
	desc := &def.JobDescription
	if a.SPMD != nil && t.spmd[a.SPMD.SPMDVariation] == nil {
		return nil, rejectf("SPMD variation %q is not supported by this backend", a.SPMD.SPMDVariation)
	}
	if err := t.id.Check(a.UserName, a.GroupName); err != nil {
		return nil, err
	}
	s := &submission{name: JobName(guid)}
	s.args = []string{
		"-N", s.name,
		"-C", "", // never scan the script for #$ directives
		"-S", "/bin/sh",
		"-r", "n", // never rerun: a job runs at most once
		"-m", "n",
		"-j", "n",
		"-o", "/dev/null", "-e", "/dev/null", // streams are redirected in the script
	}
	if t.queue != "" {
		s.args = append(s.args, "-q", t.queue)
	}
	res, slots, err := t.resources(desc.Resources, a)
	if err != nil {
		return nil, err
	}
	if slots > 1 {
		if t.pe == "" {
			return nil, rejectf("job needs %d CPUs; this backend runs single-CPU jobs only (no parallel environment configured)", slots)
		}
		s.args = append(s.args, "-pe", t.pe, strconv.Itoa(slots))
	}
	if len(res) > 0 {
		s.args = append(s.args, "-l", strings.Join(res, ","))
	}
	s.script, err = t.script(s.name, desc.Resources, a, slots)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// resources returns the "-l" requests and the slot count of a job.
func (t *translator) resources(r *jsdl.Resources, a *jsdl.Program) (res []string, slots int, err error) {
	if p := a.Limits; p != nil {
		for _, l := range []struct {
			v    *uint64
			name string
		}{
			{p.WallTimeLimit, "h_rt"}, {p.CPUTimeLimit, "h_cpu"},
			{p.VirtualMemoryLimit, "h_vmem"}, {p.MemoryLimit, "h_rss"},
			{p.FileSizeLimit, "h_fsize"}, {p.CoreDumpLimit, "h_core"},
			{p.DataSegmentLimit, "h_data"}, {p.StackSizeLimit, "h_stack"},
		} {
			if l.v != nil {
				res = append(res, l.name+"="+strconv.FormatUint(*l.v, 10))
			}
		}
	}
	slots = 1
	if r != nil {
		for _, c := range []struct {
			rv   *jsdl.RangeValue
			what string
		}{{r.TotalCPUCount, "TotalCPUCount"}, {r.IndividualCPUCount, "IndividualCPUCount"}} {
			if c.rv.IsEmpty() {
				continue
			}
			n, err := count(c.rv, c.what)
			if err != nil {
				return nil, 0, err
			}
			slots = max(slots, n)
		}
		if !r.TotalResourceCount.IsEmpty() {
			n, err := count(r.TotalResourceCount, "TotalResourceCount")
			if err != nil {
				return nil, 0, err
			}
			if n > 1 {
				return nil, 0, rejectf("job needs %d hosts; this backend places a job on one host", n)
			}
		}
	}
	if sp := a.SPMD; sp != nil {
		np := slots
		if sp.NumberOfProcesses != nil && !sp.NumberOfProcesses.ActualTotalCPUCount {
			np = clampInt(sp.NumberOfProcesses.Value)
		}
		tpp := 1
		if sp.ThreadsPerProcess != nil && !sp.ThreadsPerProcess.ActualIndividualCPUCount {
			tpp = clampInt(sp.ThreadsPerProcess.Value)
		}
		slots = max(slots, clampInt(uint64(np)*uint64(tpp)))
	}
	if slots > maxSlotsEver {
		return nil, 0, rejectf("job needs more than %d slots", maxSlotsEver)
	}
	if t.maxSlots > 0 && slots > t.maxSlots {
		return nil, 0, rejectf("job needs %d slots; a host of this backend has at most %d", slots, t.maxSlots)
	}
	if r != nil {
		var mem uint64
		for _, m := range []struct {
			rv   *jsdl.RangeValue
			what string
		}{{r.TotalPhysicalMemory, "TotalPhysicalMemory"}, {r.IndividualPhysicalMemory, "IndividualPhysicalMemory"}} {
			if m.rv.IsEmpty() {
				continue
			}
			v, ok := m.rv.Min()
			if !ok || v >= math.MaxUint64/2 {
				return nil, 0, rejectf("%s cannot be satisfied", m.what)
			}
			mem = max(mem, uint64(math.Ceil(v)))
		}
		if t.maxMemory > 0 && mem > t.maxMemory {
			return nil, 0, rejectf("job needs %d bytes of memory; a host of this backend has at most %d", mem, t.maxMemory)
		}
		if mem > 0 {
			res = append(res, "mem_free="+strconv.FormatUint(mem, 10))
		}
		if r.ExclusiveExecution != nil && *r.ExclusiveExecution {
			if t.exclusive == NoExclusive {
				return nil, 0, rejectf("job requires exclusive execution, which this backend does not offer")
			}
			res = append(res, t.exclusive+"=true")
		}
		if len(r.CandidateHosts) > 0 {
			for _, h := range r.CandidateHosts {
				if !validHost.MatchString(h) {
					return nil, 0, rejectf("candidate host %q is not a host name", h)
				}
			}
			res = append(res, "h="+strings.Join(r.CandidateHosts, "|"))
		}
	}
	return res, slots, nil
}

// maxSlotsEver bounds slot counts whatever the configuration.
const maxSlotsEver = 1 << 20

func clampInt(v uint64) int {
	if v > maxSlotsEver {
		return maxSlotsEver + 1
	}
	return int(v)
}

// count returns the least whole number satisfying rv.
func count(rv *jsdl.RangeValue, what string) (int, error) {
	v, ok := rv.Min()
	if !ok {
		return 0, rejectf("%s cannot be satisfied", what)
	}
	if v > maxSlotsEver {
		return maxSlotsEver + 1, nil
	}
	return max(int(math.Ceil(v)), 1), nil
}

// script writes the job script. Every job-supplied string appears in it
// once, single-quoted; nothing the job supplies is ever a directive, a
// variable expansion or a command word outside quotes.
func (t *translator) script(name string, r *jsdl.Resources, a *jsdl.Program, slots int) (string, error) {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString("# Grid Engine job " + name + ", written by tuplebroker (qsub -C '': no directives are read).\n")
	if t.workDir != "" {
		b.WriteString("cd -- " + quote(t.workDir) + " || exit 1\n")
	}
	if a.WorkingDirectory.Path != "" {
		wd, err := agents.OnFileSystem(r, a.WorkingDirectory.FilesystemName, a.WorkingDirectory.Path, "WorkingDirectory")
		if err != nil {
			return "", err
		}
		b.WriteString("cd -- " + quote(wd) + " || exit 1\n")
	}
	seen := make(map[string]bool, len(a.Environment))
	for _, e := range a.Environment {
		if !jsdl.IsEnvName(e.Name) {
			return "", rejectf("environment variable name %q is not valid", e.Name)
		}
		if seen[e.Name] {
			return "", rejectf("environment variable %s is set twice", e.Name)
		}
		seen[e.Name] = true
		v, err := agents.OnFileSystem(r, e.FilesystemName, e.Value, "Environment "+e.Name)
		if err != nil {
			return "", err
		}
		b.WriteString(e.Name + "=" + quote(v) + "\nexport " + e.Name + "\n")
	}
	var redir []string
	var out string
	for _, s := range []struct {
		f    jsdl.FileName
		what string
		op   string
	}{{a.Input, "Input", "<"}, {a.Output, "Output", ">"}, {a.Error, "Error", "2>"}} {
		if s.f.Path == "" {
			continue
		}
		p, err := agents.OnFileSystem(r, s.f.FilesystemName, s.f.Path, s.what)
		if err != nil {
			return "", err
		}
		switch {
		case s.what == "Output":
			out = p
		case s.what == "Error" && p == out:
			redir = append(redir, "2>&1")
			continue
		}
		redir = append(redir, s.op+quote(p))
	}
	if len(redir) > 0 {
		b.WriteString("exec " + strings.Join(redir, " ") + "\n")
	}

	exe, err := agents.OnFileSystem(r, a.Executable.FilesystemName, a.Executable.Path, "Executable")
	if err != nil {
		return "", err
	}
	var argv []string
	if a.SPMD != nil {
		for _, w := range t.spmd[a.SPMD.SPMDVariation] {
			argv = append(argv, strings.ReplaceAll(w, "{np}", strconv.Itoa(spmdProcesses(a.SPMD, slots))))
		}
	}
	argv = append(argv, exe)
	for i, arg := range a.Argument {
		v, err := agents.OnFileSystem(r, arg.FilesystemName, arg.Value, fmt.Sprintf("Argument[%d]", i+1))
		if err != nil {
			return "", err
		}
		argv = append(argv, v)
	}
	// dash's exec takes no "--": a command word starting with '-' would be
	// taken for an option by some shells' exec.
	if strings.HasPrefix(argv[0], "-") {
		if !strings.Contains(argv[0], "/") {
			return "", rejectf("executable %q starts with '-'", argv[0])
		}
		argv[0] = "./" + argv[0]
	}
	words := make([]string, len(argv))
	for i, w := range argv {
		words[i] = quote(w)
	}
	b.WriteString("exec " + strings.Join(words, " ") + "\n")
	return b.String(), nil
}

// spmdProcesses is the process count of an SPMD application given its slots.
func spmdProcesses(sp *jsdl.SPMDApplication, slots int) int {
	if sp.NumberOfProcesses != nil && !sp.NumberOfProcesses.ActualTotalCPUCount {
		return clampInt(sp.NumberOfProcesses.Value)
	}
	return slots
}
