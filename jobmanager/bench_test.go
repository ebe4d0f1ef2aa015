package jobmanager_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/jobmanager"
	"tuplebroker/space"
	"tuplebroker/strategies"
)

// BenchmarkHosting measures a node's hosting throughput — unpublished
// Responses taken and written back published, in transactions — beside a
// raw space Write of the same Responses in the same run. Embedded server,
// memory storage.
//
//	go test -run '^$' -bench Hosting ./jobmanager/
func BenchmarkHosting(b *testing.B) {
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(b *testing.B) *space.Space {
		nc, err := space.Connect(srv.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		sp, err := space.Open(context.Background(), nc, space.WithMemoryStorage(), space.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sp.Close(); nc.Close() })
		return sp
	}
	run := 0
	resp := func(i int) *tuplebroker.Response {
		now := time.Now()
		req := &tuplebroker.Request{GUID: fmt.Sprintf("r%d-%08d", run, i), UID: "alice", Created: now}
		return tuplebroker.NewResponse(req, "a1", "a1", fmt.Sprintf("a1-%d-%d", run, i), now, false)
	}
	ctx := context.Background()

	b.Run("raw-write", func(b *testing.B) {
		run++
		sp := open(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sp.Write(ctx, resp(i), space.Forever); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
		drain(b, sp)
	})

	b.Run("node", func(b *testing.B) {
		run++
		writer := open(b)
		for i := 0; i < b.N; i++ {
			if _, err := writer.Write(ctx, resp(i), space.Forever); err != nil {
				b.Fatal(err)
			}
		}
		sp := open(b)
		names, err := sp.OpenNames(ctx)
		if err != nil {
			b.Fatal(err)
		}
		acfg := strategies.DefaultAdmissionConfig()
		acfg.MaxJobs = 1 << 30
		adm, _ := strategies.NewAdmission("maxjobs", acfg)
		cfg := jobmanager.DefaultConfig()
		cfg.Handle = fmt.Sprintf("bench%d", run)
		cfg.Admission, cfg.Logger = adm, quiet
		n, err := jobmanager.New(cfg, sp, names, unavailable{}, discard{})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.ResetTimer()
		go func() { done <- n.Run(rctx) }()
		for n.Snapshot().Hosted() < b.N {
			time.Sleep(200 * time.Microsecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if got := len(sp.Entries(tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), Manager: cfg.Handle})); got != b.N {
			b.Fatalf("%d published responses, want %d", got, b.N)
		}
		drain(b, sp)
	})
}

// drain empties the space between runs.
func drain(b *testing.B, sp *space.Space) {
	for {
		_, err := sp.TryTake(context.Background(), tuplebroker.ResponseTemplate{})
		if err != nil {
			return
		}
	}
}

type unavailable struct{}

func (unavailable) AgentStatus(context.Context, string, []string) (map[string]tuplebroker.Status, error) {
	return nil, fmt.Errorf("bench: %w", tuplebroker.ErrUnavailable)
}

func (unavailable) AgentCancel(context.Context, string, string) error {
	return fmt.Errorf("bench: %w", tuplebroker.ErrUnavailable)
}

type discard struct{}

func (discard) PublishEvent(tuplebroker.Job) error { return nil }
