package slurm

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"tuplebroker"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// submission is a job translated for sbatch: its options (argv, never
// parsed by a shell) and its batch script (every user string single-quoted).
type submission struct {
	args   []string
	script []byte
}

// node is a compute node of the partition, from sinfo.
type node struct {
	name, host string
}

// translator turns JSDL into sbatch options and a batch script. It does no
// I/O: the partition's nodes are looked up by the caller when a job names
// CandidateHosts.
type translator struct {
	partition string
	root      string // absolute
	srun      string
	// export is sbatch's --export value: "ALL" passes sbatch's own
	// (minimal) environment, "NONE" loads the user's login environment.
	export string
	id     agents.User
}

// rejectf returns an error wrapping tuplebroker.ErrRejected.
func rejectf(format string, args ...any) error {
	return fmt.Errorf("slurm: %w: %s", tuplebroker.ErrRejected, fmt.Sprintf(format, args...))
}

// Limits beyond which a request is unsatisfiable rather than big.
const (
	maxCount      = 1 << 24 // CPUs, tasks, nodes
	maxMiB        = 1 << 40 // memory and disk, in MiB
	maxWallMinute = 100 * 365 * 24 * 60
	mib           = 1 << 20
)

// translate translates a job agents.Admit has admitted. nodes are the
// partition's nodes, needed only when the job names CandidateHosts. Errors
// wrap tuplebroker.ErrRejected.
func (t *translator) translate(guid string, def *jsdl.JobDefinition, nodes []node) (*submission, error) {
	if !safeToken(guid) {
		return nil, rejectf("job GUID %q is not a plain name", guid)
	}
	a, err := def.Program() // nil: "job has no executable"
	if err != nil {
		return nil, rejectf("%v", err)
	}
	desc := &def.JobDescription
	if err := t.id.Check(a.UserName, a.GroupName); err != nil {
		return nil, err
	}
	res := desc.Resources

	// Working directory: resolved here, entered by the script.
	wd := t.root
	if a.WorkingDirectory.Path != "" {
		p, err := agents.OnFileSystem(res, a.WorkingDirectory.FilesystemName, a.WorkingDirectory.Path, "WorkingDirectory")
		if err != nil {
			return nil, err
		}
		wd = absIn(t.root, p)
	}

	args := []string{"--parsable", "--job-name=" + guid}
	if t.partition != "" {
		args = append(args, "--partition="+t.partition)
	}
	// The script enters the job's directory itself, so no user text
	// reaches Slurm's records (WorkDir is in the jobcomp lines); output goes
	// where the script redirects it.
	export := t.export
	if export == "" {
		export = "ALL"
	}
	args = append(args, "--chdir="+t.root, "--input=/dev/null", "--output=/dev/null", "--error=/dev/null",
		"--export="+export)

	opts, err := t.resourceArgs(a, res, nodes)
	if err != nil {
		return nil, err
	}
	args = append(args, opts...)

	script, err := t.script(guid, a, res, wd)
	if err != nil {
		return nil, err
	}
	return &submission{args: args, script: script}, nil
}

// resourceArgs translates the wall time, CPU, memory, exclusivity and host
// requests into sbatch options.
func (t *translator) resourceArgs(a *jsdl.Program, res *jsdl.Resources, nodes []node) ([]string, error) {
	var args []string
	if wall := a.WallTimeLimit(); wall != nil {
		m := *wall / 60
		if *wall%60 != 0 {
			m++
		}
		if m < 1 {
			m = 1 // 0 would mean "no limit" to Slurm
		}
		if m > maxWallMinute {
			m = maxWallMinute
		}
		args = append(args, "--time="+strconv.FormatUint(m, 10))
	}
	if res == nil {
		res = &jsdl.Resources{}
	}
	count := func(rv *jsdl.RangeValue, what string) (uint64, error) {
		return ceilMin(rv, what, 1, maxCount)
	}
	perHost, err := count(res.IndividualCPUCount, "IndividualCPUCount")
	if err != nil {
		return nil, err
	}
	total, err := count(res.TotalCPUCount, "TotalCPUCount")
	if err != nil {
		return nil, err
	}
	nodeCount, err := count(res.TotalResourceCount, "TotalResourceCount")
	if err != nil {
		return nil, err
	}
	if nodeCount > 0 {
		args = append(args, "--nodes="+strconv.FormatUint(nodeCount, 10))
	}
	if s := a.SPMD; s != nil {
		var tasks, threads uint64
		if np := s.NumberOfProcesses; np != nil {
			tasks = np.Value
			if np.ActualTotalCPUCount && total > 0 {
				tasks = total
			}
		} else {
			tasks = total
		}
		if tp := s.ThreadsPerProcess; tp != nil {
			threads = tp.Value
			if tp.ActualIndividualCPUCount && perHost > 0 {
				threads = perHost
			}
		}
		if tasks > maxCount || threads > maxCount {
			return nil, rejectf("SPMD job asks for %d processes of %d threads; too many", tasks, threads)
		}
		if tasks > 0 {
			args = append(args, "--ntasks="+strconv.FormatUint(tasks, 10))
		}
		if threads > 0 {
			args = append(args, "--cpus-per-task="+strconv.FormatUint(threads, 10))
		}
		if pph := s.ProcessesPerHost; pph != nil {
			if *pph > maxCount {
				return nil, rejectf("SPMD job asks for %d processes per host; too many", *pph)
			}
			args = append(args, "--ntasks-per-node="+strconv.FormatUint(*pph, 10))
		}
	} else if cpus := max(perHost, total); cpus > 0 {
		// One process: every CPU it asks for on its one node.
		args = append(args, "--ntasks=1", "--cpus-per-task="+strconv.FormatUint(cpus, 10))
	}

	memPerNode, err := ceilMin(res.IndividualPhysicalMemory, "IndividualPhysicalMemory", mib, maxMiB)
	if err != nil {
		return nil, err
	}
	memTotal, err := ceilMin(res.TotalPhysicalMemory, "TotalPhysicalMemory", mib, maxMiB)
	if err != nil {
		return nil, err
	}
	if memTotal > 0 && nodeCount > 1 {
		memTotal = (memTotal + nodeCount - 1) / nodeCount
	}
	if mem := max(memPerNode, memTotal); mem > 0 {
		args = append(args, "--mem="+strconv.FormatUint(mem, 10)+"M")
	}
	disk, err := ceilMin(res.IndividualDiskSpace, "IndividualDiskSpace", mib, maxMiB)
	if err != nil {
		return nil, err
	}
	if disk > 0 {
		args = append(args, "--tmp="+strconv.FormatUint(disk, 10)+"M")
	}
	if res.ExclusiveExecution != nil && *res.ExclusiveExecution {
		args = append(args, "--exclusive")
	}
	if len(res.CandidateHosts) > 0 {
		hostArgs, err := candidateArgs(res.CandidateHosts, nodes, nodeCount)
		if err != nil {
			return nil, err
		}
		args = append(args, hostArgs...)
	}
	return args, nil
}

// ceilMin returns the least value satisfying rv, divided by unit and rounded
// up; 0 when rv is absent, empty or satisfied by 0. A range nothing
// satisfies, or a least value above limit units, is rejected.
func ceilMin(rv *jsdl.RangeValue, what string, unit float64, limit uint64) (uint64, error) {
	if rv.IsEmpty() {
		return 0, nil
	}
	v, ok := rv.Min()
	if !ok {
		return 0, rejectf("no value satisfies the %s range", what)
	}
	n := math.Ceil(v / unit)
	if n > float64(limit) {
		return 0, rejectf("%s of %g is more than this backend can request", what, v)
	}
	return uint64(n), nil
}

// candidateArgs restricts the job to the partition's nodes named by
// CandidateHosts (by node name or host name; a short name matches a
// qualified one). JSDL means "any of these": a single node becomes
// --nodelist, several become --exclude of the others.
func candidateArgs(candidates []string, nodes []node, nodeCount uint64) ([]string, error) {
	if len(nodes) == 0 {
		return nil, rejectf("job names CandidateHosts %q but the partition's nodes are unknown", candidates)
	}
	matches := func(c string, n node) bool {
		for _, h := range []string{n.name, n.host} {
			if h == "" {
				continue
			}
			hs, _, _ := strings.Cut(h, ".")
			cs, _, _ := strings.Cut(c, ".")
			if strings.EqualFold(c, h) || (!strings.Contains(c, ".") && strings.EqualFold(c, hs)) ||
				(!strings.Contains(h, ".") && strings.EqualFold(cs, h)) {
				return true
			}
		}
		return false
	}
	var in, out []string
	for _, n := range nodes {
		if slices.ContainsFunc(candidates, func(c string) bool { return matches(c, n) }) {
			in = append(in, n.name)
		} else {
			out = append(out, n.name)
		}
	}
	switch {
	case len(in) == 0:
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.name
		}
		return nil, rejectf("job's CandidateHosts %q name none of the partition's nodes (%s)", candidates, strings.Join(names, ", "))
	case len(out) == 0:
		return nil, nil
	case len(in) == 1 && nodeCount <= 1:
		return []string{"--nodelist=" + in[0]}, nil
	default:
		return []string{"--exclude=" + strings.Join(out, ",")}, nil
	}
}

// script writes the batch script. Its first line after the shebang is a
// command, so sbatch reads no #SBATCH directive from it; every value that
// came from the job is single-quoted.
func (t *translator) script(guid string, a *jsdl.Program, res *jsdl.Resources, wd string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	b.WriteString(": tuplebroker job " + guid + "\n")
	b.WriteString("# Generated by tuplebroker. Every value taken from the job is a single-quoted\n# literal; sbatch reads no directives past the line above.\n")
	fmt.Fprintf(&b, "cd -- %s || exit 1\n", shellQuote(wd))

	stream := func(f jsdl.FileName, what string) (string, error) {
		if f.Path == "" {
			return "", nil
		}
		return agents.OnFileSystem(res, f.FilesystemName, f.Path, what)
	}
	in, err := stream(a.Input, "Input")
	if err != nil {
		return nil, err
	}
	out, err := stream(a.Output, "Output")
	if err != nil {
		return nil, err
	}
	errf, err := stream(a.Error, "Error")
	if err != nil {
		return nil, err
	}
	var redir []string
	if in != "" {
		redir = append(redir, "0<"+shellQuote(in))
	}
	if out != "" {
		redir = append(redir, "1>"+shellQuote(out))
	}
	switch {
	case errf == "":
	case errf == out || (out != "" && absIn(wd, errf) == absIn(wd, out)):
		redir = append(redir, "2>&1")
	default:
		redir = append(redir, "2>"+shellQuote(errf))
	}
	if len(redir) > 0 {
		b.WriteString("exec " + strings.Join(redir, " ") + " || exit 1\n")
	}

	seen := make(map[string]bool, len(a.Environment))
	for _, e := range a.Environment {
		if !jsdl.IsEnvName(e.Name) {
			return nil, rejectf("environment variable name %q is not valid", e.Name)
		}
		if bashReadonly[e.Name] {
			return nil, rejectf("environment variable %s is read-only in the batch shell; the Slurm backend cannot set it", e.Name)
		}
		if seen[e.Name] {
			return nil, rejectf("environment variable %s is set twice", e.Name)
		}
		seen[e.Name] = true
		v, err := agents.OnFileSystem(res, e.FilesystemName, e.Value, "Environment "+e.Name)
		if err != nil {
			return nil, err
		}
		// unset first: a bash special variable (RANDOM, SECONDS, ...) loses
		// its special meaning and keeps the value given.
		fmt.Fprintf(&b, "unset -v %s; export %s=%s\n", e.Name, e.Name, shellQuote(v))
	}

	exe, err := agents.OnFileSystem(res, a.Executable.FilesystemName, a.Executable.Path, "Executable")
	if err != nil {
		return nil, err
	}
	cmd := []string{"exec"}
	if a.SPMD != nil {
		cmd = append(cmd, "--", shellQuote(t.srun), "--export=ALL", "--kill-on-bad-exit=1", "--")
	} else {
		cmd = append(cmd, "--")
	}
	cmd = append(cmd, shellQuote(exe))
	for i, arg := range a.Argument {
		v, err := agents.OnFileSystem(res, arg.FilesystemName, arg.Value, fmt.Sprintf("Argument[%d]", i+1))
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, shellQuote(v))
	}
	b.WriteString(strings.Join(cmd, " ") + "\n")
	s := b.String()
	if strings.IndexByte(s, 0) >= 0 {
		return nil, rejectf("job contains a NUL byte")
	}
	return []byte(s), nil
}

// bashReadonly are the variables bash will not let a script assign.
var bashReadonly = map[string]bool{
	"BASHOPTS": true, "BASH_VERSINFO": true, "EUID": true, "PPID": true, "SHELLOPTS": true, "UID": true,
}

// shellQuote returns s as one shell word denoting exactly s: s between
// single quotes, where a single quote becomes the four bytes
//
//	'\''
//
// and a carriage return becomes $'\r' between closed quotes (sbatch refuses
// scripts with DOS line breaks).
func shellQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			b.WriteString(`'\''`)
		case '\r':
			b.WriteString(`'$'\r''`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// absIn makes p absolute, relative to dir (which is absolute).
func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
