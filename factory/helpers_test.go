package factory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/agents/sim"
	"tuplebroker/bus"
	"tuplebroker/jobmanager"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

const helloJSDL = `<?xml version="1.0" encoding="UTF-8"?>
<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
  xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix"><jsdl:JobDescription><jsdl:Application>
  <jsdl-posix:POSIXApplication><jsdl-posix:Executable>/bin/echo</jsdl-posix:Executable>
  <jsdl-posix:Argument>hello</jsdl-posix:Argument></jsdl-posix:POSIXApplication></jsdl:Application>
  </jsdl:JobDescription></jsdl:JobDefinition>`

// jsdlWith is a hello job whose JobDescription also holds extra.
func jsdlWith(extra string) string {
	return strings.Replace(helloJSDL, "</jsdl:JobDescription>", extra+"</jsdl:JobDescription>", 1)
}

// echoJSDL is a hello job printing arg: a different document each time.
func echoJSDL(arg string) string {
	return strings.Replace(helloJSDL, ">hello<", ">"+arg+"<", 1)
}

const (
	aliceToken = "alice-token-0123456789abcdef"
	bobToken   = "bob-token-0123456789abcdef"
)

// quiet is the logger of every role in tests.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pool is one test's broker: an embedded nats-server and the roles on it,
// each role with its own connection and Space, as separate processes would.
type pool struct {
	t      *testing.T
	url    string
	ctx    context.Context // ends when the test ends
	sp     *space.Space    // the test's own view of the space
	names  *space.Names
	tokens string // tokens file
}

func newPool(t *testing.T) *pool {
	t.Helper()
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &pool{t: t, url: srv.ClientURL(), ctx: ctx}
	p.sp, p.names, _ = p.open()
	p.tokens = filepath.Join(t.TempDir(), "tokens")
	data := "# test users\n" + aliceToken + " alice\n\n" + bobToken + " bob\n"
	if err := os.WriteFile(p.tokens, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// open connects a new "process": connection, Space, Names and Bus.
func (p *pool) open() (*space.Space, *space.Names, *bus.Bus) {
	p.t.Helper()
	nc, err := space.Connect(p.url)
	if err != nil {
		p.t.Fatal(err)
	}
	sp, err := space.Open(context.Background(), nc, space.WithMemoryStorage(), space.WithLogger(quiet()))
	if err != nil {
		p.t.Fatal(err)
	}
	names, err := sp.OpenNames(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	b, err := bus.New(nc, bus.WithLogger(quiet()))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { sp.Close(); nc.Close() })
	return sp, names, b
}

// fac is a factory served over HTTP.
type fac struct {
	*Factory
	url string
}

// newFactory starts a factory (its own connection) behind an httptest
// server; mod changes its configuration.
func (p *pool) newFactory(handle string, mod func(*Config)) *fac {
	p.t.Helper()
	sp, names, b := p.open()
	tokens, err := LoadTokens(p.tokens)
	if err != nil {
		p.t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Handle = handle
	cfg.Tokens = tokens
	cfg.Logger = quiet()
	if mod != nil {
		mod(&cfg)
	}
	f, err := New(cfg, sp, names, b, b, b)
	if err != nil {
		p.t.Fatal(err)
	}
	ts := httptest.NewServer(f)
	p.t.Cleanup(func() { ts.Close(); f.Close() })
	return &fac{Factory: f, url: ts.URL}
}

func hybrid(t *testing.T, keep int) strategies.FactoryStrategy {
	t.Helper()
	c := strategies.DefaultFactoryConfig()
	c.KeepCouriers = keep
	st, err := strategies.NewFactoryStrategy("hybrid", c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fastSim is an instant, unlimited, deterministic simulated broker.
func fastSim(name string, run time.Duration) sim.Config {
	return sim.Config{Name: name, Capabilities: []string{"arch=x86_64", "os=LINUX"}, RunTime: sim.Fixed(run), Seed: 1}
}

// agentOpts tune startAgent.
type agentOpts struct {
	couriers     int
	courierLease time.Duration
	slowPull     bool // the pull workers' throttle allows one take, then none for 1000 s
}

// startAgent runs an agent over a sim backend, on its own connection,
// advertising in the names and serving its bus address, until ctx ends.
// It returns the backend and a channel closed when the agent has stopped.
func (p *pool) startAgent(ctx context.Context, cfg sim.Config, o agentOpts) (*sim.Backend, <-chan struct{}) {
	p.t.Helper()
	be, err := sim.New(context.Background(), cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { be.Close(context.Background()) })
	tcfg := strategies.DefaultThrottleConfig()
	tcfg.Fixed = strategies.FixedConfig{Rate: 100000, Burst: 1000}
	if o.slowPull {
		tcfg.Fixed = strategies.FixedConfig{Rate: strategies.MinRateLimit, Burst: 1}
	}
	th, err := strategies.NewThrottle("fixed", tcfg)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	sp, names, b := p.open()
	acfg := agents.DefaultConfig()
	acfg.Name = cfg.Name
	acfg.Workers = 2
	acfg.TxnLease = 5 * time.Second
	acfg.Logger = quiet()
	acfg.Names = names
	acfg.Couriers = o.couriers
	acfg.Address = b.AgentAddress(cfg.Name)
	if o.courierLease > 0 {
		acfg.CourierLease = o.courierLease
	}
	a, err := agents.New(acfg, sp, be, th)
	if err != nil {
		p.t.Fatal(err)
	}
	srv, err := b.ServeAgent(p.serveContext(ctx), cfg.Name, a)
	if err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
		srv.Stop()
	}()
	p.t.Cleanup(func() { cancel(); <-done })
	p.eventually("advert of "+cfg.Name, func() bool {
		ads, err := p.names.Adverts(ctx)
		if err != nil {
			return false
		}
		for _, ad := range ads {
			if ad.Agent == cfg.Name {
				return true
			}
		}
		return false
	})
	return be, done
}

// serveContext gives ctx a deadline far beyond any test: bus.ServeAgent
// and ServeManager flush with their ctx, which nats requires to have one.
func (p *pool) serveContext(ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(ctx, time.Hour)
	p.t.Cleanup(cancel)
	return c
}

// eventually polls cond every 20 ms for up to 20 s.
func (p *pool) eventually(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spaceJobs returns the requests and responses in the space.
func (p *pool) spaceJobs() (reqs, resps []space.Entry) {
	return p.sp.Entries(tuplebroker.RequestTemplate{}), p.sp.Entries(tuplebroker.ResponseTemplate{})
}

// assertNoJobs checks that neither the factory's view of the space (which
// holds its own writes at once) nor the test's holds a request or response.
func (p *pool) assertNoJobs(f *fac, what string) {
	p.t.Helper()
	for _, sp := range []*space.Space{f.sp, p.sp} {
		reqs, resps := sp.Entries(tuplebroker.RequestTemplate{}), sp.Entries(tuplebroker.ResponseTemplate{})
		if len(reqs)+len(resps) != 0 {
			p.t.Errorf("%s: the space holds %d requests and %d responses, want none", what, len(reqs), len(resps))
		}
	}
}

// startManager runs a real manager node (jobmanager.Node) with the given
// handle on its own connection, served on the bus, until the test ends.
func (p *pool) startManager(handle string) *jobmanager.Node {
	p.t.Helper()
	sp, names, b := p.open()
	cfg := jobmanager.DefaultConfig()
	cfg.Handle = handle
	cfg.PollInterval = 100 * time.Millisecond
	cfg.Logger = quiet()
	adm, err := strategies.NewAdmission("maxjobs", strategies.DefaultAdmissionConfig())
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.Admission = adm
	node, err := jobmanager.New(cfg, sp, names, b, b)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(p.ctx)
	srv, err := b.ServeManager(p.serveContext(ctx), handle, node)
	if err != nil {
		cancel()
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := node.Run(ctx); err != nil {
			p.t.Errorf("manager %s: %v", handle, err)
		}
	}()
	p.t.Cleanup(func() { cancel(); srv.Stop(); <-done })
	return node
}

// reply is an HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) job(t *testing.T) tuplebroker.Job {
	t.Helper()
	var j tuplebroker.Job
	if err := json.Unmarshal(r.body, &j); err != nil {
		t.Fatalf("decode job from %d %s: %v", r.status, r.body, err)
	}
	return j
}

// problemOf decodes a problem+json answer.
func (r reply) problem(t *testing.T) problemBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (body %s)", ct, r.body)
	}
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != r.status {
		t.Errorf("problem status %d, HTTP status %d", p.Status, r.status)
	}
	return p
}

// call makes one request; header holds extra headers ("" token: none).
func call(t *testing.T, method, url, token, body string, header map[string]string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/xml")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// submit POSTs a document as alice (query: e.g. "?wait=0").
func (f *fac) submit(t *testing.T, token, doc, query string, header map[string]string) reply {
	t.Helper()
	return call(t, http.MethodPost, f.url+"/v1/jobs"+query, token, doc, header)
}

func (f *fac) getJob(t *testing.T, token, id string) reply {
	t.Helper()
	return call(t, http.MethodGet, f.url+"/v1/jobs/"+id, token, "", nil)
}

// waitJob polls GET until cond holds for the job.
func (p *pool) waitJob(f *fac, token, id, what string, cond func(tuplebroker.Job) bool) tuplebroker.Job {
	p.t.Helper()
	var last tuplebroker.Job
	p.eventually(what, func() bool {
		r := f.getJob(p.t, token, id)
		if r.status != http.StatusOK {
			return false
		}
		last = r.job(p.t)
		return cond(last)
	})
	return last
}

// sseEvent is one event of a stream.
type sseEvent struct {
	name, id string
	job      tuplebroker.Job
}

// readEvents reads events from an event stream until it ends or n events
// (n > 0) have arrived; keepalive comments are skipped.
func readEvents(t *testing.T, body io.Reader, n int) ([]sseEvent, error) {
	t.Helper()
	sc := bufio.NewScanner(body)
	var out []sseEvent
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
				if n > 0 && len(out) == n {
					return out, nil
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.job); err != nil {
				return out, fmt.Errorf("event data %q: %w", line, err)
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return out, err
	}
	return out, nil
}

// bigDoc is a valid document padded to more than n bytes by a comment.
func bigDoc(n int) string {
	var b bytes.Buffer
	b.WriteString(helloJSDL)
	b.WriteString("<!--")
	for b.Len() < n+16 {
		b.WriteString("padding padding padding padding ")
	}
	b.WriteString("-->")
	return b.String()
}

// guids lists the GUIDs of a backend's submissions.
func guids(recs []sim.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.GUID
	}
	return out
}

// newHTTPServer serves h until the test ends and returns its URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
