package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

const timeout = 10 * time.Second

func TestHello(t *testing.T) {
	b := newBackend(t, Config{})
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/echo", "hello"), px("Output", "out.txt")))
	if !strings.HasPrefix(id, "local-") {
		t.Errorf("id %q does not start with the backend name", id)
	}
	st := waitEnd(t, b, id, timeout)
	if st.State != tuplebroker.Finished || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Fatalf("status = %+v, want Finished with exit code 0", st)
	}
	if st.Started.IsZero() || st.Ended.Before(st.Started) {
		t.Errorf("times: started %v ended %v", st.Started, st.Ended)
	}
	out := filepath.Join(b.root, "out.txt")
	if got := readFile(t, out); got != "hello\n" {
		t.Errorf("output %q, want %q", got, "hello\n")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("output file mode: %v %v, want no group/other access", fi.Mode(), err)
	}
}

func TestOutputTruncated(t *testing.T) {
	b := newBackend(t, Config{})
	out := filepath.Join(b.root, "out.txt")
	if err := os.WriteFile(out, []byte("a much longer previous content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitEnd(t, b, mustSubmit(t, b, posixDoc(cmdline("/bin/echo", "new"), px("Output", out))), timeout)
	if got := readFile(t, out); got != "new\n" {
		t.Errorf("output %q, want %q", got, "new\n")
	}
}

func TestExitStatus(t *testing.T) {
	b := newBackend(t, Config{})
	for _, tc := range []struct {
		name   string
		argv   []string
		code   int
		reason string
	}{
		{"false", []string{"/bin/false"}, 1, "exit status 1"},
		{"exit3", []string{"/bin/sh", "-c", "exit 3"}, 3, "exit status 3"},
		{"signal", []string{"/bin/sh", "-c", "kill -KILL $$"}, 128 + 9, "killed by signal SIGKILL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := waitEnd(t, b, mustSubmit(t, b, posixDoc(cmdline(tc.argv[0], tc.argv[1:]...))), timeout)
			if st.State != tuplebroker.Failed || st.SubState != tuplebroker.SubExitedNonzero {
				t.Fatalf("status %+v, want Failed/exited-nonzero", st)
			}
			if st.ExitCode == nil || *st.ExitCode != tc.code {
				t.Errorf("exit code %v, want %d", st.ExitCode, tc.code)
			}
			if st.Reason != tc.reason {
				t.Errorf("reason %q, want %q", st.Reason, tc.reason)
			}
		})
	}
}

// The payloads a shell would act on; each must reach the program as bytes.
func injectionPayloads(marker string) []string {
	return []string{
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"; touch " + marker,
		"&& touch " + marker,
		"|| touch " + marker + " | touch " + marker,
		"x > " + marker,
		`'single' "double" \"escaped\" \'`,
		"line1\nline2; touch " + marker + "\n#SBATCH --wrap=touch " + marker,
		"#SBATCH --wrap=x",
		"${IFS}touch${IFS}" + marker,
		"$HOME $PATH %s %n \\n",
		"-n",
		"*",
	}
}

func TestInjectionIsData(t *testing.T) {
	b := newBackend(t, Config{})
	dir := b.root
	marker := filepath.Join(dir, "pwned")
	payloads := injectionPayloads(marker)

	// Arguments, and an output file name full of shell syntax.
	outName := "out $(touch pwned) `touch pwned`; touch pwned && x '\" #SBATCH.txt"
	args := append([]string{`%s\n`}, payloads...)
	id := mustSubmit(t, b, posixDoc(cmdline("/usr/bin/printf", args...), px("Output", outName), px("Error", outName)))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("printf job: %+v", st)
	}
	want := strings.Join(payloads, "\n") + "\n"
	if got := readFile(t, filepath.Join(dir, outName)); got != want {
		t.Errorf("printf output\n got %q\nwant %q", got, want)
	}

	// Environment values.
	elems := []string{cmdline("/usr/bin/env"), px("Output", "env.txt")}
	for i, p := range payloads {
		elems = append(elems, pxEnv("P"+string(rune('A'+i)), p))
	}
	id = mustSubmit(t, b, posixDoc(elems...))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("env job: %+v", st)
	}
	env := readFile(t, filepath.Join(dir, "env.txt"))
	for i, p := range payloads {
		if kv := "P" + string(rune('A'+i)) + "=" + p + "\n"; !strings.Contains(env, kv) {
			t.Errorf("env output lacks %q:\n%s", kv, env)
		}
	}

	// Nothing was executed by a shell.
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("injection marker exists (err %v)", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if wantNames := []string{"env.txt", outName}; !slices.Equal(names, wantNames) {
		t.Errorf("directory holds %q, want %q", names, wantNames)
	}
}

func TestStdinAndSharedOutput(t *testing.T) {
	b := newBackend(t, Config{})
	if err := os.WriteFile(filepath.Join(b.root, "in.txt"), []byte("from stdin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// stdin, then stdout and stderr interleaved in one file.
	script := "cat; echo to-stdout; echo to-stderr >&2; echo again-stdout"
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", script),
		px("Input", "in.txt"), px("Output", "both.txt"), px("Error", "./both.txt")))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	want := "from stdin\nto-stdout\nto-stderr\nagain-stdout\n"
	if got := readFile(t, filepath.Join(b.root, "both.txt")); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestSeparateErrorAndDevNull(t *testing.T) {
	b := newBackend(t, Config{})
	// No Input: stdin is /dev/null, so cat ends at once.
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", "cat; echo out; echo err >&2"),
		px("Output", "o.txt"), px("Error", "e.txt")))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	if got := readFile(t, filepath.Join(b.root, "o.txt")); got != "out\n" {
		t.Errorf("stdout %q", got)
	}
	if got := readFile(t, filepath.Join(b.root, "e.txt")); got != "err\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestWorkingDirectory(t *testing.T) {
	b := newBackend(t, Config{})
	sub := filepath.Join(b.root, "sub dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	// Relative WorkingDirectory resolves against Root; relative Output
	// against the working directory.
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/pwd"), px("WorkingDirectory", "sub dir"), px("Output", "pwd.txt")))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	want, err := filepath.EvalSymlinks(sub)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sub, "pwd.txt")); got != want+"\n" {
		t.Errorf("pwd %q, want %q", got, want+"\n")
	}
	// Without WorkingDirectory: Root.
	id = mustSubmit(t, b, posixDoc(cmdline("/bin/pwd"), px("Output", "pwd.txt")))
	waitEnd(t, b, id, timeout)
	root, _ := filepath.EvalSymlinks(b.root)
	if got := readFile(t, filepath.Join(b.root, "pwd.txt")); got != root+"\n" {
		t.Errorf("pwd %q, want %q", got, root+"\n")
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("LOCAL_BACKEND_LEAK_CHECK", "leaked")
	b := newBackend(t, Config{})
	id := mustSubmit(t, b, posixDoc(cmdline("/usr/bin/env"), px("Output", "env.txt"),
		pxEnv("FOO", "bar baz"), pxEnv("EMPTY", ""), pxEnv("HOME", "/nowhere")))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	got := strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(b.root, "env.txt")), "\n"), "\n")
	sort.Strings(got)
	want := []string{"EMPTY=", "FOO=bar baz", "HOME=/nowhere", "PATH=" + basePATH}
	if !slices.Equal(got, want) {
		t.Errorf("environment %q, want exactly %q", got, want)
	}

	// The default HOME is the broker user's.
	id = mustSubmit(t, b, posixDoc(cmdline("/usr/bin/printenv", "HOME"), px("Output", "home.txt")))
	waitEnd(t, b, id, timeout)
	if got := readFile(t, filepath.Join(b.root, "home.txt")); got != b.id.Home+"\n" {
		t.Errorf("HOME %q, want %q", got, b.id.Home)
	}
}

func TestExecutableLookup(t *testing.T) {
	b := newBackend(t, Config{})
	bin := filepath.Join(b.root, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/echo", filepath.Join(bin, "myecho")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"base PATH", posixDoc(cmdline("echo", "x"), px("Output", "o1"))},
		{"job PATH", posixDoc(cmdline("myecho", "x"), px("Output", "o2"), pxEnv("PATH", "/nonexistent:"+bin))},
		{"relative PATH entry", posixDoc(cmdline("myecho", "x"), px("Output", "o3"), pxEnv("PATH", "bin"))},
		{"relative path", posixDoc(cmdline("./bin/myecho", "x"), px("Output", "o4"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := mustSubmit(t, b, tc.doc)
			if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
				t.Fatalf("status %+v", st)
			}
		})
	}
	// myecho is not in the base PATH.
	_, err := submitDoc(t, b, posixDoc(cmdline("myecho", "x")))
	wantRejected(t, err)
}

func TestHPCProfileApplication(t *testing.T) {
	b := newBackend(t, Config{})
	app := `<jsdl-hpcpa:HPCProfileApplication>
	  <jsdl-hpcpa:Executable>/bin/echo</jsdl-hpcpa:Executable>
	  <jsdl-hpcpa:Argument>hpc</jsdl-hpcpa:Argument>
	  <jsdl-hpcpa:Output>hpc.txt</jsdl-hpcpa:Output>
	</jsdl-hpcpa:HPCProfileApplication>`
	id := mustSubmit(t, b, jobDoc(app))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	if got := readFile(t, filepath.Join(b.root, "hpc.txt")); got != "hpc\n" {
		t.Errorf("output %q", got)
	}
}

func TestFilesystemName(t *testing.T) {
	b := newBackend(t, Config{})
	scratch := t.TempDir()
	res := `<jsdl:Resources><jsdl:FileSystem name="SCRATCH"><jsdl:MountPoint>` + esc(scratch) + `</jsdl:MountPoint></jsdl:FileSystem></jsdl:Resources>`
	app := posixApp(px("Executable", "/usr/bin/printf"), px("Argument", `%s\n`),
		`<jsdl-posix:Argument filesystemName="SCRATCH">data.in</jsdl-posix:Argument>`,
		`<jsdl-posix:Output filesystemName="SCRATCH">fs.out</jsdl-posix:Output>`)
	id := mustSubmit(t, b, jobDoc(app, res))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	if got, want := readFile(t, filepath.Join(scratch, "fs.out")), scratch+"/data.in\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestWallTimeLimit(t *testing.T) {
	b := newBackend(t, Config{})
	start := time.Now()
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sleep", "30"), px("WallTimeLimit", "1")))
	if st := status(t, b, id); st.State != tuplebroker.Running || st.SubState != tuplebroker.SubExecuting {
		t.Errorf("status while running %+v, want Running/executing", st)
	}
	pgid := pidOf(t, b, id)
	st := waitEnd(t, b, id, 6*time.Second)
	if st.State != tuplebroker.Failed || st.SubState != tuplebroker.SubWallTimeLimit {
		t.Fatalf("status %+v, want Failed/walltime-limit", st)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("killed after %v, before the limit", el)
	}
	if !strings.Contains(st.Reason, "wall time limit") {
		t.Errorf("reason %q", st.Reason)
	}
	waitGroupEmpty(t, pgid, 5*time.Second)
}

func TestCancelKillsGroup(t *testing.T) {
	b := newBackend(t, Config{})
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", "sleep 30 & sleep 30 & wait")))
	pgid := pidOf(t, b, id)
	waitGroupSize(t, pgid, 3, timeout) // sh and two sleeps
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	st := waitEnd(t, b, id, timeout)
	if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubUserCancelled {
		t.Fatalf("status %+v, want Cancelled/user-cancelled", st)
	}
	waitGroupEmpty(t, pgid, 5*time.Second)
	// Cancelling again, or an ended job, does nothing.
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Errorf("second Cancel: %v", err)
	}
	if st2 := status(t, b, id); st2.State != tuplebroker.Cancelled {
		t.Errorf("after second Cancel: %+v", st2)
	}
}

func TestCancelEscalatesToSIGKILL(t *testing.T) {
	b := newBackend(t, Config{KillGrace: 300 * time.Millisecond})
	// The job ignores SIGTERM (and so does its child sleep).
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", `trap "" TERM; sleep 30; echo survived`)))
	pgid := pidOf(t, b, id)
	waitGroupSize(t, pgid, 2, timeout)
	start := time.Now()
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	st := waitEnd(t, b, id, timeout)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("ended after %v, before the grace period", el)
	}
	if st.State != tuplebroker.Cancelled || !strings.Contains(st.Reason, "SIGKILL") {
		t.Errorf("status %+v, want Cancelled by SIGKILL", st)
	}
	waitGroupEmpty(t, pgid, 5*time.Second)
}

func TestLeftoversKilledAtExit(t *testing.T) {
	b := newBackend(t, Config{})
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", "sleep 30 & echo started"), px("Output", "o.txt")))
	pgid := pidOf(t, b, id)
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
	waitGroupEmpty(t, pgid, 5*time.Second)
}

func TestSlots(t *testing.T) {
	b := newBackend(t, Config{Slots: 1})
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sleep", "30")))
	_, err := submitDoc(t, b, posixDoc(cmdline("/bin/echo", "second")))
	wantRefused(t, err)
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitEnd(t, b, id, timeout)
	// The slot is free again.
	waitEnd(t, b, mustSubmit(t, b, posixDoc(cmdline("/bin/echo", "third"))), timeout)
}

func TestExclusiveExecution(t *testing.T) {
	b := newBackend(t, Config{Slots: 4})
	excl := `<jsdl:Resources><jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution></jsdl:Resources>`
	id := mustSubmit(t, b, jobDoc(posixApp(cmdline("/bin/sleep", "30")), excl))
	_, err := submitDoc(t, b, posixDoc(cmdline("/bin/echo", "x")))
	wantRefused(t, err)
	b.Cancel(context.Background(), id)
	waitEnd(t, b, id, timeout)

	id = mustSubmit(t, b, posixDoc(cmdline("/bin/sleep", "30")))
	_, err = submitDoc(t, b, jobDoc(posixApp(cmdline("/bin/echo", "x")), excl))
	wantRefused(t, err)
	b.Cancel(context.Background(), id)
	waitEnd(t, b, id, timeout)
}

func TestRejections(t *testing.T) {
	b := newBackend(t, Config{})
	notExec := filepath.Join(b.root, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := func(inner string) string { return "<jsdl:Resources>" + inner + "</jsdl:Resources>" }
	osReq := func(name string) string {
		return res("<jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>" + name +
			"</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>")
	}
	arch := func(name string) string {
		return res("<jsdl:CPUArchitecture><jsdl:CPUArchitectureName>" + name + "</jsdl:CPUArchitectureName></jsdl:CPUArchitecture>")
	}
	echo := posixApp(cmdline("/bin/echo", "x"))
	for _, tc := range []struct {
		name, doc, msg string
	}{
		{"application name only", jobDoc("<jsdl:ApplicationName>gromacs</jsdl:ApplicationName>"), "gromacs"},
		{"data staging", jobDoc(echo, `<jsdl:DataStaging><jsdl:FileName>in.dat</jsdl:FileName>
			<jsdl:CreationFlag>overwrite</jsdl:CreationFlag>
			<jsdl:Source><jsdl:URI>http://example.org/in.dat</jsdl:URI></jsdl:Source></jsdl:DataStaging>`), "DataStaging"},
		{"missing executable", posixDoc(cmdline("/nonexistent/prog")), "/nonexistent/prog"},
		{"executable not in PATH", posixDoc(cmdline("no-such-program-xyzzy")), "not found in PATH"},
		{"not executable", posixDoc(cmdline(notExec)), "not executable"},
		{"directory", posixDoc(cmdline("/bin")), "directory"},
		{"os WINNT", jobDoc(echo, osReq("WINNT")), "os=WINNT"},
		{"arch sparc", jobDoc(echo, arch("sparc")), "arch=sparc"},
		{"other user", posixDoc(cmdline("/bin/echo"), px("UserName", "no-such-user-xyzzy")), "no-such-user-xyzzy"},
		{"other group", posixDoc(cmdline("/bin/echo"), px("GroupName", "no-such-group-xyzzy")), "no-such-group-xyzzy"},
		{"missing working directory", posixDoc(cmdline("/bin/echo"), px("WorkingDirectory", "nope")), "working directory"},
		{"missing input", posixDoc(cmdline("/bin/cat"), px("Input", "nope.txt")), "Input"},
		{"output directory missing", posixDoc(cmdline("/bin/echo"), px("Output", "nope/out.txt")), "Output"},
		{"output is a directory", posixDoc(cmdline("/bin/echo"), px("Output", ".")), "directory"},
		{"spmd", jobDoc(`<jsdl-spmd:SPMDApplication>` + px("Executable", "/bin/echo") +
			`<jsdl-spmd:SPMDVariation>http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`), "SPMD"},
		{"candidate hosts", jobDoc(echo, res("<jsdl:CandidateHosts><jsdl:HostName>no-such-host.example.invalid</jsdl:HostName></jsdl:CandidateHosts>")), "CandidateHosts"},
		{"undeclared file system", posixDoc(`<jsdl-posix:Executable filesystemName="APPS">bin/x</jsdl-posix:Executable>`), "APPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := submitDoc(t, b, tc.doc)
			wantRejected(t, err)
			if id != "" {
				t.Errorf("id %q with an error", id)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not mention %q", err, tc.msg)
			}
		})
	}
	// Nothing is running and no slot is held.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running != 0 || len(b.jobs) != 0 || len(b.starting) != 0 {
		t.Errorf("after rejections: running %d, jobs %d, starting %d", b.running, len(b.jobs), len(b.starting))
	}
}

func TestAccepts(t *testing.T) {
	b := newBackend(t, Config{})
	host, _ := os.Hostname()
	res := "<jsdl:Resources><jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>" +
		string(jsdl.GoOS(runtime.GOOS)) + "</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>" +
		"<jsdl:CPUArchitecture><jsdl:CPUArchitectureName>" + string(jsdl.GoArch(runtime.GOARCH)) +
		"</jsdl:CPUArchitectureName></jsdl:CPUArchitecture>" +
		"<jsdl:CandidateHosts><jsdl:HostName>elsewhere.example.invalid</jsdl:HostName><jsdl:HostName>" + esc(host) +
		"</jsdl:HostName></jsdl:CandidateHosts></jsdl:Resources>"
	app := posixApp(cmdline("/bin/echo"), px("UserName", b.id.Name))
	id := mustSubmit(t, b, jobDoc(app, res))
	if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", st)
	}
}

func TestFindStatusUnknown(t *testing.T) {
	b := newBackend(t, Config{})
	ctx := context.Background()
	guid := newGUID()
	def := parse(t, posixDoc(cmdline("/bin/sleep", "30")))
	id, err := b.Submit(ctx, agents.Job{GUID: guid, Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := b.Find(ctx, guid)
	if err != nil || !found || got != id {
		t.Errorf("Find = %q %v %v, want %q", got, found, err, id)
	}
	if _, found, err := b.Find(ctx, "no-such-guid"); found || err != nil {
		t.Errorf("Find unknown = %v %v", found, err)
	}
	// Submitting the same GUID while it runs starts nothing new.
	id2, err := b.Submit(ctx, agents.Job{GUID: guid, Definition: def, Attempt: 1})
	if err != nil || id2 != id {
		t.Errorf("resubmit = %q %v, want %q", id2, err, id)
	}
	m, err := b.Status(ctx, []string{id, "local-unknown-1", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[id].State != tuplebroker.Running {
		t.Errorf("Status = %+v, want only %s Running", m, id)
	}
	if err := b.Cancel(ctx, "local-unknown-1"); !errors.Is(err, tuplebroker.ErrUnknownJob) {
		t.Errorf("Cancel unknown = %v, want ErrUnknownJob", err)
	}
	b.Cancel(ctx, id)
	waitEnd(t, b, id, timeout)
	// An ended job is still found; a new submission under its GUID is a
	// new job.
	if got, found, _ := b.Find(ctx, guid); !found || got != id {
		t.Errorf("Find after end = %q %v", got, found)
	}
	id3, err := b.Submit(ctx, agents.Job{GUID: guid, Definition: parse(t, posixDoc(cmdline("/bin/true")))})
	if err != nil || id3 == id {
		t.Errorf("submit after end = %q %v", id3, err)
	}
	waitEnd(t, b, id3, timeout)
	// Cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Submit(cctx, agents.Job{GUID: newGUID(), Definition: def}); !errors.Is(err, context.Canceled) {
		t.Errorf("Submit with cancelled ctx = %v", err)
	}
	if _, err := b.Status(cctx, []string{id}); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with cancelled ctx = %v", err)
	}
}

func TestRetain(t *testing.T) {
	b := newBackend(t, Config{Retain: 50 * time.Millisecond})
	ctx := context.Background()
	guid := newGUID()
	id, err := b.Submit(ctx, agents.Job{GUID: guid, Definition: parse(t, posixDoc(cmdline("/bin/true")))})
	if err != nil {
		t.Fatal(err)
	}
	waitEnd(t, b, id, timeout)
	time.Sleep(100 * time.Millisecond)
	if m, _ := b.Status(ctx, []string{id}); len(m) != 0 {
		t.Errorf("Status after Retain = %+v, want empty", m)
	}
	if _, found, _ := b.Find(ctx, guid); found {
		t.Error("Find after Retain found the job")
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	b, err := New(context.Background(), Config{Root: t.TempDir(), Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var pgids []int
	for range 3 {
		id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", "sleep 30 & sleep 30")))
		ids = append(ids, id)
		pgids = append(pgids, pidOf(t, b, id))
	}
	done := mustSubmit(t, b, posixDoc(cmdline("/bin/true")))
	waitEnd(t, b, done, timeout)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	m, err := b.Status(context.Background(), append(ids, done))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if st := m[id]; st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubBackendRemoved {
			t.Errorf("%s after Close: %+v, want Cancelled/backend-removed", id, st)
		}
	}
	if st := m[done]; st.State != tuplebroker.Finished {
		t.Errorf("job ended before Close: %+v", st)
	}
	for _, g := range pgids {
		waitGroupEmpty(t, g, 5*time.Second)
	}
	_, err = submitDoc(t, b, posixDoc(cmdline("/bin/true")))
	wantRefused(t, err)
	if err := b.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseDeadline(t *testing.T) {
	b := newBackend(t, Config{KillGrace: time.Minute})
	id := mustSubmit(t, b, posixDoc(cmdline("/bin/sh", "-c", `trap "" TERM; sleep 30`)))
	pgid := pidOf(t, b, id)
	waitGroupSize(t, pgid, 2, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	// The deadline turned the grace into SIGKILL.
	st := waitEnd(t, b, id, 5*time.Second)
	if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubBackendRemoved {
		t.Errorf("status %+v", st)
	}
	waitGroupEmpty(t, pgid, 5*time.Second)
}

func TestConcurrentSubmits(t *testing.T) {
	b := newBackend(t, Config{Slots: 3})
	var (
		mu                sync.Mutex
		accepted          []string
		refused, rejected int
		wg                sync.WaitGroup
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc := posixDoc(cmdline("/bin/sleep", "0.05"))
			if i%5 == 0 {
				doc = posixDoc(cmdline("/nonexistent"))
			}
			def := parse(t, doc)
			id, err := b.Submit(context.Background(), agents.Job{GUID: newGUID(), Definition: def})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted = append(accepted, id)
			case errors.Is(err, tuplebroker.ErrRefused):
				refused++
			case errors.Is(err, tuplebroker.ErrRejected):
				rejected++
			default:
				t.Errorf("Submit: %v", err)
			}
			// Poll concurrently too.
			b.Status(context.Background(), accepted)
		}()
	}
	wg.Wait()
	if rejected != 8 || len(accepted) == 0 || len(accepted)+refused != 32 {
		t.Errorf("accepted %d, refused %d, rejected %d", len(accepted), refused, rejected)
	}
	for _, id := range accepted {
		if st := waitEnd(t, b, id, timeout); st.State != tuplebroker.Finished {
			t.Errorf("%s: %+v", id, st)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running != 0 {
		t.Errorf("running = %d after all ended", b.running)
	}
}

func TestConfig(t *testing.T) {
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultConfig invalid: %v", err)
	}
	if d.Name != "local" || d.Slots < 1 {
		t.Errorf("defaults %+v", d)
	}
	caps := DefaultCapabilities()
	if runtime.GOOS == "linux" && !slices.Contains(caps, "os=LINUX") {
		t.Errorf("capabilities %q lack os=LINUX", caps)
	}
	if runtime.GOARCH == "amd64" && !slices.Contains(caps, "arch=x86_64") {
		t.Errorf("capabilities %q lack arch=x86_64", caps)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	for _, c := range []Config{
		{Name: "", Slots: 1, Root: "/"},
		{Name: "a b", Slots: 1, Root: "/"},
		{Name: "x", Slots: 0, Root: "/"},
		{Name: "x", Slots: 1, Root: "relative"},
		{Name: "x", Slots: 1, Root: "/nonexistent-dir-xyzzy"},
		{Name: "x", Slots: 1, Root: file},
		{Name: "x", Slots: 1, Root: "/", Capabilities: []string{"novalue"}},
		{Name: "x", Slots: 1, Root: "/", KillGrace: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if _, err := New(context.Background(), Config{Slots: -1}); err == nil {
		t.Error("New with Slots -1 succeeded")
	}
	b, err := New(context.Background(), Config{Name: "local-a", Capabilities: []string{"os=LINUX", "custom=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "local-a" || !slices.Equal(b.Capabilities(), []string{"os=LINUX", "custom=1"}) {
		t.Errorf("Name %q Capabilities %q", b.Name(), b.Capabilities())
	}
	b.Capabilities()[0] = "changed"
	if b.Capabilities()[0] != "os=LINUX" {
		t.Error("Capabilities returns the backend's own slice")
	}
	if err := b.Close(context.Background()); err != nil {
		t.Error(err)
	}
}
