package space

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoBucket: the bucket asked for does not exist.
var ErrNoBucket = errors.New("bucket does not exist")

// ExistingConfig returns DefaultConfig adjusted to the existing bucket on nc
// (its name, replicas, storage and marker TTL), so that opening the space
// with it neither creates the bucket nor changes its settings (Open creates
// or updates the bucket to the configuration it is given): what inspecting
// a running or stopped broker's space needs. A missing bucket is an error
// wrapping ErrNoBucket; other failures are returned wrapped.
func ExistingConfig(ctx context.Context, nc *Conn, bucket string) (Config, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return Config{}, fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Config{}, fmt.Errorf("bucket %q: %w", bucket, ErrNoBucket)
	}
	if err != nil {
		return Config{}, fmt.Errorf("bucket %q: %w", bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return Config{}, fmt.Errorf("bucket %q: %w", bucket, err)
	}
	kc := st.Config()
	cfg := DefaultConfig()
	cfg.Bucket = bucket
	cfg.Replicas = kc.Replicas
	cfg.Memory = kc.Storage == jetstream.MemoryStorage
	if kc.LimitMarkerTTL >= time.Second {
		cfg.MarkerTTL = kc.LimitMarkerTTL
	}
	return cfg, nil
}

// HasStore reports whether dir holds the store an embedded server started
// with DataDir dir keeps (JetStream's DIR/jetstream). A missing store is
// (false, nil); another failure to look is returned as os.Stat's error.
func HasStore(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, "jetstream"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
