package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeStandsStillUntilMoved(t *testing.T) {
	f := NewFake(epoch)
	if got := f.Now(); !got.Equal(epoch) {
		t.Fatalf("Now = %s, want %s", got, epoch)
	}
	if got := f.Now(); !got.Equal(epoch) {
		t.Fatalf("Now moved by itself: %s", got)
	}
	f.Advance(time.Hour)
	if got, want := f.Now(), epoch.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after Advance: %s, want %s", got, want)
	}
	f.Set(epoch.Add(-time.Minute))
	if got, want := f.Now(), epoch.Add(-time.Minute); !got.Equal(want) {
		t.Fatalf("after Set: %s, want %s", got, want)
	}
}

func TestFakeSleepAdvancesAtOnce(t *testing.T) {
	f := NewFake(epoch)
	if err := f.Sleep(context.Background(), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := f.Now(), epoch.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Sleep: %s, want %s", got, want)
	}
}

func TestFakeSleepOnAnEndedContextReturnsItsErrorAndDoesNotMove(t *testing.T) {
	f := NewFake(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	if got := f.Now(); !got.Equal(epoch) {
		t.Fatalf("time moved: %s", got)
	}
}

func TestFixedIsAFake(t *testing.T) {
	var c Clock = Fixed(epoch)
	if err := c.Sleep(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), epoch.Add(time.Second); !got.Equal(want) {
		t.Fatalf("Now = %s, want %s", got, want)
	}
}

func TestRealSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// An ended context returns at once, whatever d: no test waits.
	if err := (Real{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	if err := (Real{}).Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep = %v, want context.DeadlineExceeded", err)
	}
	if err := (Real{}).Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
}

func TestRealSleepReturnsCtxErrWhenTheContextEndsFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- (Real{}).Sleep(ctx, time.Hour) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
}
