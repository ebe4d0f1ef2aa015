package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/factory"
	"tuplebroker/space"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the app in-process with args and returns what it printed.
func run(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut syncBuffer
	err = newApp(&out, &errOut).RunContext(ctx, append([]string{"tuplebroker"}, args...))
	return out.String(), errOut.String(), err
}

// mustRun runs the app and fails the test on error.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := run(ctx, args...)
	if err != nil {
		t.Fatalf("tuplebroker %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// broker is a `serve` running in a goroutine.
type broker struct {
	natsURL  string
	httpAddr string
	stderr   *syncBuffer
	cancel   context.CancelFunc
	done     chan error
}

// startServe runs `serve` on dir with free ports and waits until it is up
// (it writes nats.url last). The broker is stopped at the end of the test if
// the test has not stopped it.
func startServe(t *testing.T, dir string, extra ...string) *broker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &broker{stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	args := append([]string{"tuplebroker", "--log-level", "debug", "serve",
		"--data-dir", dir, "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--roles", "none", "--token-file", filepath.Join(t.TempDir(), "token")}, extra...)
	go func() { b.done <- newApp(&syncBuffer{}, b.stderr).RunContext(ctx, args) }()
	t.Cleanup(func() { b.stop(t) })

	deadline := time.After(time.Minute)
	for {
		url, err := readDataDirFile(dir, natsURLFile)
		if err == nil {
			b.natsURL = url
			break
		}
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("serve exited early: %v\nstderr:\n%s", err, b.stderr)
		case <-deadline:
			t.Fatalf("serve did not write %s within a minute\nstderr:\n%s", natsURLFile, b.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	addr, err := readDataDirFile(dir, httpAddrFile)
	if err != nil {
		t.Fatalf("serve wrote %s but not %s: %v", natsURLFile, httpAddrFile, err)
	}
	b.httpAddr = addr
	return b
}

// stop cancels serve and returns what it returned; later calls return nil.
func (b *broker) stop(t *testing.T) error {
	t.Helper()
	b.cancel()
	select {
	case err, ok := <-b.done:
		if ok {
			close(b.done)
		}
		return err
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute\nstderr:\n%s", b.stderr)
		return nil
	}
}

// openClientSpace opens a space on its own TCP connection to url.
func openClientSpace(t *testing.T, url string) *space.Space {
	t.Helper()
	nc, err := space.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sp, err := space.Open(ctx, nc, space.WithHolder("test"))
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(); nc.Close() })
	return sp
}

func newRequest() *tuplebroker.Request {
	return &tuplebroker.Request{
		GUID: uuid.NewString(), Factory: "f1", UID: "alice", JSDL: []byte("<jsdl/>"),
		Requirements: tuplebroker.Requirements{"os=LINUX"}, Priority: 3, Created: time.Now().UTC(),
	}
}

func write(t *testing.T, sp *space.Space, tu tuplebroker.Tuple, lease time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := sp.Write(ctx, tu, lease)
	if err != nil {
		t.Fatal(err)
	}
	return l.Key
}

// parseCount parses `space count` output into kind → count.
func parseCount(t *testing.T, out string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("count: bad line %q in\n%s", line, out)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("count: bad line %q: %v", line, err)
		}
		got[f[0]] = n
	}
	return got
}

func wantCount(t *testing.T, out string, want map[string]int) {
	t.Helper()
	got := parseCount(t, out)
	if len(got) != len(want) {
		t.Fatalf("count = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("count = %v, want %v", got, want)
		}
	}
}

// listed is one line of `space list --json`.
type listed struct {
	Key       string          `json:"key"`
	Kind      string          `json:"kind"`
	Revision  uint64          `json:"revision"`
	Expires   *time.Time      `json:"expires"`
	ClaimedBy string          `json:"claimed_by"`
	Tuple     json.RawMessage `json:"tuple"`
}

func parseList(t *testing.T, out string) map[string]listed {
	t.Helper()
	got := map[string]listed{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l listed
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("list --json: line %q: %v", sc.Text(), err)
		}
		got[l.Key] = l
	}
	return got
}

func getHealthz(t *testing.T, addr string) (int, factory.Health) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("healthz Content-Type = %q", ct)
	}
	var h factory.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestServeAndInspect runs a broker, writes tuples through NATS, inspects
// them with every `space` subcommand while it runs and again, from its data
// dir alone, after it has stopped.
func TestServeAndInspect(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := startServe(t, dir)
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", m)
	}
	for _, f := range []string{natsURLFile, httpAddrFile} {
		if m := fileMode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, m)
		}
	}
	if !strings.HasPrefix(b.natsURL, "nats://127.0.0.1:") || strings.HasSuffix(b.natsURL, ":0") {
		t.Fatalf("nats.url = %q", b.natsURL)
	}

	sp := openClientSpace(t, b.natsURL)
	req := newRequest()
	reqKey := write(t, sp, req, space.Forever)
	resp := &tuplebroker.Response{GUID: uuid.NewString(), UID: "bob", Agent: "a1", Backend: "slurm", BackendJobID: "42", Submitted: time.Now().UTC()}
	respKey := write(t, sp, resp, space.Forever)
	cour := &tuplebroker.Courier{Agent: "a1", Slot: 2, Address: "127.0.0.1:9", Capabilities: []string{"os=LINUX"}, Expires: time.Now().Add(time.Hour).UTC()}
	courKey := write(t, sp, cour, time.Hour)

	t.Run("healthz", func(t *testing.T) {
		// serve's own mirror follows the writes asynchronously.
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, h := getHealthz(t, b.httpAddr)
			if code != http.StatusOK || h.Status != "ok" {
				t.Fatalf("healthz = %d %+v", code, h)
			}
			if h.Tuples == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("healthz tuples = %d, want 3", h.Tuples)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	want := map[string]int{"req": 1, "resp": 1, "cour": 1, "txn": 0}
	t.Run("count", func(t *testing.T) {
		wantCount(t, mustRun(t, "space", "count", "--data-dir", dir), want)
		wantCount(t, mustRun(t, "space", "--data-dir", dir, "count"), want)
		wantCount(t, mustRun(t, "space", "count", "--nats", b.natsURL), want)
	})

	t.Run("list", func(t *testing.T) {
		got := parseList(t, mustRun(t, "space", "list", "--json", "--data-dir", dir))
		if len(got) != 3 {
			t.Fatalf("list --json: %d entries, want 3: %v", len(got), got)
		}
		r, ok := got[reqKey]
		if !ok || r.Kind != "req" || r.Expires != nil || r.ClaimedBy != "" || r.Revision == 0 {
			t.Fatalf("request entry = %+v", r)
		}
		var gotReq tuplebroker.Request
		if err := json.Unmarshal(r.Tuple, &gotReq); err != nil || gotReq.GUID != req.GUID || gotReq.UID != "alice" {
			t.Fatalf("request tuple = %s (%v)", r.Tuple, err)
		}
		if got[respKey].Kind != "resp" {
			t.Fatalf("response entry = %+v", got[respKey])
		}
		c := got[courKey]
		if c.Kind != "cour" || c.Expires == nil || c.Expires.Before(time.Now().Add(59*time.Minute)) {
			t.Fatalf("courier entry = %+v", c)
		}

		only := parseList(t, mustRun(t, "space", "list", "--kind", "resp", "--json", "--data-dir", dir))
		if _, ok := only[respKey]; !ok || len(only) != 1 {
			t.Fatalf("list --kind resp = %v", only)
		}

		text := mustRun(t, "space", "list", "--data-dir", dir)
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "KEY") {
			t.Fatalf("list:\n%s", text)
		}
		var reqLine string
		for _, l := range lines {
			if strings.HasPrefix(l, reqKey+" ") {
				reqLine = l
			}
		}
		for _, s := range []string{"forever", "guid=" + req.GUID, "uid=alice", "requires=os=LINUX", "priority=3", " - "} {
			if !strings.Contains(reqLine, s) {
				t.Errorf("list: request line %q lacks %q", reqLine, s)
			}
		}
		// The columns are aligned: every line has its TUPLE column at the same offset.
		col := strings.Index(lines[0], "TUPLE")
		for _, l := range lines[1:] {
			if len(l) < col || l[col-1] != ' ' || l[col] == ' ' {
				t.Errorf("list: column not aligned at %d in %q", col, l)
			}
		}
	})

	t.Run("show", func(t *testing.T) {
		out := mustRun(t, "space", "show", "--data-dir", dir, respKey)
		var e listed
		if err := json.Unmarshal([]byte(out), &e); err != nil {
			t.Fatalf("show: %v\n%s", err, out)
		}
		var gotResp tuplebroker.Response
		if err := json.Unmarshal(e.Tuple, &gotResp); err != nil || e.Key != respKey || gotResp.BackendJobID != "42" {
			t.Fatalf("show = %s", out)
		}
		if !strings.Contains(out, "\n  \"key\"") {
			t.Errorf("show output is not indented:\n%s", out)
		}
		_, _, err := run(context.Background(), "space", "show", "--data-dir", dir, "req.nope.nope")
		if err == nil || !strings.Contains(err.Error(), `no tuple with key "req.nope.nope"`) {
			t.Fatalf("show of a missing key: err = %v", err)
		}
	})

	t.Run("txns", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tx, err := sp.Begin(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Abort(ctx)
		if _, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: req.GUID}); err != nil {
			t.Fatal(err)
		}
		if out := mustRun(t, "space", "txns", "--data-dir", dir); strings.TrimSpace(out) != tx.ID() {
			t.Fatalf("txns = %q, want %q", out, tx.ID())
		}
		wantCount(t, mustRun(t, "space", "count", "--data-dir", dir), map[string]int{"req": 1, "resp": 1, "cour": 1, "txn": 1})
		got := parseList(t, mustRun(t, "space", "list", "--kind", "req", "--json", "--data-dir", dir))
		if got[reqKey].ClaimedBy != tx.ID() {
			t.Fatalf("claimed request = %+v, want claimed by %s", got[reqKey], tx.ID())
		}
		if err := tx.Abort(ctx); err != nil {
			t.Fatal(err)
		}
	})

	var watchedKey string
	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errOut syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- newApp(&out, &errOut).RunContext(ctx, []string{"tuplebroker", "space", "watch", "--kind", "req", "--data-dir", dir})
		}()
		waitFor(t, "watch to start", func() bool { return strings.Contains(errOut.String(), "watching req") }, done)
		write(t, sp, &tuplebroker.Response{GUID: uuid.NewString(), UID: "bob", Agent: "a1"}, time.Minute) // not watched
		r2 := newRequest()
		watchedKey = write(t, sp, r2, space.Forever)
		waitFor(t, "the watched request", func() bool { return strings.Contains(out.String(), "\n") }, done)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("watch: %v\nstderr:\n%s", err, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("watch printed %d lines, want 1:\n%s", len(lines), out.String())
		}
		var ev struct {
			Kind  string              `json:"kind"`
			Key   string              `json:"key"`
			Tuple tuplebroker.Request `json:"tuple"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind != "req" || ev.Key != watchedKey || ev.Tuple.GUID != r2.GUID {
			t.Fatalf("watch event = %+v, want request %s", ev, watchedKey)
		}
	})

	t.Run("second serve refused", func(t *testing.T) {
		_, _, err := run(context.Background(), "serve", "--data-dir", dir, "--nats-listen", "127.0.0.1:0", "--http", "")
		if !errors.Is(err, errDataDirBusy) {
			t.Fatalf("second serve on the same data dir: err = %v, want %v", err, errDataDirBusy)
		}
		if _, err := os.Stat(filepath.Join(dir, natsURLFile)); err != nil {
			t.Fatalf("the refused serve touched the running broker's files: %v", err)
		}
	})

	// Stop the broker: its runtime files go, its data stays.
	if err := b.stop(t); err != nil {
		t.Fatalf("serve: %v\nstderr:\n%s", err, b.stderr)
	}
	for _, f := range []string{natsURLFile, httpAddrFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after shutdown: %v, want it removed", f, err)
		}
	}
	if !strings.Contains(b.stderr.String(), "msg=serving") || !strings.Contains(b.stderr.String(), "msg=\"shutting down\"") {
		t.Errorf("serve log lacks start or shutdown:\n%s", b.stderr)
	}

	t.Run("stopped broker", func(t *testing.T) {
		wantCount(t, mustRun(t, "space", "count", "--data-dir", dir), map[string]int{"req": 2, "resp": 2, "cour": 1, "txn": 0})
		got := parseList(t, mustRun(t, "space", "list", "--json", "--data-dir", dir))
		for _, k := range []string{reqKey, respKey, courKey, watchedKey} {
			if _, ok := got[k]; !ok {
				t.Errorf("after shutdown, %s is missing from list: %v", k, got)
			}
		}
		if got[reqKey].ClaimedBy != "" {
			t.Errorf("aborted claim persisted: %+v", got[reqKey])
		}
		out := mustRun(t, "space", "show", "--data-dir", dir, reqKey)
		if !strings.Contains(out, req.GUID) {
			t.Fatalf("show after shutdown:\n%s", out)
		}
	})

	t.Run("restart", func(t *testing.T) {
		b2 := startServe(t, dir)
		code, h := getHealthz(t, b2.httpAddr)
		if code != http.StatusOK || h.Tuples != 5 {
			t.Fatalf("healthz after restart = %d %+v, want 5 tuples", code, h)
		}
		if err := b2.stop(t); err != nil {
			t.Fatal(err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool, done <-chan error) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("exited while waiting for %s: %v", what, err)
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestSpaceErrors(t *testing.T) {
	empty := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"space", "list", "--kind", "bogus", "--data-dir", empty}, `unknown kind "bogus" (want one of req, resp, cour)`},
		{[]string{"space", "watch", "--kind", "jobs", "--data-dir", empty}, `unknown kind "jobs"`},
		{[]string{"space", "count", "--nats", "nats://127.0.0.1:1", "--data-dir", empty}, "mutually exclusive"},
		{[]string{"space", "count", "--data-dir", empty}, "no tuplespace store in " + empty},
		{[]string{"space", "count", "--data-dir", filepath.Join(empty, "missing")}, "no tuplespace store"},
		{[]string{"space", "show", "--data-dir", empty}, "want exactly one argument"},
		{[]string{"space", "show", "req.a.b", "--data-dir", empty}, "flags go before KEY"},
		{[]string{"space", "count", "--data-dir", empty, "extra"}, "unexpected arguments"},
		{[]string{"space", "count", "--nats", "nats://127.0.0.1:1"}, "connect nats://127.0.0.1:1"},
		{[]string{"serve", "--data-dir", empty, "--nats-listen", "127.0.0.1:99999"}, "--nats-listen"},
		{[]string{"--log-level", "loud", "space", "count", "--data-dir", empty}, "--log-level"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _, err := run(ctx, c.args...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tuplebroker %s: err = %v, want it to contain %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("failed commands left files in the data dir: %v", entries)
	}
}

// TestNoBucket: inspecting a store without the bucket must not create it.
func TestNoBucket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := startServe(t, dir)
	_, _, err := run(context.Background(), "space", "count", "--nats", b.natsURL, "--bucket", "other")
	if err == nil || !strings.Contains(err.Error(), `bucket "other" does not exist`) {
		t.Fatalf("count of a missing bucket: err = %v", err)
	}
}
