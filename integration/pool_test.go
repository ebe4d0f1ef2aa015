package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/client"
	"tuplebroker/space"
)

const token = "integration-token-0123456789abcdef"

// helloJSDL runs /bin/true: the sims never run anything, but the document
// is a real one, parsed by factory and agent.
var helloJSDL = []byte(`<?xml version="1.0"?>
<jsdl:JobDefinition xmlns:jsdl="http://schemas.ggf.org/jsdl/2005/11/jsdl"
    xmlns:jsdl-posix="http://schemas.ggf.org/jsdl/2005/11/jsdl-posix">
  <jsdl:JobDescription><jsdl:Application><jsdl-posix:POSIXApplication>
    <jsdl-posix:Executable>/bin/true</jsdl-posix:Executable>
  </jsdl-posix:POSIXApplication></jsdl:Application></jsdl:JobDescription>
</jsdl:JobDefinition>`)

// poolFiles writes the pool configuration (3 sim agents recording every
// accepted submission) and a tokens file; it returns their paths and the
// record files.
func poolFiles(t testing.TB, dir string, runTime string) (cfgPath, tokensPath string, records []string) {
	t.Helper()
	type simCfg struct {
		QueueSlots int    `json:"queue_slots"`
		RunTime    string `json:"run_time"`
		RecordFile string `json:"record_file"`
	}
	type agentCfg struct {
		Name     string         `json:"name"`
		Backend  string         `json:"backend"`
		Workers  int            `json:"workers"`
		Throttle map[string]any `json:"throttle"`
		Sim      simCfg         `json:"sim"`
	}
	var as []agentCfg
	for _, n := range []string{"sim-a", "sim-b", "sim-c"} {
		rec := filepath.Join(dir, n+".records")
		records = append(records, rec)
		as = append(as, agentCfg{Name: n, Backend: "sim", Workers: 8,
			Throttle: map[string]any{"strategy": "fixed", "rate": 5000, "burst": 64},
			Sim:      simCfg{QueueSlots: 100000, RunTime: runTime, RecordFile: rec}})
	}
	cfg := map[string]any{
		"manager": map[string]any{"poll_interval": "500ms", "host_lease": "3s"},
		"factory": map[string]any{"strategy": "pull"},
		"agents":  as,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "pool.json")
	tokensPath = filepath.Join(dir, "tokens")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokensPath, []byte(token+" alice\nother-user-token-0123456789 bob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, tokensPath, records
}

// TestPoolAcrossProcesses: 2 factories, 3 sim agents and 2 manager nodes,
// each its own OS process on one NATS server. 2,000 jobs through both
// factories: each is submitted exactly once to exactly one backend (the
// sims' own records), every job URL answers from either factory, all reach
// Finished. Then one manager node is SIGKILLed: the other re-hosts its jobs
// and their URLs keep answering.
func TestPoolAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process pool")
	}
	dir := t.TempDir()
	url := natsServer(t)
	cfgPath, tokensPath, records := poolFiles(t, dir, "200ms")
	common := []string{"--nats", url, "--config", cfgPath}

	var factories []*client.Client
	for i := 0; i < 2; i++ {
		addr := freeAddr(t)
		p := start(t, fmt.Sprintf("factory-%d", i), nil, append([]string{"factory"}, append(common, "--http", addr, "--tokens-file", tokensPath, "--handle", fmt.Sprintf("f%d", i))...)...)
		waitHealthy(t, "http://"+addr, p)
		factories = append(factories, newClient(t, "http://"+addr, token))
	}
	managers := map[string]*proc{}
	for _, h := range []string{"m1", "m2"} {
		managers[h] = start(t, "manager-"+h, nil, append([]string{"manager"}, append(common, "--handle", h)...)...)
	}
	var agentProcs []*proc
	for _, n := range []string{"sim-a", "sim-b", "sim-c"} {
		agentProcs = append(agentProcs, start(t, "agent-"+n, nil, append(append([]string{"agent"}, common...), n)...))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	waitAdverts(t, ctx, url, 3)
	const n = 2000
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				j, _, err := post(ctx, factories[i%2], helloJSDL, client.NoWait)
				if err != nil {
					errs <- fmt.Errorf("job %d: %w", i, err)
					return
				}
				ids[i] = j.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every job reaches Finished, as seen from both factories.
	byManager := map[string][]string{}
	for i, id := range ids {
		j := waitState(t, ctx, factories[i%2], id, tuplebroker.Finished)
		other, err := factories[(i+1)%2].Job(ctx, id)
		if err != nil || other.ID != id || other.State != tuplebroker.Finished {
			t.Fatalf("job %s from the other factory: %+v %v", id, other, err)
		}
		if j.ExitCode == nil || *j.ExitCode != 0 {
			t.Fatalf("job %s finished without exit code 0: %+v", id, j)
		}
		byManager[j.Manager] = append(byManager[j.Manager], id)
	}
	t.Logf("jobs per manager: m1 %d, m2 %d", len(byManager["m1"]), len(byManager["m2"]))

	// Kill a manager hosting jobs; the survivor re-hosts them.
	victim, survivor := "m1", "m2"
	if len(byManager["m1"]) == 0 {
		victim, survivor = "m2", "m1"
	}
	managers[victim].kill(syscall.SIGKILL)
	<-managers[victim].done
	moved := byManager[victim]
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range moved {
		for {
			j, err := factories[0].Job(ctx, id)
			if err == nil && j.Manager == survivor && j.State == tuplebroker.Finished {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s not re-hosted by %s within 60s of %s's death: %+v %v", id, survivor, victim, j, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d jobs re-hosted by %s after %s was killed", len(moved), survivor, victim)

	// Exactly once: stop the agents cleanly (they write their sims'
	// records), then audit.
	for _, p := range agentProcs {
		p.stop(t)
	}
	seen := map[string]string{}
	for i, path := range records {
		recs, dups := readSimRecords(t, path)
		if dups != 0 {
			t.Errorf("%s: %d duplicate submissions", path, dups)
		}
		t.Logf("%s: %d submissions", filepath.Base(path), len(recs))
		for guid, jobs := range recs {
			if len(jobs) != 1 {
				t.Errorf("%s submitted %d times to sim %d", guid, len(jobs), i)
			}
			if prev, ok := seen[guid]; ok {
				t.Errorf("%s submitted to %s and %s", guid, prev, path)
			}
			seen[guid] = path
		}
	}
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			t.Errorf("job %s reached no backend", id)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct jobs reached backends, want %d", len(seen), n)
	}
}

// waitState polls a job until it reaches want (failing on another terminal
// state).
func waitState(t testing.TB, ctx context.Context, c *client.Client, id string, want tuplebroker.JobState) tuplebroker.Job {
	t.Helper()
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			t.Fatalf("GET %s: %v", id, err)
		}
		if j.State == want {
			return j
		}
		if j.State.Terminal() {
			t.Fatalf("job %s ended %s (%s), want %s", id, j.State, j.Reason, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s still %s/%s: %v", id, j.State, j.SubState, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitAdverts waits until n agents have advertised in the pool at url.
func waitAdverts(t testing.TB, ctx context.Context, url string, n int) {
	t.Helper()
	nc, err := space.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sp, err := space.Open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	names, err := sp.OpenNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ads, err := names.Adverts(ctx)
		if err == nil && len(ads) >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d agents advertised, want %d: %v", len(ads), n, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
