package space

import (
	"container/heap"
	"slices"
	"time"
)

// The take order of queued tuples (Requests), a pure data structure with no
// I/O, fed by the mirror. Every queued tuple belongs to one queue (its
// requirements class); within the pool of queues a taker is offered, in
// order:
//
//  1. tuples that have waited longer than Order.AgeBound, oldest first (so a
//     low-priority tuple is not starved by a steady stream of urgent ones);
//  2. then by priority, highest first;
//  3. among equal priority, fair share between users: stride scheduling, each
//     dispatch of user u advances u's pass by 1/weight(u), the user with the
//     lowest pass goes next, and a user who had nothing queued joins at the
//     current virtual time (no credit saved up while idle);
//  4. within one user, oldest first (submission order; ties by arrival).
//
// Priority, user and submission time travel in the tuple, so the order holds
// across factories and across a restart; the users' passes are rebuilt from
// the dispatches each mirror sees.

// Order configures the take order. The zero value is equal weights and no
// age bound.
type Order struct {
	// Weights are per-user fair-share weights (default 1). A user with
	// weight 3 gets three dispatches to another's one while both wait.
	Weights map[string]float64
	// AgeBound: a tuple that has waited this long goes before every tuple
	// that has not (0: never; priority alone decides).
	AgeBound time.Duration
}

func (o Order) weight(user string) float64 {
	if w, ok := o.Weights[user]; ok && w > 0 {
		return w
	}
	return 1
}

// qitem is one queued tuple.
type qitem struct {
	key     string
	class   string
	prio    int
	user    string
	created int64  // submission time, Unix ns
	arrival uint64 // tie-break: order the mirror first saw it
	uidx    int    // index in its user heap
	aidx    int    // index in its queue's age heap
}

// before orders items of one user: oldest first.
func (a *qitem) before(b *qitem) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.arrival < b.arrival
}

// userHeap holds one user's items at one priority, oldest first.
type userHeap []*qitem

func (h userHeap) Len() int           { return len(h) }
func (h userHeap) Less(i, j int) bool { return h[i].before(h[j]) }
func (h userHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].uidx = i; h[j].uidx = j }
func (h *userHeap) Push(x any)        { it := x.(*qitem); it.uidx = len(*h); *h = append(*h, it) }
func (h *userHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.uidx = -1
	return it
}

// ageHeap holds every item of a queue, oldest first.
type ageHeap []*qitem

func (h ageHeap) Len() int           { return len(h) }
func (h ageHeap) Less(i, j int) bool { return h[i].before(h[j]) }
func (h ageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].aidx = i; h[j].aidx = j }
func (h *ageHeap) Push(x any)        { it := x.(*qitem); it.aidx = len(*h); *h = append(*h, it) }
func (h *ageHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.aidx = -1
	return it
}

// level is one priority of one queue: a heap per user.
type level struct {
	users map[string]*userHeap
}

// queue is one requirements class.
type queue struct {
	levels map[int]*level
	prios  []int // highest first
	age    ageHeap
}

// scheduler is the take order over all queues, with the users' passes.
type scheduler struct {
	order   Order
	queues  map[string]*queue
	items   map[string]*qitem
	pass    map[string]float64
	perUser map[string]int // queued items per user, all queues
	vt      float64        // virtual time: the pass of the last dispatch
	arrival uint64
}

func newScheduler(o Order) *scheduler {
	return &scheduler{order: o, queues: map[string]*queue{}, items: map[string]*qitem{},
		pass: map[string]float64{}, perUser: map[string]int{}}
}

// Len is the number of queued items.
func (s *scheduler) Len() int { return len(s.items) }

// add queues key (replacing an earlier item of the same key).
func (s *scheduler) add(key, class string, prio int, user string, created time.Time) {
	s.remove(key)
	s.arrival++
	it := &qitem{key: key, class: class, prio: prio, user: user, created: created.UnixNano(), arrival: s.arrival}
	q := s.queues[class]
	if q == nil {
		q = &queue{levels: map[int]*level{}}
		s.queues[class] = q
	}
	lv := q.levels[prio]
	if lv == nil {
		lv = &level{users: map[string]*userHeap{}}
		q.levels[prio] = lv
		i, _ := slices.BinarySearchFunc(q.prios, prio, func(a, b int) int { return b - a })
		q.prios = slices.Insert(q.prios, i, prio)
	}
	uh := lv.users[user]
	if uh == nil {
		uh = &userHeap{}
		lv.users[user] = uh
	}
	heap.Push(uh, it)
	heap.Push(&q.age, it)
	if s.perUser[user] == 0 && s.pass[user] < s.vt {
		s.pass[user] = s.vt // joins now: no credit for the time it was idle
	}
	s.perUser[user]++
	s.items[key] = it
}

// remove drops key from the order, if queued; it reports whether it was.
func (s *scheduler) remove(key string) bool {
	it, ok := s.items[key]
	if !ok {
		return false
	}
	delete(s.items, key)
	q := s.queues[it.class]
	lv := q.levels[it.prio]
	uh := lv.users[it.user]
	heap.Remove(uh, it.uidx)
	heap.Remove(&q.age, it.aidx)
	if uh.Len() == 0 {
		delete(lv.users, it.user)
	}
	if len(lv.users) == 0 {
		delete(q.levels, it.prio)
		i := slices.Index(q.prios, it.prio)
		q.prios = slices.Delete(q.prios, i, i+1)
	}
	if q.age.Len() == 0 {
		delete(s.queues, it.class)
	}
	if s.perUser[it.user]--; s.perUser[it.user] <= 0 {
		delete(s.perUser, it.user)
	}
	return true
}

// dispatched removes key because a taker took it, charging its user.
func (s *scheduler) dispatched(key string) {
	it, ok := s.items[key]
	if !ok {
		return
	}
	s.remove(key)
	p := s.pass[it.user]
	if p < s.vt {
		p = s.vt
	}
	s.vt = p
	s.pass[it.user] = p + 1/s.order.weight(it.user)
}

// candidates returns up to k queued keys of the given classes (nil: all) in
// take order at now, each accepted by accept (which may be nil).
func (s *scheduler) candidates(classes []string, now time.Time, k int, accept func(key string) bool) []string {
	if k <= 0 {
		return nil
	}
	qs := make([]*queue, 0, len(s.queues))
	if classes == nil {
		for _, q := range s.queues {
			qs = append(qs, q)
		}
	} else {
		for _, c := range classes {
			if q := s.queues[c]; q != nil {
				qs = append(qs, q)
			}
		}
	}
	out := make([]string, 0, k)
	seen := map[string]bool{}
	take := func(it *qitem) bool {
		if seen[it.key] {
			return false
		}
		seen[it.key] = true
		if accept != nil && !accept(it.key) {
			return false
		}
		out = append(out, it.key)
		return true
	}
	// 1. Aged items, oldest first, across the queues.
	if ab := s.order.AgeBound; ab > 0 {
		cut := now.Add(-ab).UnixNano()
		walkers := make([]*heapWalk, 0, len(qs))
		for _, q := range qs {
			walkers = append(walkers, newHeapWalk(q.age))
		}
		for len(out) < k {
			var best *heapWalk
			for _, w := range walkers {
				if it := w.peek(); it != nil && it.created <= cut && (best == nil || it.before(best.peek())) {
					best = w
				}
			}
			if best == nil {
				break
			}
			take(best.next())
		}
	}
	// 2–4. By priority, then fair share, then age within a user.
	var done []int
	for len(out) < k {
		prio, ok := highestBelow(qs, done)
		if !ok {
			break
		}
		done = append(done, prio)
		s.level(qs, prio, k, take, func() bool { return len(out) >= k })
	}
	return out
}

// highestBelow returns the highest priority present in qs that is not in
// done.
func highestBelow(qs []*queue, done []int) (int, bool) {
	best, found := 0, false
	for _, q := range qs {
		for _, p := range q.prios {
			if slices.Contains(done, p) {
				continue
			}
			if !found || p > best {
				best, found = p, true
			}
			break // prios is sorted: the first not done is this queue's best
		}
	}
	return best, found
}

// level offers the items of one priority across qs in fair-share order,
// simulating the passes the dispatches would cause, until full reports true.
func (s *scheduler) level(qs []*queue, prio, k int, take func(*qitem) bool, full func() bool) {
	type cursor struct {
		user  string
		pass  float64
		walks []*heapWalk
	}
	byUser := map[string]*cursor{}
	var users []*cursor
	for _, q := range qs {
		lv := q.levels[prio]
		if lv == nil {
			continue
		}
		for u, uh := range lv.users {
			c := byUser[u]
			if c == nil {
				p := s.pass[u]
				if p < s.vt {
					p = s.vt
				}
				c = &cursor{user: u, pass: p}
				byUser[u] = c
				users = append(users, c)
			}
			c.walks = append(c.walks, newHeapWalk(ageHeap(*uh)))
		}
	}
	for steps := 0; !full() && len(users) > 0 && steps < 4*k+len(users); steps++ {
		// The user with the lowest pass; ties by the oldest head.
		bi := -1
		var bh *qitem
		for i, c := range users {
			h := headOf(c.walks)
			if h == nil {
				continue
			}
			if bi < 0 || c.pass < users[bi].pass || (c.pass == users[bi].pass && h.before(bh)) {
				bi, bh = i, h
			}
		}
		if bi < 0 {
			return
		}
		c := users[bi]
		for _, w := range c.walks {
			if w.peek() == bh {
				w.next()
				break
			}
		}
		if take(bh) {
			c.pass += 1 / s.order.weight(c.user)
		}
	}
}

func headOf(ws []*heapWalk) *qitem {
	var best *qitem
	for _, w := range ws {
		if it := w.peek(); it != nil && (best == nil || it.before(best)) {
			best = it
		}
	}
	return best
}

// heapWalk yields a heap's items in order without changing the heap: a
// best-first walk over its implicit tree, O(log k) per item.
type heapWalk struct {
	h    ageHeap
	open []int // frontier: indexes into h, kept as a small heap
}

func newHeapWalk(h ageHeap) *heapWalk {
	w := &heapWalk{h: h}
	if len(h) > 0 {
		w.open = []int{0}
	}
	return w
}

func (w *heapWalk) less(a, b int) bool { return w.h[a].before(w.h[b]) }

func (w *heapWalk) peek() *qitem {
	if len(w.open) == 0 {
		return nil
	}
	return w.h[w.open[0]]
}

func (w *heapWalk) next() *qitem {
	if len(w.open) == 0 {
		return nil
	}
	i := w.open[0]
	// pop the frontier's minimum
	last := len(w.open) - 1
	w.open[0] = w.open[last]
	w.open = w.open[:last]
	w.down(0)
	for _, c := range []int{2*i + 1, 2*i + 2} {
		if c < len(w.h) {
			w.open = append(w.open, c)
			w.up(len(w.open) - 1)
		}
	}
	return w.h[i]
}

func (w *heapWalk) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !w.less(w.open[j], w.open[p]) {
			return
		}
		w.open[j], w.open[p] = w.open[p], w.open[j]
		j = p
	}
}

func (w *heapWalk) down(j int) {
	n := len(w.open)
	for {
		l, m := 2*j+1, j
		if l < n && w.less(w.open[l], w.open[m]) {
			m = l
		}
		if r := l + 1; r < n && w.less(w.open[r], w.open[m]) {
			m = r
		}
		if m == j {
			return
		}
		w.open[j], w.open[m] = w.open[m], w.open[j]
		j = m
	}
}

// position describes where key stands: how many queued items of its class
// go before it (an estimate under fair share: the other users' items at
// its priority count up to its own rank), and the class's depth.
func (s *scheduler) position(key string, now time.Time) (ahead, depth int, ok bool) {
	it, ok := s.items[key]
	if !ok {
		return 0, 0, false
	}
	q := s.queues[it.class]
	depth = q.age.Len()
	if ab := s.order.AgeBound; ab > 0 && now.UnixNano()-it.created >= ab.Nanoseconds() {
		for _, o := range q.age {
			if o.before(it) {
				ahead++
			}
		}
		return ahead, depth, true
	}
	for _, p := range q.prios {
		if p <= it.prio {
			break
		}
		for _, uh := range q.levels[p].users {
			ahead += uh.Len()
		}
	}
	lv := q.levels[it.prio]
	rank := 0
	for _, o := range *lv.users[it.user] {
		if o.before(it) {
			rank++
		}
	}
	ahead += rank
	for u, uh := range lv.users {
		if u != it.user {
			ahead += min(uh.Len(), int(float64(rank+1)*s.order.weight(u)/s.order.weight(it.user)))
		}
	}
	return ahead, depth, true
}
