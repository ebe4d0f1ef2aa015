package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

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
		Commands: append(append([]*cli.Command{
			serveCommand(),
			spaceCommand(),
		}, roleCommands()...), clientCommands()...),
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

// interspersed returns args with the flags that follow a command's
// positional arguments moved in front of them, so that `submit FILE --wait`
// works as users type it (urfave/cli stops parsing flags at the first
// positional argument). Commands with subcommands are left alone, and so is
// everything after "--".
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		if !strings.Contains(args[i], "=") && takesValue(app.Flags, args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil || len(cmd.Subcommands) > 0 {
		return args
	}
	out := slices.Clone(args[:i+1])
	var pos []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			pos = append(pos, rest[j:]...)
			j = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			out = append(out, a)
			if !strings.Contains(a, "=") && takesValue(cmd.Flags, a) && j+1 < len(rest) {
				j++
				out = append(out, rest[j])
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(out, pos...)
}

// takesValue reports whether arg ("-x" or "--name") names a flag among flags
// that needs a value (anything but a boolean flag).
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			_, isBool := f.(*cli.BoolFlag)
			return !isBool
		}
	}
	return false
}
