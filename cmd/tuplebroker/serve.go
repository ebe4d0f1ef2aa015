package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"tuplebroker/factory"
	"tuplebroker/space"
)

// serveConfig is what `serve` runs with.
type serveConfig struct {
	DataDir  string
	NATSHost string
	NATSPort int // 0: a free port
	Fsync    bool
	HTTPAddr string // "": no HTTP endpoint
	Bucket   string
	// Pool is the configuration file's content (roles, agents).
	Pool poolConfig
	// TokenFile is where the local user's token is written on first start
	// ("": not written).
	TokenFile string
	// Roles are the roles serve runs: "factory", "manager", "agents".
	Roles map[string]bool
}

// httpShutdownTimeout bounds the wait for in-flight HTTP requests on exit.
const httpShutdownTimeout = 10 * time.Second

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the broker: embedded NATS JetStream server, tuplespace and HTTP endpoint",
		Description: `serve keeps the tuplespace in an embedded NATS server with JetStream
file storage under --data-dir, and writes DIR/nats.url (the NATS client
URL) and DIR/http.addr (the bound HTTP address) while it runs, so that
"tuplebroker space" and other tools find it.

Durability: without --fsync the store is fsynced every 2 minutes. Killing
the process loses nothing that was acknowledged; a power loss or OS crash
can lose the writes of the last 2 minutes. With --fsync every write is
fsynced before it is acknowledged (slower).

HTTP: GET /healthz answers {"status":"ok","tuples":N}.`,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:        "data-dir",
				Usage:       "directory for the JetStream store and runtime files (created 0700)",
				DefaultText: "$XDG_DATA_HOME/tuplebroker or ~/.local/share/tuplebroker",
			},
			&cli.StringFlag{
				Name:  "nats-listen",
				Usage: "host:port of the embedded NATS server's client listener (port 0: any free port)",
				Value: "127.0.0.1:4222",
			},
			&cli.BoolFlag{
				Name:  "fsync",
				Usage: "fsync every write before acknowledging it; off, the store fsyncs every 2 minutes: a killed process loses nothing acknowledged, a power loss may lose recent writes",
			},
			&cli.StringFlag{
				Name:  "http",
				Usage: "host:port of the HTTP endpoint (port 0: any free port; empty: none)",
				Value: "127.0.0.1:8080",
			},
			&cli.StringFlag{
				Name:  "bucket",
				Usage: "KV bucket of the tuplespace",
				Value: "tuples",
			},
			&cli.StringFlag{
				Name:    "config",
				Usage:   "pool configuration file (JSON: factory, manager, agents; see examples/); default: one local agent",
				EnvVars: []string{"TUPLEBROKER_CONFIG"},
			},
			&cli.StringFlag{
				Name:  "roles",
				Usage: "roles to run beside NATS and the space, comma-separated: factory, manager, agents; \"none\" makes serve only the pool's NATS server and space",
				Value: "factory,manager,agents",
			},
			&cli.StringFlag{
				Name:        "token-file",
				Usage:       "where the local user's bearer token is written on first start (\"\": nowhere)",
				DefaultText: "$XDG_CONFIG_HOME/tuplebroker/token or ~/.config/tuplebroker/token",
				EnvVars:     []string{"TUPLEBROKER_TOKEN_FILE"},
			},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("serve: unexpected arguments %q", c.Args().Slice())
			}
			log, err := logger(c)
			if err != nil {
				return err
			}
			cfg, err := serveConfigFrom(c)
			if err != nil {
				return err
			}
			return serve(c.Context, cfg, log)
		},
	}
}

func serveConfigFrom(c *cli.Context) (serveConfig, error) {
	dir, err := dataDirFlag(c.String("data-dir"))
	if err != nil {
		return serveConfig{}, err
	}
	host, port, err := parseListen(c.String("nats-listen"))
	if err != nil {
		return serveConfig{}, fmt.Errorf("--nats-listen: %w", err)
	}
	cfg := serveConfig{
		DataDir:  dir,
		NATSHost: host,
		NATSPort: port,
		Fsync:    c.Bool("fsync"),
		HTTPAddr: c.String("http"),
		Bucket:   c.String("bucket"),
	}
	if f := c.String("config"); f != "" {
		if cfg.Pool, err = loadPoolConfig(f); err != nil {
			return serveConfig{}, err
		}
		if cfg.Pool.Bucket != "" && !c.IsSet("bucket") {
			cfg.Bucket = cfg.Pool.Bucket
		}
	}
	cfg.Roles = map[string]bool{}
	for _, r := range strings.Split(c.String("roles"), ",") {
		switch r = strings.TrimSpace(r); r {
		case "factory", "manager", "agents":
			cfg.Roles[r] = true
		case "none", "":
		default:
			return serveConfig{}, fmt.Errorf("--roles: unknown role %q (factory, manager, agents or none)", r)
		}
	}
	cfg.TokenFile = c.String("token-file")
	if !c.IsSet("token-file") {
		if cfg.TokenFile, err = factory.DefaultTokenFile(); err != nil {
			return serveConfig{}, err
		}
	}
	return cfg, nil
}

// parseListen splits host:port; the port must be 0..65535.
func parseListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q not in 0..65535", p)
	}
	return host, port, nil
}

// serve runs the broker until ctx ends, then shuts it down in order: HTTP,
// space, NATS server, runtime files, data dir lock.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	release, err := lockDataDir(dir)
	switch {
	case errors.Is(err, errDataDirBusy):
		return fmt.Errorf("another tuplebroker is serving %s: %w", dir, err)
	case errors.Is(err, errLockUnsupported):
		log.Warn("cannot lock the data dir on this platform: do not run two brokers on it", "data_dir", dir)
		release = func() {}
	case err != nil:
		return err
	}
	defer release()
	// Files left by a killed broker would point tools at nothing.
	removeRunFiles(dir, log)
	defer removeRunFiles(dir, log)

	if !isLoopback(cfg.NATSHost) {
		log.Warn("the embedded NATS server has no authentication and listens beyond loopback", "host", cfg.NATSHost)
	}
	srv, err := space.StartServer(space.ServerConfig{
		Name:       "tuplebroker",
		DataDir:    dir,
		Host:       cfg.NATSHost,
		Port:       cfg.NATSPort,
		SyncAlways: cfg.Fsync,
	})
	if err != nil {
		return fmt.Errorf("start NATS server: %w", err)
	}
	defer srv.Shutdown()
	nc, err := srv.Dial("tuplebroker-serve")
	if err != nil {
		return fmt.Errorf("connect to NATS server: %w", err)
	}
	defer nc.Close()
	sp, err := space.Open(ctx, nc, space.WithBucket(cfg.Bucket), space.WithHolder("serve"), space.WithLogger(log), space.WithOrder(cfg.Pool.Queue.order()))
	if err != nil {
		return fmt.Errorf("open space: %w", err)
	}
	defer sp.Close()

	pc := cfg.Pool
	if len(pc.Agents) == 0 {
		root := filepath.Join(dir, "work")
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("create local agent root: %w", err)
		}
		pc.Agents = []agentConfig{{Name: "local", Backend: "local", Local: &localConfig{Root: root}}}
	}
	p := &pool{cfg: pc, log: log, nc: nc, sp: sp, manager: cfg.Roles["manager"], noFactory: !cfg.Roles["factory"]}
	if cfg.Roles["agents"] {
		p.agents = pc.Agents
	}
	if cfg.HTTPAddr != "" && !p.noFactory {
		p.tokensFile = pc.Factory.TokensFile
		if p.tokensFile == "" {
			p.tokensFile = filepath.Join(dir, "tokens")
		}
		if cfg.TokenFile != "" {
			if _, err := factory.EnsureLocalToken(p.tokensFile, cfg.TokenFile, currentUser()); err != nil {
				return fmt.Errorf("create the local user's token: %w", err)
			}
		}
	}
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		p.listener = ln
	}
	p.ready = func(httpAddr string) error {
		if httpAddr != "" {
			if err := writeFileAtomic(filepath.Join(dir, httpAddrFile), []byte(httpAddr+"\n")); err != nil {
				return err
			}
		}
		// nats.url goes last: once it exists, the broker is fully up.
		natsURL := localClientURL(srv.ClientURL(), cfg.NATSHost)
		if err := writeFileAtomic(filepath.Join(dir, natsURLFile), []byte(natsURL+"\n")); err != nil {
			return err
		}
		log.Info("serving", "data_dir", dir, "nats", natsURL, "http", httpAddr, "fsync", cfg.Fsync, "bucket", cfg.Bucket, "agents", len(p.agents))
		return nil
	}
	go func() {
		<-ctx.Done()
		log.Info("shutting down", "cause", context.Cause(ctx))
	}()
	if addr := os.Getenv("TUPLEBROKER_PPROF"); addr != "" {
		startPprof(addr, log)
	}
	return p.run(ctx)
}

func shutdownHTTP(hs *http.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
}

func removeRunFiles(dir string, log *slog.Logger) {
	for _, name := range []string{natsURLFile, httpAddrFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("remove runtime file", "err", err)
		}
	}
}

// localClientURL is the URL a process on this host uses to reach a server
// whose client URL is clientURL and that was asked to listen on host: a
// wildcard host becomes loopback.
func localClientURL(clientURL, host string) string {
	port := clientURL[strings.LastIndexByte(clientURL, ':')+1:]
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "nats://" + net.JoinHostPort(host, port)
}

func isLoopback(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
