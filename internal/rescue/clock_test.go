package rescue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/layout"
)

// slowStart fails its first attempts, as a component that is still starting.
type slowStart struct{ left int }

func (s *slowStart) Check(context.Context) error {
	if s.left > 0 {
		s.left--
		return errors.New("connection refused")
	}
	return nil
}

func TestGatesWaitOnTheWallClockAndCertificatesKeepTheirNow(t *testing.T) {
	root := node(t, true)
	o := options(root, &recorder{}, nil)
	certs := clock.NewFake(epoch)
	wallStart := time.Unix(1e9, 0)
	wall := clock.NewFake(wallStart)
	o.Clock, o.Wall = certs, wall
	o.Gates = gates(root, certs.Now)
	o.Gates[layout.Kubelet] = []health.Gate{{Component: layout.Kubelet, Name: "kubelet healthz", Timeout: 10 * time.Second, Probe: &slowStart{left: 2}}}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != ResultOK {
		t.Fatalf("result %q", rep.Result)
	}
	if !certs.Now().Equal(epoch) {
		t.Errorf("the certificates' clock moved to %s: gates must wait on the wall clock", certs.Now())
	}
	// Two failed attempts: DefaultBackoff's 200ms then 400ms on the wall clock.
	if waited := wall.Now().Sub(wallStart); waited != 600*time.Millisecond {
		t.Errorf("wall clock advanced %s, want 600ms", waited)
	}
	if rep.Took != 600*time.Millisecond {
		t.Errorf("report took %s on the wall clock, want 600ms", rep.Took)
	}
	if want := "rescue-" + epoch.UTC().Format("20060102T150405.000Z"); rep.Run != want {
		t.Errorf("run %q, want %q (named by the certificates' clock)", rep.Run, want)
	}
}

func TestRunWithoutAClockSaysSo(t *testing.T) {
	_, err := Run(context.Background(), Options{Root: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Clock") {
		t.Fatalf("Run = %v, want an error naming the missing clock", err)
	}
}
