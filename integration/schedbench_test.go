package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/client"
)

// BenchmarkSchedulers compares tuplebroker with the schedulers' own
// submission commands, in the same run, on the live schedulers:
//
//   - per-job submit latency: a POST answered 201 (the scheduler accepted
//     the job and a manager hosts it) against `sbatch --parsable` and
//     `qsub -terse` run directly, one job at a time;
//
//   - throughput: jobs/s through the pool (slurm-a and slurm-b agents) at
//     concurrency 8 against one direct sbatch loop;
//
//   - 100 short jobs over all three schedulers, from the first POST to the
//     last Finished.
//
//     make test-env  # or run under integration/schedulers/with-schedulers.sh:
//     integration/schedulers/with-schedulers.sh go test -run '^$' -bench Schedulers -benchtime 1x ./integration/
func BenchmarkSchedulers(b *testing.B) {
	e := liveSchedulers(b)
	work, err := os.MkdirTemp(e.dir, "bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(work) })
	script := filepath.Join(work, "true.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n/bin/true\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	const n = 60
	direct := func(name string, args ...string) []time.Duration {
		var ds []time.Duration
		for i := 0; i < n; i++ {
			cmd := exec.Command(name, args...)
			cmd.Env = append(os.Environ(), e.envFor(name)...)
			cmd.Dir = work
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", name, err, out)
			}
			ds = append(ds, time.Since(t0))
		}
		return ds
	}
	sbatch := direct("sbatch", "--parsable", "-J", "bench-direct", "-o", "/dev/null", "-e", "/dev/null", "-D", work, script)
	qsub := direct(e.qsub(), "-terse", "-N", "bench-direct", "-o", "/dev/null", "-e", "/dev/null", "-wd", work, "-q", e.sgeQueue, script)

	c, _, _ := schedulerPool(b, e, work)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	doc := printfJSDL("bench", filepath.Join(work, "bench.out"))
	var viaPool []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		_, code, err := post(ctx, c, doc, 30*time.Second)
		if err != nil || code != 201 {
			b.Fatalf("POST: %d %v", code, err)
		}
		viaPool = append(viaPool, time.Since(t0))
	}
	// Throughput: two Slurm clusters behind one pool, 8 in flight, vs one
	// direct sbatch loop.
	c2, _, _ := schedulerPool(b, e, work, "slurm-a", "slurm-b")
	const m = 200
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= m {
				if _, _, err := post(ctx, c2, doc, 30*time.Second); err != nil {
					b.Errorf("POST: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	poolRate := m / time.Since(t0).Seconds()
	directRate := float64(n) / sum(sbatch).Seconds()

	// 100 short jobs to Finished.
	t0 = time.Now()
	ids := make([]string, 100)
	for i := range ids {
		j, _, err := post(ctx, c, printfJSDL(fmt.Sprint(i), filepath.Join(work, fmt.Sprintf("f-%d.out", i))), client.NoWait)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = j.ID
	}
	per := map[string]int{}
	for _, id := range ids {
		j := waitState(b, ctx, c, id, tuplebroker.Finished)
		per[j.Backend]++
	}
	toFinished := time.Since(t0)

	p50 := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	b.Logf("submit latency p50: direct sbatch %v, direct qsub %v, tuplebroker (POST → 201) %v = %.2f× sbatch, %.2f× qsub",
		p50(sbatch), p50(qsub), p50(viaPool), float64(p50(viaPool))/float64(p50(sbatch)), float64(p50(viaPool))/float64(p50(qsub)))
	b.Logf("throughput: pool of slurm-a + slurm-b at 8 in flight %.1f jobs/s, one direct sbatch loop %.1f jobs/s = %.2f×", poolRate, directRate, poolRate/directRate)
	b.Logf("100 short jobs submitted to Finished in %v, per scheduler %v", toFinished.Round(time.Millisecond), per)
	b.ReportMetric(float64(p50(viaPool))/float64(p50(sbatch)), "x-sbatch-latency")
	b.ReportMetric(poolRate/directRate, "x-sbatch-throughput")
	b.ReportMetric(toFinished.Seconds(), "s-100-to-finished")
}

func sum(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}
