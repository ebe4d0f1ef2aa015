package gridengine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
)

// These tests run against the live cell of integration/schedulers/gridengine.sh.
// All but TestLiveQmasterDown run in parallel, after it.

// pendingForever is a Resources element no host satisfies now but Grid
// Engine accepts: the job waits in the queue (qw) until deleted.
var pendingForever = resources(lower("IndividualPhysicalMemory", 1e18))

func TestLiveFinished(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	dir := c.tempDir(t)
	out := filepath.Join(dir, "out.txt")
	guid, id := b.mustSubmit(posixDoc(cmdline("/bin/echo", "hello", "world"), px("Output", out)))
	st := b.waitEnd(id)
	if st.State != tuplebroker.Finished || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Fatalf("status %+v, want Finished with exit code 0", st)
	}
	if st.Started.IsZero() || st.Ended.Before(st.Started) {
		t.Errorf("times: started %v ended %v", st.Started, st.Ended)
	}
	if got := readFile(t, out); got != "hello world\n" {
		t.Errorf("output %q", got)
	}
	// Found again by GUID once finished (from the accounting file), also by
	// a backend that never saw it.
	other := c.backend(t, nil)
	for _, bk := range []*liveBackend{b, other} {
		if got, ok, err := bk.Find(context.Background(), guid); err != nil || !ok || got != id {
			t.Errorf("Find(%s) = %q %v %v, want %s", guid, got, ok, err, id)
		}
	}
	if _, ok, err := b.Find(context.Background(), newGUID()); ok || err != nil {
		t.Errorf("Find(unknown) = %v %v", ok, err)
	}
	// Cancelling a finished job does nothing.
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Errorf("Cancel(finished) = %v", err)
	}
}

func TestLiveExitCode(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	dir := c.tempDir(t)
	errf := filepath.Join(dir, "err.txt")
	_, id := b.mustSubmit(posixDoc(cmdline("/bin/sh", "-c", "echo oops >&2; exit 3"), px("Error", errf)))
	st := b.waitEnd(id)
	if st.State != tuplebroker.Failed || st.SubState != tuplebroker.SubExitedNonzero || st.ExitCode == nil || *st.ExitCode != 3 {
		t.Fatalf("status %+v, want Failed/exited-nonzero with code 3", st)
	}
	if st.Reason != "exit status 3" {
		t.Errorf("reason %q", st.Reason)
	}
	if got := readFile(t, errf); got != "oops\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestLiveWallTime(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	_, id := b.mustSubmit(posixDoc(cmdline("/bin/sleep", "60"), px("WallTimeLimit", "2")))
	st := b.waitEnd(id)
	if st.State != tuplebroker.Failed || st.SubState != tuplebroker.SubWallTimeLimit {
		t.Fatalf("status %+v, want Failed/walltime-limit", st)
	}
}

func TestLiveCancelRunning(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	guid, id := b.mustSubmit(posixDoc(cmdline("/bin/sleep", "300")))
	b.waitFor(id, "running", 60*time.Second, func(st tuplebroker.Status) bool { return st.State == tuplebroker.Running })
	if got, ok, err := b.Find(context.Background(), guid); err != nil || !ok || got != id {
		t.Errorf("Find(running) = %q %v %v, want %s", got, ok, err, id)
	}
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	st := b.waitEnd(id)
	if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubUserCancelled {
		t.Fatalf("status %+v, want Cancelled/user-cancelled", st)
	}
}

func TestLiveCancelPending(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	guid, id := b.mustSubmit(jobDoc(posixApp(cmdline("/bin/true")), pendingForever))
	for range 3 { // stays pending across scheduling runs
		if st := b.status(id); st.State != tuplebroker.Pending || st.SubState != tuplebroker.SubBackendQueued {
			t.Fatalf("status %+v, want Pending/backend-queued", st)
		}
		time.Sleep(time.Second)
	}
	if got, ok, err := b.Find(context.Background(), guid); err != nil || !ok || got != id {
		t.Errorf("Find(pending) = %q %v %v, want %s", got, ok, err, id)
	}
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	st := b.status(id)
	if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubUserCancelled || st.ExitCode != nil {
		t.Fatalf("status %+v, want Cancelled/user-cancelled without exit code", st)
	}
	// Deleting it again is harmless; the job stays findable.
	if err := b.Cancel(context.Background(), id); err != nil {
		t.Errorf("second Cancel: %v", err)
	}
	// A backend that did not delete it (another agent process) sees a job
	// that left the queue with no accounting record: ending, then removed.
	other := c.backend(t, nil)
	if st := other.status(id); st.State != tuplebroker.Running || st.SubState != SubEnding {
		t.Errorf("other backend: %+v, want Running/ending first", st)
	}
	st = other.waitFor(id, "ended", 30*time.Second, func(st tuplebroker.Status) bool { return st.State.Terminal() })
	if st.State != tuplebroker.Cancelled || st.SubState != tuplebroker.SubBackendRemoved {
		t.Errorf("other backend: %+v, want Cancelled/backend-removed", st)
	}
	if got, ok, err := other.Find(context.Background(), guid); err != nil || !ok || got != id {
		t.Errorf("Find(deleted) = %q %v %v, want %s", got, ok, err, id)
	}
	if err := other.Cancel(context.Background(), "987654321"); !errors.Is(err, tuplebroker.ErrUnknownJob) {
		t.Errorf("Cancel(unknown) = %v, want ErrUnknownJob", err)
	}
}

// TestLiveBatchedStatus: one Status call for many jobs runs qstat once and
// no other command.
func TestLiveBatchedStatus(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	var done, pending []string
	for i := range 4 {
		_, id := b.mustSubmit(posixDoc(cmdline("/bin/sh", "-c", "exit "+strconv.Itoa(i))))
		done = append(done, id)
		_, id = b.mustSubmit(jobDoc(posixApp(cmdline("/bin/true")), pendingForever))
		pending = append(pending, id)
	}
	for _, id := range done {
		b.waitEnd(id)
	}
	n := countCalls(b.Backend)
	ids := append(append(slices.Clone(done), pending...), "987654321", "not-a-number")
	m, err := b.Status(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if calls := n.snapshot(); len(calls) != 1 || calls["qstat"] != 1 {
		t.Errorf("one Status call for %d jobs ran %v, want qstat once", len(ids), calls)
	}
	if len(m) != len(done)+len(pending) {
		t.Errorf("%d answers, want %d: %v", len(m), len(done)+len(pending), m)
	}
	for i, id := range done {
		st := m[id]
		if st.ExitCode == nil || *st.ExitCode != i || (i == 0) != (st.State == tuplebroker.Finished) {
			t.Errorf("job %s (exit %d): %+v", id, i, st)
		}
	}
	for _, id := range pending {
		if st := m[id]; st.State != tuplebroker.Pending {
			t.Errorf("job %s: %+v, want Pending", id, st)
		}
	}
	// An empty poll runs nothing.
	if _, err := b.Status(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if calls := n.snapshot(); calls["qstat"] != 1 {
		t.Errorf("empty Status ran qstat")
	}
}

// TestLiveInjection: hostile arguments, paths and environment values reach
// the program byte for byte through qsub, no "#$" line in the script is
// read as a directive, and nothing else runs.
func TestLiveInjection(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	b := c.backend(t, nil)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := c.tempDir(t)
	h := hostile(dir)
	name := func(s string) string { return strings.ReplaceAll(s, "/", "_") }
	wd := filepath.Join(dir, name("wd "+h[0]+h[7]))
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, name("exe "+h[1]+h[8]))
	if err := os.Symlink(self, exe); err != nil {
		t.Fatal(err)
	}
	in, out, errf := name("in "+h[2]), name("out "+h[3]+h[5]), name("err "+h[6]+h[9])
	if err := os.WriteFile(filepath.Join(wd, in), []byte("input "+h[9]), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(slices.Clone(h), "", "-n", "--", "'", `\`, "#$ -N evil")
	elems := []string{cmdline(exe, args...), px("Input", in), px("Output", out), px("Error", errf),
		px("WorkingDirectory", wd),
		// Had the "#$ -l h_rt=1" lines been read, the job would be killed.
		pxEnv("GRIDENGINE_TEST_HELPER", "dump"), pxEnv("GRIDENGINE_TEST_SLEEP", "3")}
	for i, v := range h {
		elems = append(elems, pxEnv("INJ"+string(rune('A'+i)), v))
	}
	guid, id := b.mustSubmit(posixDoc(elems...))
	st := b.waitEnd(id)
	if st.State != tuplebroker.Finished {
		t.Fatalf("status %+v, want Finished", st)
	}
	var d dump
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(wd, out))), &d); err != nil {
		t.Fatalf("output: %v", err)
	}
	if !slices.Equal(d.Args, args) {
		t.Errorf("args:\n got %q\nwant %q", d.Args, args)
	}
	for i, v := range h {
		if k := "INJ" + string(rune('A'+i)); d.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, d.Env[k], v)
		}
	}
	if d.Cwd != wd {
		t.Errorf("cwd %q, want %q", d.Cwd, wd)
	}
	if want := "input " + h[9]; d.Stdin != want {
		t.Errorf("stdin %q, want %q", d.Stdin, want)
	}
	if got, want := readFile(t, filepath.Join(wd, errf)), "stderr:"+args[0]; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if m := markers(t, dir); len(m) > 0 {
		t.Errorf("marker files appeared: %q", m)
	}
	if got, ok, err := b.Find(context.Background(), guid); err != nil || !ok || got != id {
		t.Errorf("Find = %q %v %v: the job's name is not %s", got, ok, err, JobName(guid))
	}
}

func TestLiveMultiSlotExclusive(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	if c.pe == "" || c.slots < 2 {
		t.Skip("the cell has no parallel environment or fewer than 2 slots")
	}
	b := c.backend(t, nil)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := c.tempDir(t)
	out := filepath.Join(dir, "out.json")
	_, id := b.mustSubmit(jobDoc(posixApp(cmdline(self), px("Output", out), pxEnv("GRIDENGINE_TEST_HELPER", "dump")),
		resources(lower("TotalCPUCount", 2), "<jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution>")))
	if st := b.waitEnd(id); st.State != tuplebroker.Finished {
		t.Fatalf("status %+v, want Finished", st)
	}
	var d dump
	if err := json.Unmarshal([]byte(readFile(t, out)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Env["NSLOTS"] != "2" {
		t.Errorf("NSLOTS = %q, want 2", d.Env["NSLOTS"])
	}
	// More slots than a host has: rejected before qsub.
	_, _, err = b.submit(jobDoc(posixApp(cmdline("/bin/true")), resources(lower("TotalCPUCount", float64(c.slots+1)))))
	wantRejected(t, err)
}

func TestLiveRejected(t *testing.T) {
	t.Parallel()
	c := liveCell(t)
	doc := posixDoc(cmdline("/bin/true"))
	_, _, err := c.backend(t, func(cfg *Config) { cfg.Queue = "nosuch.q" }).submit(doc)
	wantRejected(t, err)
	if !strings.Contains(err.Error(), "nosuch.q") {
		t.Errorf("error %q lacks the scheduler's message", err)
	}
	_, _, err = c.backend(t, func(cfg *Config) { cfg.ParallelEnv = "nosuchpe" }).submit(
		jobDoc(posixApp(cmdline("/bin/true")), resources(lower("TotalCPUCount", 2))))
	wantRejected(t, err)
	_, _, err = c.backend(t, nil).submit(jobDoc(posixApp(cmdline("/bin/true")),
		resources("<jsdl:CandidateHosts><jsdl:HostName>no-such-host.invalid</jsdl:HostName></jsdl:CandidateHosts>")))
	wantRejected(t, err)
}

// TestLiveQmasterDown stops the qmaster: every call is refused within the
// call timeout; once it is back, jobs run again. It runs before the
// parallel tests, alone.
func TestLiveQmasterDown(t *testing.T) {
	c := liveCell(t)
	const timeout = 5 * time.Second
	b := c.backend(t, func(cfg *Config) { cfg.CallTimeout = timeout })
	_, pendingID := b.mustSubmit(jobDoc(posixApp(cmdline("/bin/true")), pendingForever))

	c.script(t, "stop-qmaster", c.dir)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			c.script(t, "start-qmaster", c.dir)
		}
	})
	ctx := context.Background()
	for what, call := range map[string]func() error{
		"Submit": func() error { _, _, err := b.submit(posixDoc(cmdline("/bin/true"))); return err },
		"Find":   func() error { _, _, err := b.Find(ctx, newGUID()); return err },
		"Status": func() error { _, err := b.Status(ctx, []string{pendingID}); return err },
		"Cancel": func() error { return b.Cancel(ctx, pendingID) },
	} {
		start := time.Now()
		err := call()
		if !errors.Is(err, tuplebroker.ErrRefused) {
			t.Errorf("%s with the qmaster down: %v, want ErrRefused", what, err)
		}
		if d := time.Since(start); d > timeout+2*time.Second {
			t.Errorf("%s took %v, more than the call timeout %v", what, d, timeout)
		}
	}

	c.script(t, "start-qmaster", c.dir)
	restarted = true
	if st := b.status(pendingID); st.State != tuplebroker.Pending {
		t.Errorf("pending job after the restart: %+v", st)
	}
	_, id := b.mustSubmit(posixDoc(cmdline("/bin/true")))
	if st := b.waitEnd(id); st.State != tuplebroker.Finished {
		t.Errorf("job after the restart: %+v", st)
	}
}

// Benchmarks of single calls against the live cell (for the README table:
// compare with a direct "qsub"/"qstat" loop). Submitted jobs stay pending
// and are deleted at the end.

func BenchmarkLiveSubmit(b *testing.B) {
	c := liveCell(b)
	bk := c.backend(b, nil)
	def := parse(b, jobDoc(posixApp(cmdline("/bin/true")), pendingForever))
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		id, err := bk.Submit(ctx, agents.Job{GUID: newGUID(), Definition: def})
		if err != nil {
			b.Fatal(err)
		}
		bk.mu.Lock()
		bk.ids = append(bk.ids, id)
		bk.mu.Unlock()
	}
}

func BenchmarkLiveStatus100(b *testing.B) {
	c := liveCell(b)
	bk := c.backend(b, nil)
	var ids []string
	for range 100 {
		_, id := bk.mustSubmit(jobDoc(posixApp(cmdline("/bin/true")), pendingForever))
		ids = append(ids, id)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		m, err := bk.Status(ctx, ids)
		if err != nil || len(m) != len(ids) {
			b.Fatal(len(m), err)
		}
	}
}

func BenchmarkLiveFind(b *testing.B) {
	c := liveCell(b)
	bk := c.backend(b, nil)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := bk.Find(ctx, newGUID()); err != nil {
			b.Fatal(err)
		}
	}
}
