package exporter

import (
	"context"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
)

// timed records when each refresh starts on the fake clock; the second one
// takes two and a half intervals; the fifth ends the loop.
type timed struct {
	clk    *clock.Fake
	cancel context.CancelFunc
	starts []time.Duration
}

func (s *timed) Refresh(context.Context) error {
	s.starts = append(s.starts, s.clk.Now().Sub(time.Unix(0, 0)))
	switch len(s.starts) {
	case 2:
		s.clk.Advance(150 * time.Second)
	case 5:
		s.cancel()
	}
	return nil
}

func TestRefreshLoopKeepsTheIntervalsBeatAndCatchesUpAfterASlowRefresh(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0)) // sleeping advances it: the test never waits
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &timed{clk: clk, cancel: cancel}
	RefreshLoop(ctx, clk, time.Minute, []Refresher{s}, func(err error) { t.Error(err) })
	want := []time.Duration{0, time.Minute, 210 * time.Second, 270 * time.Second, 330 * time.Second}
	if len(s.starts) != len(want) {
		t.Fatalf("refreshes at %v, want %v", s.starts, want)
	}
	for i := range want {
		if s.starts[i] != want[i] {
			t.Fatalf("refreshes at %v, want %v", s.starts, want)
		}
	}
}
