package rescue

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
)

// RollbackError means the backup could not be put back after a failure: the
// node may hold renewed and old files mixed. Backup is the archive to restore
// by hand; the command layer says how.
type RollbackError struct {
	Backup string // the archive's path on this machine
	Err    error
}

func (e *RollbackError) Error() string { return "THE ROLLBACK FAILED TOO: " + e.Err.Error() }
func (e *RollbackError) Unwrap() error { return e.Err }

// rollback restores the backup, restarts what was restarted, proves that
// what took the renewed files up by itself takes the restored ones up too
// (the same reload gates; restarted only if it does not), checks every other
// component in planned once (one that fell over while the broken
// credentials were live is restarted too), waits for the gates and returns
// the original failure. Its restarts get the short stop grace.
func (r *runner) rollback(backupPath string, restarted, planned []string, cause error) error {
	r.rep.Failure = cause
	ctx := context.WithoutCancel(r.ctx) // a Ctrl-C must not stop a rollback half-way
	_ = r.j.write(record{Step: stepRollback, Status: statusStart, Backup: backupPath, Error: cause.Error(), Components: restarted})
	r.boundary("rollback-started")
	var res *backup.RestoreResult
	err := r.timed("rollback", "", func() (string, error) {
		var err error
		// The backup is this run's own, just taken and verified: every
		// path it holds was asked for (AllowManifest); certrescue's state,
		// databases and unsafe symlinks stay refused.
		res, err = backup.Restore(backupPath, backup.RestoreOptions{Root: r.o.Root, AllowManifest: true, Now: r.now(), Context: ctx})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("restored %d files from %s", len(res.Written), filepath.Base(backupPath)), nil
	})
	r.emit(Event{Step: "rollback", Status: statusOf(err), Action: facts.ActionRollback, Name: filepath.Base(backupPath), Path: backupPath, Err: err})
	if res != nil {
		for _, w := range res.Written {
			r.emit(Event{Step: "rollback", Status: EventOK, Action: facts.ActionRestore, Name: w, Path: w})
		}
	}
	if err != nil {
		r.rep.Result = ResultFailed
		_ = r.j.write(record{Step: stepEnd, Result: ResultFailed, Error: err.Error()})
		return fmt.Errorf("%w; %w", cause, &RollbackError{Backup: backupPath, Err: err})
	}
	r.boundary("restored")
	var unhealthy []string
	if !r.o.Manual {
		for _, c := range layout.RestartOrder {
			was := slices.Contains(restarted, c)
			if takes := r.decision.Reloaded(c); !was && len(takes) > 0 {
				// It takes the restored files up as it took the renewed
				// ones: prove it, restart it only if it does not.
				fallback, err := r.proveReload(ctx, c, takes)
				if err == nil && !fallback {
					if err = r.gate(ctx, c); err == nil {
						continue
					}
				}
				was = true // not proven: restart it below
			}
			if !was && (!slices.Contains(planned, c) || r.healthyNow(ctx, c)) {
				continue
			}
			why := "back to the backup's credentials"
			if !was {
				why = "unhealthy after the failure: restarting it on the backup's credentials"
			}
			grace := r.rollbackGrace()
			why += fmt.Sprintf("; stop grace %s (a failed rescue)", grace)
			err := r.timed("restart", c, func() (string, error) { return why, r.restartWithGrace(ctx, c, grace) })
			r.emit(Event{Step: "restart", Component: c, Status: statusOf(err), Action: facts.ActionRestart, Name: c, Err: err})
			if err == nil {
				r.restartedHooks(ctx, c)
				err = r.gate(ctx, c)
			}
			if err != nil {
				unhealthy = append(unhealthy, fmt.Sprintf("%s (%v)", c, err))
			}
		}
	}
	if len(unhealthy) > 0 {
		r.rep.Result = ResultFailed
		_ = r.j.write(record{Step: stepEnd, Result: ResultFailed, Error: strings.Join(unhealthy, "; ")})
		return fmt.Errorf("%w; rolled back to %s, but still unhealthy: %s", cause, backupPath, strings.Join(unhealthy, "; "))
	}
	r.rep.Result = ResultRolledBack
	if err := r.j.write(record{Step: stepEnd, Result: ResultRolledBack, Error: cause.Error()}); err != nil {
		return err
	}
	r.emit(Event{Step: "done", Status: EventFail, Detail: "rolled back: every file is as in " + filepath.Base(backupPath)})
	return fmt.Errorf("%w; everything was rolled back to %s", cause, backupPath)
}

// healthyNow probes a component's gates once each, without retrying.
func (r *runner) healthyNow(ctx context.Context, c string) bool {
	for _, g := range r.o.Gates[c] {
		if err := g.Probe.Check(ctx); err != nil {
			r.emit(Event{Step: "gate", Component: c, Status: EventFail, Detail: g.Name + " (one probe after the rollback)", Err: err})
			return false
		}
	}
	return true
}

// rollbackGrace is the stop grace of the rollback's restarts: short (the
// component runs on credentials that failed their gate), or --stop-grace.
func (r *runner) rollbackGrace() time.Duration {
	if r.o.StopGraceSet {
		return r.o.StopGrace
	}
	if r.o.ExpiredGrace > 0 {
		return r.o.ExpiredGrace
	}
	return DefaultExpiredGrace
}
