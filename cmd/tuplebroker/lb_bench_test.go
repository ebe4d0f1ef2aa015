package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tuplebroker"
)

// BenchmarkLoadBalancing measures the pooled throughput of three simulated
// resource brokers with capacities 1 : 2 : 4 (2, 4 and 8 run slots, jobs of
// 100 ms: 20, 40 and 80 jobs/s, no queue beyond the slots), the largest
// refusing any submission rate above 60 jobs/s — so the pool can absorb
// 20 + 40 + 60 = 120 jobs/s. A backlog of jobs goes in at once; the figure
// is jobs finished per second ÷ 120, for the factory strategies `pull`
// (agents with the adaptive throttle), `hybrid` (every job pushed through a
// courier when one is free), and a plain round-robin baseline (each job
// pinned to the next broker in turn, as a round-robin dispatcher would).
//
//	go test -run '^$' -bench LoadBalancing -benchtime 1x ./cmd/tuplebroker/
func BenchmarkLoadBalancing(b *testing.B) {
	const absorbable = 120.0
	jobs := 1800
	for _, mode := range []string{"pull+adaptive", "hybrid", "roundrobin"} {
		b.Run(mode, func(b *testing.B) {
			share := runLoadBalancing(b, mode, jobs) / absorbable
			b.ReportMetric(100*share, "%capacity")
		})
	}
}

func runLoadBalancing(b *testing.B, mode string, n int) float64 {
	th := throttleConfig{Strategy: "adaptive", Rate: 20, MinRate: 1, MaxRate: 500, Burst: 2, DecreaseFactor: 0.8, IncreaseStep: 10}
	mk := func(name string, slots int, refuseAbove float64) agentConfig {
		couriers := 0
		if mode == "hybrid" {
			couriers = slots
		}
		return agentConfig{Name: name, Backend: "sim", Workers: 4, Couriers: &couriers, Throttle: th, MaxAttempts: 1000,
			Sim: &simConfig{
				Capabilities: []string{"arch=x86_64", "os=LINUX", "application=pin-" + name},
				RunSlots:     slots, QueueSlots: slots, RunTime: duration(100 * time.Millisecond),
				RefuseAbove: refuseAbove,
			}}
	}
	strategy := "pull"
	if mode == "hybrid" {
		strategy = "hybrid"
	}
	tp := startPool(b, poolConfig{
		Factory: factoryConfig{Strategy: strategy, PushPriority: 1},
		Manager: managerConfig{PollInterval: duration(100 * time.Millisecond), MaxJobs: 1_000_000},
		Agents:  []agentConfig{mk("sim-a", 2, 0), mk("sim-b", 4, 0), mk("sim-c", 8, 60)},
	})
	docFor := func(i int) []byte {
		if mode != "roundrobin" {
			return trueJSDL
		}
		agent := []string{"sim-a", "sim-b", "sim-c"}[i%3]
		return []byte(fmt.Sprintf(`<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl">
  <jsdl:JobDescription><jsdl:Application><jsdl:ApplicationName>pin-%s</jsdl:ApplicationName></jsdl:Application></jsdl:JobDescription>
</jsdl:JobDefinition>`, agent))
	}
	priority := 0
	if mode == "hybrid" {
		priority = 1
	}
	start := time.Now()
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ids[i] = tp.submit(b, docFor(i), priority).ID
			}
		}()
	}
	wg.Wait()
	ended := tp.waitEnded(b, ids, 10*time.Minute)
	elapsed := time.Since(start)
	per := map[string]int{}
	failed := 0
	for _, j := range ended {
		if j.State != tuplebroker.Finished {
			failed++
		}
		per[j.Agent]++
	}
	rate := float64(n) / elapsed.Seconds()
	b.Logf("%s: %d jobs in %v = %.1f jobs/s (%.0f%% of 120), per broker %v, %d not Finished", mode, n, elapsed.Round(time.Millisecond), rate, 100*rate/120, per, failed)
	return rate
}
