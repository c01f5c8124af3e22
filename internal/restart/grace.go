package restart

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// GraceRestarter is a Restarter that can bound how long the old process is
// given to stop after SIGTERM before it is killed: a component whose
// certificates expired cannot work anyway, and its graceful shutdown (the API
// server's drains requests it cannot serve) is time the plane stays down.
type GraceRestarter interface {
	Restarter
	// RestartGrace restarts c, giving the old process at most grace after
	// SIGTERM (0: SIGKILL at once).
	RestartGrace(ctx context.Context, c string, grace time.Duration) error
}

// EnvStopGrace is the environment variable a --restart-command gets with the
// stop grace in seconds (decimal, "0.5"), when the rescue asks for one; a
// command that stops processes itself should honour it.
const EnvStopGrace = "CERTRESCUE_STOP_GRACE"

// RestartWith restarts c with grace when r can bound it and grace >= 0, and
// as r always does otherwise (grace < 0: the component's normal period).
func RestartWith(ctx context.Context, r Restarter, c string, grace time.Duration) error {
	if g, ok := r.(GraceRestarter); ok && grace >= 0 {
		return g.RestartGrace(ctx, c, grace)
	}
	return r.Restart(ctx, c)
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// RestartGrace runs the command with CERTRESCUE_STOP_GRACE set.
func (r CommandRestarter) RestartGrace(ctx context.Context, c string, grace time.Duration) error {
	cmd, ok := r.Commands[c]
	if !ok {
		return r.Restart(ctx, c)
	}
	sh := r.Shell
	if sh == "" {
		sh = "/bin/sh"
	}
	run := r.Exec
	if run == nil {
		run = envExec(EnvStopGrace + "=" + seconds(grace))
	}
	if out, err := run(ctx, sh, "-c", cmd); err != nil {
		return runErr(fmt.Sprintf("restart %s (stop grace %s): %s", c, grace, cmd), out, err)
	}
	return nil
}

// envExec is RealExec with extra environment variables.
func envExec(env ...string) Exec {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return realExecEnv(ctx, append(os.Environ(), env...), name, args...)
	}
}

// RestartGrace stops the component's containers with crictl stop
// --timeout SECONDS (whole seconds, rounded up); with none running, its pod
// sandbox (see StaticPodRestarter); the kubelet, not a static pod, is
// restarted as usual.
func (r StaticPodRestarter) RestartGrace(ctx context.Context, c string, grace time.Duration) error {
	if grace < 0 {
		grace = 0
	}
	return r.restart(ctx, c, grace)
}

// RestartGrace kills the unit's processes (SIGTERM, then SIGKILL after
// grace) before systemctl restart, which then finds them gone instead of
// waiting through the unit's TimeoutStopSec.
func (r SystemdRestarter) RestartGrace(ctx context.Context, c string, grace time.Duration) error {
	run := r.Exec
	if run == nil {
		run = RealExec
	}
	unit := r.unit(c)
	if grace > 0 {
		_, _ = run(ctx, "systemctl", "kill", "--signal=SIGTERM", unit)
		deadline := time.NewTimer(grace)
		defer deadline.Stop()
	wait:
		for {
			if _, err := run(ctx, "systemctl", "is-active", "--quiet", unit); err != nil {
				break // inactive, failed or activating again: stopped
			}
			select {
			case <-deadline.C:
				break wait
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	_, _ = run(ctx, "systemctl", "kill", "--signal=SIGKILL", unit) // nothing left to kill is fine
	if err := reloadIfChanged(ctx, run, c, unit); err != nil {
		return err
	}
	if out, err := run(ctx, "systemctl", "restart", unit); err != nil {
		return runErr("restart "+c+": systemctl restart "+unit, out, err)
	}
	return nil
}

// RestartGrace restarts each component the way the node starts it, bounded.
func (a AutoRestarter) RestartGrace(ctx context.Context, c string, grace time.Duration) error {
	t, ok := a.Targets[c]
	if !ok {
		return fmt.Errorf("restart %s: %w", c, ErrNoTarget)
	}
	if t.Strategy == StaticPod {
		return a.staticPod(t).RestartGrace(ctx, c, grace)
	}
	return a.systemd(t).RestartGrace(ctx, c, grace)
}

func fmtArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
