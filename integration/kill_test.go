package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/agents/slurm"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// TestMain runs this test binary as a killable agent process when asked
// (TestAgentKilledAfterSubmit re-executes itself).
func TestMain(m *testing.M) {
	if os.Getenv("TB_KILLABLE_AGENT") != "" {
		os.Exit(killableAgent())
	}
	os.Exit(m.Run())
}

// markingBackend is the real Slurm backend with one addition: once sbatch
// has accepted a job it writes a marker file and dawdles a random 0–40 ms,
// so the parent can SIGKILL the process at varied points between the
// scheduler's acceptance and the commit of the response.
type markingBackend struct {
	*slurm.Backend
	marker string
}

func (b markingBackend) Submit(ctx context.Context, j agents.Job) (string, error) {
	id, err := b.Backend.Submit(ctx, j)
	if err == nil {
		_ = os.WriteFile(b.marker, []byte(j.GUID+" "+id), 0o600)
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
	}
	return id, err
}

func killableAgent() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "killable agent:", err); return 2 }
	nc, err := space.Connect(os.Getenv("TB_NATS"))
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	sp, err := space.Open(ctx, nc)
	if err != nil {
		return fail(err)
	}
	cfg := slurm.DefaultConfig()
	cfg.Name, cfg.Conf, cfg.Root = "slurm-a", os.Getenv("TB_SLURM_CONF"), os.Getenv("TB_WORK")
	be, err := slurm.New(context.Background(), cfg)
	if err != nil {
		return fail(err)
	}
	th, err := fastThrottle()
	if err != nil {
		return fail(err)
	}
	acfg := agents.DefaultConfig()
	acfg.Name, acfg.Workers, acfg.TxnLease = "killable", 1, space.MinTxnLease
	a, err := agents.New(acfg, sp, markingBackend{be, os.Getenv("TB_MARKER")}, th)
	if err != nil {
		return fail(err)
	}
	_ = a.Run(ctx) // until killed
	return 0
}

// TestAgentKilledAfterSubmit: 20 times, an agent process is SIGKILLed right
// after sbatch accepted a job and before (or while) it commits. The request
// comes back when the dead agent's transaction lease ends, another agent
// takes it, finds the job sbatch already has under the GUID, and adopts it:
// exactly one Slurm job per GUID every time.
func TestAgentKilledAfterSubmit(t *testing.T) {
	e := liveSchedulers(t)
	work, err := os.MkdirTemp(e.dir, "kill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	url := natsServer(t)
	nc, err := space.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sp, err := space.Open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := slurm.DefaultConfig()
	cfg.Name, cfg.Conf, cfg.Root = "slurm-a", e.slurmA, work
	be, err := slurm.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	adopted, lostBeforeCommit := 0, 0
	for i := 0; i < 20; i++ {
		guid := uuid.NewString()
		req := &tuplebroker.Request{GUID: guid, Factory: "test", UID: "alice", Created: time.Now().UTC(),
			JSDL: printfJSDL(fmt.Sprint(i), filepath.Join(work, fmt.Sprintf("kill-%d.txt", i)))}
		if _, err := sp.Write(ctx, req, space.Forever); err != nil {
			t.Fatal(err)
		}
		marker := filepath.Join(work, fmt.Sprintf("marker-%d", i))
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), "TB_KILLABLE_AGENT=1", "TB_NATS="+url, "TB_SLURM_CONF="+e.slurmA, "TB_WORK="+work, "TB_MARKER="+marker)
		var childOut lockedBuffer
		cmd.Stdout, cmd.Stderr = &childOut, &childOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		var mark []byte
		for {
			if mark, err = os.ReadFile(marker); err == nil && len(mark) > 0 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("round %d: the agent submitted nothing within 60s:\n%s", i, tail(childOut.String(), 30))
			}
			time.Sleep(time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		firstID := strings.Fields(string(mark))[1]

		// Did the dead agent commit? If not, a new agent must adopt.
		if _, ok := findResponse(sp, guid); !ok {
			lostBeforeCommit++
		}
		actx, stop := context.WithCancel(ctx)
		th, err := fastThrottle()
		if err != nil {
			t.Fatal(err)
		}
		acfg := agents.DefaultConfig()
		acfg.Name, acfg.Workers = "adopter", 1
		acfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		a, err := agents.New(acfg, sp, be, th)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { a.Run(actx); close(done) }()
		var resp *tuplebroker.Response
		for resp == nil {
			if r, ok := findResponse(sp, guid); ok {
				resp = r
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("round %d: no response for %s", i, guid)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
		if resp.BackendJobID != firstID {
			t.Fatalf("round %d: response names Slurm job %s, but sbatch accepted %s first", i, resp.BackendJobID, firstID)
		}
		if resp.Agent == "adopter" {
			adopted++
		}
		// Exactly one Slurm job carries the GUID.
		n := countSlurmJobs(t, e.slurmA, guid)
		if n != 1 {
			t.Fatalf("round %d: %d Slurm jobs named %s", i, n, guid)
		}
	}
	t.Logf("20 kills: %d before the commit (the job was adopted by the next agent), %d after it", lostBeforeCommit, 20-lostBeforeCommit)
	if adopted != lostBeforeCommit {
		t.Errorf("%d jobs adopted, %d killed before commit", adopted, lostBeforeCommit)
	}
}

func findResponse(sp *space.Space, guid string) (*tuplebroker.Response, bool) {
	for _, e := range sp.Entries(tuplebroker.ResponseTemplate{GUID: guid}) {
		if r, ok := e.Tuple.(*tuplebroker.Response); ok {
			return r, true
		}
	}
	return nil, false
}

func countSlurmJobs(t *testing.T, conf, name string) int {
	t.Helper()
	cmd := exec.Command("squeue", "-h", "-t", "all", "--name", name, "-o", "%i")
	cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	return len(strings.Fields(string(out)))
}

// fastThrottle lets a test agent take at once.
func fastThrottle() (strategies.Throttle, error) {
	cfg := strategies.DefaultThrottleConfig()
	cfg.Fixed = strategies.FixedConfig{Rate: 100, Burst: 10}
	return strategies.NewThrottle("fixed", cfg)
}
