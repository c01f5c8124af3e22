// Command certrescue diagnoses, issues and rescues Kubernetes certificates offline.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/certrescue/certrescue/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels the command's context: it finishes
	// or undoes the step in flight and exits 130. A second one ends the
	// process at once (the default action, once the handler is gone).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		s := <-sigs
		signal.Stop(sigs)
		fmt.Fprintf(os.Stderr, "certrescue: %v: finishing or undoing the step in flight (send it again to stop at once)\n", s)
		cancel(fmt.Errorf("%v", s))
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel(nil)
	os.Exit(code)
}
