package space

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// KVBaseline is the rate of raw JetStream KV puts on a server: what the
// space's own throughput is compared with.
type KVBaseline struct {
	// Seq is the puts per second with one put in flight.
	Seq float64
	// Par8 is the puts per second with 8 puts in flight.
	Par8 float64
}

// MeasureKVBaseline connects to the NATS server at urls, creates a scratch
// file-storage bucket there, puts 256-byte values into it for d one at a
// time and then for d 8 in flight, and deletes the bucket. It fails if the
// connection, the bucket's creation or a put fails (the error wrapped), or if
// no put completed.
func MeasureKVBaseline(ctx context.Context, urls string, d time.Duration) (KVBaseline, error) {
	nc, err := Dial(urls, "tuplebroker-bench-baseline", 0)
	if err != nil {
		return KVBaseline{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return KVBaseline{}, fmt.Errorf("jetstream: %w", err)
	}
	bucket := "bench_baseline_" + uuid.NewString()[:8]
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	kv, err := js.CreateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1, Storage: jetstream.FileStorage})
	cancel()
	if err != nil {
		return KVBaseline{}, fmt.Errorf("create scratch bucket: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = js.DeleteKeyValue(dctx, bucket)
	}()
	val := make([]byte, 256)
	run := func(workers int) (float64, error) {
		var (
			n        atomic.Int64
			firstErr error
			once     sync.Once
			wg       sync.WaitGroup
		)
		start := time.Now()
		end := start.Add(d)
		for w := range workers {
			wg.Go(func() {
				for i := 0; time.Now().Before(end); i++ {
					pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := kv.Put(pctx, "k"+strconv.Itoa(w)+"."+strconv.Itoa(i%1000), val)
					cancel()
					if err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			return 0, firstErr
		}
		return float64(n.Load()) / time.Since(start).Seconds(), nil
	}
	seq, err := run(1)
	if err != nil {
		return KVBaseline{}, fmt.Errorf("put: %w", err)
	}
	par, err := run(8)
	if err != nil {
		return KVBaseline{}, fmt.Errorf("put: %w", err)
	}
	if seq == 0 || par == 0 {
		return KVBaseline{}, errors.New("no put completed")
	}
	return KVBaseline{Seq: seq, Par8: par}, nil
}

// LastSequence returns the last stream sequence of the space's bucket on the
// server at urls: the number of messages ever stored in it. The difference
// over a run, divided by the jobs, is the writes each job cost.
func LastSequence(ctx context.Context, urls, bucket string) (uint64, error) {
	nc, err := Dial(urls, "tuplebroker-bench-writes", 0)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("jetstream: %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ictx, "KV_"+bucket)
	if err != nil {
		return 0, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	info, err := st.Info(ictx)
	if err != nil {
		return 0, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return info.State.LastSeq, nil
}
