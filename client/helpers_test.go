package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tuplebroker/agents"
	"tuplebroker/agents/sim"
	"tuplebroker/bus"
	"tuplebroker/client"
	"tuplebroker/factory"
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

// echoJSDL is a hello job printing arg: a different document each time.
func echoJSDL(arg string) []byte {
	return []byte(strings.Replace(helloJSDL, ">hello<", ">"+arg+"<", 1))
}

const (
	aliceToken = "alice-token-0123456789abcdef"
	bobToken   = "bob-token-0123456789abcdef"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pool is one test's broker, all in this process: an embedded nats-server
// (memory storage), and on it, each with its own connection and Space as
// separate processes would, a manager node, a sim agent and a factory
// served over HTTP on loopback.
type pool struct {
	t   *testing.T
	url string // the factory's base URL
	ctx context.Context
	sim *sim.Backend
}

// newPool starts a pool whose sim agent runs each job for run.
func newPool(t *testing.T, run time.Duration) *pool {
	t.Helper()
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &pool{t: t, ctx: ctx}
	natsURL := srv.ClientURL()

	// The agent.
	be, err := sim.New(ctx, sim.Config{Name: "simA", Capabilities: []string{"arch=x86_64", "os=LINUX"}, RunTime: sim.Fixed(run), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close(context.Background()) })
	p.sim = be
	tcfg := strategies.DefaultThrottleConfig()
	tcfg.Fixed = strategies.FixedConfig{Rate: 100000, Burst: 1000}
	th, err := strategies.NewThrottle("fixed", tcfg)
	if err != nil {
		t.Fatal(err)
	}
	sp, names, b := p.open(natsURL)
	acfg := agents.DefaultConfig()
	acfg.Name = "simA"
	acfg.Workers = 2
	acfg.TxnLease = 5 * time.Second
	acfg.Logger = quiet()
	acfg.Names = names
	acfg.Address = b.AgentAddress("simA")
	a, err := agents.New(acfg, sp, be, th)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	asrv, err := b.ServeAgent(p.serveContext(actx), "simA", a)
	if err != nil {
		t.Fatal(err)
	}
	adone := make(chan struct{})
	go func() { defer close(adone); a.Run(actx); asrv.Stop() }()
	t.Cleanup(func() { acancel(); <-adone })

	// The manager node.
	sp, names, b = p.open(natsURL)
	mcfg := jobmanager.DefaultConfig()
	mcfg.Handle = "m1"
	mcfg.PollInterval = 100 * time.Millisecond
	mcfg.Logger = quiet()
	adm, err := strategies.NewAdmission("maxjobs", strategies.DefaultAdmissionConfig())
	if err != nil {
		t.Fatal(err)
	}
	mcfg.Admission = adm
	node, err := jobmanager.New(mcfg, sp, names, b, b)
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	msrv, err := b.ServeManager(p.serveContext(mctx), "m1", node)
	if err != nil {
		t.Fatal(err)
	}
	mdone := make(chan struct{})
	go func() {
		defer close(mdone)
		if err := node.Run(mctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { mcancel(); msrv.Stop(); <-mdone })

	// The factory, once the agent's advert is visible (else a submission
	// could be refused as unservable).
	sp, names, b = p.open(natsURL)
	p.eventually("the agent's advert", func() bool {
		ads, err := names.Adverts(ctx)
		return err == nil && len(ads) > 0
	})
	tokensFile := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokensFile, []byte(aliceToken+" alice\n"+bobToken+" bob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := factory.LoadTokens(tokensFile)
	if err != nil {
		t.Fatal(err)
	}
	fcfg := factory.DefaultConfig()
	fcfg.Handle = "f1"
	fcfg.Tokens = tokens
	fcfg.Logger = quiet()
	f, err := factory.New(fcfg, sp, names, b, b, b)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f)
	t.Cleanup(func() { ts.Close(); f.Close() })
	p.url = ts.URL
	return p
}

// open connects a new "process": connection, Space, Names and Bus.
func (p *pool) open(natsURL string) (*space.Space, *space.Names, *bus.Bus) {
	p.t.Helper()
	nc, err := space.Connect(natsURL)
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

// client is a client of the pool's factory with token.
func (p *pool) client(token string) *client.Client {
	p.t.Helper()
	c, err := client.New(p.url, token, client.WithTimeout(time.Minute))
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}
