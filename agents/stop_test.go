package agents_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// blocking is a backend whose Submit waits until its ctx ends.
type blocking struct{ submitting chan struct{} }

func (blocking) Name() string           { return "blocking" }
func (blocking) Capabilities() []string { return nil }
func (b blocking) Submit(ctx context.Context, job agents.Job) (string, error) {
	select {
	case b.submitting <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return "", fmt.Errorf("%w: %w", tuplebroker.ErrRefused, ctx.Err())
}

// An agent stopped while the space is unreachable does not hang on the
// commit of the submission it was making: it gives up after the stop
// grace (the request comes back when its transaction's lease ends).
func TestStopWithTheSpaceGone(t *testing.T) {
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := space.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sp, err := space.Open(context.Background(), nc, space.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	th, err := strategies.NewThrottle("fixed", strategies.DefaultThrottleConfig())
	if err != nil {
		t.Fatal(err)
	}
	be := blocking{submitting: make(chan struct{}, 1)}
	cfg := agents.DefaultConfig()
	cfg.Name, cfg.Workers = "a-stop", 1 // TxnLease: the default, 30 s
	a, err := agents.New(cfg, sp, be, th)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()

	r := &tuplebroker.Request{GUID: uuid.NewString(), UID: "alice", JSDL: []byte(helloJSDL), Created: time.Now()}
	if _, err := sp.Write(ctx, r, space.Forever); err != nil {
		t.Fatal(err)
	}
	select {
	case <-be.submitting:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent never submitted")
	}
	srv.Shutdown()
	start := time.Now()
	cancel()
	select {
	case <-done:
		t.Logf("stopped in %v", time.Since(start))
	case <-time.After(3 * tuplebroker.StopGrace):
		t.Fatalf("Run still running %v after its ctx ended, with the space gone", 3*tuplebroker.StopGrace)
	}
}
