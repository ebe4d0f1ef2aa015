package local

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// basePATH is the PATH of a job whose JSDL Environment sets none.
const basePATH = "/usr/local/bin:/usr/bin:/bin"

// spec is a job translated into what execve needs; every path is absolute.
type spec struct {
	path string   // the executable, resolved
	argv []string // argv[0] is the executable as written
	env  []string
	dir  string
	// in, out and errf are the standard stream files, "" for /dev/null.
	in, out, errf string
	wall          time.Duration // 0: no limit
	hasWall       bool
	exclusive     bool
}

// rejectf returns an error wrapping tuplebroker.ErrRejected.
func rejectf(format string, args ...any) error {
	return fmt.Errorf("local: %w: %s", tuplebroker.ErrRejected, fmt.Sprintf(format, args...))
}

// prepare translates the job, which agents.Admit has admitted, and checks
// what only this machine can tell (executable, directories, identity,
// hosts). Its errors wrap tuplebroker.ErrRejected.
func (b *Backend) prepare(def *jsdl.JobDefinition) (*spec, error) {
	a, err := def.Program() // nil: "job has no executable"
	if err != nil {
		return nil, rejectf("%v", err)
	}
	desc := &def.JobDescription
	if a.SPMD != nil {
		return nil, rejectf("SPMD (parallel) applications are not supported by the local backend")
	}
	if err := b.checkHosts(desc.Resources); err != nil {
		return nil, err
	}
	if err := b.id.Check(a.UserName, a.GroupName); err != nil {
		return nil, err
	}
	s := &spec{}
	if r := desc.Resources; r != nil && r.ExclusiveExecution != nil {
		s.exclusive = *r.ExclusiveExecution
	}
	if wall := a.WallTimeLimit(); wall != nil {
		s.hasWall = true
		if *wall >= uint64(math.MaxInt64/int64(time.Second)) {
			s.hasWall = false // longer than time.Duration can hold: no limit
		} else {
			s.wall = time.Duration(*wall) * time.Second
		}
	}

	// Working directory.
	s.dir = b.root
	if a.WorkingDirectory.Path != "" {
		p, err := agents.OnFileSystem(desc.Resources, a.WorkingDirectory.FilesystemName, a.WorkingDirectory.Path, "WorkingDirectory")
		if err != nil {
			return nil, err
		}
		s.dir = absIn(b.root, p)
	}
	fi, err := os.Stat(s.dir)
	switch {
	case err != nil:
		return nil, rejectf("working directory %q: %v", s.dir, unwrapPath(err))
	case !fi.IsDir():
		return nil, rejectf("working directory %q is not a directory", s.dir)
	}

	// Environment: the base, overridden by the JSDL entries.
	jobPATH := basePATH
	set := make(map[string]bool, len(a.Environment))
	var jenv []string
	for _, e := range a.Environment {
		v, err := agents.OnFileSystem(desc.Resources, e.FilesystemName, e.Value, "Environment "+e.Name)
		if err != nil {
			return nil, err
		}
		if !jsdl.IsEnvName(e.Name) {
			return nil, rejectf("environment variable name %q is not valid", e.Name)
		}
		if set[e.Name] {
			return nil, rejectf("environment variable %s is set twice", e.Name)
		}
		set[e.Name] = true
		jenv = append(jenv, e.Name+"="+v)
		if e.Name == "PATH" {
			jobPATH = v
		}
	}
	if !set["PATH"] {
		s.env = append(s.env, "PATH="+basePATH)
	}
	if !set["HOME"] {
		s.env = append(s.env, "HOME="+b.id.Home)
	}
	s.env = append(s.env, jenv...)

	// Executable and arguments.
	exe, err := agents.OnFileSystem(desc.Resources, a.Executable.FilesystemName, a.Executable.Path, "Executable")
	if err != nil {
		return nil, err
	}
	if s.path, err = lookExecutable(exe, s.dir, jobPATH); err != nil {
		return nil, err
	}
	s.argv = make([]string, 0, 1+len(a.Argument))
	s.argv = append(s.argv, exe)
	for i, arg := range a.Argument {
		v, err := agents.OnFileSystem(desc.Resources, arg.FilesystemName, arg.Value, fmt.Sprintf("Argument[%d]", i+1))
		if err != nil {
			return nil, err
		}
		s.argv = append(s.argv, v)
	}

	// Standard streams.
	stream := func(f jsdl.FileName, what string) (string, error) {
		if f.Path == "" {
			return "", nil
		}
		p, err := agents.OnFileSystem(desc.Resources, f.FilesystemName, f.Path, what)
		if err != nil {
			return "", err
		}
		return absIn(s.dir, p), nil
	}
	if s.in, err = stream(a.Input, "Input"); err != nil {
		return nil, err
	}
	if s.out, err = stream(a.Output, "Output"); err != nil {
		return nil, err
	}
	if s.errf, err = stream(a.Error, "Error"); err != nil {
		return nil, err
	}
	return s, nil
}

// checkHosts rejects a job whose CandidateHosts do not name this host.
func (b *Backend) checkHosts(r *jsdl.Resources) error {
	if r == nil || len(r.CandidateHosts) == 0 {
		return nil
	}
	host, _ := os.Hostname()
	short, _, _ := strings.Cut(host, ".")
	for _, c := range r.CandidateHosts {
		cs, _, _ := strings.Cut(c, ".")
		if strings.EqualFold(c, "localhost") || (host != "" && (strings.EqualFold(c, host) ||
			(!strings.Contains(c, ".") && strings.EqualFold(c, short)) ||
			(!strings.Contains(host, ".") && strings.EqualFold(cs, host)))) {
			return nil
		}
	}
	return rejectf("job's CandidateHosts %q do not include this host (%q)", r.CandidateHosts, host)
}

// absIn makes p absolute, relative to dir (which is absolute).
func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// lookExecutable resolves exe as execvp would in dir with the job's PATH: a
// name containing a slash is a path (relative to dir); a bare name is looked
// up in path, whose empty and relative entries are relative to dir.
func lookExecutable(exe, dir, path string) (string, error) {
	if strings.Contains(exe, "/") {
		p := absIn(dir, exe)
		if err := checkExecutable(p); err != nil {
			return "", rejectf("executable %q: %v", exe, err)
		}
		return p, nil
	}
	var firstErr error
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := absIn(dir, filepath.Join(d, exe))
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = fmt.Errorf("%s: %v", p, err)
		}
	}
	if firstErr != nil {
		return "", rejectf("executable %q not usable in PATH %q (%v)", exe, path, firstErr)
	}
	return "", rejectf("executable %q not found in PATH %q", exe, path)
}

var errNotExecutable = errors.New("not executable")

// checkExecutable reports why p cannot be executed, or nil.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return unwrapPath(err)
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if !fi.Mode().IsRegular() {
		return errors.New("is not a regular file")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errNotExecutable
	}
	const xOK = 1
	if err := syscall.Access(p, xOK); err != nil {
		return errNotExecutable
	}
	return nil
}

// unwrapPath strips the *fs.PathError wrapper (whose path the message
// already names) but keeps the error matchable.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
