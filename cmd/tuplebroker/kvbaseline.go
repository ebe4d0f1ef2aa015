package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker/space"
)

// kvBaseline is the raw JetStream KV put rate on the pool's own server,
// measured by bench in the same run as the jobs.
type kvBaseline struct {
	Seq  float64 `json:"put_per_second_1_in_flight"`
	Par8 float64 `json:"put_per_second_8_in_flight"`
}

// kvBaselineFor is how long each baseline measurement runs.
const kvBaselineFor = 2 * time.Second

// measureKV puts 256-byte values into a scratch file-storage bucket on the
// server at url, one at a time and then 8 in flight, and deletes the bucket.
func measureKV(ctx context.Context, url string) (*kvBaseline, error) {
	nc, err := space.Connect(url, nats.Name("tuplebroker-bench-baseline"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	bucket := "bench_baseline_" + uuid.NewString()[:8]
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	kv, err := js.CreateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1, Storage: jetstream.FileStorage})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create scratch bucket: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = js.DeleteKeyValue(dctx, bucket)
	}()
	val := make([]byte, 256)
	run := func(workers int) (float64, error) {
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		start := time.Now()
		end := start.Add(kvBaselineFor)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
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
			}(w)
		}
		wg.Wait()
		if firstErr != nil {
			return 0, firstErr
		}
		return float64(n.Load()) / time.Since(start).Seconds(), nil
	}
	seq, err := run(1)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	par, err := run(8)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	if seq == 0 || par == 0 {
		return nil, errors.New("no put completed")
	}
	return &kvBaseline{Seq: seq, Par8: par}, nil
}
