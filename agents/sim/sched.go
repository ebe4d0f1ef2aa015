package sim

import (
	"container/heap"
	"strconv"
	"time"

	"tuplebroker"
)

// job is one accepted submission. Its fields change only with the
// Backend's lock held.
type job struct {
	id, guid  string
	submitted time.Time
	started   time.Time // zero until it starts
	ended     time.Time // zero until it ends
	runTime   time.Duration
	exitCode  int
	state     tuplebroker.JobState
	heapIdx   int // index in the running heap while Running
}

func (j *job) end() time.Time { return j.started.Add(j.runTime) }

func (j *job) status() tuplebroker.Status {
	st := tuplebroker.Status{State: j.state, Started: j.started, Ended: j.ended}
	switch j.state {
	case tuplebroker.Pending:
		st.SubState = tuplebroker.SubBackendQueued
	case tuplebroker.Running:
		st.SubState = tuplebroker.SubExecuting
	case tuplebroker.Finished:
		code := j.exitCode
		st.ExitCode = &code
	case tuplebroker.Failed:
		code := j.exitCode
		st.ExitCode = &code
		st.SubState = tuplebroker.SubExitedNonzero
		st.Reason = "exited with code " + strconv.Itoa(code)
	case tuplebroker.Cancelled:
		st.SubState = tuplebroker.SubUserCancelled
		st.Reason = "cancelled by user"
	}
	return st
}

// runHeap orders the running jobs by the time they end.
type runHeap []*job

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(a, b int) bool { return h[a].end().Before(h[b].end()) }
func (h runHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].heapIdx, h[b].heapIdx = a, b
}
func (h *runHeap) Push(x any) {
	j := x.(*job)
	j.heapIdx = len(*h)
	*h = append(*h, j)
}
func (h *runHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.heapIdx = -1
	return j
}

// fifo is a queue of jobs or times that reuses its backing array.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }
func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }
func (q *fifo[T]) peek() T  { return q.items[q.head] }
func (q *fifo[T]) reset()   { clear(q.items); q.items, q.head = q.items[:0], 0 }
func (q *fifo[T]) pop() (v T) {
	var zero T
	v, q.items[q.head] = q.items[q.head], zero
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return v
}

// advance catches the simulated scheduler up to now: it ends, in time
// order, every running job due by now, starting queued jobs in the slots
// they free, and forgets jobs past their retention. It returns the time the
// scheduler is at: now, or the latest time seen if now is earlier.
func (b *Backend) advance(now time.Time) time.Time {
	if now.Before(b.last) {
		now = b.last
	}
	b.last = now
	for b.running.Len() > 0 {
		j := b.running[0]
		t := j.end()
		if t.After(now) {
			break
		}
		heap.Pop(&b.running)
		if j.exitCode == 0 {
			b.endJob(j, tuplebroker.Finished, t)
		} else {
			b.endJob(j, tuplebroker.Failed, t)
		}
		b.startQueued(t)
	}
	if b.cfg.Retention > 0 {
		for b.ended.len() > 0 && !b.ended.peek().ended.Add(b.cfg.Retention).After(now) {
			b.forget(b.ended.pop())
		}
	}
	return now
}

// enqueue places a newly accepted job: running if a slot is free, else at
// the back of the queue.
func (b *Backend) enqueue(j *job, t time.Time) {
	j.state = tuplebroker.Pending
	b.queue.push(j)
	b.queued++
	b.startQueued(t)
}

// startQueued starts queued jobs, first come first served, while run slots
// are free.
func (b *Backend) startQueued(t time.Time) {
	for b.queued > 0 && (b.cfg.RunSlots == 0 || b.running.Len() < b.cfg.RunSlots) {
		j := b.queue.pop()
		if j.state != tuplebroker.Pending { // cancelled while queued
			continue
		}
		b.queued--
		j.state, j.started = tuplebroker.Running, t
		heap.Push(&b.running, j)
	}
	if b.queued == 0 {
		b.queue.reset() // drop cancelled leftovers
	}
}

func (b *Backend) endJob(j *job, state tuplebroker.JobState, t time.Time) {
	j.state, j.ended = state, t
	if b.cfg.Retention > 0 {
		b.ended.push(j)
	}
}

// cancel ends a Pending or Running job at t.
func (b *Backend) cancel(j *job, t time.Time) {
	switch j.state {
	case tuplebroker.Pending:
		b.queued-- // it stays in the queue until startQueued skips it
		b.endJob(j, tuplebroker.Cancelled, t)
	case tuplebroker.Running:
		heap.Remove(&b.running, j.heapIdx)
		b.endJob(j, tuplebroker.Cancelled, t)
		b.startQueued(t)
	}
}

// forget drops an ended job from the indexes; its Record stays.
func (b *Backend) forget(j *job) {
	delete(b.jobs, j.id)
	g := b.guids[j.guid]
	for i, k := range g.jobs {
		if k == j {
			g.jobs = append(g.jobs[:i], g.jobs[i+1:]...)
			break
		}
	}
}
