package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// client speaks the HTTP API as one user.
type client struct {
	base  string
	token string
	hc    *http.Client
}

func newClient(base, token string) *client {
	return &client{base: base, token: token, hc: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

func (c *client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// submit posts a JSDL document and returns the job as answered (201/202).
func (c *client) submit(ctx context.Context, jsdl []byte, wait string, hdr map[string]string) (tuplebroker.Job, int, error) {
	resp, b, err := c.do(ctx, http.MethodPost, "/v1/jobs?wait="+wait, jsdl, hdr)
	if err != nil {
		return tuplebroker.Job{}, 0, err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
		return tuplebroker.Job{}, resp.StatusCode, fmt.Errorf("POST: %d %s", resp.StatusCode, b)
	}
	var j tuplebroker.Job
	if err := json.Unmarshal(b, &j); err != nil {
		return j, resp.StatusCode, err
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/jobs/"+j.ID {
		return j, resp.StatusCode, fmt.Errorf("Location %q for job %s", loc, j.ID)
	}
	return j, resp.StatusCode, nil
}

func (c *client) job(ctx context.Context, id string) (tuplebroker.Job, int, error) {
	resp, b, err := c.do(ctx, http.MethodGet, "/v1/jobs/"+id, nil, nil)
	if err != nil {
		return tuplebroker.Job{}, 0, err
	}
	var j tuplebroker.Job
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(b, &j)
	}
	return j, resp.StatusCode, err
}

// waitHealthy polls GET /healthz until 200.
func waitHealthy(t testing.TB, base string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
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
