package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"tuplebroker/space"
)

const (
	// dialTimeout bounds one attempt to reach a NATS server.
	dialTimeout = 5 * time.Second
	// openTimeout bounds opening the space (loading its mirror).
	openTimeout = 30 * time.Second
	// natsURLWait is how long to wait for a starting broker to write nats.url.
	natsURLWait = 30 * time.Second
)

// connFlags are the flags that choose which tuplespace `space` inspects. Both
// `space` and each of its subcommands define them, so they may come before or
// after the subcommand's name.
func connFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "nats",
			Usage:   "NATS URLs of the broker (comma-separated for a cluster)",
			EnvVars: []string{"TUPLEBROKER_NATS"},
		},
		&cli.StringFlag{
			Name: "data-dir",
			Usage: "a broker's data dir: connects to the broker running on it, or, if none runs, " +
				"opens its store in-process",
			DefaultText: "$XDG_DATA_HOME/tuplebroker or ~/.local/share/tuplebroker",
		},
		&cli.StringFlag{
			Name:  "bucket",
			Usage: "KV bucket of the tuplespace",
			Value: "tuples",
		},
	}
}

// openSpace opens the tuplespace the connection flags name. The returned
// func closes it and everything started for it.
func openSpace(c *cli.Context, log *slog.Logger) (*space.Space, func(), error) {
	ctx := c.Context
	urls, _ := inheritedString(c, "nats")
	dirFlag, dirSet := inheritedString(c, "data-dir")
	bucket, _ := inheritedString(c, "bucket")
	if urls != "" && dirSet {
		return nil, nil, errors.New("--nats (or TUPLEBROKER_NATS) and --data-dir are mutually exclusive")
	}
	nc, stop, err := dial(ctx, urls, dirFlag, log)
	if err != nil {
		return nil, nil, err
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	cfg, err := adoptBucket(octx, nc, bucket)
	if err != nil {
		stop()
		return nil, nil, err
	}
	cfg.Holder = "cli"
	cfg.Logger = log
	sp, err := space.Open(octx, nc, space.WithConfig(cfg))
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("open space: %w", err)
	}
	return sp, func() { sp.Close(); stop() }, nil
}

// dial connects to the NATS servers at urls if set, else to the tuplespace in
// the data dir dirFlag ("" meaning the default).
func dial(ctx context.Context, urls, dirFlag string, log *slog.Logger) (*space.Conn, func(), error) {
	if urls != "" {
		nc, err := space.Dial(urls, "tuplebroker-cli", dialTimeout)
		if err != nil {
			return nil, nil, err
		}
		return nc, nc.Close, nil
	}
	dir, err := dataDirFlag(dirFlag)
	if err != nil {
		return nil, nil, err
	}
	return dialDataDir(ctx, dir, log)
}

// adoptBucket returns a space configuration matching the existing bucket, so
// that opening the space neither creates the bucket nor changes its settings
// (space.Open creates or updates the bucket to the configuration it is given).
func adoptBucket(ctx context.Context, nc *space.Conn, bucket string) (space.Config, error) {
	cfg, err := space.ExistingConfig(ctx, nc, bucket)
	if errors.Is(err, space.ErrNoBucket) {
		return space.Config{}, fmt.Errorf("no tuplespace: bucket %q does not exist", bucket)
	}
	return cfg, err
}

// dialDataDir connects to the tuplespace stored in dir: to the broker that
// holds dir's lock if one runs (through DIR/nats.url), else to a NATS server
// started in-process on dir's store, without a listener, so that a stopped
// broker's data can be inspected.
func dialDataDir(ctx context.Context, dir string, log *slog.Logger) (*space.Conn, func(), error) {
	switch ok, err := space.HasStore(dir); {
	case err != nil:
		return nil, nil, fmt.Errorf("data dir: %w", err)
	case !ok:
		return nil, nil, fmt.Errorf("no tuplespace store in %s (has `tuplebroker serve` run there?)", dir)
	}
	release, err := lockDataDir(dir)
	switch {
	case err == nil:
		log.Debug("no broker runs on the data dir: opening its store in-process", "data_dir", dir)
		nc, stop, err := embeddedConn(dir)
		if err != nil {
			release()
			return nil, nil, err
		}
		return nc, func() { stop(); release() }, nil
	case errors.Is(err, errDataDirBusy):
		url, err := waitNATSURL(ctx, dir)
		if err != nil {
			return nil, nil, err
		}
		nc, err := space.Dial(url, "tuplebroker-cli", dialTimeout)
		if err != nil {
			return nil, nil, fmt.Errorf("broker serving %s: %w", dir, err)
		}
		return nc, nc.Close, nil
	case errors.Is(err, errLockUnsupported):
		if url, err := readDataDirFile(dir, natsURLFile); err == nil {
			if nc, err := space.Dial(url, "tuplebroker-cli", dialTimeout); err == nil {
				return nc, nc.Close, nil
			}
		}
		return embeddedConn(dir)
	default:
		return nil, nil, err
	}
}

// embeddedConn starts a NATS server on dir's store with no listener and
// connects to it in-process.
func embeddedConn(dir string) (*space.Conn, func(), error) {
	srv, err := space.StartServer(space.ServerConfig{Name: "tuplebroker-inspect", DataDir: dir, Port: -1})
	if err != nil {
		return nil, nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	nc, err := srv.Dial("tuplebroker-cli")
	if err != nil {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	return nc, func() { nc.Close(); srv.Shutdown() }, nil
}

// waitNATSURL reads DIR/nats.url, waiting for a broker that is starting to
// write it.
func waitNATSURL(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, natsURLWait)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		url, err := readDataDirFile(dir, natsURLFile)
		if err == nil {
			return url, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("a broker holds %s but has not written %s: %w", dir, natsURLFile, err)
		case <-t.C:
		}
	}
}
