package factory

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"tuplebroker"
)

// The list is the caller's jobs, newest first, cut at the limit, whether
// queued, submitted or hosted.
func TestListNewestFirst(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", time.Hour), agentOpts{})
	f := p.newFactory("f1", nil)

	var ids []string
	for i := 0; i < 3; i++ {
		r := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		ids = append(ids, r.job(t).ID)
	}
	// Submitted, not yet hosted; then one of them hosted.
	p.eventually("three responses", func() bool { _, resps := p.spaceJobs(); return len(resps) == 3 })
	p.startManager("m1")
	p.waitJob(f, aliceToken, ids[0], "hosted and running", func(j tuplebroker.Job) bool {
		return j.Manager == "m1" && j.State == tuplebroker.Running
	})

	get := func(query string) []tuplebroker.Job {
		t.Helper()
		r := call(t, http.MethodGet, f.url+"/v1/jobs"+query, aliceToken, "", nil)
		var l jobList
		if r.status != http.StatusOK || json.Unmarshal(r.body, &l) != nil {
			t.Fatalf("list%s: %d %s", query, r.status, r.body)
		}
		return l.Jobs
	}
	all := get("")
	if len(all) != 3 || all[0].ID != ids[2] || all[1].ID != ids[1] || all[2].ID != ids[0] {
		t.Fatalf("list %+v, want %v newest first", all, ids)
	}
	if two := get("?limit=2"); len(two) != 2 || two[0].ID != ids[2] {
		t.Fatalf("limit 2: %+v", two)
	}
	p.eventually("all running", func() bool { return len(get("?state=running")) == 3 })
	if pend := get("?state=Pending"); len(pend) != 0 {
		t.Fatalf("pending: %+v", pend)
	}
}

// Idle streams carry keepalive comments.
func TestEventsKeepalive(t *testing.T) {
	p := newPool(t)
	p.startAgent(p.ctx, fastSim("simA", time.Hour), agentOpts{})
	f := p.newFactory("f1", func(c *Config) { c.KeepAlive = 100 * time.Millisecond })
	id := f.submit(t, aliceToken, helloJSDL, "?wait=0", nil).job(t).ID
	resp := openEvents(t, p.ctx, f.url+"/v1/jobs/"+id+"/events", aliceToken)
	defer resp.Body.Close()
	buf := make([]byte, 0, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for !containsLine(buf, ": keepalive") {
		if time.Now().After(deadline) {
			t.Fatalf("no keepalive in %q", buf)
		}
		chunk := make([]byte, 512)
		n, err := resp.Body.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			t.Fatalf("stream ended: %v after %q", err, buf)
		}
	}
}

func containsLine(b []byte, line string) bool {
	for _, l := range splitLines(string(b)) {
		if l == line {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	tk := &Tokens{}
	ok := DefaultConfig()
	ok.Handle, ok.Tokens = "f1", tk
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"no handle":         func(c *Config) { c.Handle = "" },
		"bad handle":        func(c *Config) { c.Handle = "f.1" },
		"no strategy":       func(c *Config) { c.Strategy = nil },
		"no tokens":         func(c *Config) { c.Tokens = nil },
		"wait over max":     func(c *Config) { c.DefaultWait = 2 * c.MaxWait },
		"negative wait":     func(c *Config) { c.DefaultWait = -time.Second },
		"no cancel wait":    func(c *Config) { c.CancelWait = 0 },
		"tiny keepalive":    func(c *Config) { c.KeepAlive = time.Millisecond },
		"nil logger":        func(c *Config) { c.Logger = nil },
		"negative max body": func(c *Config) { c.Limits.MaxBytes = -1 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(ok, nil, nil, nil, nil, nil); err == nil {
		t.Error("New without a space: accepted")
	}
}
