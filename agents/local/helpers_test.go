package local

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// esc escapes s for XML character data (newlines become &#xA;, so they
// survive as data).
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

func parse(t *testing.T, doc string) *jsdl.JobDefinition {
	t.Helper()
	def, err := jsdl.ParseBytes([]byte(doc), jsdl.DefaultLimits())
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, doc)
	}
	return def
}

var guidSeq atomic.Int64

func newGUID() string { return fmt.Sprintf("guid-%d-%d", os.Getpid(), guidSeq.Add(1)) }

// newBackend returns a backend rooted in a fresh temporary directory
// (unless cfg.Root is set), closed at the end of the test.
func newBackend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	if cfg.Slots == 0 {
		cfg.Slots = 8
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// submitDoc parses doc and submits it under a fresh GUID, as the agent
// core does: agents.Admit, then Submit.
func submitDoc(t *testing.T, b *Backend, doc string) (id string, err error) {
	t.Helper()
	def := parse(t, doc)
	if err := agents.Admit(def, b.Capabilities()); err != nil {
		return "", err
	}
	return b.Submit(context.Background(), agents.Job{GUID: newGUID(), Definition: def})
}

// mustSubmit is submitDoc failing the test on error.
func mustSubmit(t *testing.T, b *Backend, doc string) string {
	t.Helper()
	id, err := submitDoc(t, b, doc)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return id
}

// status returns the job's status, failing if it is unknown.
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

// waitEnd polls until the job is in a terminal state.
func waitEnd(t *testing.T, b *Backend, id string, within time.Duration) tuplebroker.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := status(t, b, id)
		if st.State.Terminal() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s/%s after %v", id, st.State, st.SubState, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidOf returns the pid (and process group id) of a job.
func pidOf(t *testing.T, b *Backend, id string) int {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	j, ok := b.jobs[id]
	if !ok {
		t.Fatalf("no job %s", id)
	}
	return j.pid
}

// groupMembers lists the live (not zombie) processes of process group pgid,
// from /proc/PID/stat.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid pgrp ...
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid && f[0] != "Z" && f[0] != "X" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitGroupEmpty fails unless process group pgid has no live member within
// the given time.
func waitGroupEmpty(t *testing.T, pgid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := groupMembers(t, pgid)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live members %v", pgid, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGroupSize waits until process group pgid has at least n live members.
func waitGroupSize(t *testing.T, pgid, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := groupMembers(t, pgid)
		if len(m) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d has members %v, want at least %d", pgid, m, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(t *testing.T, p string) string {
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
