package gridengine

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// TestMain doubles as a job program: with GRIDENGINE_TEST_HELPER=dump in
// its environment the test binary prints what it was started with.
func TestMain(m *testing.M) {
	if os.Getenv("GRIDENGINE_TEST_HELPER") == "dump" {
		os.Exit(helperDump())
	}
	os.Exit(m.Run())
}

// dump is what the helper program reports on its standard output.
type dump struct {
	Args  []string          `json:"args"`
	Env   map[string]string `json:"env"`
	Cwd   string            `json:"cwd"`
	Stdin string            `json:"stdin"`
}

// helperDump writes a dump to stdout (its arguments, every INJ*, NSLOTS and
// GRIDENGINE_* variable, its working directory and standard input), writes
// "stderr:" and its first argument to stderr, sleeps GRIDENGINE_TEST_SLEEP
// seconds and exits with GRIDENGINE_TEST_EXIT.
func helperDump() int {
	d := dump{Args: os.Args[1:], Env: map[string]string{}}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "INJ") || strings.HasPrefix(k, "GRIDENGINE_") || k == "NSLOTS" {
			d.Env[k] = v
		}
	}
	d.Cwd, _ = os.Getwd()
	in, _ := io.ReadAll(os.Stdin)
	d.Stdin = string(in)
	if err := json.NewEncoder(os.Stdout).Encode(d); err != nil {
		return 100
	}
	first := ""
	if len(d.Args) > 0 {
		first = d.Args[0]
	}
	fmt.Fprint(os.Stderr, "stderr:"+first)
	if s, err := strconv.Atoi(os.Getenv("GRIDENGINE_TEST_SLEEP")); err == nil {
		time.Sleep(time.Duration(s) * time.Second)
	}
	code, _ := strconv.Atoi(os.Getenv("GRIDENGINE_TEST_EXIT"))
	return code
}

// esc escapes s for XML character data (\n and \r become character
// references, so they survive as data).
func esc(s string) string {
	var buf bytes.Buffer
	if err := xml.EscapeText(&buf, []byte(s)); err != nil {
		panic(err)
	}
	return buf.String()
}

// px returns a jsdl-posix element with text value.
func px(name, value string) string {
	return fmt.Sprintf("<jsdl-posix:%s>%s</jsdl-posix:%s>", name, esc(value), name)
}

// pxEnv returns a jsdl-posix:Environment element.
func pxEnv(name, value string) string {
	return fmt.Sprintf(`<jsdl-posix:Environment name="%s">%s</jsdl-posix:Environment>`, name, esc(value))
}

// cmdline returns the Executable and Argument elements for argv.
func cmdline(exe string, args ...string) string {
	s := px("Executable", exe)
	for _, a := range args {
		s += px("Argument", a)
	}
	return s
}

// posixApp wraps elements in a POSIXApplication.
func posixApp(elems ...string) string {
	return "<jsdl-posix:POSIXApplication>" + strings.Join(elems, "") + "</jsdl-posix:POSIXApplication>"
}

// resources wraps elements in jsdl:Resources.
func resources(elems ...string) string {
	return "<jsdl:Resources>" + strings.Join(elems, "") + "</jsdl:Resources>"
}

// lower returns a jsdl RangeValue element with a LowerBoundedRange.
func lower(name string, v float64) string {
	return fmt.Sprintf("<jsdl:%s><jsdl:LowerBoundedRange>%g</jsdl:LowerBoundedRange></jsdl:%s>", name, v, name)
}

// jobDoc returns a JSDL document with the given Application content and
// further JobDescription children (Resources, DataStaging).
func jobDoc(application string, more ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
    xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix"
    xmlns:jsdl-hpcpa="http://schemas.ggf.org/jsdl/2006/07/jsdl-hpcpa"
    xmlns:jsdl-spmd="http://schemas.ogf.org/jsdl/2007/02/jsdl-spmd">
  <jsdl:JobDescription>
    <jsdl:Application>` + application + `</jsdl:Application>` + strings.Join(more, "") + `
  </jsdl:JobDescription>
</jsdl:JobDefinition>`
}

// posixDoc is jobDoc(posixApp(elems...)).
func posixDoc(elems ...string) string { return jobDoc(posixApp(elems...)) }

func parse(t testing.TB, doc string) *jsdl.JobDefinition {
	t.Helper()
	def, err := jsdl.ParseBytes([]byte(doc), jsdl.DefaultLimits())
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, doc)
	}
	return def
}

var guidSeq atomic.Int64

// newGUID returns a fresh GUID starting with a digit, as UUIDs may.
func newGUID() string {
	return fmt.Sprintf("%d-%d-%d", time.Now().UnixNano()%1e9, os.Getpid(), guidSeq.Add(1))
}

// cell is a live Grid Engine cell started by integration/schedulers/gridengine.sh.
type cell struct {
	root, cell, queue, pe, dir string
	qport, eport, slots        int
}

// liveCell returns the cell described by the TUPLEBROKER_SGE_* variables
// the script writes to DIR/gridengine.env. Without them the test is
// skipped, or fails if TUPLEBROKER_REQUIRE_SCHEDULERS=1.
func liveCell(t testing.TB) cell {
	t.Helper()
	c := cell{
		root: os.Getenv("TUPLEBROKER_SGE_ROOT"), cell: os.Getenv("TUPLEBROKER_SGE_CELL"),
		queue: os.Getenv("TUPLEBROKER_SGE_QUEUE"), pe: os.Getenv("TUPLEBROKER_SGE_PE"),
		dir: os.Getenv("TUPLEBROKER_SGE_DIR"),
	}
	c.qport, _ = strconv.Atoi(os.Getenv("TUPLEBROKER_SGE_QMASTER_PORT"))
	c.eport, _ = strconv.Atoi(os.Getenv("TUPLEBROKER_SGE_EXECD_PORT"))
	c.slots, _ = strconv.Atoi(os.Getenv("TUPLEBROKER_SGE_SLOTS"))
	if c.root == "" || c.cell == "" || c.queue == "" || c.dir == "" || c.qport == 0 {
		msg := "no Grid Engine cell: run integration/schedulers/gridengine.sh up DIR and source DIR/gridengine.env"
		if os.Getenv("TUPLEBROKER_REQUIRE_SCHEDULERS") == "1" {
			t.Fatal(msg + " (TUPLEBROKER_REQUIRE_SCHEDULERS=1)")
		}
		t.Skip(msg)
	}
	return c
}

// tempDir makes a directory for job files inside the cell's DIR (jobs run
// as root on this machine), removed at the end of the test.
func (c cell) tempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp(c.dir, "gotest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// backend returns a backend on the live cell, closed at the end of the
// test; jobs submitted through submit are deleted then too.
func (c cell) backend(t testing.TB, mod func(*Config)) *liveBackend {
	t.Helper()
	cfg := Config{
		Name: "gridengine-test", Root: c.root, Cell: c.cell, QmasterPort: c.qport, ExecdPort: c.eport,
		Queue: c.queue, ParallelEnv: c.pe, MaxSlots: c.slots,
		CallTimeout: 10 * time.Second, AccountingLag: 2 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lb := &liveBackend{Backend: b, t: t}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		lb.mu.Lock()
		ids := lb.ids
		lb.mu.Unlock()
		for _, id := range ids {
			_ = b.Cancel(ctx, id) // finished ones: nothing happens
		}
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return lb
}

type liveBackend struct {
	*Backend
	t   testing.TB
	mu  sync.Mutex
	ids []string
}

// submit parses doc and submits it under a fresh GUID, as the agent core
// does: agents.Admit, then Submit.
func (b *liveBackend) submit(doc string) (guid, id string, err error) {
	b.t.Helper()
	guid = newGUID()
	def := parse(b.t, doc)
	if err := agents.Admit(def, b.Capabilities()); err != nil {
		return guid, "", err
	}
	id, err = b.Submit(context.Background(), agents.Job{GUID: guid, Definition: def})
	if err == nil {
		b.mu.Lock()
		b.ids = append(b.ids, id)
		b.mu.Unlock()
	}
	return guid, id, err
}

// mustSubmit is submit failing the test on error.
func (b *liveBackend) mustSubmit(doc string) (guid, id string) {
	b.t.Helper()
	guid, id, err := b.submit(doc)
	if err != nil {
		b.t.Fatalf("Submit: %v", err)
	}
	return guid, id
}

// status returns the job's status, failing if it is unknown.
func (b *liveBackend) status(id string) tuplebroker.Status {
	b.t.Helper()
	m, err := b.Status(context.Background(), []string{id})
	if err != nil {
		b.t.Fatalf("Status: %v", err)
	}
	st, ok := m[id]
	if !ok {
		b.t.Fatalf("Status: job %s unknown", id)
	}
	return st
}

// waitFor polls until cond holds for the job's status.
func (b *liveBackend) waitFor(id, what string, within time.Duration, cond func(tuplebroker.Status) bool) tuplebroker.Status {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := b.status(id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("job %s not %s after %v: %+v", id, what, within, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEnd polls until the job is in a terminal state.
func (b *liveBackend) waitEnd(id string) tuplebroker.Status {
	b.t.Helper()
	return b.waitFor(id, "ended", 60*time.Second, func(st tuplebroker.Status) bool { return st.State.Terminal() })
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func wantRejected(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, tuplebroker.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
}

func wantRefused(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, tuplebroker.ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
}

// script runs integration/schedulers/gridengine.sh with args.
func (c cell) script(t *testing.T, args ...string) {
	t.Helper()
	p, err := filepath.Abs("../../integration/schedulers/gridengine.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(os.Environ(), "TUPLEBROKER_SGE_QMASTER_PORT="+strconv.Itoa(c.qport), "TUPLEBROKER_SGE_EXECD_PORT="+strconv.Itoa(c.eport))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", p, args, err, out)
	}
}

// counter wraps a backend's command runner and counts calls per command.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func countCalls(b *Backend) *counter {
	c := &counter{calls: map[string]int{}}
	next := b.run
	b.run = func(ctx context.Context, cmd string, args ...string) ([]byte, []byte, error) {
		c.mu.Lock()
		c.calls[cmd]++
		c.mu.Unlock()
		return next(ctx, cmd, args...)
	}
	return c
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		m[k] = v
	}
	return m
}
