package slurm

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// ---------------------------------------------------------------- live clusters

// cluster is one of the two Slurm clusters started by
// integration/schedulers/slurm.sh.
type cluster struct {
	name string // "slurm-a" or "slurm-b"
	conf string // its slurm.conf
	dir  string // TUPLEBROKER_SLURM_DIR
}

// liveClusters returns the clusters named by the environment the scheduler
// script writes (DIR/slurm.env). Without it the test is skipped, unless
// TUPLEBROKER_REQUIRE_SCHEDULERS=1, when it fails.
func liveClusters(t *testing.T) (a, b cluster) {
	t.Helper()
	dir := os.Getenv("TUPLEBROKER_SLURM_DIR")
	confA := os.Getenv("TUPLEBROKER_SLURM_A_CONF")
	confB := os.Getenv("TUPLEBROKER_SLURM_B_CONF")
	if dir == "" || confA == "" || confB == "" {
		msg := "no live Slurm clusters: run integration/schedulers/slurm.sh up DIR and source DIR/slurm.env " +
			"(TUPLEBROKER_SLURM_DIR, TUPLEBROKER_SLURM_A_CONF, TUPLEBROKER_SLURM_B_CONF)"
		if os.Getenv("TUPLEBROKER_REQUIRE_SCHEDULERS") == "1" {
			t.Fatal("TUPLEBROKER_REQUIRE_SCHEDULERS=1 but " + msg)
		}
		t.Skip(msg)
	}
	return cluster{"slurm-a", confA, dir}, cluster{"slurm-b", confB, dir}
}

// bothClusters runs f as a parallel subtest on each cluster.
func bothClusters(t *testing.T, f func(t *testing.T, c cluster)) {
	a, b := liveClusters(t)
	t.Parallel()
	for _, c := range []cluster{a, b} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f(t, c)
		})
	}
}

// newLive returns a backend for cluster c; cfg's zero fields get test
// defaults (a short CallTimeout).
func newLive(t *testing.T, c cluster, cfg Config) *Backend {
	t.Helper()
	cfg.Conf = c.conf
	if cfg.Name == "" {
		cfg.Name = c.name
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 20 * time.Second
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// jobDir returns a fresh directory for job files under the clusters' DIR,
// removed after the test.
func jobDir(t *testing.T, c cluster) string {
	t.Helper()
	base := filepath.Join(c.dir, "slurm-tests")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := os.MkdirTemp(base, strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

var guidSeq atomic.Int64

// newGUID returns a GUID unique across test runs (the clusters keep their
// jobs for an hour).
func newGUID() string {
	return fmt.Sprintf("t%d-%d-%d", time.Now().UnixNano(), os.Getpid(), guidSeq.Add(1))
}

func submit(t *testing.T, b *Backend, doc string) (guid, id string) {
	t.Helper()
	guid = newGUID()
	id, err := b.Submit(context.Background(), agents.Job{GUID: guid, Definition: parse(t, doc)})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return guid, id
}

func status(t *testing.T, b *Backend, id string) tuplebroker.Status {
	t.Helper()
	m, err := b.Status(context.Background(), []string{id})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	st, ok := m[id]
	if !ok {
		t.Fatalf("Status: job %s unknown", id)
	}
	return st
}

// waitFor polls the job's status until ok holds.
func waitFor(t *testing.T, b *Backend, id string, within time.Duration, what string, ok func(tuplebroker.Status) bool) tuplebroker.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := status(t, b, id)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %s after %v: %+v", id, what, within, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitEnd(t *testing.T, b *Backend, id string, within time.Duration) tuplebroker.Status {
	t.Helper()
	return waitFor(t, b, id, within, "ended", func(st tuplebroker.Status) bool { return st.State.Terminal() })
}

// counter counts the Slurm commands a backend runs, by wrapping its runner.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func countCalls(b *Backend) *counter {
	c := &counter{calls: map[string]int{}}
	inner := b.run
	b.run = func(ctx context.Context, cmd string, args []string, stdin []byte) ([]byte, []byte, error) {
		c.mu.Lock()
		c.calls[cmd]++
		c.mu.Unlock()
		return inner(ctx, cmd, args, stdin)
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

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
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

// ---------------------------------------------------------------- JSDL documents

// esc escapes s for XML character data; newlines and carriage returns
// become character references so they survive parsing as data.
func esc(s string) string {
	var buf bytes.Buffer
	if err := xml.EscapeText(&buf, []byte(s)); err != nil {
		panic(err)
	}
	return buf.String()
}

func px(name, value string) string {
	return fmt.Sprintf("<jsdl-posix:%s>%s</jsdl-posix:%s>", name, esc(value), name)
}

func pxEnv(name, value string) string {
	return fmt.Sprintf(`<jsdl-posix:Environment name="%s">%s</jsdl-posix:Environment>`, name, esc(value))
}

func cmdline(exe string, args ...string) string {
	s := px("Executable", exe)
	for _, a := range args {
		s += px("Argument", a)
	}
	return s
}

func posixApp(elems ...string) string {
	return "<jsdl-posix:POSIXApplication>" + strings.Join(elems, "") + "</jsdl-posix:POSIXApplication>"
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

func posixDoc(elems ...string) string { return jobDoc(posixApp(elems...)) }

func resources(elems ...string) string {
	return "<jsdl:Resources>" + strings.Join(elems, "") + "</jsdl:Resources>"
}

func exact(name string, v float64) string {
	return fmt.Sprintf("<jsdl:%s><jsdl:Exact>%g</jsdl:Exact></jsdl:%s>", name, v, name)
}

func parse(t *testing.T, doc string) *jsdl.JobDefinition {
	t.Helper()
	def, err := jsdl.ParseBytes([]byte(doc), jsdl.DefaultLimits())
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, doc)
	}
	return def
}

func parseDoc(doc string) (*jsdl.JobDefinition, error) {
	return jsdl.ParseBytes([]byte(doc), jsdl.DefaultLimits())
}
