// Command tuplebroker runs the broker (serve) and inspects its tuplespace
// (space count|list|show|watch|txns).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if os.Getenv("GOGC") == "" {
		// The broker allocates many short-lived tuples; collecting less
		// often trades some memory for CPU (override with GOGC).
		debug.SetGCPercent(400)
	}
	app := newApp(os.Stdout, os.Stderr)
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stop()
	var ec cli.ExitCoder
	switch {
	case err == nil:
	case errors.As(err, &ec):
		// Client commands print their own message (a problem's details).
		if m := err.Error(); m != "" {
			fmt.Fprintln(os.Stderr, m)
		}
		os.Exit(ec.ExitCode())
	default:
		fmt.Fprintln(os.Stderr, "tuplebroker:", err)
		os.Exit(1)
	}
}
