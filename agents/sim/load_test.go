package sim

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"tuplebroker"

	"tuplebroker/agents"
)

// TestExactlyOnceAudit submits 100k distinct jobs from many goroutines with
// zero latency on real time: every one is accepted once, and the records
// say so.
func TestExactlyOnceAudit(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	cfg := baseConfig(nil)
	cfg.RunSlots, cfg.RunTime, cfg.Retention = 1000, Uniform(0, time.Millisecond), time.Hour
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	workers := 4 * runtime.GOMAXPROCS(0)
	var next atomic.Int64
	ids := make([]string, n)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var mine []string
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				id, err := b.Submit(context.Background(), ajob(guid(i)))
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = id
				mine = append(mine, id)
				if i%1000 == 0 { // pollers alongside
					if _, err := b.Status(context.Background(), mine[max(0, len(mine)-1000):]); err != nil {
						t.Error(err)
					}
					if _, found, _ := b.Find(context.Background(), guid(i)); !found {
						t.Errorf("%s not found", guid(i))
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d submissions from %d goroutines in %v", n, workers, time.Since(start))

	s := b.Stats()
	if s.Accepted != n || s.Duplicates != 0 || s.Refused != 0 || s.Known != n {
		t.Fatalf("stats %+v", s)
	}
	recs := b.Submissions()
	guids, jobIDs := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		if guids[r.GUID] || jobIDs[r.BackendJobID] {
			t.Fatalf("duplicate record %+v", r)
		}
		guids[r.GUID], jobIDs[r.BackendJobID] = true, true
	}
	if len(recs) != n {
		t.Fatalf("%d records", len(recs))
	}
}

// TestConcurrentAccounting hammers a small, refusing backend from many
// goroutines: every attempt is accounted for exactly once.
func TestConcurrentAccounting(t *testing.T) {
	cfg := baseConfig(nil)
	cfg.SubmitLatency, cfg.SubmitJitter = 100*time.Microsecond, 200*time.Microsecond
	cfg.Concurrency, cfg.QueueSlots, cfg.RunSlots = 4, 50, 10
	cfg.RefuseAbove, cfg.RefuseBase, cfg.RefuseLoad = 5000, 0.05, 0.3
	cfg.RunTime, cfg.FailFraction, cfg.LostReplyProbability = Exponential(time.Millisecond), 0.1, 0.05
	cfg.RejectRequirements, cfg.Retention = []string{"os=WINNT"}, 10*time.Millisecond
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	const goroutines, each = 16, 300
	var refused, rejected, lost, accepted, cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range each {
				j := ajob(guid(g*each + i))
				if i%10 == 0 {
					j = jobOn(j.GUID, "WINNT", "")
				}
				sctx, cancel := ctx, context.CancelFunc(func() {})
				if i%25 == 1 {
					sctx, cancel = context.WithCancel(ctx)
					cancel() // abandoned at once
				}
				id, err := b.Submit(sctx, j)
				cancel()
				switch {
				case err == nil:
					accepted.Add(1)
					if i%7 == 0 {
						b.Cancel(ctx, id)
					}
					b.Status(ctx, []string{id})
				case errors.Is(err, tuplebroker.ErrRefused):
					refused.Add(1)
				case errors.Is(err, tuplebroker.ErrRejected):
					rejected.Add(1)
				case errors.Is(err, ErrLostReply):
					lost.Add(1)
				case errors.Is(err, context.Canceled):
					cancelled.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	s := b.Stats()
	t.Logf("stats %+v", s)
	if int64(s.Accepted) != accepted.Load()+lost.Load() || int64(s.Refused) != refused.Load() ||
		int64(s.Rejected) != rejected.Load() || int64(s.LostReplies) != lost.Load() ||
		s.Refused != s.RefusedBusy+s.RefusedRate+s.RefusedQueue+s.RefusedLoad {
		t.Fatalf("stats %+v; seen accepted %d refused %d rejected %d lost %d", s, accepted.Load(), refused.Load(), rejected.Load(), lost.Load())
	}
	if s.Accepted+s.Refused+s.Rejected+int(cancelled.Load()) != goroutines*each {
		t.Fatalf("attempts unaccounted for: %+v", s)
	}
	if s.InFlightMax > 4 || s.Duplicates != 0 || len(b.Submissions()) != s.Accepted {
		t.Fatalf("stats %+v", s)
	}
	if b.inFlightNow() != 0 {
		t.Fatal("submissions left in flight")
	}
}

func benchBackend(b *testing.B) *Backend {
	cfg := baseConfig(nil)
	be, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close(context.Background()) })
	return be
}

// BenchmarkSubmit measures one zero-latency submission on an unlimited
// backend, whose jobs end at once. GUIDs cycle through 100k prepared jobs
// (beyond that, submissions count as duplicates, which costs the same).
func BenchmarkSubmit(b *testing.B) {
	be := benchBackend(b)
	jobs := make([]agents.Job, 100_000)
	for i := range jobs {
		jobs[i] = ajob(guid(i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := be.Submit(ctx, jobs[i%len(jobs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSubmit100k submits 100k distinct jobs per iteration into a fresh
// backend (the brief's "100k submissions complete quickly").
func BenchmarkSubmit100k(b *testing.B) {
	jobs := make([]agents.Job, 100_000)
	for i := range jobs {
		jobs[i] = ajob(guid(i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		be := benchBackend(b)
		for _, j := range jobs {
			if _, err := be.Submit(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSubmitParallel measures contended submissions.
func BenchmarkSubmitParallel(b *testing.B) {
	be := benchBackend(b)
	var n atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := be.Submit(ctx, ajob(guid(int(n.Add(1))))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStatus polls 1000 of 100k jobs, queued and running.
func BenchmarkStatus(b *testing.B) {
	cfg := baseConfig(NewFakeClock(t0))
	cfg.RunSlots, cfg.RunTime = 10_000, Fixed(time.Hour)
	be, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close(context.Background())
	var ids []string
	for i := range 100_000 {
		id, _ := be.Submit(context.Background(), ajob(guid(i)))
		ids = append(ids, id)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		lo := (i * 1000) % len(ids)
		if _, err := be.Status(context.Background(), ids[lo:lo+1000]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
