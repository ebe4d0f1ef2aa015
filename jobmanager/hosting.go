package jobmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tuplebroker"
	"tuplebroker/space"
)

// HeartbeatPrefix is the names prefix of node heartbeats: "node.<handle>".
const HeartbeatPrefix = "node"

// HeartbeatName is the name a node announces its heartbeat under.
func HeartbeatName(handle string) string { return HeartbeatPrefix + "." + handle }

// Heartbeat is the value of a node's heartbeat. Its age is judged by the
// time the names server stored it, not by Time (the node's own clock).
type Heartbeat struct {
	Handle string    `json:"handle"`
	Time   time.Time `json:"time"`
}

var (
	unpublished = tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(false)}
	published   = tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true)}
)

// beat announces the heartbeat once and learns the offset of the names
// server's clock from the time it stored it.
func (n *Node) beat(ctx context.Context) error {
	data, err := json.Marshal(Heartbeat{Handle: n.cfg.Handle, Time: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	name := HeartbeatName(n.cfg.Handle)
	before := time.Now()
	if err := n.names.Announce(ctx, name, data); err != nil {
		return err
	}
	after := time.Now()
	a, err := n.names.Get(ctx, name)
	if err != nil {
		return err
	}
	mid := before.Add(after.Sub(before) / 2)
	n.offset.Store(int64(a.Updated.Sub(mid)))
	return nil
}

// serverNow is the names server's clock now, as far as the last heartbeat
// tells.
func (n *Node) serverNow() time.Time {
	return time.Now().Add(time.Duration(n.offset.Load()))
}

func (n *Node) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.HostLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The heartbeat stays and ages: other nodes take over once it
			// is older than HostLease, unless this node comes back first.
			return
		case <-t.C:
		}
		if err := n.beat(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("jobmanager: heartbeat", "err", err)
		}
	}
}

// alive reports whether node handle's heartbeat is younger than HostLease.
// An error means it could not be read: assume alive.
func (n *Node) alive(ctx context.Context, handle string) (bool, error) {
	a, err := n.names.Get(ctx, HeartbeatName(handle))
	switch {
	case errors.Is(err, space.ErrNoMatch), errors.Is(err, space.ErrInvalid):
		return false, nil
	case err != nil:
		return true, err
	}
	return n.serverNow().Sub(a.Updated) <= n.cfg.HostLease, nil
}

// rehost hosts the published Responses that name this node and that it
// does not host: at start (a restart under the same handle), and in every
// takeover scan (a commit whose outcome was lost). They are this node's
// whatever its admission says: nobody else would host them.
func (n *Node) rehost() int {
	var mine []*tuplebroker.Response
	for _, e := range n.sp.Entries(tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), Manager: n.cfg.Handle}) {
		if r, ok := e.Tuple.(*tuplebroker.Response); ok && e.ClaimedBy == "" {
			mine = append(mine, r)
		}
	}
	return n.adoptAll(mine)
}

// adoptAll hosts the Responses in rs (read naming this node) that are not
// hosted and still name it, and polls their agents at once.
func (n *Node) adoptAll(rs []*tuplebroker.Response) int {
	if len(rs) == 0 {
		return 0
	}
	now := time.Now()
	k := 0
	agents := map[string]bool{}
	n.mu.Lock()
	for _, r := range rs {
		if n.adoptLocked(r, true, now) {
			k++
			agents[r.Agent] = true
		}
	}
	n.mu.Unlock()
	for a := range agents {
		n.kick(a)
	}
	return k
}

// takeLoop is one hosting worker.
func (n *Node) takeLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := n.reserve(ctx); err != nil {
			return
		}
		if err := n.hostBatch(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("jobmanager: hosting", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// hostBatch publishes unpublished Responses as hosted by this node — one
// compare-and-set per job, one atomic batch for the lot (space.Replace),
// no claim in between — waiting for one to be written, and takes as many
// as wait and admission allows, up to Batch. One admission is held on
// entry.
func (n *Node) hostBatch(ctx context.Context) error {
	held := 1
	defer func() { n.release(held) }()
	for held < n.cfg.Batch && n.tryReserve() {
		held++
	}
	tctx, tcancel := context.WithTimeout(ctx, n.cfg.TxnLease/2)
	defer tcancel()
	out, err := n.sp.Replace(tctx, unpublished, held, func(t tuplebroker.Tuple) tuplebroker.Tuple {
		return t.(*tuplebroker.Response).HostedBy(n.cfg.Handle)
	})
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		// Not written, or written after all (a lost reply): then the
		// takeover scan finds the Responses naming this node and hosts them.
		return fmt.Errorf("publish responses: %w", err)
	}
	now := time.Now()
	n.mu.Lock()
	for _, t := range out {
		n.adoptLocked(t.(*tuplebroker.Response), false, now)
	}
	n.reserved -= len(out)
	held -= len(out)
	n.mu.Unlock()
	return nil
}

func (n *Node) takeoverLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.TakeoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.takeOverDead(ctx)
	}
}

// takeOverDead takes over, within admission, the jobs of dead nodes. It
// also hosts the Responses naming this node that it does not host (a
// commit whose reply was lost).
func (n *Node) takeOverDead(ctx context.Context) {
	alive := map[string]bool{}
	var dead, mine []*tuplebroker.Response
	for _, e := range n.sp.Entries(published) {
		r, ok := e.Tuple.(*tuplebroker.Response)
		if !ok || e.ClaimedBy != "" {
			continue
		}
		if r.Manager == n.cfg.Handle {
			mine = append(mine, r)
			continue
		}
		a, seen := alive[r.Manager]
		if !seen {
			var err error
			a, err = n.alive(ctx, r.Manager)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				n.log.Warn("jobmanager: reading heartbeat", "node", r.Manager, "err", err)
			}
			alive[r.Manager] = a
		}
		if !a {
			dead = append(dead, r)
		}
	}
	if k := n.adoptAll(mine); k > 0 {
		n.log.Info("jobmanager: hosting responses that named this node but were not hosted", "jobs", k)
	}
	if len(dead) == 0 {
		return
	}
	sem := make(chan struct{}, n.cfg.Takers)
	done := make(chan string, len(dead))
	taken := 0
	for _, r := range dead {
		if ctx.Err() != nil || !n.tryReserve() {
			break
		}
		sem <- struct{}{}
		taken++
		go func() {
			defer func() { <-sem }()
			ok, err := n.takeOver(ctx, r)
			if err != nil && ctx.Err() == nil {
				n.log.Warn("jobmanager: take over", "job", r.GUID, "from", r.Manager, "err", err)
			}
			if ok {
				done <- r.Agent
			} else {
				done <- ""
			}
		}()
	}
	kicked := map[string]bool{}
	moved := 0
	for range taken {
		if a := <-done; a != "" {
			moved++
			if !kicked[a] {
				kicked[a] = true
				n.kick(a)
			}
		}
	}
	if moved > 0 {
		n.log.Info("jobmanager: took over jobs of dead nodes", "jobs", moved, "candidates", len(dead))
	}
}

// takeOver rewrites r (naming a dead node) to name this node, in a
// transaction, and hosts it. One admission is held on entry.
func (n *Node) takeOver(ctx context.Context, r *tuplebroker.Response) (bool, error) {
	held := 1
	defer func() { n.release(held) }()
	tx, err := n.sp.Begin(ctx, n.cfg.TxnLease)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	fctx, cancel := tuplebroker.FinishContext(ctx, n.cfg.TxnLease)
	defer cancel()
	t, err := tx.TryTake(ctx, tuplebroker.ResponseTemplate{Published: tuplebroker.Bool(true), GUID: r.GUID, Manager: r.Manager})
	if err != nil {
		_ = tx.Abort(fctx)
		if errors.Is(err, space.ErrNoMatch) {
			return false, nil // taken by another node, or its node came back
		}
		return false, fmt.Errorf("take: %w", err)
	}
	cur := t.(*tuplebroker.Response)
	if cur.Manager != r.Manager { // r named no manager: the template matched any
		_ = tx.Abort(fctx)
		return false, nil
	}
	p := cur.HostedBy(n.cfg.Handle)
	if err := tx.Write(p, space.Forever); err != nil {
		_ = tx.Abort(fctx)
		return false, fmt.Errorf("rewrite: %w", err)
	}
	if err := tx.Commit(fctx); err != nil {
		return false, fmt.Errorf("commit: %w", err) // as in hostBatch
	}
	n.mu.Lock()
	n.adoptLocked(p, false, time.Now())
	n.reserved--
	held--
	n.mu.Unlock()
	return true, nil
}
