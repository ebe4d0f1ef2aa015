package space

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// Transactions. There is one commit mechanism: compare-and-set.
//
//   - Take under a transaction claims the tuple: one CAS rewrites it as
//     "claimed by <txn> until <lease end>", invisible to every reader and
//     taker. Renew rewrites the claims with a later lease end.
//   - Commit writes every operation, each a CAS on the revision this
//     transaction saw: a taken tuple is removed — or, when the transaction
//     writes a tuple at the same key (a job's Request becoming its
//     Response), replaced — at its claim's revision. One operation is one
//     message; several are one JetStream atomic batch, stored all or
//     nothing and applied by every mirror in one step (consumer.go). A
//     job's take-and-respond is always one message.
//   - Abort restores the claims. If the holder dies, its claims' lease
//     ends and any Space's sweep restores them (recovery.go), again by CAS
//     on the claim's revision, so a late commit and a restore cannot both
//     win.
//
// Nothing else is written: no transaction record, no roll-forward.

// MinTxnLease is the shortest transaction lease.
const MinTxnLease = time.Second

// maxBatch bounds the operations of one transaction (one atomic batch; the
// server's own limit is 1,000 messages).
const maxBatch = 1000

// Txn is a transaction: Take and Write under it are invisible to everyone
// until Commit, which applies them atomically. Abort, or the end of its lease
// (its holder died or stopped renewing), puts every taken tuple back.
// A Txn is safe for concurrent use.
type Txn struct {
	s  *Space
	id string

	mu     sync.Mutex
	exp    time.Time
	claims []*entry // taken tuples, as claimed
	writes []txnWrite
	done   bool
}

type txnWrite struct {
	key   string
	tuple tuplebroker.Tuple // a private copy, encoded at commit
	lease time.Duration
}

// Begin starts a transaction whose lease is lease (at least MinTxnLease).
// It writes nothing: the lease is carried by each claim.
func (s *Space) Begin(ctx context.Context, lease time.Duration) (*Txn, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	if lease < MinTxnLease {
		return nil, fmt.Errorf("%w: transaction lease %v below %v", ErrInvalid, lease, MinTxnLease)
	}
	return &Txn{s: s, id: uuid.NewString(), exp: time.Now().Add(lease)}, nil
}

// ID returns the transaction's id (the claim mark on tuples it has taken).
func (tx *Txn) ID() string { return tx.id }

// Expires returns the end of the transaction's lease.
func (tx *Txn) Expires() time.Time {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.exp
}

// usable reports why the transaction can no longer be used; tx.mu is held.
func (tx *Txn) usable() error {
	if tx.done {
		return ErrTxnDone
	}
	if !time.Now().Before(tx.exp) {
		return ErrLeaseExpired
	}
	return nil
}

// Renew extends the transaction's lease to d from now: one CAS per tuple
// taken. It returns ErrLeaseExpired if a claim was restored meanwhile (the
// lease had ended and another Space put the tuple back).
func (tx *Txn) Renew(ctx context.Context, d time.Duration) error {
	if d < MinTxnLease {
		return fmt.Errorf("%w: transaction lease %v below %v", ErrInvalid, d, MinTxnLease)
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return fmt.Errorf("renew transaction %s: %w", tx.id, err)
	}
	exp := time.Now().Add(d)
	for i, c := range tx.claims {
		env := *c.env
		env.L = exp.UnixNano()
		ne, data, err := encodeWith(c.tuple, &env)
		if err != nil {
			return err
		}
		hdr := nats.Header{}
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.rev, 10))
		rev, err := tx.s.publish(ctx, c.key, data, hdr)
		if err != nil {
			if isWrongSeq(err) {
				err = ErrLeaseExpired
			}
			return fmt.Errorf("renew transaction %s: %w", tx.id, err)
		}
		tx.s.mirror.applyLocal([]change{{key: c.key, rev: rev, env: ne, tuple: c.tuple}})
		ne.D = nil
		tx.claims[i] = &entry{key: c.key, kind: c.kind, toks: c.toks, rev: rev, env: ne, tuple: c.tuple}
	}
	tx.exp = exp
	return nil
}

// TryTake takes a matching tuple under the transaction, or returns ErrNoMatch.
// The tuple is invisible to everyone until Commit removes it for good or
// Abort (or the lease's end) puts it back.
func (tx *Txn) TryTake(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	t, _, err := tx.TryTakeCounted(ctx, tmpl)
	return t, err
}

// TryTakeCounted is TryTake that also reports how many times the tuple was
// put back by transactions that took it and ended without committing (0: no
// transaction ever held it before). An agent uses it to skip looking for a
// backend job that no earlier taker can have submitted.
func (tx *Txn) TryTakeCounted(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, int, error) {
	var returned int
	t, err := tx.tryTake(ctx, tmpl, &returned)
	return t, returned, err
}

func (tx *Txn) tryTake(ctx context.Context, tmpl tuplebroker.Template, returned *int) (tuplebroker.Tuple, error) {
	if err := tx.s.check(tmpl); err != nil {
		return nil, err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return nil, fmt.Errorf("take in transaction %s: %w", tx.id, err)
	}
	if len(tx.claims)+len(tx.writes)+1 > maxBatch {
		return nil, ErrTxnTooLarge
	}
	return tx.s.takeWith(ctx, tmpl, func(e *entry) error {
		claimed := *e.env
		claimed.C, claimed.L = tx.id, tx.exp.UnixNano()
		env, data, err := encodeWith(e.tuple, &claimed)
		if err != nil {
			return err
		}
		hdr := nats.Header{}
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(e.rev, 10))
		rev, err := tx.s.publish(ctx, e.key, data, hdr)
		if err != nil {
			return err
		}
		tx.s.mirror.applyLocal([]change{{key: e.key, rev: rev, env: env, tuple: e.tuple}})
		env.D = nil
		tx.claims = append(tx.claims, &entry{key: e.key, kind: e.kind, toks: e.toks, rev: rev, env: env, tuple: e.tuple})
		*returned = e.env.R
		return nil
	})
}

// Take blocks until it has taken a matching tuple under the transaction.
func (tx *Txn) Take(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	t, _, err := tx.TakeCounted(ctx, tmpl)
	return t, err
}

// TakeCounted is Take reporting what TryTakeCounted reports.
func (tx *Txn) TakeCounted(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, int, error) {
	var returned int
	t, err := tx.s.block(ctx, tmpl, func() (tuplebroker.Tuple, error) { return tx.tryTake(ctx, tmpl, &returned) })
	return t, returned, err
}

// Write adds a tuple that will exist, with the given lease counted from the
// commit, once the transaction commits. A tuple written at the key of a tuple
// the transaction took replaces it in the same compare-and-set.
func (tx *Txn) Write(t tuplebroker.Tuple, lease time.Duration) error {
	key, err := tupleKey(t)
	if err != nil {
		return err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return fmt.Errorf("write in transaction %s: %w", tx.id, err)
	}
	if len(tx.claims)+len(tx.writes)+1 > maxBatch {
		return ErrTxnTooLarge
	}
	tx.writes = append(tx.writes, txnWrite{key: key, tuple: cloneTuple(t), lease: lease})
	return nil
}

// Commit applies the transaction atomically: one compare-and-set message,
// or one atomic batch of them (see the top of this file). It returns
// ErrLeaseExpired if the lease ended first or a claim was restored by
// another Space (nothing is then applied, and the claims go back),
// ErrExists if a tuple it writes at a new key is already there.
func (tx *Txn) Commit(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		if errors.Is(err, ErrLeaseExpired) {
			tx.done = true
			tx.rollback(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("commit %s: %w", tx.id, err)
	}
	s := tx.s
	now := time.Now()
	writeAt := map[string]*txnWrite{}
	for i := range tx.writes {
		writeAt[tx.writes[i].key] = &tx.writes[i]
	}
	var ops []batchOp
	for _, c := range tx.claims {
		op := batchOp{key: c.key, expect: c.rev, expectSet: true}
		if w := writeAt[c.key]; w != nil {
			delete(writeAt, c.key)
			if err := op.value(w.tuple, w.lease, now); err != nil {
				return err
			}
		} else {
			op.remove = true
		}
		ops = append(ops, op)
	}
	for _, w := range tx.writes {
		if writeAt[w.key] == nil {
			continue // replaced a claim above
		}
		if e, ok := s.mirror.get(w.key); ok && !e.env.expired(now) {
			return fmt.Errorf("commit %s: write %s: %w", tx.id, w.key, ErrExists)
		}
		op := batchOp{key: w.key}
		if err := op.value(w.tuple, w.lease, now); err != nil {
			return err
		}
		ops = append(ops, op)
	}
	tx.done = true
	if len(ops) == 0 {
		return nil
	}
	chs, err := s.commitOps(ctx, tx.id, ops)
	if err != nil {
		if isWrongSeq(err) {
			// A claim was restored (our lease had ended there): nothing
			// was applied.
			tx.rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("commit %s: %w", tx.id, ErrLeaseExpired)
		}
		return fmt.Errorf("commit %s: %w", tx.id, err)
	}
	s.mirror.applyLocal(chs)
	return nil
}

// Abort puts every taken tuple back and ends the transaction. Aborting a
// finished transaction returns ErrTxnDone.
func (tx *Txn) Abort(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return fmt.Errorf("abort %s: %w", tx.id, ErrTxnDone)
	}
	tx.done = true
	if err := tx.rollback(ctx); err != nil {
		return fmt.Errorf("abort %s: %w", tx.id, err)
	}
	return nil
}

// rollback restores every claim; losing the CAS means another process already
// did. tx.mu is held.
func (tx *Txn) rollback(ctx context.Context) error {
	var first error
	for _, c := range tx.claims {
		if err := tx.s.restore(ctx, c); err != nil && !isWrongSeq(err) && first == nil {
			first = err
		}
	}
	return first
}
