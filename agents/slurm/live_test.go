package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
)

// These tests run against the two live clusters of
// integration/schedulers/slurm.sh (see liveClusters). Every test but
// TestLiveRefusal is parallel; TestLiveRefusal stops slurm-b's slurmctld
// and so runs alone, before the others start.

// slurmScript is the script that manages the clusters.
const slurmScript = "../../integration/schedulers/slurm.sh"

// TestLiveWallTime: a job over its WallTimeLimit ends Failed/walltime-limit.
// Slurm counts wall time in whole minutes and checks every 30 s, so this
// takes 60 to 90 s: the job is submitted first of all, before the
// sequential tests, and waited for in parallel with everything else.
func TestLiveWallTime(t *testing.T) {
	a, _ := liveClusters(t)
	b := newLive(t, a, Config{})
	_, id := submit(t, b, posixDoc(cmdline("/bin/sleep", "600"), px("WallTimeLimit", "1")))
	t.Parallel()
	st := waitFor(t, b, id, 150*time.Second, "ended", func(st tuplebroker.Status) bool { return st.State.Terminal() })
	if st.State != tuplebroker.Failed || st.SubState != tuplebroker.SubWallTimeLimit {
		t.Fatalf("status %+v, want Failed/%s", st, tuplebroker.SubWallTimeLimit)
	}
	if st.Started.IsZero() || st.Ended.Sub(st.Started) < time.Minute {
		t.Errorf("ran from %v to %v, want at least the one-minute limit", st.Started, st.Ended)
	}
}

// TestLiveRefusal: with slurmctld stopped, Submit, Find and Status are
// refused within CallTimeout; after a restart, submission works again and
// a job submitted before the stop is still there.
func TestLiveRefusal(t *testing.T) {
	_, c := liveClusters(t)
	const timeout = 2 * time.Second
	b := newLive(t, c, Config{CallTimeout: timeout})
	_, before := submit(t, b, posixDoc(cmdline("/bin/true")))
	waitEnd(t, b, before, time.Minute)

	ctld := func(verb string) {
		t.Helper()
		cmd := exec.Command("bash", slurmScript, verb, c.name, c.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", slurmScript, verb, err, out)
		}
	}
	ctld("stop-ctld")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			exec.Command("bash", slurmScript, "start-ctld", c.name, c.dir).Run()
		}
	})

	// Submit, Find and Status at once, each refused within CallTimeout.
	var submitErr, findErr, statusErr error
	var took time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		_, submitErr = b.Submit(context.Background(), agents.Job{GUID: newGUID(), Definition: parse(t, posixDoc(cmdline("/bin/true")))})
		took = time.Since(start)
	})
	wg.Go(func() { _, _, findErr = b.Find(context.Background(), newGUID()) })
	wg.Go(func() { _, statusErr = b.Status(context.Background(), []string{before}) })
	wg.Wait()
	wantRefused(t, submitErr)
	wantRefused(t, findErr)
	wantRefused(t, statusErr)
	if took > timeout+5*time.Second {
		t.Errorf("refusal took %v with CallTimeout %v", took, timeout)
	}

	ctld("start-ctld")
	restarted = true
	guid, id := submit(t, b, posixDoc(cmdline("/bin/true")))
	if st := waitEnd(t, b, id, time.Minute); st.State != tuplebroker.Finished {
		t.Fatalf("after restart: %+v", st)
	}
	if found, ok, err := b.Find(context.Background(), guid); err != nil || !ok || found != id {
		t.Fatalf("Find after restart = %q %v %v, want %s", found, ok, err, id)
	}
	if st := status(t, b, before); st.State != tuplebroker.Finished {
		t.Fatalf("job from before the stop: %+v", st)
	}
}

// TestLiveFinished: a job's output file holds what it printed, it ends
// Finished with exit code 0 and start/end times, and Find knows it.
func TestLiveFinished(t *testing.T) {
	bothClusters(t, func(t *testing.T, c cluster) {
		b := newLive(t, c, Config{})
		dir := jobDir(t, c)
		guid, id := submit(t, b, posixDoc(cmdline("/usr/bin/printf", `%s\n`, "hello", c.name),
			px("Output", "out.txt"), px("WorkingDirectory", dir)))
		if found, ok, err := b.Find(context.Background(), guid); err != nil || !ok || found != id {
			t.Fatalf("Find = %q %v %v, want %s", found, ok, err, id)
		}
		st := waitEnd(t, b, id, time.Minute)
		if st.State != tuplebroker.Finished || st.ExitCode == nil || *st.ExitCode != 0 {
			t.Fatalf("status %+v", show(st))
		}
		if st.Started.IsZero() || st.Ended.IsZero() || st.Ended.Before(st.Started) ||
			time.Since(st.Ended) > 10*time.Minute || time.Until(st.Started) > time.Minute {
			t.Errorf("times: started %v ended %v", st.Started, st.Ended)
		}
		out, err := os.ReadFile(filepath.Join(dir, "out.txt"))
		if err != nil || string(out) != "hello\n"+c.name+"\n" {
			t.Fatalf("output %q, %v", out, err)
		}
		if _, ok, err := b.Find(context.Background(), newGUID()); ok || err != nil {
			t.Fatalf("Find of an unknown GUID: %v %v", ok, err)
		}
	})
}

// TestLiveNonzeroExit: exit status 7 → Failed/exited-nonzero with code 7;
// a missing program → Failed with 127.
func TestLiveNonzeroExit(t *testing.T) {
	bothClusters(t, func(t *testing.T, c cluster) {
		b := newLive(t, c, Config{})
		_, id := submit(t, b, posixDoc(cmdline("/bin/sh", "-c", "exit 7")))
		_, missing := submit(t, b, posixDoc(cmdline("/nonexistent/program")))
		st := waitEnd(t, b, id, time.Minute)
		if st.State != tuplebroker.Failed || st.SubState != tuplebroker.SubExitedNonzero || st.ExitCode == nil || *st.ExitCode != 7 {
			t.Fatalf("status %+v", show(st))
		}
		if !strings.Contains(st.Reason, "exit status 7") {
			t.Errorf("reason %q", st.Reason)
		}
		st = waitEnd(t, b, missing, time.Minute)
		if st.State != tuplebroker.Failed || st.ExitCode == nil || *st.ExitCode != 127 {
			t.Fatalf("missing program: %+v", show(st))
		}
	})
}

// TestLiveCancelPending: a held job is Pending/backend-held until cancelled,
// then Cancelled/user-cancelled without ever having started.
func TestLiveCancelPending(t *testing.T) {
	bothClusters(t, func(t *testing.T, c cluster) {
		b := newLive(t, c, Config{ExtraArgs: []string{"--hold"}})
		guid, id := submit(t, b, posixDoc(cmdline("/bin/true")))
		st := status(t, b, id)
		if st.State != tuplebroker.Pending || st.SubState != SubHeld {
			t.Fatalf("status %+v, want Pending/%s", st, SubHeld)
		}
		if found, ok, err := b.Find(context.Background(), guid); err != nil || !ok || found != id {
			t.Fatalf("Find = %q %v %v", found, ok, err)
		}
		if err := b.Cancel(context.Background(), id); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		st = waitEnd(t, b, id, 30*time.Second)
		if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubUserCancelled || !st.Started.IsZero() || st.ExitCode != nil {
			t.Fatalf("status %+v", show(st))
		}
		// Cancelling again does nothing; an unknown id is unknown.
		if err := b.Cancel(context.Background(), id); err != nil {
			t.Fatalf("second Cancel: %v", err)
		}
		if err := b.Cancel(context.Background(), "987654321"); !errors.Is(err, tuplebroker.ErrUnknownJob) {
			t.Fatalf("Cancel of an unknown id: %v", err)
		}
		if err := b.Cancel(context.Background(), "1;2"); !errors.Is(err, tuplebroker.ErrUnknownJob) {
			t.Fatalf("Cancel of a malformed id: %v", err)
		}
	})
}

// TestLiveCancelRunning: a running job is cancelled, its processes end, and
// it reads Cancelled/user-cancelled with its start time.
func TestLiveCancelRunning(t *testing.T) {
	bothClusters(t, func(t *testing.T, c cluster) {
		b := newLive(t, c, Config{})
		dir := jobDir(t, c)
		pidFile := filepath.Join(dir, "pid")
		_, id := submit(t, b, posixDoc(cmdline("/bin/sh", "-c", `echo $$ > "$1"; exec sleep 300`, "sh", pidFile)))
		waitFor(t, b, id, time.Minute, "running", func(st tuplebroker.Status) bool { return st.State == tuplebroker.Running })
		var pid int
		deadline := time.Now().Add(30 * time.Second)
		for pid == 0 {
			if data, err := os.ReadFile(pidFile); err == nil {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			}
			if pid == 0 && time.Now().After(deadline) {
				t.Fatal("the job never wrote its pid")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := b.Cancel(context.Background(), id); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		st := waitEnd(t, b, id, 30*time.Second)
		if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubUserCancelled || st.Started.IsZero() {
			t.Fatalf("status %+v", show(st))
		}
		deadline = time.Now().Add(30 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("job process %d still alive after cancel", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestLiveBatchedStatus: the status of 50 jobs (and two ids Slurm does not
// know) costs one squeue call and nothing else.
func TestLiveBatchedStatus(t *testing.T) {
	a, _ := liveClusters(t)
	t.Parallel()
	b := newLive(t, a, Config{})
	calls := countCalls(b)
	var ids []string
	for range 50 {
		_, id := submit(t, b, posixDoc(cmdline("/bin/true")))
		ids = append(ids, id)
	}
	if got := calls.snapshot(); got["sbatch"] != 50 || len(got) != 1 {
		t.Fatalf("submitting ran %v", got)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		calls.reset()
		m, err := b.Status(context.Background(), append(append([]string{}, ids...), "987654321", "bogus"))
		if err != nil {
			t.Fatal(err)
		}
		if got := calls.snapshot(); got["squeue"] != 1 || len(got) != 1 {
			t.Fatalf("one Status of %d ids ran %v, want exactly one squeue", len(ids)+2, got)
		}
		if len(m) != len(ids) {
			t.Fatalf("Status returned %d jobs, want %d", len(m), len(ids))
		}
		finished := 0
		for _, id := range ids {
			if m[id].State == tuplebroker.Finished {
				finished++
			}
		}
		if finished == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d finished", finished, len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A single unknown id is not an error.
	if m, err := b.Status(context.Background(), []string{"987654321"}); err != nil || len(m) != 0 {
		t.Fatalf("Status of an unknown id: %v %v", m, err)
	}
}

// TestLiveInjection: arguments, environment values, file and directory
// names and the job's names reach the program as literal bytes through
// sbatch, and nothing else runs.
func TestLiveInjection(t *testing.T) {
	bothClusters(t, func(t *testing.T, c cluster) {
		b := newLive(t, c, Config{})
		dir := jobDir(t, c)
		marker := filepath.Join(dir, "marker")
		words := nasty(marker)
		// Directory and file names cannot hold a slash: their commands touch
		// a relative "injected", which would land in dir or the working
		// directory.
		wd := filepath.Join(dir, "wd $(touch injected) `touch injected` ; && touch injected ' \" \n#SBATCH --wrap=touch injected %j")
		if err := os.Mkdir(wd, 0o755); err != nil {
			t.Fatal(err)
		}
		outName := "out $(touch injected) ; ' \" \n#SBATCH -o x %j %x \r y"
		errName := "err `touch injected` && %u \\"
		inName := "in $(touch injected) %j"
		input := "input bytes\n$(touch " + marker + ")\n#SBATCH --wrap=touch " + marker + "\n"
		if err := os.WriteFile(filepath.Join(wd, inName), []byte(input), 0o644); err != nil {
			t.Fatal(err)
		}
		var env []string
		for i, w := range words {
			env = append(env, pxEnv("E"+string(rune('A'+i)), w))
		}
		nastyName := esc("$(touch " + marker + ") `touch " + marker + "`; && touch " + marker + "\n#SBATCH --wrap=touch " + marker)
		prog := `for a in "$@"; do printf '<%s>\n' "$a"; done; for v in ` + envList(len(words)) +
			`; do eval "printf '[%s]\n' \"\$$v\""; done; cat; echo stderr-line >&2`
		doc := jobDoc(`<jsdl:ApplicationName>`+nastyName+`</jsdl:ApplicationName>`+
			posixApp(append(append([]string{cmdline("/bin/sh", append([]string{"-c", prog, "sh"}, words...)...)}, env...),
				px("Input", inName), px("Output", outName), px("Error", errName), px("WorkingDirectory", wd))...),
			`<jsdl:JobIdentification><jsdl:JobName>`+nastyName+`</jsdl:JobName><jsdl:Description>`+nastyName+`</jsdl:Description></jsdl:JobIdentification>`)
		def := parse(t, doc)
		_, argv := def.Executable()
		var want bytes.Buffer
		for _, w := range argv[3:] {
			want.WriteString("<" + w + ">\n")
		}
		for _, e := range def.JobDescription.Application.POSIX.Environment {
			want.WriteString("[" + e.Value + "]\n")
		}
		want.WriteString(input)

		guid := newGUID()
		id, err := b.Submit(context.Background(), agents.Job{GUID: guid, Definition: def})
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		st := waitEnd(t, b, id, time.Minute)
		if st.State != tuplebroker.Finished {
			t.Fatalf("status %+v", show(st))
		}
		out := def.JobDescription.Application.POSIX.Output.Path
		got, err := os.ReadFile(filepath.Join(wd, out))
		if err != nil {
			t.Fatalf("output: %v", err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("output differs\n got: %q\nwant: %q", got, want.Bytes())
		}
		errPath := def.JobDescription.Application.POSIX.Error.Path
		if e, err := os.ReadFile(filepath.Join(wd, errPath)); err != nil || string(e) != "stderr-line\n" {
			t.Errorf("error file %q: %q, %v", errPath, e, err)
		}
		for _, m := range []string{marker, filepath.Join(dir, "injected"), filepath.Join(wd, "injected"), "/injected"} {
			if _, err := os.Stat(m); err == nil {
				t.Fatalf("%s exists: something was interpreted", m)
			}
		}
		if found, ok, err := b.Find(context.Background(), guid); err != nil || !ok || found != id {
			t.Fatalf("Find = %q %v %v", found, ok, err)
		}
	})
}

// TestLiveRejections: what Slurm refuses for good, and what the backend
// rejects before asking it.
func TestLiveRejections(t *testing.T) {
	a, _ := liveClusters(t)
	t.Parallel()
	ctx := context.Background()
	bad := newLive(t, a, Config{Partition: "nope"})
	_, err := bad.Submit(ctx, agents.Job{GUID: newGUID(), Definition: parse(t, posixDoc(cmdline("/bin/true")))})
	wantRejected(t, err)
	if !strings.Contains(err.Error(), "Invalid partition") {
		t.Errorf("message: %v", err)
	}

	b := newLive(t, a, Config{})
	for name, doc := range map[string]string{
		"too many CPUs":     jobDoc(posixApp(cmdline("/bin/true")), resources(exact("TotalCPUCount", 64))),
		"too much memory":   jobDoc(posixApp(cmdline("/bin/true")), resources(exact("IndividualPhysicalMemory", 1<<50))),
		"too many nodes":    jobDoc(posixApp(cmdline("/bin/true")), resources(exact("TotalResourceCount", 5))),
		"no such host":      jobDoc(posixApp(cmdline("/bin/true")), resources(hosts("elsewhere.example.org"))),
		"SPMD not offered":  jobDoc(`<jsdl-spmd:SPMDApplication>` + cmdline("/bin/true") + `<jsdl-spmd:SPMDVariation>http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`),
		"data staging":      jobDoc(posixApp(cmdline("/bin/true")), `<jsdl:DataStaging><jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>overwrite</jsdl:CreationFlag><jsdl:Source><jsdl:URI>gsiftp://example.org/f</jsdl:URI></jsdl:Source></jsdl:DataStaging>`),
		"another user":      posixDoc(cmdline("/bin/true"), px("UserName", "nobody-"+strconv.Itoa(os.Getpid()))),
		"not an executable": jobDoc(`<jsdl:ApplicationName>blast</jsdl:ApplicationName>`),
	} {
		guid := newGUID()
		def := parse(t, doc)
		err := agents.Admit(def, b.Capabilities()) // first, as in the agent
		if err == nil {
			_, err = b.Submit(ctx, agents.Job{GUID: guid, Definition: def})
		}
		if !errors.Is(err, tuplebroker.ErrRejected) {
			t.Errorf("%s: err = %v, want ErrRejected", name, err)
		}
	}
}

// TestLiveResources: CPU, memory, wall time, exclusivity and a candidate
// host reach Slurm as options (read back with scontrol).
func TestLiveResources(t *testing.T) {
	a, _ := liveClusters(t)
	t.Parallel()
	b := newLive(t, a, Config{ExtraArgs: []string{"--hold"}})
	_, id := submit(t, b, jobDoc(posixApp(cmdline("/bin/true"), px("WallTimeLimit", "90")),
		resources(hosts("localhost"), "<jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution>",
			exact("TotalCPUCount", 2), exact("IndividualPhysicalMemory", 100*mib))))
	defer b.Cancel(context.Background(), id)
	cmd := exec.Command("scontrol", "-o", "show", "job", id)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+a.conf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scontrol: %v", err)
	}
	for _, want := range []string{"TimeLimit=00:02:00", "MinCPUsNode=2", "MinMemoryNode=100M", "OverSubscribe=NO", "NumTasks=1", "CPUs/Task=2"} {
		if !strings.Contains(string(out), " "+want+" ") {
			t.Errorf("scontrol lacks %q:\n%s", want, out)
		}
	}
}

// TestLiveSPMD: an SPMD job whose variation is offered runs its processes
// with srun.
func TestLiveSPMD(t *testing.T) {
	a, _ := liveClusters(t)
	t.Parallel()
	const variation = "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/None"
	b := newLive(t, a, Config{Capabilities: append(DefaultCapabilities(), "spmd="+variation)})
	dir := jobDir(t, a)
	_, id := submit(t, b, jobDoc(`<jsdl-spmd:SPMDApplication>`+
		cmdline("/bin/sh", "-c", `echo "task $SLURM_PROCID $V"`)+pxEnv("V", "it's $(x)")+
		px("Output", "out")+px("WorkingDirectory", dir)+
		`<jsdl-spmd:NumberOfProcesses>3</jsdl-spmd:NumberOfProcesses>
		<jsdl-spmd:SPMDVariation>`+variation+`</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`))
	if st := waitEnd(t, b, id, time.Minute); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v", show(st))
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out"))
	for i := range 3 {
		if want := fmt.Sprintf("task %d it's $(x)\n", i); !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkLiveSubmit measures Find + Submit (what the agent does per job)
// against slurm-a.
func BenchmarkLiveSubmit(bm *testing.B) {
	dir, conf := os.Getenv("TUPLEBROKER_SLURM_DIR"), os.Getenv("TUPLEBROKER_SLURM_A_CONF")
	if dir == "" || conf == "" {
		bm.Skip("no live Slurm clusters")
	}
	b, err := New(context.Background(), Config{Name: "slurm-a", Conf: conf})
	if err != nil {
		bm.Fatal(err)
	}
	def, err := parseDoc(posixDoc(cmdline("/bin/true")))
	if err != nil {
		bm.Fatal(err)
	}
	ctx := context.Background()
	for bm.Loop() {
		guid := newGUID()
		if _, found, err := b.Find(ctx, guid); err != nil || found {
			bm.Fatalf("Find: %v %v", found, err)
		}
		if _, err := b.Submit(ctx, agents.Job{GUID: guid, Definition: def}); err != nil {
			bm.Fatal(err)
		}
	}
}

// TestLiveEnvironment: a job starts with the minimal base environment plus
// its JSDL Environment, nothing of the broker's; with LoginEnvironment, the
// user's login environment instead of the base.
func TestLiveEnvironment(t *testing.T) {
	a, _ := liveClusters(t)
	t.Parallel()
	for _, login := range []bool{false, true} {
		b := newLive(t, a, Config{LoginEnvironment: login})
		dir := jobDir(t, a)
		_, id := submit(t, b, posixDoc(cmdline("/usr/bin/env", "-0"), pxEnv("PATH", "/bin:/usr/bin"), pxEnv("MY_VAR", "v a l"),
			px("Output", "env"), px("WorkingDirectory", dir)))
		if st := waitEnd(t, b, id, time.Minute); st.State != tuplebroker.Finished {
			t.Fatalf("login=%v: status %+v", login, show(st))
		}
		data, err := os.ReadFile(filepath.Join(dir, "env"))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for kv := range strings.SplitSeq(strings.TrimSuffix(string(data), "\x00"), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if env["PATH"] != "/bin:/usr/bin" || env["MY_VAR"] != "v a l" || env["HOME"] == "" || env["SLURM_JOB_ID"] != id {
			t.Errorf("login=%v: environment %q", login, env)
		}
		for _, leak := range []string{"TUPLEBROKER_SLURM_DIR", "TUPLEBROKER_SLURM_A_CONF", "TZ", "SLURM_TIME_FORMAT"} {
			if v, ok := env[leak]; ok {
				t.Errorf("login=%v: the broker's %s=%q reached the job", login, leak, v)
			}
		}
		if got := env["SLURM_GET_USER_ENV"] == "1"; got != login {
			t.Errorf("login=%v: SLURM_GET_USER_ENV=%q", login, env["SLURM_GET_USER_ENV"])
		}
	}
}
