package space

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tuplebroker"
)

// TryReplace takes up to max tuples matching tmpl and, in the same atomic
// step, writes in each one's place (at the same key, forever) the tuple with
// returns for it: a take and a write with no claim between them, one
// compare-and-set message per tuple, one atomic batch for several. It
// returns the tuples written, or ErrNoMatch. A manager node publishing the
// Responses it hosts costs one write per job this way.
//
// with must return a tuple with the same key as the one it is given
// (ErrInvalid otherwise).
func (s *Space) TryReplace(ctx context.Context, tmpl tuplebroker.Template, max int, with func(tuplebroker.Tuple) tuplebroker.Tuple) ([]tuplebroker.Tuple, error) {
	if err := s.check(tmpl); err != nil {
		return nil, err
	}
	if max < 1 || max > maxBatch {
		return nil, fmt.Errorf("%w: replace %d tuples", ErrInvalid, max)
	}
	for attempt := 0; ; attempt++ {
		cands := s.mirror.candidates(tmpl, time.Now(), max)
		var mine []*entry
		for _, e := range cands {
			if s.mirror.startClaim(e.key) {
				mine = append(mine, e)
			}
		}
		if len(mine) == 0 {
			return nil, ErrNoMatch
		}
		out, err := s.replaceAll(ctx, mine, with)
		for _, e := range mine {
			s.mirror.endClaim(e.key)
		}
		if err == nil {
			return out, nil
		}
		if !isWrongSeq(err) || attempt == 3 {
			if isWrongSeq(err) {
				return nil, ErrNoMatch
			}
			return nil, err
		}
		// One of them changed: the batch stored nothing. Mark them stale
		// so the next round skips what the mirror has not caught up on.
		for _, e := range mine {
			s.mirror.markLost(e)
		}
	}
}

// Replace is TryReplace that waits until at least one tuple matches, or ctx
// ends.
func (s *Space) Replace(ctx context.Context, tmpl tuplebroker.Template, max int, with func(tuplebroker.Tuple) tuplebroker.Tuple) ([]tuplebroker.Tuple, error) {
	var out []tuplebroker.Tuple
	_, err := s.block(ctx, tmpl, func() (tuplebroker.Tuple, error) {
		var err error
		out, err = s.TryReplace(ctx, tmpl, max, with)
		if err != nil {
			return nil, err
		}
		return out[0], nil
	})
	return out, err
}

func (s *Space) replaceAll(ctx context.Context, es []*entry, with func(tuplebroker.Tuple) tuplebroker.Tuple) ([]tuplebroker.Tuple, error) {
	now := time.Now()
	ops := make([]batchOp, len(es))
	out := make([]tuplebroker.Tuple, len(es))
	for i, e := range es {
		nt := with(cloneTuple(e.tuple))
		if nt == nil {
			return nil, fmt.Errorf("%w: replace %s with nothing", ErrInvalid, e.key)
		}
		if key, err := tupleKey(nt); err != nil || key != e.key {
			return nil, fmt.Errorf("%w: replace %s with a tuple of another key", ErrInvalid, e.key)
		}
		ops[i] = batchOp{key: e.key, expect: e.rev, expectSet: true}
		if err := ops[i].value(nt, Forever, now); err != nil {
			return nil, err
		}
		out[i] = cloneTuple(nt)
	}
	chs, err := s.commitOps(ctx, s.nextID(), ops)
	if err != nil {
		if errors.Is(err, ErrTxnTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("replace: %w", err)
	}
	s.mirror.applyLocal(chs)
	return out, nil
}
