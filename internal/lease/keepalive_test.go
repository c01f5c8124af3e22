package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/testbed"
)

// stepClock is a fake clock whose Sleep waits for the test's tick and then
// moves time on by the whole sleep: the test decides when each keep-alive
// renewal happens, and no test waits for real time to pass. A tick is taken
// only by a keep-alive back in Sleep, so the renewal before it has finished.
type stepClock struct {
	*clock.Fake
	ticks chan struct{}
}

func (c stepClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ticks:
	}
	c.Advance(d)
	return nil
}

func TestKeepAliveHoldsTheLeasePastItsDurationAndReportsItsLoss(t *testing.T) {
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	ctx := context.Background()
	clk := stepClock{clock.NewFake(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)), make(chan struct{})}
	base := client(t, credentials(t, api, "certrescue-test-admin"))
	base.Clock = clk
	a, b := base, base
	a.Holder, b.Holder = "cp-1", "cp-2"
	start := clk.Now()

	ha, err := Acquire(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	stop := ha.KeepAlive(ctx, func(err error) { t.Errorf("lost while held: %v", err) })
	// Five ticks of a third of the 10-minute duration: 16m40s on, and at
	// least four renewals done (the fifth may be cut short by stop).
	for range 5 {
		clk.ticks <- struct{}{}
	}
	stop()
	if got := clk.Now().Sub(start); got != 5*(10*time.Minute/3) {
		t.Fatalf("the keep-alive slept %s in all, want 5 thirds of the duration", got)
	}
	if !ha.Until().After(clk.Now()) {
		t.Fatalf("held until %s, before now %s: the keep-alive did not renew", ha.Until(), clk.Now())
	}
	var held *HeldError
	if _, err := Acquire(ctx, b); !errors.As(err, &held) || held.Holder != "cp-1" {
		t.Fatalf("cp-2 past cp-1's first duration, cp-1 still renewing: %v, want held by cp-1", err)
	}

	// cp-1 stops renewing (stopped: its run hung); its Lease runs out and
	// cp-2 takes it. cp-1's next keep-alive finds it lost and says so once.
	clk.Advance(time.Hour)
	if _, err := Acquire(ctx, b); err != nil {
		t.Fatalf("cp-2 after cp-1's Lease ran out: %v", err)
	}
	lost := make(chan error, 2)
	stop = ha.KeepAlive(ctx, func(err error) { lost <- err })
	clk.ticks <- struct{}{}
	err = <-lost
	stop()
	if !errors.Is(err, ErrLost) {
		t.Fatalf("lost with %v, want ErrLost", err)
	}
	if len(lost) != 0 {
		t.Errorf("lost reported more than once")
	}
	if _, err := Acquire(ctx, a); !errors.As(err, &held) || held.Holder != "cp-2" {
		t.Fatalf("cp-1's keep-alive took the Lease back from cp-2: %v", err)
	}
}
