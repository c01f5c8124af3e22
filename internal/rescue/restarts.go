package rescue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/restart"
)

// ResultRestartedUnverified is the result of a run that renewed and restarted
// everything, every gate it had passed, but at least one restarted component
// had no health gate: its restart was issued and nobody checked it came back.
const ResultRestartedUnverified = "restarted-unverified"

// ResultInterrupted is the result of a run stopped by SIGINT or SIGTERM
// while it restarted components: the renewed files are in place and
// consistent; the journal stays open, so the next rescue resumes the
// restarts and gates.
const ResultInterrupted = "interrupted"

// ErrInterrupted is wrapped by Run's error when the result is
// ResultInterrupted.
var ErrInterrupted = errors.New("interrupted")

// ErrUnverified is wrapped by Run's error when the result is
// ResultRestartedUnverified: nothing failed, but not everything was checked.
var ErrUnverified = errors.New("restarted but not verified")

// GateError is a health gate that cannot read what it probes with (a client
// certificate, a CA): the rescue refuses before changing anything.
type GateError struct {
	Gate      string // the gate's name: "etcd certificate"
	Component string // the component it checks
	Err       error
}

func (e *GateError) Error() string {
	return fmt.Sprintf("health gate %s cannot read what it needs: %v", e.Gate, e.Err)
}

func (e *GateError) Unwrap() error { return e.Err }

// preflight checks, before anything changes (and in a dry run, which must
// pass only when the real run can start), that the restarter can restart
// every component (its programs are on this machine, a command is given for
// each) and that every gate can read the files it will probe with.
func (r *runner) preflight(components []string) error {
	if r.o.Manual {
		return nil
	}
	var errs []error
	if v, ok := r.o.Restarter.(restart.Validator); ok {
		if err := v.Validate(components); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range components {
		for _, g := range r.o.Gates[c] {
			if g.Ready == nil {
				continue
			}
			if err := g.Ready(); err != nil {
				errs = append(errs, &GateError{Gate: g.Name, Component: c, Err: err})
			}
		}
	}
	errs = append(errs, r.reloadReady()...)
	if len(errs) > 0 {
		return fmt.Errorf("%w; nothing was changed", errors.Join(errs...))
	}
	return nil
}

// restartAll restarts each component in order, gating after each; a failure
// rolls back to the backup. Components without a gate are restarted and
// reported as not verified.
func (r *runner) restartAll(components []string, backupPath string) error {
	r.rep.Components = components
	if r.o.Manual {
		for _, c := range components {
			r.emit(Event{Step: "restart", Component: c, Status: EventSkip, Detail: r.o.Restarter.Describe(c)})
		}
		r.rep.Result = ResultManualRestart
		if err := r.j.write(record{Step: stepEnd, Result: ResultManualRestart}); err != nil {
			return err
		}
		r.emit(Event{Step: "done", Status: EventOK, Detail: "renewed; restart " + strings.Join(components, ", ") + " yourself, in that order"})
		return nil
	}
	for _, c := range components {
		r.restarted = append(r.restarted, c)
		if err := r.restartOne(c); err != nil {
			if r.ctx.Err() != nil {
				return r.interrupted(c, components, backupPath, err)
			}
			return r.rollback(backupPath, r.restarted, components, err)
		}
	}
	return r.finish(components)
}

// finish ends a run whose restarts and gates all passed: ok, or not
// verified when a restarted component had no gate.
func (r *runner) finish(components []string) error {
	if unverified := r.unverifiedOf(components); len(unverified) > 0 {
		r.rep.Result = ResultRestartedUnverified
		if err := r.j.write(record{Step: stepEnd, Result: ResultRestartedUnverified}); err != nil {
			return err
		}
		r.boundary("done")
		detail := fmt.Sprintf("renewed and restarted; NOT verified: %s (no health gate); check them yourself", strings.Join(unverified, ", "))
		r.emit(Event{Step: "done", Status: EventSkip, Detail: detail})
		return fmt.Errorf("%w: %s had no health gate; check that they are up", ErrUnverified, strings.Join(unverified, ", "))
	}
	r.rep.Result = ResultOK
	if err := r.j.write(record{Step: stepEnd, Result: ResultOK}); err != nil {
		return err
	}
	r.boundary("done")
	detail := "every component restarted and healthy"
	if len(r.decision.Takes) > 0 {
		detail = "every renewed credential in use, every gate passed"
		if len(components) > 0 {
			detail += "; restarted " + strings.Join(components, ", ")
		}
	}
	r.emit(Event{Step: "done", Status: EventOK, Detail: detail})
	return nil
}

// restartOne restarts a component and waits for its gates.
func (r *runner) restartOne(c string) error {
	if err := r.j.write(record{Step: stepRestart, Status: statusStart, Component: c}); err != nil {
		return err
	}
	grace, _ := r.grace(c)
	err := r.timed("restart", c, func() (string, error) {
		return r.o.Restarter.Describe(c) + "; " + r.graceDetail(c), r.restartWithGrace(r.ctx, c, grace)
	})
	r.emit(Event{Step: "restart", Component: c, Status: statusOf(err), Action: facts.ActionRestart, Name: c, Err: err})
	if err != nil {
		_ = r.j.write(record{Step: stepRestart, Status: statusFail, Component: c, Error: err.Error()})
		return fmt.Errorf("restart %s: %w", c, err)
	}
	_ = r.j.write(record{Step: stepRestart, Status: statusDone, Component: c})
	r.boundary("restarted " + c)
	r.restartedHooks(r.ctx, c)
	if err := r.gate(r.ctx, c); err != nil {
		_ = r.j.write(record{Step: stepGate, Status: statusFail, Component: c, Error: err.Error()})
		return err
	}
	_ = r.j.write(record{Step: stepGate, Status: statusDone, Component: c})
	r.boundary("healthy " + c)
	return nil
}

// gate waits for each of a component's gates; a component without one is
// reported as not verified (the run's result says so at the end).
func (r *runner) gate(ctx context.Context, c string) error {
	gates := r.o.Gates[c]
	if len(gates) == 0 {
		r.emit(Event{Step: "gate", Component: c, Status: EventSkip, Detail: "no health gate for " + c + ": restarted, NOT verified"})
		return nil
	}
	for _, g := range gates {
		r.emit(Event{Step: "gate", Component: c, Status: EventStart, Detail: g.Name})
		res := health.Wait(ctx, g, r.o.Wall, r.o.Backoff)
		e := Event{Step: "gate", Component: c, Status: statusOf(res.Err), Detail: fmt.Sprintf("%s (%d attempts)", g.Name, res.Attempts), Took: res.Took, Err: res.Err}
		r.emit(e)
		if res.Err != nil {
			return fmt.Errorf("health gate of %s failed: %w", c, res.Err)
		}
	}
	return nil
}

// interrupted ends a run stopped by a signal while restarting c: no rollback
// (that would restart everything again, behind gates, long after the operator
// asked to stop), the journal left open for the next rescue to resume.
func (r *runner) interrupted(c string, components []string, backupPath string, err error) error {
	r.rep.Result = ResultInterrupted
	detail := fmt.Sprintf("interrupted while restarting %s: every renewed file is in place; the next 'certrescue rescue' resumes the restarts and gates of %s (the backup %s undoes the renewal)",
		c, strings.Join(components, ", "), backupPath)
	r.emit(Event{Step: "done", Status: EventFail, Detail: detail})
	return fmt.Errorf("%w (%w): %s", ErrInterrupted, context.Cause(r.ctx), detail)
}
