package space

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// batchOp is one operation of a commit: a value or a removal at key, a
// compare-and-set on expect when expectSet.
type batchOp struct {
	key       string
	remove    bool
	expect    uint64
	expectSet bool
	data      []byte
	env       *envelope
	tuple     tuplebroker.Tuple
	ttl       time.Duration
}

// value sets the op to write t with lease (counted from now).
func (op *batchOp) value(t tuplebroker.Tuple, lease time.Duration, now time.Time) error {
	var exp time.Time
	if lease > 0 {
		exp = now.Add(lease)
	}
	env, data, err := encodeTupleEnv(t, exp, "")
	if err != nil {
		return err
	}
	op.env, op.data, op.tuple, op.ttl = env, data, cloneTuple(t), lease
	return nil
}

func (op *batchOp) msg(prefix string, markerTTL time.Duration) *nats.Msg {
	var hdr nats.Header
	if op.remove {
		hdr = removalHeader(markerTTL)
	} else {
		hdr = nats.Header{}
		setTTL(hdr, op.ttl)
	}
	if op.expectSet {
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(op.expect, 10))
	}
	return &nats.Msg{Subject: prefix + op.key, Header: hdr, Data: op.data}
}

// commitOps writes ops as one message or one atomic batch and returns the
// changes to apply to the mirror. A lost compare-and-set is an error for
// which isWrongSeq is true; nothing is then stored.
func (s *Space) commitOps(ctx context.Context, id string, ops []batchOp) ([]change, error) {
	msgs := make([]*nats.Msg, len(ops))
	for i := range ops {
		msgs[i] = ops[i].msg(s.prefix, s.cfg.MarkerTTL)
	}
	var last uint64
	var err error
	if len(ops) == 1 {
		last, err = s.publishMsg(ctx, msgs[0])
	} else {
		last, err = s.publishBatch(ctx, id, msgs)
	}
	if err != nil {
		return nil, err
	}
	chs := make([]change, len(ops))
	first := last - uint64(len(ops)) + 1
	for i, op := range ops {
		chs[i] = change{key: op.key, rev: first + uint64(i), remove: op.remove, env: op.env, tuple: op.tuple}
	}
	return chs, nil
}

// publishBatch stores msgs as one JetStream atomic batch (nats-server ≥ 2.12,
// stream AllowAtomicPublish): all are stored, at consecutive sequences, or
// none. Each carries batchHeader so that mirrors apply it in one step. It
// returns the last message's sequence.
//
// A batch whose acknowledgement is lost is not sent again blindly (its
// compare-and-sets would fail against its own success): the server is asked
// whether the batch's first message is the key's last.
func (s *Space) publishBatch(ctx context.Context, txnID string, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) > maxBatch {
		return 0, ErrTxnTooLarge
	}
	bid := s.nextID()
	n := len(msgs)
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", bid)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		m.Header.Set(batchHeader, batchValue(bid, i+1, n))
	}
	msgs[n-1].Header.Set("Nats-Batch-Commit", "1")
	s.writes.Add(uint64(n))
	for _, m := range msgs[:n-1] {
		if err := s.nc.PublishMsg(m); err != nil {
			return 0, fmt.Errorf("batch publish %s: %w", m.Subject, err)
		}
	}
	actx, cancel := s.opContext(ctx)
	defer cancel()
	reply, err := s.nc.RequestMsgWithContext(actx, msgs[n-1])
	if err != nil {
		if seq, ok := s.batchLanded(context.WithoutCancel(ctx), msgs[0], bid); ok {
			return seq + uint64(n) - 1, nil
		}
		return 0, fmt.Errorf("batch commit: %w", err)
	}
	var ack struct {
		Stream   string `json:"stream"`
		Sequence uint64 `json:"seq"`
		BatchID  string `json:"batch,omitempty"`
		Size     int    `json:"count,omitempty"`
		Error    *struct {
			Code        int    `json:"code"`
			ErrorCode   uint16 `json:"err_code"`
			Description string `json:"description"`
		} `json:"error,omitempty"`
	}
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return 0, fmt.Errorf("batch commit: bad acknowledgement: %w", err)
	}
	if ack.Error != nil {
		return 0, &jetstream.APIError{Code: ack.Error.Code, ErrorCode: jetstream.ErrorCode(ack.Error.ErrorCode), Description: ack.Error.Description}
	}
	if ack.Size != 0 && ack.Size != n {
		return 0, fmt.Errorf("batch commit: server stored %d of %d messages", ack.Size, n)
	}
	return ack.Sequence, nil
}

// batchLanded reports whether batch bid was stored, from the last message of
// its first key, and that message's sequence.
func (s *Space) batchLanded(ctx context.Context, first *nats.Msg, bid string) (uint64, bool) {
	gctx, cancel := s.opContext(ctx)
	defer cancel()
	m, err := s.stream.GetLastMsgForSubject(gctx, first.Subject)
	if err != nil {
		return 0, false
	}
	if id, _, _ := parseBatch(m.Header.Get(batchHeader)); id == bid {
		return m.Sequence, true
	}
	return 0, false
}

// publishMsg sends one message (with a message id, so a retried publish
// whose acknowledgement was lost is recognised as a duplicate) and returns
// its sequence.
func (s *Space) publishMsg(ctx context.Context, m *nats.Msg) (uint64, error) {
	key := m.Subject[len(s.prefix):]
	return s.publish(ctx, key, m.Data, m.Header)
}
