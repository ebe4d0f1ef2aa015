package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/client"
)

// schedulerEnv is what integration/schedulers/with-schedulers.sh exports.
type schedulerEnv struct {
	slurmA, slurmB                  string // slurm.conf paths
	sgeRoot, sgeCell, sgeQueue, dir string
	sgeQmaster, sgeExecd            string
	slurmDir                        string
}

// liveSchedulers returns the schedulers' settings; without them the test is
// skipped, or fails when TUPLEBROKER_REQUIRE_SCHEDULERS=1 (CI).
func liveSchedulers(t testing.TB) schedulerEnv {
	t.Helper()
	e := schedulerEnv{
		slurmA: os.Getenv("TUPLEBROKER_SLURM_A_CONF"), slurmB: os.Getenv("TUPLEBROKER_SLURM_B_CONF"),
		slurmDir: os.Getenv("TUPLEBROKER_SLURM_DIR"),
		sgeRoot:  os.Getenv("TUPLEBROKER_SGE_ROOT"), sgeCell: os.Getenv("TUPLEBROKER_SGE_CELL"),
		sgeQueue: os.Getenv("TUPLEBROKER_SGE_QUEUE"), dir: os.Getenv("TUPLEBROKER_SGE_DIR"),
		sgeQmaster: os.Getenv("TUPLEBROKER_SGE_QMASTER_PORT"), sgeExecd: os.Getenv("TUPLEBROKER_SGE_EXECD_PORT"),
	}
	if e.slurmA == "" || e.slurmB == "" || e.sgeRoot == "" || e.sgeCell == "" {
		msg := "no live schedulers: run the tests through integration/schedulers/with-schedulers.sh (make test)"
		if os.Getenv("TUPLEBROKER_REQUIRE_SCHEDULERS") == "1" {
			t.Fatal("TUPLEBROKER_REQUIRE_SCHEDULERS=1 but " + msg)
		}
		t.Skip(msg)
	}
	return e
}

func (e schedulerEnv) agents(work string, names []string) []map[string]any {
	atoi := func(s string) int {
		var n int
		fmt.Sscan(s, &n)
		return n
	}
	th := map[string]any{"strategy": "adaptive", "rate": 200, "max_rate": 1000, "burst": 16}
	all := []map[string]any{
		{"name": "slurm-a", "backend": "slurm", "workers": 4, "couriers": 0, "throttle": th,
			"slurm": map[string]any{"conf": e.slurmA, "root": work, "call_timeout": "10s"}},
		{"name": "slurm-b", "backend": "slurm", "workers": 4, "couriers": 0, "throttle": th,
			"slurm": map[string]any{"conf": e.slurmB, "root": work, "call_timeout": "10s"}},
		{"name": "gridengine", "backend": "gridengine", "workers": 4, "couriers": 0, "throttle": th,
			"gridengine": map[string]any{"root": e.sgeRoot, "cell": e.sgeCell, "queue": e.sgeQueue,
				"qmaster_port": atoi(e.sgeQmaster), "execd_port": atoi(e.sgeExecd), "work_dir": work, "call_timeout": "10s"}},
	}
	var out []map[string]any
	for _, a := range all {
		for _, n := range names {
			if a["name"] == n {
				out = append(out, a)
			}
		}
	}
	return out
}

// envFor is the environment a scheduler command needs.
func (e schedulerEnv) envFor(cmd string) []string {
	if filepath.Base(cmd) == "sbatch" || filepath.Base(cmd) == "squeue" {
		return []string{"SLURM_CONF=" + e.slurmA}
	}
	return []string{"SGE_ROOT=" + e.sgeRoot, "SGE_CELL=" + e.sgeCell,
		"SGE_QMASTER_PORT=" + e.sgeQmaster, "SGE_EXECD_PORT=" + e.sgeExecd}
}

// qsub is the qsub binary (Debian's /usr/bin/qsub is a slow wrapper script).
func (e schedulerEnv) qsub() string {
	if _, err := os.Stat("/usr/lib/gridengine/qsub"); err == nil {
		return "/usr/lib/gridengine/qsub"
	}
	return "qsub"
}

// schedulerPool starts a factory, a manager and one agent process per
// scheduler (so one can be killed alone) and returns the client and the
// agent processes by name.
func schedulerPool(t testing.TB, e schedulerEnv, work string, names ...string) (*client.Client, map[string]*proc, string) {
	if len(names) == 0 {
		names = []string{"slurm-a", "slurm-b", "gridengine"}
	}
	t.Helper()
	dir := t.TempDir()
	url := natsServer(t)
	cfg := map[string]any{
		"manager": map[string]any{"poll_interval": "500ms"},
		"factory": map[string]any{"strategy": "pull"},
		"agents":  e.agents(work, names),
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pool.json")
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, []byte(token+" alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--nats", url, "--config", cfgPath}
	procs := map[string]*proc{}
	for _, n := range names {
		procs[n] = start(t, "agent-"+n, nil, append(append([]string{"agent"}, common...), n)...)
	}
	procs["manager"] = start(t, "manager", nil, append([]string{"manager"}, append(common, "--handle", "m1")...)...)
	addr := freeAddr(t)
	f := start(t, "factory", nil, append([]string{"factory"}, append(common, "--http", addr, "--tokens-file", tokens)...)...)
	waitHealthy(t, "http://"+addr, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitAdverts(t, ctx, url, len(names))
	return newClient(t, "http://"+addr, token), procs, cfgPath
}

// printfJSDL runs /usr/bin/printf 'job %s\n' ARG with its output in FILE.
func printfJSDL(arg, out string) []byte {
	esc := func(s string) string {
		r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
		return r.Replace(s)
	}
	return []byte(`<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
    xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix">
  <jsdl:JobDescription><jsdl:Application><jsdl-posix:POSIXApplication>
    <jsdl-posix:Executable>/usr/bin/printf</jsdl-posix:Executable>
    <jsdl-posix:Argument>job %s\n</jsdl-posix:Argument>
    <jsdl-posix:Argument>` + esc(arg) + `</jsdl-posix:Argument>
    <jsdl-posix:Output>` + esc(out) + `</jsdl-posix:Output>
  </jsdl-posix:POSIXApplication></jsdl:Application></jsdl:JobDescription>
</jsdl:JobDefinition>`)
}

// backendJobs lists, per GUID, the backend jobs named after it in the two
// Slurm clusters (squeue -t all) and the Grid Engine cell (qstat and the
// accounting file): one scheduler call per cluster.
func backendJobs(t testing.TB, e schedulerEnv) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, conf := range map[string]string{"slurm-a": e.slurmA, "slurm-b": e.slurmB} {
		cmd := exec.Command("squeue", "-h", "-t", "all", "-o", "%j %i")
		cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("squeue on %s: %v", name, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				out[f[0]] = append(out[f[0]], name+":"+f[1])
			}
		}
	}
	// Grid Engine: finished jobs are in the accounting file (job_name is
	// field 5, job_number field 6), running ones in qstat.
	acct := filepath.Join(e.sgeRoot, e.sgeCell, "common", "accounting")
	seen := map[string]bool{}
	if f, err := os.Open(acct); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			fs := strings.Split(sc.Text(), ":")
			if len(fs) > 6 && strings.HasPrefix(fs[4], "tb-") {
				g := strings.TrimPrefix(fs[4], "tb-")
				if !seen[fs[5]] {
					seen[fs[5]] = true
					out[g] = append(out[g], "gridengine:"+fs[5])
				}
			}
		}
		f.Close()
	}
	return out
}

// TestSchedulerPool: 300 jobs through one pool of {slurm-a, slurm-b,
// gridengine} agents, each its own process. Every job lands in exactly one
// scheduler exactly once (audited in the schedulers themselves), all end
// Finished with exit code 0 and their output file written. Midway, slurm-a's
// slurmctld is stopped: its agent is refused and backs off, the other two
// take the load, no job is lost; it is restarted and its agent resumes.
func TestSchedulerPool(t *testing.T) {
	e := liveSchedulers(t)
	work, err := os.MkdirTemp(e.dir, "pool-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	c, _, _ := schedulerPool(t, e, work)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	const n = 300
	ids := make([]string, n)
	submit := func(from, to int) {
		var wg sync.WaitGroup
		var next atomic.Int64
		next.Store(int64(from))
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= to {
						return
					}
					out := filepath.Join(work, fmt.Sprintf("out-%d.txt", i))
					j, _, err := post(ctx, c, printfJSDL(fmt.Sprint(i), out), client.NoWait)
					if err != nil {
						t.Errorf("job %d: %v", i, err)
						return
					}
					ids[i] = j.ID
				}
			}()
		}
		wg.Wait()
	}
	submit(0, n/2)
	// slurm-a's controller goes away mid-run.
	ctl := filepath.Join(repoRoot(t), "integration", "schedulers", "slurm.sh")
	if out, err := exec.Command(ctl, "stop-ctld", "slurm-a", e.slurmDir).CombinedOutput(); err != nil {
		t.Fatalf("stop slurm-a's slurmctld: %v\n%s", err, out)
	}
	stopped := true
	defer func() {
		if stopped {
			exec.Command(ctl, "start-ctld", "slurm-a", e.slurmDir).Run()
		}
	}()
	submit(n/2, n)
	if t.Failed() {
		return
	}
	// Everything submitted while slurm-a is down lands elsewhere or waits.
	time.Sleep(3 * time.Second)
	if out, err := exec.Command(ctl, "start-ctld", "slurm-a", e.slurmDir).CombinedOutput(); err != nil {
		t.Fatalf("start slurm-a's slurmctld: %v\n%s", err, out)
	}
	stopped = false

	per := map[string]int{}
	for i, id := range ids {
		j := waitState(t, ctx, c, id, tuplebroker.Finished)
		if j.ExitCode == nil || *j.ExitCode != 0 {
			t.Fatalf("job %d (%s) Finished without exit code 0: %+v", i, id, j)
		}
		per[j.Backend]++
		b, err := os.ReadFile(filepath.Join(work, fmt.Sprintf("out-%d.txt", i)))
		if err != nil || string(b) != fmt.Sprintf("job %d\n", i) {
			t.Fatalf("job %d output = %q, %v", i, b, err)
		}
	}
	t.Logf("jobs per scheduler: %v", per)
	for _, s := range []string{"slurm-a", "slurm-b", "gridengine"} {
		if per[s] == 0 {
			t.Errorf("no job ran on %s", s)
		}
	}
	jobs := backendJobs(t, e)
	for i, id := range ids {
		if got := jobs[id]; len(got) != 1 {
			t.Errorf("job %d (%s) has %d backend jobs: %v", i, id, len(got), got)
		}
	}
}

// repoRoot is the module root (the test runs in integration/).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}
