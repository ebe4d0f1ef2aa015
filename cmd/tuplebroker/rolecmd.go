package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/urfave/cli/v2"

	"tuplebroker/space"
)

// roleFlags are the flags every role command shares.
func roleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:     "nats",
			Usage:    "NATS URLs of the pool (comma-separated for a cluster)",
			EnvVars:  []string{"TUPLEBROKER_NATS"},
			Required: true,
		},
		&cli.StringFlag{
			Name:  "bucket",
			Usage: "KV bucket of the tuplespace (created if missing)",
			Value: "tuples",
		},
		&cli.IntFlag{
			Name:  "replicas",
			Usage: "replicas of the bucket when this process creates it (1, 3 or 5)",
			Value: 1,
		},
		&cli.StringFlag{
			Name:    "config",
			Usage:   "pool configuration file (JSON; see examples/)",
			EnvVars: []string{"TUPLEBROKER_CONFIG"},
		},
	}
}

func roleCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "factory",
			Usage: "run a factory: the HTTP JSDL front end, against a pool's NATS",
			Flags: append(roleFlags(),
				&cli.StringFlag{Name: "http", Usage: "host:port to serve HTTP on", Value: "127.0.0.1:8080"},
				&cli.StringFlag{Name: "handle", Usage: "the factory's name (default: random)"},
				&cli.StringFlag{Name: "tokens-file", Usage: "bearer tokens file: one \"TOKEN USER\" per line", Required: true},
				&cli.StringFlag{Name: "strategy", Usage: "factory strategy: pull, push or hybrid (default hybrid)"},
			),
			Action: func(c *cli.Context) error {
				return runRole(c, func(p *pool) error {
					if h := c.String("handle"); h != "" {
						p.cfg.Factory.Handle = h
					}
					if s := c.String("strategy"); s != "" {
						p.cfg.Factory.Strategy = s
					}
					p.tokensFile = c.String("tokens-file")
					ln, err := net.Listen("tcp", c.String("http"))
					if err != nil {
						return fmt.Errorf("http: %w", err)
					}
					p.listener = ln
					return nil
				})
			},
		},
		{
			Name:  "manager",
			Usage: "run a manager node: hosts JobManagers, against a pool's NATS",
			Flags: append(roleFlags(),
				&cli.StringFlag{Name: "handle", Usage: "the node's name, stable across restarts (default: random)"},
				&cli.IntFlag{Name: "max-jobs", Usage: "most jobs hosted at once (maxjobs admission)"},
			),
			Action: func(c *cli.Context) error {
				return runRole(c, func(p *pool) error {
					if h := c.String("handle"); h != "" {
						p.cfg.Manager.Handle = h
					}
					if n := c.Int("max-jobs"); n > 0 {
						p.cfg.Manager.MaxJobs = n
					}
					p.manager = true
					return nil
				})
			},
		},
		{
			Name:      "agent",
			Usage:     "run broker agents (from the config file's agents), against a pool's NATS",
			ArgsUsage: "[NAME...]",
			Description: `agent runs the agents listed in --config; with NAME arguments, only
those. Each agent takes the requests its backend can serve.`,
			Flags: roleFlags(),
			Action: func(c *cli.Context) error {
				return runRole(c, func(p *pool) error {
					want := c.Args().Slice()
					for _, a := range p.cfg.Agents {
						if len(want) == 0 || slices.Contains(want, a.Name) {
							p.agents = append(p.agents, a)
						}
					}
					if len(p.agents) == 0 {
						return fmt.Errorf("agent: %w in --config (names %v)", errNoAgents, want)
					}
					return nil
				})
			},
		},
	}
}

// runRole connects to the pool's NATS, opens the space and runs the roles
// set up by setup until the command's context ends.
func runRole(c *cli.Context, setup func(*pool) error) error {
	log, err := logger(c)
	if err != nil {
		return err
	}
	var cfg poolConfig
	if f := c.String("config"); f != "" {
		if cfg, err = loadPoolConfig(f); err != nil {
			return err
		}
	}
	bucket := c.String("bucket")
	if cfg.Bucket != "" && !c.IsSet("bucket") {
		bucket = cfg.Bucket
	}
	replicas := c.Int("replicas")
	if cfg.Replicas > 0 && !c.IsSet("replicas") {
		replicas = cfg.Replicas
	}
	p := &pool{cfg: cfg, log: log}
	if err := setup(p); err != nil {
		return err
	}
	nc, err := space.Dial(c.String("nats"), "tuplebroker-"+c.Command.Name, dialTimeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	octx, cancel := context.WithTimeout(c.Context, openTimeout)
	sp, err := space.Open(octx, nc, space.WithBucket(bucket), space.WithReplicas(replicas), space.WithLogger(log), space.WithHolder(c.Command.Name), space.WithOrder(cfg.Queue.order()))
	cancel()
	if err != nil {
		return fmt.Errorf("open space: %w", err)
	}
	defer sp.Close()
	p.nc, p.sp = nc, sp
	err = p.run(c.Context)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
