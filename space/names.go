package space

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names is a small directory beside the tuplespace: values bound to names,
// for the things that are not tuples — idempotency keys (bound once, to the
// first job that used them), agents' advertisements, manager nodes'
// heartbeats. Every name is forgotten NameRetention after its last update.
//
// It is a second JetStream KV bucket, "<bucket>_names".
type Names struct {
	kv jetstream.KeyValue
}

// NameRetention is how long a name outlives its last update.
const NameRetention = 24 * time.Hour

// Announcement is a name's value and when the server stored it.
type Announcement struct {
	Name    string
	Value   []byte
	Updated time.Time
}

// OpenNames opens (creating if needed) the names bucket of the space's
// bucket, with the same storage and replicas.
func (s *Space) OpenNames(ctx context.Context) (*Names, error) {
	ctx, cancel := callContext(ctx)
	defer cancel()
	storage := jetstream.FileStorage
	if s.cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	bucket := s.cfg.Bucket + "_names"
	kv, err := s.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			History:     1,
			TTL:         NameRetention,
			Storage:     storage,
			Replicas:    s.cfg.Replicas,
			Description: "tuplebroker names: idempotency keys, agent adverts, node heartbeats",
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open names bucket %q: %w", bucket, err)
	}
	return &Names{kv: kv}, nil
}

// Reserve binds name to value unless it is bound already, and returns the
// value bound to it: value if this call bound it, the earlier value if not.
// Any number of processes may race; one wins.
func (n *Names) Reserve(ctx context.Context, name, value string) (string, error) {
	ctx, cancel := callContext(ctx)
	defer cancel()
	if err := checkName(name); err != nil {
		return "", err
	}
	for attempt := 0; attempt < 5; attempt++ {
		_, err := n.kv.Create(ctx, name, []byte(value))
		if err == nil {
			return value, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("reserve %s: %w", name, err)
		}
		e, err := n.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired between the two calls
		}
		if err != nil {
			return "", fmt.Errorf("reserve %s: %w", name, err)
		}
		return string(e.Value()), nil
	}
	return "", fmt.Errorf("reserve %s: %w", name, ErrChanged)
}

// Announce binds name to value, replacing what was there.
func (n *Names) Announce(ctx context.Context, name string, value []byte) error {
	ctx, cancel := callContext(ctx)
	defer cancel()
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := n.kv.Put(ctx, name, value); err != nil {
		return fmt.Errorf("announce %s: %w", name, err)
	}
	return nil
}

// Withdraw removes name.
func (n *Names) Withdraw(ctx context.Context, name string) error {
	ctx, cancel := callContext(ctx)
	defer cancel()
	if err := checkName(name); err != nil {
		return err
	}
	if err := n.kv.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("withdraw %s: %w", name, err)
	}
	return nil
}

// Get returns one name's announcement, or ErrNoMatch.
func (n *Names) Get(ctx context.Context, name string) (Announcement, error) {
	ctx, cancel := callContext(ctx)
	defer cancel()
	if err := checkName(name); err != nil {
		return Announcement{}, err
	}
	e, err := n.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Announcement{}, fmt.Errorf("name %s: %w", name, ErrNoMatch)
	}
	if err != nil {
		return Announcement{}, fmt.Errorf("name %s: %w", name, err)
	}
	return Announcement{Name: name, Value: e.Value(), Updated: e.Created()}, nil
}

// List returns every announcement whose name starts with prefix + ".".
func (n *Names) List(ctx context.Context, prefix string) ([]Announcement, error) {
	ctx, cancel := callContext(ctx)
	defer cancel()
	if err := checkName(prefix); err != nil {
		return nil, err
	}
	w, err := n.kv.Watch(ctx, prefix+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	defer w.Stop()
	var out []Announcement
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return out, nil
			}
			if e == nil { // end of the initial values
				return out, nil
			}
			out = append(out, Announcement{Name: e.Key(), Value: e.Value(), Updated: e.Created()})
		case <-ctx.Done():
			return nil, fmt.Errorf("list %s: %w", prefix, ctx.Err())
		}
	}
}

// callContext bounds one call that has no deadline of its own: the
// JetStream API wants one.
func callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 10*time.Second)
}

// checkName accepts dot-separated tokens of letters, digits, '-', '_', '='.
func checkName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("%w: name %q", ErrInvalid, name)
	}
	for _, tok := range strings.Split(name, ".") {
		if tok == "" {
			return fmt.Errorf("%w: name %q has an empty token", ErrInvalid, name)
		}
		for _, r := range tok {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '=') {
				return fmt.Errorf("%w: name %q has %q", ErrInvalid, name, r)
			}
		}
	}
	return nil
}
