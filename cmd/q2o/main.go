// Command q2o is the whole of q2o in one binary: the API, the worker, both
// together, migrations and small admin helpers. main only wires the parts.
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
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "q2o:", err)
		os.Exit(1)
	}
}
