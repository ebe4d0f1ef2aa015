package sim

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tuplebroker"
	"tuplebroker/jsdl"
)

func TestLatencyFakeClock(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.SubmitLatency = 100 * time.Millisecond })
	ch := submitAsync(context.Background(), b, ajob("a"))
	waitSleepers(t, clk, 1)
	clk.Advance(99 * time.Millisecond)
	if clk.Sleepers() != 1 {
		t.Fatal("submission returned before its latency")
	}
	select {
	case r := <-ch:
		t.Fatalf("submission returned early: %+v", r)
	default:
	}
	clk.Advance(time.Millisecond)
	r := wait(t, ch)
	if r.err != nil || r.id != "t-1" {
		t.Fatalf("got %+v", r)
	}
	recs := b.Submissions()
	if len(recs) != 1 || !recs[0].At.Equal(t0.Add(100*time.Millisecond)) || recs[0].GUID != "a" || recs[0].BackendJobID != "t-1" {
		t.Fatalf("records %+v", recs)
	}
}

func TestJitterDeterministic(t *testing.T) {
	delays := func(seed int64) []time.Duration {
		b, clk := newSim(t, func(c *Config) {
			c.SubmitLatency, c.SubmitJitter, c.Seed = 100*time.Millisecond, 50*time.Millisecond, seed
		})
		var out []time.Duration
		for i := range 50 {
			start := clk.Now()
			ch := submitAsync(context.Background(), b, ajob(guid(i)))
			waitSleepers(t, clk, 1)
			at, _ := clk.AdvanceToNext()
			if r := wait(t, ch); r.err != nil {
				t.Fatal(r.err)
			}
			d := at.Sub(start)
			if d < 100*time.Millisecond || d >= 150*time.Millisecond {
				t.Fatalf("delay %v outside [100ms, 150ms)", d)
			}
			out = append(out, d)
		}
		return out
	}
	a, a2, c := delays(1), delays(1), delays(2)
	if !slices.Equal(a, a2) {
		t.Fatal("same seed, different delays")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same delays")
	}
	if slices.Min(a) == slices.Max(a) {
		t.Fatal("no jitter")
	}
}

func TestLatencyRealClock(t *testing.T) {
	cfg := baseConfig(nil)
	cfg.SubmitLatency = 20 * time.Millisecond
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	start := time.Now()
	if _, err := b.Submit(context.Background(), ajob("a")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("returned after %v, before the 20ms latency", d)
	}
}

func TestSubmitHonoursContext(t *testing.T) {
	cfg := baseConfig(nil)
	cfg.SubmitLatency, cfg.Concurrency = time.Hour, 1
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	_, err = b.Submit(ctx, ajob("a"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, tuplebroker.ErrRefused) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer dcancel()
	if _, err := b.Submit(dctx, ajob("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DeadlineExceeded", err)
	}
	if _, err := b.Submit(dctx, ajob("c")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("done ctx: err %v", err)
	}
	s := b.Stats()
	if s.Abandoned != 2 || s.Accepted != 0 || s.Refused != 0 || len(b.Submissions()) != 0 {
		t.Fatalf("stats %+v", s)
	}
	// The abandoned submissions left the front door (Concurrency 1).
	if b.inFlightNow() != 0 {
		t.Fatal("abandoned submissions still in flight")
	}
}

func (b *Backend) inFlightNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight
}

func TestConcurrencyRefusal(t *testing.T) {
	const n = 4
	b, clk := newSim(t, func(c *Config) { c.Concurrency, c.SubmitLatency = n, time.Second })
	var chs []<-chan result
	for i := range n {
		chs = append(chs, submitAsync(context.Background(), b, ajob(guid(i))))
	}
	waitSleepers(t, clk, n)
	_, err := b.Submit(context.Background(), ajob("one-too-many"))
	wantErr(t, err, tuplebroker.ErrRefused, ErrBusy)
	clk.Advance(time.Second)
	for _, ch := range chs {
		if r := wait(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	s := b.Stats()
	if s.Accepted != n || s.Refused != 1 || s.RefusedBusy != 1 || s.InFlightMax != n {
		t.Fatalf("stats %+v", s)
	}
	// The door is free again.
	ch := submitAsync(context.Background(), b, ajob("later"))
	waitSleepers(t, clk, 1)
	clk.Advance(time.Second)
	if r := wait(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestQueueSlotsRefusal(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.QueueSlots, c.RunSlots, c.RunTime = 3, 1, Fixed(10*time.Second) })
	for i := range 3 {
		mustSubmit(t, b, guid(i))
	}
	_, err := b.Submit(context.Background(), ajob("x"))
	wantErr(t, err, tuplebroker.ErrRefused, ErrQueueFull)
	if s := b.Stats(); s.Pending != 2 || s.Running != 1 || s.RefusedQueue != 1 {
		t.Fatalf("stats %+v", s)
	}
	clk.Advance(10 * time.Second) // the first job ends
	mustSubmit(t, b, "x")
	_, err = b.Submit(context.Background(), ajob("y"))
	wantErr(t, err, ErrQueueFull)
}

func TestRateWindow(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.RefuseAbove = 5 })
	for i := range 5 {
		mustSubmit(t, b, guid(i))
	}
	for range 10 { // hammering while limited does not extend the limit
		_, err := b.Submit(context.Background(), ajob("x"))
		wantErr(t, err, tuplebroker.ErrRefused, ErrRateLimited)
	}
	clk.Advance(999 * time.Millisecond)
	_, err := b.Submit(context.Background(), ajob("x"))
	wantErr(t, err, ErrRateLimited)
	clk.Advance(time.Millisecond) // the window is (now-1s, now]: t0 has left it
	for i := range 5 {
		mustSubmit(t, b, guid(10+i))
	}
	_, err = b.Submit(context.Background(), ajob("x"))
	wantErr(t, err, ErrRateLimited)
	if s := b.Stats(); s.Accepted != 10 || s.RefusedRate != 12 || s.Refused != 12 {
		t.Fatalf("stats %+v", s)
	}

	// Spread out, 5/s is sustainable indefinitely.
	clk.Advance(time.Second)
	for i := range 50 {
		mustSubmit(t, b, guid(100+i))
		clk.Advance(200 * time.Millisecond)
	}
}

func TestRefusalRisesWithLoad(t *testing.T) {
	run := func(seed int64) (outcomes []bool, b *Backend) {
		b, _ = newSim(t, func(c *Config) {
			c.QueueSlots, c.RunSlots, c.RunTime = 1000, 1, Fixed(time.Hour)
			c.RefuseLoad, c.Seed = 1, seed
		})
		for i := range 2000 {
			_, err := b.Submit(context.Background(), ajob(guid(i)))
			if err != nil && !errors.Is(err, ErrOverloaded) {
				t.Fatal(err)
			}
			outcomes = append(outcomes, err != nil)
		}
		return outcomes, b
	}
	a, b := run(3)
	a2, _ := run(3)
	c, _ := run(4)
	if !slices.Equal(a, a2) {
		t.Fatal("same seed, different refusals")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same refusals")
	}
	count := func(xs []bool) (n int) {
		for _, x := range xs {
			if x {
				n++
			}
		}
		return n
	}
	early, late := count(a[:200]), count(a[len(a)-200:])
	t.Logf("refusals: first 200 %d, last 200 %d", early, late)
	if early >= 60 || late <= 120 {
		t.Fatalf("refusals do not rise with the queue's fill: first 200 %d, last 200 %d", early, late)
	}
	s := b.Stats()
	if s.RefusedLoad != count(a) || s.Accepted+s.Refused != 2000 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRefusalBaseAndFunc(t *testing.T) {
	b, _ := newSim(t, func(c *Config) { c.RefuseBase = 1 })
	_, err := b.Submit(context.Background(), ajob("a"))
	wantErr(t, err, tuplebroker.ErrRefused, ErrOverloaded)

	var seen []Load
	b, clk := newSim(t, func(c *Config) {
		c.Concurrency, c.QueueSlots, c.RunTime = 5, 10, Fixed(time.Hour)
		c.SubmitLatency = time.Second
		c.RefusalProbability = func(l Load) float64 {
			seen = append(seen, l)
			if l.Level() >= 0.5 {
				return 1
			}
			return 0
		}
	})
	for i := range 5 { // Active 0..4 of 10, InFlight 1
		ch := submitAsync(context.Background(), b, ajob(guid(i)))
		waitSleepers(t, clk, 1)
		clk.Advance(time.Second)
		if r := wait(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	ch := submitAsync(context.Background(), b, ajob("x")) // Active 5 of 10: 0.5
	waitSleepers(t, clk, 1)
	clk.Advance(time.Second)
	wantErr(t, wait(t, ch).err, ErrOverloaded)
	want := Load{InFlight: 1, Concurrency: 5, Active: 5, QueueSlots: 10}
	if len(seen) != 6 || seen[5] != want {
		t.Fatalf("loads %+v", seen)
	}
}

func TestLoad(t *testing.T) {
	for _, c := range []struct {
		l                  Load
		door, queue, level float64
	}{
		{Load{}, 0, 0, 0},
		{Load{InFlight: 1, Concurrency: 1}, 0, 0, 0},
		{Load{InFlight: 1, Concurrency: 5}, 0, 0, 0},
		{Load{InFlight: 3, Concurrency: 5}, 0.5, 0, 0.5},
		{Load{InFlight: 5, Concurrency: 5, Active: 1, QueueSlots: 4}, 1, 0.25, 1},
		{Load{InFlight: 2, Concurrency: 5, Active: 3, QueueSlots: 4}, 0.25, 0.75, 0.75},
		{Load{InFlight: 9, Concurrency: 5, Active: 9, QueueSlots: 4}, 1, 1, 1},
	} {
		if c.l.FrontDoor() != c.door || c.l.QueueFill() != c.queue || c.l.Level() != c.level {
			t.Errorf("%+v: %g %g %g, want %g %g %g", c.l, c.l.FrontDoor(), c.l.QueueFill(), c.l.Level(), c.door, c.queue, c.level)
		}
	}
}

func TestStateTransitions(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.RunSlots, c.RunTime = 1, Fixed(10*time.Second) })
	a, bb := mustSubmit(t, b, "a"), mustSubmit(t, b, "b")
	st := wantState(t, b, a, tuplebroker.Running, tuplebroker.SubExecuting)
	if !st.Started.Equal(t0) || !st.Ended.IsZero() || st.ExitCode != nil {
		t.Fatalf("a: %+v", st)
	}
	st = wantState(t, b, bb, tuplebroker.Pending, tuplebroker.SubBackendQueued)
	if !st.Started.IsZero() {
		t.Fatalf("b: %+v", st)
	}
	clk.Advance(9999 * time.Millisecond)
	wantState(t, b, a, tuplebroker.Running, tuplebroker.SubExecuting)
	clk.Advance(time.Millisecond)
	st = wantState(t, b, a, tuplebroker.Finished, "")
	if st.ExitCode == nil || *st.ExitCode != 0 || !st.Ended.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("a: %+v", st)
	}
	st = wantState(t, b, bb, tuplebroker.Running, tuplebroker.SubExecuting)
	if !st.Started.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("b: %+v", st)
	}
	clk.Advance(time.Hour)
	st = wantState(t, b, bb, tuplebroker.Finished, "")
	if !st.Ended.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("b: %+v", st)
	}
}

func TestCatchUpReplaysInOrder(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.RunSlots, c.RunTime = 2, Fixed(10*time.Second) })
	var ids []string
	for i := range 5 {
		ids = append(ids, mustSubmit(t, b, guid(i)))
	}
	clk.Advance(25 * time.Second) // one catch-up: ends at 10s (×2), 20s (×2); the 5th starts at 20s
	m, err := b.Status(context.Background(), append(ids, "t-99"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["t-99"]; ok || len(m) != 5 {
		t.Fatalf("status %v", m)
	}
	wantStart := []time.Duration{0, 0, 10 * time.Second, 10 * time.Second, 20 * time.Second}
	for i, id := range ids {
		st := m[id]
		if !st.Started.Equal(t0.Add(wantStart[i])) {
			t.Errorf("%s started %v, want +%v", id, st.Started.Sub(t0), wantStart[i])
		}
		if i < 4 && (st.State != tuplebroker.Finished || !st.Ended.Equal(st.Started.Add(10*time.Second))) {
			t.Errorf("%s: %+v", id, st)
		}
	}
	if m[ids[4]].State != tuplebroker.Running {
		t.Errorf("last: %+v", m[ids[4]])
	}
	if s := b.Stats(); s.Running != 1 || s.Pending != 0 || s.Known != 5 {
		t.Fatalf("stats %+v", s)
	}
}

func TestZeroRunTimeFinishesImmediately(t *testing.T) {
	b, _ := newSim(t, nil)
	id := mustSubmit(t, b, "a")
	st := wantState(t, b, id, tuplebroker.Finished, "")
	if !st.Started.Equal(t0) || !st.Ended.Equal(t0) {
		t.Fatalf("%+v", st)
	}
}

func TestExitCodes(t *testing.T) {
	b, _ := newSim(t, func(c *Config) { c.FailFraction = 1 })
	st := wantState(t, b, mustSubmit(t, b, "a"), tuplebroker.Failed, tuplebroker.SubExitedNonzero)
	if st.ExitCode == nil || *st.ExitCode != 1 || st.Reason == "" {
		t.Fatalf("%+v", st)
	}
	b, _ = newSim(t, func(c *Config) { c.ExitCode = 3 })
	st = wantState(t, b, mustSubmit(t, b, "a"), tuplebroker.Failed, tuplebroker.SubExitedNonzero)
	if *st.ExitCode != 3 {
		t.Fatalf("%+v", st)
	}
	b, _ = newSim(t, func(c *Config) { c.FailFraction = 0.3 })
	var ids []string
	for i := range 1000 {
		ids = append(ids, mustSubmit(t, b, guid(i)))
	}
	m, _ := b.Status(context.Background(), ids)
	failed := 0
	for _, st := range m {
		if st.State == tuplebroker.Failed {
			failed++
		}
	}
	if failed < 220 || failed > 380 {
		t.Fatalf("%d of 1000 failed, want about 300", failed)
	}
}

func TestRunTimeDistributions(t *testing.T) {
	for _, c := range []struct {
		d        Dist
		lo, hi   time.Duration
		meanLo   time.Duration
		meanHi   time.Duration
		distinct bool
	}{
		{Fixed(3 * time.Second), 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, false},
		{Uniform(time.Second, 2*time.Second), time.Second, 2 * time.Second, 1400 * time.Millisecond, 1600 * time.Millisecond, true},
		{Exponential(time.Second), 0, 1 << 62, 850 * time.Millisecond, 1150 * time.Millisecond, true},
		{Dist{Kind: KindExponential, Mean: time.Second, Max: 2 * time.Second}, 0, 2 * time.Second, 700 * time.Millisecond, 1000 * time.Millisecond, true},
	} {
		t.Run(c.d.Kind.String(), func(t *testing.T) {
			b, clk := newSim(t, func(cfg *Config) { cfg.RunTime = c.d })
			var ids []string
			for i := range 1000 {
				ids = append(ids, mustSubmit(t, b, guid(i)))
			}
			clk.Advance(1000 * time.Hour)
			m, _ := b.Status(context.Background(), ids)
			var sum time.Duration
			seen := map[time.Duration]bool{}
			for _, st := range m {
				d := st.Ended.Sub(st.Started)
				if d < c.lo || d > c.hi {
					t.Fatalf("run time %v outside [%v, %v]", d, c.lo, c.hi)
				}
				sum += d
				seen[d] = true
			}
			mean := sum / time.Duration(len(m))
			if mean < c.meanLo || mean > c.meanHi {
				t.Fatalf("mean %v outside [%v, %v]", mean, c.meanLo, c.meanHi)
			}
			if c.distinct != (len(seen) > 1) {
				t.Fatalf("%d distinct run times", len(seen))
			}
		})
	}
	if d := Exponential(time.Hour).sample(1 - 1.0/(1<<53)); d <= 0 || d > maxDraw {
		t.Fatalf("extreme exponential draw %v", d)
	}
	if d := (Dist{Kind: KindExponential, Mean: maxDraw}).sample(0.999); d != maxDraw {
		t.Fatalf("huge exponential draw %v not capped", d)
	}
}

func TestCancel(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.RunSlots, c.RunTime = 1, Fixed(10*time.Second) })
	a, bb, c := mustSubmit(t, b, "a"), mustSubmit(t, b, "b"), mustSubmit(t, b, "c")
	clk.Advance(3 * time.Second)
	ctx := context.Background()

	if err := b.Cancel(ctx, bb); err != nil { // Pending
		t.Fatal(err)
	}
	st := wantState(t, b, bb, tuplebroker.Cancelled, tuplebroker.SubUserCancelled)
	if !st.Started.IsZero() || !st.Ended.Equal(t0.Add(3*time.Second)) || st.ExitCode != nil {
		t.Fatalf("b: %+v", st)
	}
	if err := b.Cancel(ctx, a); err != nil { // Running: frees the slot for c
		t.Fatal(err)
	}
	st = wantState(t, b, a, tuplebroker.Cancelled, tuplebroker.SubUserCancelled)
	if !st.Started.Equal(t0) || !st.Ended.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("a: %+v", st)
	}
	st = wantState(t, b, c, tuplebroker.Running, tuplebroker.SubExecuting)
	if !st.Started.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("c: %+v", st)
	}
	if err := b.Cancel(ctx, a); err != nil { // terminal: no-op
		t.Fatal(err)
	}
	wantErr(t, b.Cancel(ctx, "t-404"), tuplebroker.ErrUnknownJob)

	clk.Advance(time.Hour)
	wantState(t, b, bb, tuplebroker.Cancelled, tuplebroker.SubUserCancelled) // never started
	st = wantState(t, b, c, tuplebroker.Finished, "")
	if !st.Ended.Equal(t0.Add(13 * time.Second)) {
		t.Fatalf("c: %+v", st)
	}
	if err := b.Cancel(ctx, c); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, c, tuplebroker.Finished, "")
	if s := b.Stats(); s.Cancelled != 2 || s.Pending != 0 || s.Running != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCancelQueuedThenRefill(t *testing.T) {
	// Cancelled jobs left in the queue neither take slots nor run.
	b, clk := newSim(t, func(c *Config) { c.QueueSlots, c.RunSlots, c.RunTime = 3, 1, Fixed(time.Second) })
	mustSubmit(t, b, "a")
	x, y := mustSubmit(t, b, "x"), mustSubmit(t, b, "y")
	b.Cancel(context.Background(), x)
	b.Cancel(context.Background(), y)
	d, e := mustSubmit(t, b, "d"), mustSubmit(t, b, "e")
	if s := b.Stats(); s.Pending != 2 || s.Running != 1 {
		t.Fatalf("stats %+v", s)
	}
	clk.Advance(time.Second)
	wantState(t, b, x, tuplebroker.Cancelled, tuplebroker.SubUserCancelled)
	st := wantState(t, b, d, tuplebroker.Running, tuplebroker.SubExecuting)
	if !st.Started.Equal(t0.Add(time.Second)) {
		t.Fatalf("d: %+v", st)
	}
	clk.Advance(time.Second)
	wantState(t, b, e, tuplebroker.Running, tuplebroker.SubExecuting)
}

func TestFindAndDuplicates(t *testing.T) {
	b, _ := newSim(t, nil)
	ctx := context.Background()
	if _, found, err := b.Find(ctx, "g"); found || err != nil {
		t.Fatalf("found before submission (%v)", err)
	}
	id1 := mustSubmit(t, b, "g")
	if id, found, err := b.Find(ctx, "g"); !found || err != nil || id != id1 {
		t.Fatalf("find: %q %v %v", id, found, err)
	}
	mustSubmit(t, b, "other")
	id2 := mustSubmit(t, b, "g")
	if id2 == id1 {
		t.Fatal("duplicate got the same id")
	}
	if id, _, _ := b.Find(ctx, "g"); id != id2 {
		t.Fatalf("find after duplicate: %q, want the latest %q", id, id2)
	}
	s := b.Stats()
	if s.Accepted != 3 || s.Duplicates != 1 {
		t.Fatalf("stats %+v", s)
	}
	recs := b.Submissions()
	if len(recs) != 3 || recs[0].GUID != "g" || recs[2].GUID != "g" || recs[2].BackendJobID != id2 {
		t.Fatalf("records %+v", recs)
	}
	// A refused or rejected submission is not a duplicate.
	b2, _ := newSim(t, func(c *Config) { c.RefuseAbove = 1 })
	mustSubmit(t, b2, "g")
	b2.Submit(ctx, ajob("g"))
	if s := b2.Stats(); s.Duplicates != 0 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRetention(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.Retention, c.RunTime, c.RunSlots = time.Minute, Fixed(time.Second), 1 })
	ctx := context.Background()
	id := mustSubmit(t, b, "g")
	keep := mustSubmit(t, b, "h") // runs 1s..2s, forgotten at 62s
	clk.Advance(time.Second + time.Minute - 1)
	if _, found, _ := b.Find(ctx, "g"); !found {
		t.Fatal("forgotten too early")
	}
	clk.Advance(1)
	if _, found, _ := b.Find(ctx, "g"); found {
		t.Fatal("still found after retention")
	}
	if m, _ := b.Status(ctx, []string{id, keep}); len(m) != 1 {
		t.Fatalf("status %v", m)
	}
	wantErr(t, b.Cancel(ctx, id), tuplebroker.ErrUnknownJob)
	clk.Advance(time.Second)
	if s := b.Stats(); s.Known != 0 || s.Accepted != 2 || len(b.Submissions()) != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRejected(t *testing.T) {
	b, _ := newSim(t, func(c *Config) {
		c.Capabilities = []string{"os=LINUX", "os=WINNT"}
		c.RejectRequirements = []string{"os=WINNT"}
	})
	_, err := b.Submit(context.Background(), jobOn("w", jsdl.OSWinNT, ""))
	wantErr(t, err, tuplebroker.ErrRejected)
	if errors.Is(err, tuplebroker.ErrRefused) {
		t.Fatal("rejection wraps ErrRefused")
	}
	if _, err := b.Submit(context.Background(), jobOn("l", jsdl.OSLinux, jsdl.ArchSparc)); err != nil {
		t.Fatal(err) // sparc is not offered, but only RejectRequirements count
	}
	mustSubmit(t, b, "nodef")

	b2, _ := newSim(t, func(c *Config) { c.RejectUnoffered = true })
	_, err = b2.Submit(context.Background(), jobOn("l", jsdl.OSLinux, jsdl.ArchSparc))
	wantErr(t, err, tuplebroker.ErrRejected)
	if _, err := b2.Submit(context.Background(), jobOn("l2", jsdl.OSLinux, "")); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Rejected != 1 || s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLostReply(t *testing.T) {
	b, _ := newSim(t, func(c *Config) { c.LostReplyProbability = 1 })
	_, err := b.Submit(context.Background(), ajob("g"))
	wantErr(t, err, ErrLostReply)
	if errors.Is(err, tuplebroker.ErrRefused) || errors.Is(err, tuplebroker.ErrRejected) {
		t.Fatalf("lost reply %v is a refusal or rejection", err)
	}
	if _, found, _ := b.Find(context.Background(), "g"); !found {
		t.Fatal("the job of a lost reply does not exist")
	}
	if s := b.Stats(); s.LostReplies != 1 || s.Accepted != 1 || len(b.Submissions()) != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestClose(t *testing.T) {
	b, clk := newSim(t, func(c *Config) { c.SubmitLatency = time.Second })
	ch := submitAsync(context.Background(), b, ajob("a"))
	waitSleepers(t, clk, 1)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantErr(t, wait(t, ch).err, tuplebroker.ErrRefused, ErrClosed)
	_, err := b.Submit(context.Background(), ajob("b"))
	wantErr(t, err, ErrClosed)
	_, err = b.Status(context.Background(), nil)
	wantErr(t, err, ErrClosed)
	_, _, err = b.Find(context.Background(), "a")
	wantErr(t, err, ErrClosed)
	wantErr(t, b.Cancel(context.Background(), "t-1"), ErrClosed)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Refused != 2 || s.Accepted != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNoGUID(t *testing.T) {
	b, _ := newSim(t, nil)
	_, err := b.Submit(context.Background(), ajob(""))
	if err == nil || errors.Is(err, tuplebroker.ErrRefused) || errors.Is(err, tuplebroker.ErrRejected) {
		t.Fatalf("err %v", err)
	}
}

func TestNameAndCapabilities(t *testing.T) {
	b, _ := newSim(t, nil)
	if b.Name() != "t" {
		t.Fatal(b.Name())
	}
	caps := b.Capabilities()
	caps[0] = "mutated"
	if b.Capabilities()[0] != "os=LINUX" {
		t.Fatal("Capabilities exposes its slice")
	}
}
