// Command tuplebroker runs the broker (serve) and inspects its tuplespace
// (space count|list|show|watch|txns).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp(os.Stdout, os.Stderr).RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tuplebroker:", err)
		os.Exit(1)
	}
}
