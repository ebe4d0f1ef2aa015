package space_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"tuplebroker/space"
)

// TestExistingConfig: the configuration read from a bucket is the one it
// was made with, and opening the space with it leaves the bucket as is.
func TestExistingConfig(t *testing.T) {
	srv, err := space.StartServer(space.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Dial("inspect-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp, err := space.Open(ctx, nc, space.WithBucket("insp"), space.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	sp.Close()

	cfg, err := space.ExistingConfig(ctx, nc, "insp")
	if err != nil {
		t.Fatal(err)
	}
	def := space.DefaultConfig()
	if cfg.Bucket != "insp" || !cfg.Memory || cfg.Replicas != 1 || cfg.MarkerTTL < time.Second || cfg.SweepInterval != def.SweepInterval {
		t.Fatalf("ExistingConfig = %+v", cfg)
	}
	sp, err = space.Open(ctx, nc, space.WithConfig(cfg))
	if err != nil {
		t.Fatalf("Open with the existing configuration: %v", err)
	}
	sp.Close()

	if _, err := space.ExistingConfig(ctx, nc, "nope"); !errors.Is(err, space.ErrNoBucket) {
		t.Fatalf("ExistingConfig of a missing bucket: %v, want ErrNoBucket", err)
	}
}

func TestMeasureKVBaseline(t *testing.T) {
	srv, err := space.StartServer(space.ServerConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := space.MeasureKVBaseline(ctx, srv.ClientURL(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if b.Seq <= 0 || b.Par8 <= 0 {
		t.Fatalf("baseline %+v, want positive rates", b)
	}
	if _, err := space.MeasureKVBaseline(ctx, "nats://127.0.0.1:1", time.Millisecond); err == nil {
		t.Fatal("baseline against no server succeeded")
	}
}

func TestHasStore(t *testing.T) {
	dir := t.TempDir()
	if ok, err := space.HasStore(dir); ok || err != nil {
		t.Fatalf("HasStore of an empty dir = %v, %v", ok, err)
	}
	srv, err := space.StartServer(space.ServerConfig{DataDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	if ok, err := space.HasStore(dir); !ok || err != nil {
		t.Fatalf("HasStore of a server's data dir = %v, %v", ok, err)
	}
}
