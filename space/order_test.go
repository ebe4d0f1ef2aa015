package space

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// The take order as a pure structure: no NATS, no sleeps.

type qjob struct {
	key, class, user string
	prio             int
	at               time.Duration // submitted at t0 + at
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func queueAll(s *scheduler, jobs ...qjob) {
	for _, j := range jobs {
		class := j.class
		if class == "" {
			class = "any"
		}
		s.add(j.key, class, j.prio, j.user, t0.Add(j.at))
	}
}

// dispatchN dispatches n items one at a time, each the first candidate.
func dispatchN(s *scheduler, now time.Time, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		c := s.candidates(nil, now, 1, nil)
		if len(c) == 0 {
			break
		}
		s.dispatched(c[0])
		out = append(out, c[0])
	}
	return out
}

func many(user string, n, prio int, from time.Duration) []qjob {
	out := make([]qjob, n)
	for i := range out {
		out[i] = qjob{key: fmt.Sprintf("%s%d", user, i), user: user, prio: prio, at: from + time.Duration(i)*time.Millisecond}
	}
	return out
}

func TestOrderTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order Order
		jobs  []qjob
		now   time.Duration
		want  []string
	}{
		{name: "fifo within a user",
			jobs: []qjob{{key: "c", user: "a", at: 3}, {key: "a", user: "a", at: 1}, {key: "b", user: "a", at: 2}},
			want: []string{"a", "b", "c"}},
		{name: "higher priority first",
			jobs: []qjob{{key: "low1", user: "a", at: 1}, {key: "high", user: "a", prio: 500, at: 5}, {key: "low2", user: "a", at: 2}, {key: "mid", user: "a", prio: 10, at: 9}},
			want: []string{"high", "mid", "low1", "low2"}},
		{name: "negative priority last",
			jobs: []qjob{{key: "neg", user: "a", prio: -5, at: 1}, {key: "zero", user: "a", at: 2}},
			want: []string{"zero", "neg"}},
		{name: "users alternate at equal priority",
			jobs: []qjob{{key: "a1", user: "a", at: 1}, {key: "a2", user: "a", at: 2}, {key: "a3", user: "a", at: 3}, {key: "b1", user: "b", at: 10}, {key: "b2", user: "b", at: 11}},
			want: []string{"a1", "b1", "a2", "b2", "a3"}},
		{name: "aged job goes before higher priority",
			order: Order{AgeBound: time.Minute},
			jobs:  []qjob{{key: "old-low", user: "a", prio: -10, at: 0}, {key: "new-high", user: "b", prio: 900, at: 2 * time.Minute}},
			now:   2*time.Minute + time.Second,
			want:  []string{"old-low", "new-high"}},
		{name: "not yet aged: priority decides",
			order: Order{AgeBound: time.Hour},
			jobs:  []qjob{{key: "old-low", user: "a", prio: -10, at: 0}, {key: "new-high", user: "b", prio: 900, at: 2 * time.Minute}},
			now:   2*time.Minute + time.Second,
			want:  []string{"new-high", "old-low"}},
		{name: "classes merge in one order",
			jobs: []qjob{{key: "x1", class: "cx", user: "a", at: 1}, {key: "y1", class: "cy", user: "a", prio: 3, at: 2}, {key: "x2", class: "cx", user: "a", prio: 3, at: 3}},
			want: []string{"y1", "x2", "x1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScheduler(tc.order)
			queueAll(s, tc.jobs...)
			// The candidate list, without dispatching, is the same order
			// for the first item.
			if got := dispatchN(s, t0.Add(tc.now), len(tc.jobs)); !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
			if s.Len() != 0 {
				t.Fatalf("%d left", s.Len())
			}
		})
	}
}

// A flood from one user does not delay another user's next jobs: b's 10
// jobs, sent after a's 1,000, all go within the next 30 dispatches.
func TestOrderFairShareAgainstAFlood(t *testing.T) {
	s := newScheduler(Order{})
	queueAll(s, many("a", 1000, 0, 0)...)
	dispatchN(s, t0.Add(time.Hour), 100) // a has been running alone for a while
	queueAll(s, many("b", 10, 0, time.Hour)...)
	got := dispatchN(s, t0.Add(time.Hour), 30)
	nb := 0
	for _, k := range got {
		if k[0] == 'b' {
			nb++
		}
	}
	if nb != 10 {
		t.Fatalf("%d of b's 10 jobs within 30 dispatches: %v", nb, got)
	}
}

// Weights a=3, b=1: the long-run split is 3:1.
func TestOrderWeights(t *testing.T) {
	s := newScheduler(Order{Weights: map[string]float64{"a": 3, "b": 1}})
	queueAll(s, many("a", 5000, 0, 0)...)
	queueAll(s, many("b", 5000, 0, 0)...)
	got := dispatchN(s, t0, 4000)
	na := 0
	for _, k := range got {
		if k[0] == 'a' {
			na++
		}
	}
	ratio := float64(na) / float64(len(got)-na)
	if math.Abs(ratio-3)/3 > 0.10 {
		t.Fatalf("split a:b = %d:%d (%.2f), want 3:1 ± 10%%", na, len(got)-na, ratio)
	}
}

// A user who was idle joins at the current virtual time: it does not get a
// burst of catch-up dispatches for the time it had nothing queued.
func TestOrderNoCreditWhileIdle(t *testing.T) {
	s := newScheduler(Order{})
	queueAll(s, many("a", 200, 0, 0)...)
	dispatchN(s, t0, 100)
	queueAll(s, many("b", 50, 0, time.Second)...)
	got := dispatchN(s, t0, 20)
	nb := 0
	for _, k := range got {
		if k[0] == 'b' {
			nb++
		}
	}
	if nb < 9 || nb > 11 {
		t.Fatalf("b got %d of 20 dispatches after joining, want about half: %v", nb, got)
	}
}

// A low-priority job behind a steady stream of urgent ones is dispatched
// once it has waited AgeBound.
func TestOrderAgeBoundAgainstAStream(t *testing.T) {
	bound := 30 * time.Second
	s := newScheduler(Order{AgeBound: bound})
	s.add("low", "any", -100, "a", t0)
	var when time.Duration
	for tick := time.Duration(0); tick < 2*bound; tick += 100 * time.Millisecond {
		// two urgent jobs arrive, one is dispatched, per tick: always a backlog
		for i := 0; i < 2; i++ {
			s.add(fmt.Sprintf("hi-%d-%d", tick, i), "any", 900, "b", t0.Add(tick))
		}
		c := s.candidates(nil, t0.Add(tick), 1, nil)
		s.dispatched(c[0])
		if c[0] == "low" {
			when = tick
			break
		}
	}
	if when == 0 || when > bound+100*time.Millisecond {
		t.Fatalf("low-priority job dispatched at %v, bound %v", when, bound)
	}
}

// candidates honours accept and offers more than one in order (takers
// skip the one another taker is claiming).
func TestOrderCandidatesSkipRefused(t *testing.T) {
	s := newScheduler(Order{})
	queueAll(s, qjob{key: "1", user: "a", at: 1}, qjob{key: "2", user: "a", at: 2}, qjob{key: "3", user: "a", at: 3})
	got := s.candidates(nil, t0, 2, func(k string) bool { return k != "1" })
	if !slices.Equal(got, []string{"2", "3"}) {
		t.Fatalf("candidates %v", got)
	}
	if got := s.candidates([]string{"other"}, t0, 2, nil); len(got) != 0 {
		t.Fatalf("candidates of an absent class: %v", got)
	}
	ahead, depth, ok := s.position("3", t0)
	if !ok || ahead != 2 || depth != 3 {
		t.Fatalf("position of 3: ahead %d depth %d %v", ahead, depth, ok)
	}
}

// The cost of choosing does not grow with depth: one user's queue of
// 100,000 costs the same per dispatch as one of 1,000.
func BenchmarkOrderDispatch(b *testing.B) {
	for _, depth := range []int{1000, 100000} {
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			s := newScheduler(Order{AgeBound: time.Hour})
			for i := 0; i < depth; i++ {
				s.add(fmt.Sprint(i), "any", i%3, fmt.Sprint("u", i%10), t0.Add(time.Duration(i)))
			}
			n := depth
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := s.candidates(nil, t0, 4, nil)
				s.dispatched(c[0])
				s.add(fmt.Sprint(n), "any", n%3, fmt.Sprint("u", n%10), t0.Add(time.Duration(n)))
				n++
			}
		})
	}
}
