package space

import (
	"context"
	"encoding/json"
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

// MinTxnLease is the shortest transaction lease: the server's TTL granularity.
const MinTxnLease = time.Second

// maxBatch is the server's default limit of messages in one atomic batch.
const maxBatch = 1000

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
	tx := &Txn{s: s, id: uuid.NewString()}
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
	b, err := json.Marshal(txnRecord{V: encodingVersion, K: txnPrefix, X: exp.UnixNano(), Holder: tx.s.cfg.Holder, Started: time.Now().UnixNano()})
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
		return nil
	})
}

// Take blocks until it has taken a matching tuple under the transaction.
func (tx *Txn) Take(ctx context.Context, tmpl tuplebroker.Template) (tuplebroker.Tuple, error) {
	return tx.s.block(ctx, tmpl, func() (tuplebroker.Tuple, error) { return tx.TryTake(ctx, tmpl) })
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

// Commit applies the transaction atomically: every taken tuple is removed,
// every written tuple appears, and the transaction record goes, in one
// JetStream atomic batch guarded by expected sequences. It returns
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
	var msgs []*nats.Msg
	var ops []localOp
	now := time.Now()
	for _, c := range tx.claims {
		hdr := removalHeader(s.cfg.MarkerTTL)
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.rev, 10))
		msgs = append(msgs, &nats.Msg{Subject: s.prefix + c.key, Header: hdr})
		ops = append(ops, localOp{key: c.key, remove: true})
	}
	for _, w := range tx.writes {
		var exp time.Time // the lease runs from the commit
		if w.lease > 0 {
			exp = now.Add(w.lease)
		}
		env, data, err := encodeTupleEnv(w.tuple, exp, "")
		if err != nil {
			return err
		}
		hdr := nats.Header{}
		setTTL(hdr, w.lease)
		msgs = append(msgs, &nats.Msg{Subject: s.prefix + w.key, Header: hdr, Data: data})
		ops = append(ops, localOp{key: w.key, data: data, env: env, tuple: w.tuple})
	}
	hdr := removalHeader(s.cfg.MarkerTTL)
	hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(tx.rev, 10))
	msgs = append(msgs, &nats.Msg{Subject: s.prefix + tx.key(), Header: hdr})
	ops = append(ops, localOp{key: tx.key(), remove: true})

	last, err := s.publishBatch(ctx, tx.id, msgs)
	if err != nil {
		if isWrongSeq(err) {
			// A guard failed: the record expired (or a claim was rolled
			// back), so nothing was applied.
			tx.done = true
			tx.rollback(ctx)
			return fmt.Errorf("commit %s: %w", tx.id, ErrLeaseExpired)
		}
		return fmt.Errorf("commit %s: %w", tx.id, err)
	}
	first := last - uint64(len(msgs)) + 1
	for i := range ops {
		ops[i].rev = first + uint64(i)
	}
	s.mirror.applyLocal(ops)
	tx.done = true
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

// publishBatch publishes msgs as one atomic batch and returns the stream
// sequence of the last one. A batch that the server could not apply returns
// the server's error; nothing of it was applied.
func (s *Space) publishBatch(ctx context.Context, txID string, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) > maxBatch {
		return 0, ErrTxnTooLarge
	}
	for attempt := 0; ; attempt++ {
		bid := s.nextID()
		if len(bid) > 64 {
			bid = bid[len(bid)-64:]
		}
		for i, m := range msgs {
			m.Header.Set(batchIDHeader, bid)
			m.Header.Set(batchSeqHeader, strconv.Itoa(i+1))
			m.Header.Del(batchCommitHdr)
			if i == len(msgs)-1 {
				m.Header.Set(batchCommitHdr, "1")
				break
			}
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("publish batch: %w", err)
			}
		}
		actx, cancel := s.opContext(ctx)
		resp, err := s.nc.RequestMsgWithContext(actx, msgs[len(msgs)-1])
		cancel()
		if err != nil {
			if ctx.Err() == nil && retryable(err) && attempt < 3 {
				// The commit may or may not have been applied: find out.
				if done, rerr := s.batchApplied(ctx, msgs[len(msgs)-1].Subject, bid); rerr == nil && done != 0 {
					return done, nil
				}
				continue
			}
			return 0, fmt.Errorf("commit batch of %s: %w", txID, err)
		}
		var ack struct {
			Seq   uint64              `json:"seq"`
			Error *jetstream.APIError `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("commit batch of %s: bad reply: %w", txID, err)
		}
		if ack.Error != nil {
			if ack.Error.ErrorCode == 10210 && attempt < 20 { // too many batches in flight
				select {
				case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
					continue
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			}
			return 0, ack.Error
		}
		return ack.Seq, nil
	}
}

// batchApplied returns the sequence of the commit message of batch bid if it
// is the last message on subject (the batch was applied), else 0.
func (s *Space) batchApplied(ctx context.Context, subject, bid string) (uint64, error) {
	msg, err := s.stream.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return 0, err
	}
	if msg.Header.Get(batchIDHeader) == bid {
		return msg.Sequence, nil
	}
	return 0, nil
}
