package space

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// removesHeader, on a roll-forward write, lists the keys its transaction
// removes (space-separated), up to maxRemovesHeader bytes.
const (
	removesHeader    = "Tb-Removes"
	maxRemovesHeader = 8 << 10
)

// MinTxnLease is the shortest transaction lease: the server's TTL granularity.
const MinTxnLease = time.Second

// maxBatch bounds the operations of one transaction (they are listed in its
// committed record, one message of at most maxRecord bytes).
const (
	maxBatch  = 1000
	maxRecord = 900 << 10
)

// Txn is a transaction: Take and Write under it are invisible to everyone
// until Commit, which applies them atomically. Abort, or the end of its lease
// (its holder died or stopped renewing), puts every taken tuple back.
// A Txn is safe for concurrent use.
type Txn struct {
	s  *Space
	id string

	mu     sync.Mutex
	rev    uint64 // revision of the transaction record
	exp    time.Time
	claims []*entry // taken tuples, as claimed
	writes []txnWrite
	done   bool

	started time.Time
	// commitHook, in tests, runs after the commit point; returning false
	// skips applying the operations, as if the holder died there.
	commitHook func() bool
}

type txnWrite struct {
	key   string
	tuple tuplebroker.Tuple // a private copy, encoded at commit
	lease time.Duration
}

// Begin starts a transaction whose lease is lease (at least MinTxnLease).
func (s *Space) Begin(ctx context.Context, lease time.Duration) (*Txn, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if lease < MinTxnLease {
		return nil, fmt.Errorf("%w: transaction lease %v below %v", ErrInvalid, lease, MinTxnLease)
	}
	tx := &Txn{s: s, id: uuid.NewString(), started: time.Now()}
	exp := time.Now().Add(lease)
	data, err := tx.record(exp)
	if err != nil {
		return nil, err
	}
	hdr := nats.Header{}
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	setTTL(hdr, lease)
	rev, err := s.publish(ctx, tx.key(), data, hdr)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	s.mirror.applyLocal([]localOp{{key: tx.key(), rev: rev, data: data}})
	tx.rev, tx.exp = rev, exp
	return tx, nil
}

// ID returns the transaction's id (the claim mark on tuples it has taken).
func (tx *Txn) ID() string { return tx.id }

// Expires returns the end of the transaction's lease.
func (tx *Txn) Expires() time.Time {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.exp
}

func (tx *Txn) key() string { return txnPrefix + "." + tx.id }

func (tx *Txn) record(exp time.Time) ([]byte, error) {
	b, err := json.Marshal(txnRecord{V: encodingVersion, K: txnPrefix, X: exp.UnixNano(), Holder: tx.s.cfg.Holder, Started: tx.started.UnixNano()})
	if err != nil {
		return nil, fmt.Errorf("encode transaction record: %w", err)
	}
	return b, nil
}

// usable reports why the transaction can no longer be used; tx.mu is held.
func (tx *Txn) usable() error {
	if tx.done {
		return ErrTxnDone
	}
	if !time.Now().Before(tx.exp) || !tx.s.mirror.txnOpen(tx.id) {
		return ErrLeaseExpired
	}
	return nil
}

// Renew extends the transaction's lease to d from now.
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
	data, err := tx.record(exp)
	if err != nil {
		return err
	}
	hdr := nats.Header{}
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(tx.rev, 10))
	setTTL(hdr, d)
	rev, err := tx.s.publish(ctx, tx.key(), data, hdr)
	if err != nil {
		if isWrongSeq(err) {
			err = ErrLeaseExpired
		}
		return fmt.Errorf("renew transaction %s: %w", tx.id, err)
	}
	tx.s.mirror.applyLocal([]localOp{{key: tx.key(), rev: rev, data: data}})
	tx.rev, tx.exp = rev, exp
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
	if len(tx.claims)+len(tx.writes)+1 >= maxBatch {
		return nil, ErrTxnTooLarge
	}
	return tx.s.takeWith(ctx, tmpl, func(e *entry) error {
		claimed := *e.env
		claimed.C = tx.id
		data, err := encodeEnvelope(&claimed)
		if err != nil {
			return err
		}
		hdr := nats.Header{}
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(e.rev, 10))
		rev, err := tx.s.publish(ctx, e.key, data, hdr)
		if err != nil {
			return err
		}
		tx.s.mirror.applyLocal([]localOp{{key: e.key, rev: rev, data: data, env: &claimed, tuple: e.tuple}})
		tx.claims = append(tx.claims, &entry{key: e.key, kind: e.kind, toks: e.toks, rev: rev, env: &claimed, tuple: e.tuple})
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
// commit, once the transaction commits.
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
	if len(tx.claims)+len(tx.writes)+1 >= maxBatch {
		return ErrTxnTooLarge
	}
	tx.writes = append(tx.writes, txnWrite{key: key, tuple: cloneTuple(t), lease: lease})
	return nil
}

// Commit applies the transaction atomically. The commit point is one
// compare-and-set of the transaction record, from open (leased) to committed
// (listing every removal and write, with no lease): it succeeds only while
// the lease holds, and from then on the transaction's effect is visible to
// every Space as one step (mirrors apply a committed record whole). The
// listed operations are then written to the bucket — by this process at
// once, or by any Space if this one dies first. Commit returns
// ErrLeaseExpired if the lease ended first (everything is then rolled back).
func (tx *Txn) Commit(ctx context.Context) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		if errors.Is(err, ErrLeaseExpired) {
			tx.done = true
		}
		return fmt.Errorf("commit %s: %w", tx.id, err)
	}
	s := tx.s
	now := time.Now()
	rec := txnRecord{V: encodingVersion, K: txnPrefix, Holder: s.cfg.Holder, Started: tx.started.UnixNano(), Committed: true}
	for _, c := range tx.claims {
		rec.Removes = append(rec.Removes, txnClaim{Key: c.key, Rev: c.rev})
	}
	for _, w := range tx.writes {
		var exp time.Time // the lease runs from the commit
		if w.lease > 0 {
			exp = now.Add(w.lease)
		}
		_, data, err := encodeTupleEnv(w.tuple, exp, "")
		if err != nil {
			return err
		}
		rec.Writes = append(rec.Writes, txnPut{Key: w.key, Data: data, TTL: w.lease})
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("commit %s: encode record: %w", tx.id, err)
	}
	if len(b) > maxRecord {
		return fmt.Errorf("commit %s: %d bytes of operations: %w", tx.id, len(b), ErrTxnTooLarge)
	}
	hdr := nats.Header{}
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(tx.rev, 10))
	rev, err := s.publish(ctx, tx.key(), b, hdr)
	if err != nil {
		if isWrongSeq(err) {
			// The record expired (its claims are being rolled back):
			// nothing was committed.
			tx.done = true
			tx.rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("commit %s: %w", tx.id, ErrLeaseExpired)
		}
		return fmt.Errorf("commit %s: %w", tx.id, err)
	}
	tx.done = true
	s.mirror.applyLocal([]localOp{{key: tx.key(), rev: rev, data: b}})
	if tx.commitHook != nil && !tx.commitHook() {
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.rollForward(rctx, tx.id, rev, &rec, false); err != nil {
			s.log.Warn("applying committed transaction (another Space will finish it)", "txn", tx.id, "err", err)
		}
	}()
	return nil
}

// rollForward writes a committed transaction's operations to the bucket:
// its writes first, then the removal of its claims, then its record — so an
// observer of the raw bucket never sees a taken tuple gone before what the
// transaction wrote exists. Every message is idempotent: writes carry a
// message id derived from the transaction (a second application within the
// server's duplicate window is dropped) and, when guarded (another Space
// finishing the work), are skipped if the key changed after the commit;
// removals and the record's deletion are compare-and-sets.
func (s *Space) rollForward(ctx context.Context, id string, recRev uint64, rec *txnRecord, guarded bool) error {
	type pending struct {
		f  jetstream.PubAckFuture
		op localOp
	}
	var sent []pending
	send := func(m *nats.Msg, op localOp) error {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		sent = append(sent, pending{f, op})
		return nil
	}
	// Each write names the keys the transaction removes: a mirror that fell
	// behind may have missed the committed record and the claims (the
	// bucket keeps one revision per key), and must not show a write beside
	// the tuple it replaced.
	var removes string
	if len(rec.Removes) > 0 {
		keys := make([]string, len(rec.Removes))
		for i, r := range rec.Removes {
			keys[i] = r.Key
		}
		if j := strings.Join(keys, " "); len(j) <= maxRemovesHeader {
			removes = j
		}
	}
	for i, w := range rec.Writes {
		hdr := nats.Header{}
		setTTL(hdr, w.TTL)
		hdr.Set(jetstream.MsgIDHeader, id+"-w"+strconv.Itoa(i))
		if removes != "" {
			hdr.Set(removesHeader, removes)
		}
		if guarded {
			last, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+w.Key)
			var expect uint64
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
			case err != nil:
				return fmt.Errorf("roll forward %s: %w", w.Key, err)
			case last.Sequence > recRev:
				continue // already written (and maybe taken since)
			default:
				expect = last.Sequence
			}
			hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
		}
		if err := send(&nats.Msg{Subject: s.prefix + w.Key, Header: hdr, Data: w.Data}, localOp{key: w.Key, data: w.Data}); err != nil {
			return err
		}
	}
	for i, r := range rec.Removes {
		hdr := removalHeader(s.cfg.MarkerTTL)
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(r.Rev, 10))
		hdr.Set(jetstream.MsgIDHeader, id+"-r"+strconv.Itoa(i))
		if err := send(&nats.Msg{Subject: s.prefix + r.Key, Header: hdr}, localOp{key: r.Key, remove: true}); err != nil {
			return err
		}
	}
	var ops []localOp
	var firstErr error
	for _, p := range sent {
		select {
		case ack := <-p.f.Ok():
			if !ack.Duplicate {
				p.op.rev = ack.Sequence
				ops = append(ops, p.op)
			}
		case err := <-p.f.Err():
			if !isWrongSeq(err) && firstErr == nil {
				firstErr = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mirror.applyLocal(ops)
	if firstErr != nil {
		return firstErr
	}
	if err := s.remove(ctx, txnPrefix+"."+id, recRev); err != nil && !isWrongSeq(err) {
		return err
	}
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
	err := tx.rollback(ctx)
	if rerr := tx.s.remove(ctx, tx.key(), tx.rev); rerr != nil && !isWrongSeq(rerr) && err == nil {
		err = rerr
	}
	if err != nil {
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
