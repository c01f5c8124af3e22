package cli

import (
	"context"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
)

// wall is the clock of real processes: it bounds and paces the health gates,
// the static-pod restarter's wait for the kubelet, the exporter's refreshes
// and its wait for an API server's list, and the wait for a shell to exec
// into cfssljson; it times rescue's steps and the demo. Those measure
// components that run on real time, so they keep it even when Env.Clock (the
// certificates' "now": what is due, validity windows, names) stands at
// another instant, as it does in tests. This is the one place the command
// layer passes clock.Real for them.
var wall clock.Clock = clock.Real{}

// after is closed once d has passed on c; never when ctx ends first. It is
// time.After on a Clock, for a select.
func after(ctx context.Context, c clock.Clock, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		if c.Sleep(ctx, d) == nil {
			close(ch)
		}
	}()
	return ch
}
