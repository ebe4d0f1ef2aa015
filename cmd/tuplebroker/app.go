package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/urfave/cli/v2"
)

// newApp builds the command-line application. Everything it prints goes to
// stdout and stderr; it never exits the process, so tests can drive it with
// RunContext.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "tuplebroker",
		Usage:           "job broker on a NATS JetStream tuplespace",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Suggest:         true,
		// Errors are returned from RunContext; main decides the exit code.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "log-level",
				Usage:   "log level: debug, info, warn or error",
				Value:   "info",
				EnvVars: []string{"TUPLEBROKER_LOG_LEVEL"},
			},
		},
		Commands: []*cli.Command{
			serveCommand(),
			spaceCommand(),
		},
	}
}

// logger returns a text logger on the app's stderr at the --log-level level.
func logger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})), nil
}

// inheritedString returns the value of a flag that a command and its
// subcommands both define, from the innermost command where it was set (on
// the command line or through its environment variable). If it was set
// nowhere, it returns the flag's default and false.
func inheritedString(c *cli.Context, name string) (string, bool) {
	for _, cc := range c.Lineage() {
		if cc.Command != nil && slices.Contains(cc.LocalFlagNames(), name) {
			return cc.String(name), true
		}
	}
	return c.String(name), false
}
