package space

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// BenchmarkDepth: the cost of a job's space operations — a Request
// written, taken in a transaction, replaced by its Response at commit — with
// 1,000 and with 100,000 Requests already queued. Flat cost means the two
// rows agree. It also reports what the mirror holds per queued Request.
//
//	go test -run '^$' -bench Depth -benchtime 3000x ./space/
func BenchmarkDepth(b *testing.B) {
	for _, depth := range []int{1000, 100000} {
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			url := benchServer(b)
			ctx := benchCtx(b)
			// Queue depth Requests fast, around the Space (pipelined
			// publishes of what Write would store).
			js, err := jetstream.New(rawConn(b, url), jetstream.WithPublishAsyncMaxPending(1024))
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			var m0 runtime.MemStats
			runtime.ReadMemStats(&m0)
			sp := openSpace(b, url)
			for _, r := range benchRequests(depth) {
				key, _ := tupleKey(r)
				_, data, err := encodeTupleEnv(r, time.Time{}, "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := js.PublishAsync(sp.prefix+key, data); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				b.Fatal("prefill timed out")
			}
			settle(b, sp)
			runtime.GC()
			var m1 runtime.MemStats
			runtime.ReadMemStats(&m1)
			if n := sp.Stats().Queued; n != depth {
				b.Fatalf("%d queued, want %d", n, depth)
			}
			var inWrite, inTake, inCommit time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := sp.Write(ctx, benchRequest(), Forever); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				tx, err := sp.Begin(ctx, 30*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				t, err := tx.TryTake(ctx, benchTmpl)
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				r := t.(*tuplebroker.Request)
				if err := tx.Write(tuplebroker.NewResponse(r, "agent-1", "slurm", "j", time.Now(), false), Forever); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				inWrite += t1.Sub(t0)
				inTake += t2.Sub(t1)
				inCommit += time.Since(t2)
			}
			b.StopTimer()
			reportOps(b)
			us := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(time.Microsecond) }
			b.ReportMetric(us(inWrite), "write-µs")
			b.ReportMetric(us(inTake), "take-µs")
			b.ReportMetric(us(inCommit), "commit-µs")
			b.ReportMetric(float64(m1.HeapAlloc-min(m0.HeapAlloc, m1.HeapAlloc))/float64(depth), "heap-B/queued")
		})
	}
}
