package space

// Benchmarks: every space operation beside the raw JetStream KV operation it
// rests on, in the same run, on the same kind of server — an embedded
// nats-server with JetStream file storage, reached over loopback TCP. Each
// sub-benchmark gets a fresh server, so pairs compare like with like.
//
//	go test -run '^$' -bench . -benchtime=2000x ./space/
//
// Sub-benchmarks are named <Operation>/space and <Operation>/raw..., so pairs
// sort together. Latency benchmarks report p50-µs and p99-µs; throughput
// benchmarks report ops/s.
//
// Some helpers read the Space's internals (mirror.applied, mirror.lost,
// mirror.waiters, Space.nc, Space.stream) to wait for a settled mirror or a
// parked taker outside the timer, and to count lost compare-and-sets.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// benchJSDL is a small, realistic job description: with the envelope a
// request is ~650 bytes on the wire.
const benchJSDL = `<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"><jsdl:JobDescription>` +
	`<jsdl:Application><jsdl:ApplicationName>sim</jsdl:ApplicationName></jsdl:Application>` +
	`<jsdl:Resources><jsdl:TotalCPUCount><jsdl:Exact>4</jsdl:Exact></jsdl:TotalCPUCount></jsdl:Resources>` +
	`</jsdl:JobDescription></jsdl:JobDefinition>`

var benchReqs = tuplebroker.Requirements{"os=LINUX", "arch=x86_64"}

// benchTmpl is what an agent takes by: the class of requirements it serves.
var benchTmpl = tuplebroker.RequestTemplate{Class: benchReqs.Class()}

func benchRequest() *tuplebroker.Request {
	return &tuplebroker.Request{
		GUID: uuid.NewString(), Factory: "factory-1", UID: "alice",
		JSDL: []byte(benchJSDL), Priority: 5, Requirements: benchReqs,
		Created: time.Now().UTC(),
	}
}

func benchRequests(n int) []*tuplebroker.Request {
	out := make([]*tuplebroker.Request, n)
	for i := range out {
		out[i] = benchRequest()
	}
	return out
}

// rawPairs returns the keys and values the space would store for reqs, so
// the raw KV baselines move the same bytes under the same key shape.
func rawPairs(b testing.TB, reqs []*tuplebroker.Request) (keys []string, vals [][]byte) {
	b.Helper()
	keys = make([]string, len(reqs))
	vals = make([][]byte, len(reqs))
	for i, r := range reqs {
		k, err := tupleKey(r)
		if err != nil {
			b.Fatal(err)
		}
		v, err := encodeTuple(r, time.Time{}, "")
		if err != nil {
			b.Fatal(err)
		}
		keys[i], vals[i] = k, v
	}
	return keys, vals
}

// benchServer starts a fresh embedded server with JetStream file storage and
// returns its TCP URL.
func benchServer(b testing.TB) string {
	b.Helper()
	return startServer(b, b.TempDir()).ClientURL()
}

func benchCtx(b *testing.B) context.Context {
	return ctxT(b, 2*time.Minute+time.Duration(b.N)*5*time.Millisecond)
}

const rawBucketName = "raw"

// rawKV creates (or opens) the raw baseline bucket on its own TCP connection,
// configured like the space's bucket: history 1, file storage, 30s markers.
func rawKV(b testing.TB, url string) jetstream.KeyValue {
	b.Helper()
	js, err := jetstream.New(rawConn(b, url))
	if err != nil {
		b.Fatal(err)
	}
	ctx := ctxT(b, 30*time.Second)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         rawBucketName,
		History:        1,
		Storage:        jetstream.FileStorage,
		LimitMarkerTTL: 30 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	return kv
}

// settle waits until the mirrors of sps have applied everything in the
// stream, so a timed section does not pay for catching up on the setup.
func settle(b testing.TB, sps ...*Space) {
	b.Helper()
	ctx := ctxT(b, 60*time.Second)
	for _, sp := range sps {
		info, err := sp.stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		want := info.State.LastSeq
		for {
			sp.mirror.mu.RLock()
			got := sp.mirror.applied
			sp.mirror.mu.RUnlock()
			if got >= want {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("mirror stuck at sequence %d, stream at %d", got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func prefill(b *testing.B, ctx context.Context, sp *Space, reqs []*tuplebroker.Request) {
	b.Helper()
	for _, r := range reqs {
		if _, err := sp.Write(ctx, r, Forever); err != nil {
			b.Fatal(err)
		}
	}
}

func rawPrefill(b *testing.B, ctx context.Context, kv jetstream.KeyValue, keys []string, vals [][]byte) []uint64 {
	b.Helper()
	revs := make([]uint64, len(keys))
	for i := range keys {
		rev, err := kv.Put(ctx, keys[i], vals[i])
		if err != nil {
			b.Fatal(err)
		}
		revs[i] = rev
	}
	return revs
}

func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// reportLatency reports the p50, p99 and max of lat in microseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i]) / float64(time.Microsecond)
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
}

// fatalStuck fails b with every goroutine's stack, for a call that should
// have returned but ran out of time.
func fatalStuck(b *testing.B, what string, err error, sps ...*Space) {
	b.Helper()
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var state bytes.Buffer
	for i, sp := range sps {
		sp.mirror.mu.RLock()
		fmt.Fprintf(&state, "space %d: applied=%d entries=%d lost=%d\n", i, sp.mirror.applied, len(sp.mirror.entries), len(sp.mirror.lost))
		sp.mirror.mu.RUnlock()
		fmt.Fprintf(&state, "space %d: visible matches=%d\n", i, len(sp.mirror.candidates(benchTmpl, time.Now(), math.MaxInt)))
	}
	b.Fatalf("%s: %v\n%s\ngoroutines:\n%s", what, err, state.String(), buf)
}

func isLostCAS(err error) bool {
	return isWrongSeq(err) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// --- Write -----------------------------------------------------------------

func BenchmarkWrite(b *testing.B) {
	b.Run("space", func(b *testing.B) {
		sp := openSpace(b, benchServer(b))
		ctx := benchCtx(b)
		reqs := benchRequests(b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sp.Write(ctx, reqs[i], Forever); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
	b.Run("rawPut", func(b *testing.B) {
		kv := rawKV(b, benchServer(b))
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(b.N))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := kv.Put(ctx, keys[i], vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
		b.ReportMetric(float64(len(vals[0])), "B/value")
	})
	// Create is what Write means (fail if the key holds a live value).
	b.Run("rawCreate", func(b *testing.B) {
		kv := rawKV(b, benchServer(b))
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(b.N))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := kv.Create(ctx, keys[i], vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
}

// --- TryRead ---------------------------------------------------------------

const benchReadSet = 1000

func BenchmarkTryRead(b *testing.B) {
	b.Run("space", func(b *testing.B) { // by GUID: an exact key
		sp := openSpace(b, benchServer(b))
		ctx := benchCtx(b)
		reqs := benchRequests(benchReadSet)
		prefill(b, ctx, sp, reqs)
		settle(b, sp)
		tmpls := make([]tuplebroker.RequestTemplate, len(reqs))
		for i, r := range reqs {
			tmpls[i] = tuplebroker.RequestTemplate{GUID: r.GUID}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sp.TryRead(ctx, tmpls[i%len(tmpls)]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
	b.Run("spaceByClass", func(b *testing.B) { // by class: an index scan
		sp := openSpace(b, benchServer(b))
		ctx := benchCtx(b)
		prefill(b, ctx, sp, benchRequests(benchReadSet))
		settle(b, sp)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sp.TryRead(ctx, benchTmpl); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
	b.Run("rawGet", func(b *testing.B) {
		kv := rawKV(b, benchServer(b))
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(benchReadSet))
		rawPrefill(b, ctx, kv, keys, vals)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := kv.Get(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
}

// --- Take (one taker) ------------------------------------------------------

func BenchmarkTake(b *testing.B) {
	b.Run("space", func(b *testing.B) { // TryTake by class
		sp := openSpace(b, benchServer(b))
		ctx := benchCtx(b)
		prefill(b, ctx, sp, benchRequests(b.N))
		settle(b, sp)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sp.TryTake(ctx, benchTmpl); err != nil {
				b.Fatalf("take %d of %d: %v", i, b.N, err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
	raw := func(name string, op func(ctx context.Context, kv jetstream.KeyValue, key string, val []byte, rev uint64) error) {
		b.Run(name, func(b *testing.B) {
			kv := rawKV(b, benchServer(b))
			ctx := benchCtx(b)
			keys, vals := rawPairs(b, benchRequests(b.N))
			revs := rawPrefill(b, ctx, kv, keys, vals)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := op(ctx, kv, keys[i], vals[i], revs[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportOps(b)
		})
	}
	// The yardstick: a compare-and-set rewrite of the value.
	raw("rawCAS", func(ctx context.Context, kv jetstream.KeyValue, key string, val []byte, rev uint64) error {
		_, err := kv.Update(ctx, key, val, rev)
		return err
	})
	raw("rawDeleteCAS", func(ctx context.Context, kv jetstream.KeyValue, key string, _ []byte, rev uint64) error {
		return kv.Delete(ctx, key, jetstream.LastRevision(rev))
	})
	// What TryTake sends: a purge (rollup) marker guarded by the revision.
	raw("rawPurgeCAS", func(ctx context.Context, kv jetstream.KeyValue, key string, _ []byte, rev uint64) error {
		return kv.Purge(ctx, key, jetstream.LastRevision(rev))
	})
	// Ablations, to attribute TryTake's cost. rawPurgeCASSpaceHdrs sends
	// exactly TryTake's message (marker TTL and message id added);
	// rawPurgeCASWatched is rawPurgeCAS while the same connection watches
	// the bucket, as a Space's mirror does.
	b.Run("rawPurgeCASSpaceHdrs", func(b *testing.B) {
		url := benchServer(b)
		kv := rawKV(b, url)
		js, err := jetstream.New(rawConn(b, url))
		if err != nil {
			b.Fatal(err)
		}
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(b.N))
		revs := rawPrefill(b, ctx, kv, keys, vals)
		id := uuid.NewString()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h := removalHeader(30 * time.Second)
			h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(revs[i], 10))
			h.Set(jetstream.MsgIDHeader, id+"-"+strconv.FormatUint(uint64(i), 36))
			if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + rawBucketName + "." + keys[i], Header: h}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
	b.Run("rawPurgeCASWatched", func(b *testing.B) {
		kv := rawKV(b, benchServer(b))
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(b.N))
		revs := rawPrefill(b, ctx, kv, keys, vals)
		w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Stop() })
		go func() {
			for range w.Updates() {
			}
		}()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := kv.Purge(ctx, keys[i], jetstream.LastRevision(revs[i])); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
}

// --- Take with 8 contending takers -----------------------------------------

const benchTakers = 8

func BenchmarkTake8(b *testing.B) {
	b.Run("space", func(b *testing.B) {
		url := benchServer(b)
		writer := openSpace(b, url)
		// No periodic sweep during the run, so mirror.lost counts every
		// lost claim (a sweep forgets marks whose tuple is gone).
		cfg := DefaultConfig()
		cfg.SweepInterval = time.Hour
		takers := make([]*Space, benchTakers)
		for i := range takers {
			takers[i] = openSpace(b, url, WithConfig(cfg))
		}
		ctx := benchCtx(b)
		prefill(b, ctx, writer, benchRequests(b.N))
		settle(b, append([]*Space{writer}, takers...)...)
		var out0 uint64
		for _, sp := range takers {
			out0 += sp.nc.Stats().OutMsgs
		}
		var reserved atomic.Int64
		errs := make(chan error, benchTakers)
		var wg sync.WaitGroup
		b.ResetTimer()
		for _, sp := range takers {
			wg.Go(func() {
				for reserved.Add(1) <= int64(b.N) {
					if _, err := sp.Take(ctx, benchTmpl); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			fatalStuck(b, "blocking take with 8 takers", err, takers...)
		}
		var out1, lost uint64
		for _, sp := range takers {
			out1 += sp.nc.Stats().OutMsgs
			sp.mirror.mu.RLock()
			lost += uint64(len(sp.mirror.lost))
			sp.mirror.mu.RUnlock()
		}
		reportOps(b)
		b.ReportMetric(float64(lost)/float64(b.N), "lostCAS/take")
		// Every message the takers sent (claims, lost claims, consumer pulls).
		b.ReportMetric(float64(out1-out0)/float64(b.N), "msgsOut/take")
	})
	b.Run("rawGetCAS", func(b *testing.B) {
		url := benchServer(b)
		kv := rawKV(b, url)
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(b.N))
		rawPrefill(b, ctx, kv, keys, vals)
		kvs := make([]jetstream.KeyValue, benchTakers)
		for i := range kvs {
			kvs[i] = rawKV(b, url) // own connection each
		}
		claimedVal := append([]byte("C"), vals[0]...)
		n := b.N
		// claimed is what a raw client would learn from a watch (here
		// instantly, through shared memory: a best case for raw). Takers
		// pick a random unclaimed key, as TryTake picks a random candidate,
		// then Get it and claim it with a CAS.
		claimed := make([]atomic.Bool, n)
		var cursor, done, lost, stale atomic.Int64
		errs := make(chan error, benchTakers)
		var wg sync.WaitGroup
		b.ResetTimer()
		for g, kv := range kvs {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 42))
				pick := func() int {
					for range 32 {
						if j := rng.IntN(n); !claimed[j].Load() {
							return j
						}
					}
					c := int(cursor.Load()) // few left: scan
					for c < n && claimed[c].Load() {
						cursor.CompareAndSwap(int64(c), int64(c+1))
						c = int(cursor.Load())
					}
					for j := c; j < n; j++ {
						if !claimed[j].Load() {
							return j
						}
					}
					return -1
				}
				for done.Load() < int64(n) {
					idx := pick()
					if idx < 0 {
						runtime.Gosched() // the last claims are in flight
						continue
					}
					e, err := kv.Get(ctx, keys[idx])
					if err != nil {
						errs <- err
						return
					}
					if bytes.HasPrefix(e.Value(), []byte("C")) {
						stale.Add(1)
						continue
					}
					if _, err := kv.Update(ctx, keys[idx], claimedVal, e.Revision()); err != nil {
						if isLostCAS(err) {
							lost.Add(1)
							continue
						}
						errs <- err
						return
					}
					claimed[idx].Store(true)
					done.Add(1)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		if got := done.Load(); got != int64(n) {
			b.Fatalf("claimed %d keys, want %d", got, n)
		}
		reportOps(b)
		b.ReportMetric(float64(lost.Load())/float64(n), "lostCAS/take")
		b.ReportMetric(float64(stale.Load())/float64(n), "staleGet/take")
	})
}

// --- Transaction: Begin + Take + Write(response) + Commit -------------------

func BenchmarkTxnTakeWriteCommit(b *testing.B) {
	b.Run("space", func(b *testing.B) {
		sp := openSpace(b, benchServer(b))
		ctx := benchCtx(b)
		prefill(b, ctx, sp, benchRequests(b.N))
		settle(b, sp)
		// Mean time of each phase, to show where a transaction's time goes.
		var inBegin, inTake, inCommit time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			tx, err := sp.Begin(ctx, 30*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			t, err := tx.Take(ctx, benchTmpl)
			if err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			inBegin += t1.Sub(t0)
			inTake += t2.Sub(t1)
			r := t.(*tuplebroker.Request)
			resp := &tuplebroker.Response{GUID: r.GUID, UID: r.UID, Agent: "agent-1", Backend: "slurm", BackendJobID: "job-" + r.GUID[:8], Submitted: time.Now().UTC()}
			if err := tx.Write(resp, Forever); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			inCommit += time.Since(t3)
		}
		b.StopTimer()
		reportOps(b)
		us := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(time.Microsecond) }
		b.ReportMetric(us(inBegin), "begin-µs")
		b.ReportMetric(us(inTake), "take-µs")
		b.ReportMetric(us(inCommit), "commit-µs")
	})
	b.Run("rawPut", func(b *testing.B) {
		kv := rawKV(b, benchServer(b))
		ctx := benchCtx(b)
		keys, vals := rawPairs(b, benchRequests(b.N))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := kv.Put(ctx, keys[i], vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportOps(b)
	})
}

// --- Notify latency ---------------------------------------------------------

const benchRecvTimeout = 10 * time.Second

func BenchmarkNotify(b *testing.B) {
	b.Run("space", func(b *testing.B) {
		url := benchServer(b)
		w := openSpace(b, url)
		r := openSpace(b, url)
		ctx := benchCtx(b)
		ch, err := r.Notify(ctx, benchTmpl)
		if err != nil {
			b.Fatal(err)
		}
		recv := func(want string) {
			select {
			case t, ok := <-ch:
				if !ok {
					b.Fatal("notify channel closed")
				}
				if got := t.(*tuplebroker.Request).GUID; got != want {
					b.Fatalf("notified %s, want %s", got, want)
				}
			case <-time.After(benchRecvTimeout):
				fatalStuck(b, "notify", fmt.Errorf("no notification of %s after %v", want, benchRecvTimeout), w, r)
			}
		}
		warm := benchRequest()
		prefill(b, ctx, w, []*tuplebroker.Request{warm})
		recv(warm.GUID)
		reqs := benchRequests(b.N)
		lat := make([]time.Duration, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := w.Write(ctx, reqs[i], Forever); err != nil {
				b.Fatal(err)
			}
			recv(reqs[i].GUID)
			lat[i] = time.Since(t0)
		}
		b.StopTimer()
		reportLatency(b, lat)
	})
	b.Run("rawWatch", func(b *testing.B) {
		url := benchServer(b)
		kvw := rawKV(b, url)
		kvr := rawKV(b, url)
		ctx := benchCtx(b)
		watcher, err := kvr.Watch(ctx, ">", jetstream.UpdatesOnly())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { watcher.Stop() })
		recv := func(want string) {
			for {
				select {
				case e, ok := <-watcher.Updates():
					if !ok {
						b.Fatal("watcher closed")
					}
					if e == nil {
						continue
					}
					if e.Key() != want {
						b.Fatalf("watched %s, want %s", e.Key(), want)
					}
					return
				case <-time.After(benchRecvTimeout):
					b.Fatalf("no update of %s after %v", want, benchRecvTimeout)
				}
			}
		}
		keys, vals := rawPairs(b, benchRequests(b.N+1))
		if _, err := kvw.Put(ctx, keys[b.N], vals[b.N]); err != nil {
			b.Fatal(err)
		}
		recv(keys[b.N])
		lat := make([]time.Duration, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := kvw.Put(ctx, keys[i], vals[i]); err != nil {
				b.Fatal(err)
			}
			recv(keys[i])
			lat[i] = time.Since(t0)
		}
		b.StopTimer()
		reportLatency(b, lat)
	})
}

// --- Blocking-take wake latency ---------------------------------------------
//
// Latency from just before a Write (or raw Put) on one connection to the
// return of a Take (or raw watch + CAS delete) parked on another. The issue's
// target is p99 ≤ 2 ms. The timer runs through the per-iteration setup
// (starting and parking the taker), because StopTimer's ReadMemStats stops
// the world just before the write and inflates the very latency measured;
// so ns/op is not the result here, p50-µs and p99-µs are.
//
// Variants ending in "Idle" leave the process idle for 1 ms before the write
// (a taker parked on a quiet system, the common case for an agent); the
// others write as soon as the taker is parked, on a warm process.

const benchIdleGap = time.Millisecond

// waitParked waits, spinning, until sp has a blocked Read or Take of kind.
func waitParked(b *testing.B, sp *Space, kind tuplebroker.Kind) {
	deadline := time.Now().Add(benchRecvTimeout)
	for {
		sp.mirror.waitMu.Lock()
		n := len(sp.mirror.waiters[string(kind)])
		sp.mirror.waitMu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("taker not parked after %v", benchRecvTimeout)
		}
		runtime.Gosched()
	}
}

type takeResult struct {
	t   tuplebroker.Tuple
	err error
	at  time.Time
}

func BenchmarkWake(b *testing.B) {
	take := func(ctx context.Context, sp *Space, _ *tuplebroker.Request) (tuplebroker.Tuple, error) {
		return sp.Take(ctx, benchTmpl)
	}
	// A parked Read: delivery and wake-up alone, without the take's CAS.
	read := func(ctx context.Context, sp *Space, r *tuplebroker.Request) (tuplebroker.Tuple, error) {
		return sp.Read(ctx, tuplebroker.RequestTemplate{GUID: r.GUID})
	}
	b.Run("space", func(b *testing.B) { benchWake(b, 0, take) })
	b.Run("spaceIdle", func(b *testing.B) { benchWake(b, benchIdleGap, take) })
	b.Run("spaceRead", func(b *testing.B) { benchWake(b, 0, read) })
	// Raw equivalent: a watcher on another connection sees the put and
	// claims the key with a delete guarded by its revision.
	b.Run("rawWatchDelete", func(b *testing.B) { benchRawWake(b, 0) })
	b.Run("rawWatchDeleteIdle", func(b *testing.B) { benchRawWake(b, benchIdleGap) })
}

// benchWake: per op, start op on its own connection, wait until it is
// parked, optionally idle, then write the tuple it waits for.
func benchWake(b *testing.B, idle time.Duration, op func(context.Context, *Space, *tuplebroker.Request) (tuplebroker.Tuple, error)) {
	url := benchServer(b)
	w := openSpace(b, url)
	tk := openSpace(b, url)
	ctx := benchCtx(b)
	reqs := benchRequests(b.N)
	lat := make([]time.Duration, b.N)
	done := make(chan takeResult, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		go func() {
			t, err := op(ctx, tk, reqs[i])
			done <- takeResult{t, err, time.Now()}
		}()
		waitParked(b, tk, tuplebroker.KindRequest)
		if idle > 0 {
			time.Sleep(idle)
		}
		t0 := time.Now()
		if _, err := w.Write(ctx, reqs[i], Forever); err != nil {
			b.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil {
				b.Fatal(r.err)
			}
			if got := r.t.(*tuplebroker.Request).GUID; got != reqs[i].GUID {
				b.Fatalf("got %s, want %s", got, reqs[i].GUID)
			}
			lat[i] = r.at.Sub(t0)
		case <-time.After(benchRecvTimeout):
			fatalStuck(b, "parked call", fmt.Errorf("not woken %v after write of %s", benchRecvTimeout, reqs[i].GUID), w, tk)
		}
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func benchRawWake(b *testing.B, idle time.Duration) {
	url := benchServer(b)
	kvw := rawKV(b, url)
	kvr := rawKV(b, url)
	ctx := benchCtx(b)
	watcher, err := kvr.Watch(ctx, ">", jetstream.UpdatesOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { watcher.Stop() })
	done := make(chan takeResult, 1)
	go func() {
		for e := range watcher.Updates() {
			if e == nil {
				continue
			}
			err := kvr.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
			select {
			case done <- takeResult{err: err, at: time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	keys, vals := rawPairs(b, benchRequests(b.N+1))
	if _, err := kvw.Put(ctx, keys[b.N], vals[b.N]); err != nil { // warm up
		b.Fatal(err)
	}
	<-done
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if idle > 0 {
			time.Sleep(idle)
		}
		t0 := time.Now()
		if _, err := kvw.Put(ctx, keys[i], vals[i]); err != nil {
			b.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil {
				b.Fatal(r.err)
			}
			lat[i] = r.at.Sub(t0)
		case <-time.After(benchRecvTimeout):
			b.Fatalf("watcher did not claim %s after %v", keys[i], benchRecvTimeout)
		}
	}
	b.StopTimer()
	reportLatency(b, lat)
}
