package space

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tuplebroker"
)

// Stop the embedded server and start it again on the same data dir: every
// tuple and every open transaction is as before; the open transaction then
// expires and rolls back.
func TestRestartKeepsTuplesAndTransactions(t *testing.T) {
	dir := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := StartServer(ServerConfig{DataDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 60*time.Second)
	nc, err := Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sp, err := Open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*tuplebroker.Request
	for i := 0; i < 50; i++ {
		r := newRequest("")
		reqs = append(reqs, r)
		if _, err := sp.Write(ctx, r, Forever); err != nil {
			t.Fatal(err)
		}
	}
	leased := newRequest("")
	if _, err := sp.Write(ctx, leased, time.Hour); err != nil {
		t.Fatal(err)
	}
	cour := &tuplebroker.Courier{Agent: "slurm-a", Slot: 1, Address: "nats:agent.slurm-a", Capabilities: []string{"os=LINUX"}}
	if _, err := sp.Write(ctx, cour, time.Hour); err != nil {
		t.Fatal(err)
	}
	// An open transaction holding one request, with a lease that outlives the restart.
	tx, err := sp.Begin(ctx, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	held, err := tx.TryTake(ctx, tuplebroker.RequestTemplate{GUID: reqs[0].GUID})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(sp)
	sp.Close()
	srv.Shutdown()

	srv2, err := StartServer(ServerConfig{DataDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown()
	// The old connection reconnects by itself; open a fresh Space on it.
	sp2, err := Open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	after := snapshot(sp2)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("state changed across restart:\nbefore %v\nafter  %v", before, after)
	}
	key, _ := Key(held)
	if e, ok := sp2.Lookup(key); !ok || e.ClaimedBy != tx.ID() {
		t.Fatalf("claim lost across restart: %+v %v", e, ok)
	}
	if txns := sp2.Transactions(); len(txns) != 1 || txns[0] != tx.ID() {
		t.Fatalf("transactions after restart: %v", txns)
	}
	// The dead transaction expires and its tuple comes back.
	if _, err := sp2.Take(ctx, tuplebroker.RequestTemplate{GUID: reqs[0].GUID}); err != nil {
		t.Fatalf("held tuple never came back: %v", err)
	}
	if len(sp2.Transactions()) != 0 {
		t.Fatal("expired transaction still listed")
	}
}

// snapshot lists key, revision, expiry and claim of every stored tuple.
func snapshot(sp *Space) []string {
	var out []string
	for _, tmpl := range []tuplebroker.Template{tuplebroker.RequestTemplate{}, tuplebroker.ResponseTemplate{}, tuplebroker.CourierTemplate{}} {
		for _, e := range sp.Entries(tmpl) {
			out = append(out, fmt.Sprintf("%s@%d/%d/%s", e.Key, e.Revision, e.Expires.UnixNano(), e.ClaimedBy))
		}
	}
	slices.Sort(out)
	return out
}

// A 3-node JetStream cluster on 127.0.0.1 with an R3 bucket: one node is
// stopped mid-run; writes and takes go on; nothing acknowledged is lost and
// nothing is taken twice.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	var ports, rports [3]int
	for i := range ports {
		var err error
		if ports[i], err = FreePort(); err != nil {
			t.Fatal(err)
		}
		if rports[i], err = FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	var srvs [3]*Server
	var wgStart sync.WaitGroup
	for i := range srvs {
		var routes []string
		for j := range rports {
			if j != i {
				routes = append(routes, RouteURL("127.0.0.1", rports[j]))
			}
		}
		wgStart.Add(1)
		go func(i int, routes []string) {
			defer wgStart.Done()
			s, err := StartServer(ServerConfig{
				Name: fmt.Sprintf("n%d", i), DataDir: t.TempDir(), Port: ports[i],
				Cluster: &ClusterConfig{Name: "tb", Host: "127.0.0.1", Port: rports[i], Routes: routes},
			})
			if err != nil {
				t.Error(err)
				return
			}
			srvs[i] = s
		}(i, routes)
	}
	wgStart.Wait()
	if t.Failed() {
		t.FailNow()
	}
	defer func() {
		for _, s := range srvs {
			if s != nil {
				s.Shutdown()
			}
		}
	}()
	urls := fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", ports[0], ports[1], ports[2])
	ctx := ctxT(t, 180*time.Second)

	open := func() *Space {
		for {
			nc, err := Connect(urls)
			if err == nil {
				octx, cancel := context.WithTimeout(ctx, 10*time.Second)
				sp, err := Open(octx, nc, WithReplicas(3))
				cancel()
				if err == nil {
					t.Cleanup(func() { sp.Close(); nc.Close() })
					return sp
				}
				nc.Close()
			}
			if ctx.Err() != nil {
				t.Fatal("cluster never became ready")
			}
			time.Sleep(200 * time.Millisecond) // JetStream meta leader election
		}
	}
	writer, taker1, taker2 := open(), open(), open()

	const n = 1500
	var mu sync.Mutex
	acked := map[string]bool{}
	var taken []string
	var writesDone atomic.Bool
	progress := time.Now()
	lastProgress := func() time.Time { mu.Lock(); defer mu.Unlock(); return progress }
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer: retries until each write is acknowledged
		defer wg.Done()
		defer writesDone.Store(true)
		for i := 0; i < n; i++ {
			r := newRequest("")
			for {
				_, err := writer.Write(ctx, r, Forever)
				if err == nil || errors.Is(err, ErrExists) { // ErrExists: an earlier attempt landed
					break
				}
				if ctx.Err() != nil {
					t.Logf("write %s never acknowledged: %v", r.GUID, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			acked[r.GUID] = true
			mu.Unlock()
			if i == n/3 {
				srvs[1].Shutdown() // stop one node mid-run
				srvs[1] = nil
			}
		}
	}()
	for _, sp := range []*Space{taker1, taker2} {
		wg.Add(1)
		go func(sp *Space) {
			defer wg.Done()
			for {
				tu, err := takeAndRespond(ctx, sp, tuplebroker.RequestTemplate{})
				if err == nil {
					mu.Lock()
					progress = time.Now()
					taken = append(taken, guidOf(tu))
					mu.Unlock()
					continue
				}
				if errors.Is(err, ErrNoMatch) && writesDone.Load() && len(sp.Entries(tuplebroker.RequestTemplate{})) == 0 {
					return
				}
				if ctx.Err() != nil {
					return
				}
				if writesDone.Load() && time.Since(lastProgress()) > 10*time.Second {
					for _, e := range sp.Entries(tuplebroker.RequestTemplate{}) {
						t.Logf("stuck on %s rev %d claimed by %q (txns %v): %v", e.Key, e.Revision, e.ClaimedBy, sp.Transactions(), err)
					}
					time.Sleep(time.Second)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}(sp)
	}
	wg.Wait()
	// Everything acknowledged was taken exactly once, and each take's
	// response exists.
	auditTakes(t, acked, taken)
	// Every Space's mirror converges on the same state, including the one
	// whose server was stopped (its consumer is recreated elsewhere).
	for i, sp := range []*Space{writer, taker1, taker2} {
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		for {
			got := len(sp.Entries(tuplebroker.ResponseTemplate{}))
			if got == n {
				t.Logf("space %d mirror converged after %v", i, time.Since(start))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("space %d mirror holds %d responses after the run, want %d", i, got, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
