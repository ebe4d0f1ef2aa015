package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/client"
	"tuplebroker/space"
)

// binary is the tuplebroker binary built once for the package's tests.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func tuplebrokerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tuplebroker-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tuplebroker")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "tuplebroker/cmd/tuplebroker")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one tuplebroker process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the binary with args; the process is killed at the end of the
// test if still running, and its output is logged if the test failed.
func start(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(tuplebrokerBinary(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, tail(p.log.String(), 60))
		}
	})
	return p
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func (p *proc) kill(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	p.kill(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited: %v", p.name, p.err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
	}
}

// natsServer starts an embedded NATS JetStream server for a pool.
func natsServer(t testing.TB) string {
	t.Helper()
	srv, err := space.StartServer(space.ServerConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := space.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// newClient is a client of the factory at base, as the user of token.
func newClient(t testing.TB, base, token string) *client.Client {
	t.Helper()
	c, err := client.New(base, token, client.WithTimeout(60*time.Second), client.WithHTTPClient(client.NewHTTPClient(64)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// post submits a JSDL document, letting the factory hold the request up to
// wait (client.NoWait: not at all), and returns the job as answered and the
// answer's status (201 or 202). It checks the answer's Location.
func post(ctx context.Context, c *client.Client, jsdl []byte, wait time.Duration) (tuplebroker.Job, int, error) {
	s, err := c.Submit(ctx, jsdl, client.SubmitOptions{Wait: wait})
	if err != nil {
		return tuplebroker.Job{}, 0, err
	}
	if s.Location != "/v1/jobs/"+s.ID {
		return s.Job, s.StatusCode, fmt.Errorf("Location %q for job %s", s.Location, s.ID)
	}
	return s.Job, s.StatusCode, nil
}

// waitHealthy polls GET /healthz until 200.
func waitHealthy(t testing.TB, base string, p *proc) {
	t.Helper()
	c := newClient(t, base, "")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Health(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.log.String(), 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s not healthy within 60s", p.name)
}

// readSimRecords reads a sim record file: GUID → backend job ids accepted.
func readSimRecords(t testing.TB, path string) (map[string][]string, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	dups := -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Record *struct{ GUID, BackendJobID string }
			Stats  *struct{ Duplicates int }
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if line.Record != nil {
			out[line.Record.GUID] = append(out[line.Record.GUID], line.Record.BackendJobID)
		}
		if line.Stats != nil {
			dups = line.Stats.Duplicates
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out, dups
}
