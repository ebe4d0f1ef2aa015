package space

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tuplebroker"
)

// Notify streams the tuples matching tmpl that are written from now on, until
// ctx ends (the channel is then closed). Tuples put back by an aborted or
// expired transaction are written again and so are notified again. Only
// tuples are delivered, never removals or claims. A slow reader slows its own
// stream (the server buffers), nobody else's.
func (s *Space) Notify(ctx context.Context, tmpl tuplebroker.Template) (<-chan tuplebroker.Tuple, error) {
	if err := s.check(tmpl); err != nil {
		return nil, err
	}
	// Start right after the stream's current last message, not at "new":
	// the server-side consumer may be created after Notify returns, and a
	// write in between must still be delivered.
	ictx, cancel := s.opContext(ctx)
	info, err := s.stream.Info(ictx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", templateFilter(tmpl), err)
	}
	cons, err := s.js.OrderedConsumer(ctx, "KV_"+s.cfg.Bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.prefix + templateFilter(tmpl)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", templateFilter(tmpl), err)
	}
	out := make(chan tuplebroker.Tuple, 64)
	done := make(chan struct{})
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		if isRemoval(msg.Headers()) {
			return
		}
		env, t, err := decodeEnvelope(msg.Data())
		if err != nil {
			s.log.Error("notify: skipping corrupt tuple", "subject", msg.Subject(), "err", err)
			return
		}
		if env.C != "" || env.expired(time.Now()) || !tmpl.Match(t) {
			return
		}
		select {
		case out <- t:
		case <-done:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", templateFilter(tmpl), err)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closed:
		}
		close(done)
		cc.Drain()
		<-cc.Closed()
		close(out)
	}()
	return out, nil
}
