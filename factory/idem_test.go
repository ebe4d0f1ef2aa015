package factory

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"tuplebroker"
)

// The same Idempotency-Key from the same user is one job, whatever the
// factory and however concurrent the retries; another body is 409.
func TestIdempotency(t *testing.T) {
	p := newPool(t)
	be, _ := p.startAgent(p.ctx, fastSim("simA", 0), agentOpts{})
	p.startManager("m1")
	f1 := p.newFactory("f1", nil)
	f2 := p.newFactory("f2", nil)

	// Count every request written, whoever writes it.
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	written, err := p.sp.Notify(ctx, tuplebroker.RequestTemplate{})
	if err != nil {
		t.Fatal(err)
	}

	key := map[string]string{"Idempotency-Key": "order-42"}
	first := f1.submit(t, aliceToken, helloJSDL, "", key)
	if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first POST: %d %v %s", first.status, first.header, first.body)
	}
	id := first.job(t).ID
	for i, f := range []*fac{f1, f2} {
		again := f.submit(t, aliceToken, helloJSDL, "", key)
		if again.status != http.StatusCreated || again.job(t).ID != id || again.header.Get("Idempotent-Replayed") != "true" ||
			again.header.Get("Location") != "/v1/jobs/"+id {
			t.Fatalf("replay on factory %d: %d %v %s, want 201 for %s, replayed", i+1, again.status, again.header, again.body, id)
		}
	}
	// Another body under the same key: conflict, nothing written.
	if c := f2.submit(t, aliceToken, echoJSDL("other"), "", key); c.status != http.StatusConflict ||
		c.problem(t).Type != problemBase+"idempotency-conflict" {
		t.Fatalf("other body, same key: %d %s, want 409", c.status, c.body)
	}
	// The same key from another user is another job.
	b := f1.submit(t, bobToken, helloJSDL, "?wait=0", key)
	if b.status != http.StatusAccepted || b.job(t).ID == id {
		t.Fatalf("bob with alice's key: %d %s, want a new job", b.status, b.body)
	}
	bobs := b.job(t).ID

	// Eight concurrent POSTs with one new key, over both factories.
	const n = 8
	ids := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := []*fac{f1, f2}[i%2]
			r := f.submit(t, aliceToken, echoJSDL("concurrent"), "", map[string]string{"Idempotency-Key": "burst-7"})
			statuses[i] = r.status
			if r.status < 300 {
				ids[i] = r.job(t).ID
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if statuses[i] != http.StatusCreated || ids[i] != ids[0] {
			t.Fatalf("concurrent POSTs answered %v with ids %v, want one job, all 201", statuses, ids)
		}
	}

	// Three jobs in all: alice's two keys and bob's.
	want := map[string]bool{id: true, ids[0]: true, bobs: true}
	p.eventually("three submissions", func() bool { return len(be.Submissions()) >= 3 })
	seen := map[string]int{}
	for _, rec := range be.Submissions() {
		seen[rec.GUID]++
	}
	for g := range want {
		if seen[g] != 1 {
			t.Errorf("job %s submitted %d times, want once", g, seen[g])
		}
	}
	if len(seen) != 3 || be.Stats().Duplicates != 0 {
		t.Errorf("backend saw %d jobs (%d duplicates), want 3", len(seen), be.Stats().Duplicates)
	}
	// The requests written, as far as the test's view of the space saw
	// them: one per job, no other.
	writes := map[string]int{}
drain:
	for {
		select {
		case tu := <-written:
			writes[tu.(*tuplebroker.Request).GUID]++
		case <-time.After(300 * time.Millisecond):
			break drain
		}
	}
	for g, c := range writes {
		if c != 1 || !want[g] {
			t.Errorf("request %s written %d times (one of the jobs: %v)", g, c, want[g])
		}
	}
	s1, s2 := f1.Stats(), f2.Stats()
	if acc, rep := s1.Accepted+s2.Accepted, s1.Replays+s2.Replays; acc != 3 || rep != 2+n-1 {
		t.Errorf("accepted %d, replays %d; want 3 and %d", acc, rep, 2+n-1)
	}
}
