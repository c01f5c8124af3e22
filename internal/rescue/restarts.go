package rescue

import (
	"context"
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/health"
)

// restartAll restarts each component in order, gating after each; a failure
// rolls back to the backup.
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
	var restarted []string
	for _, c := range components {
		restarted = append(restarted, c)
		if err := r.restartOne(c); err != nil {
			return r.rollback(backupPath, restarted, components, err)
		}
	}
	r.rep.Result = ResultOK
	if err := r.j.write(record{Step: stepEnd, Result: ResultOK}); err != nil {
		return err
	}
	r.boundary("done")
	r.emit(Event{Step: "done", Status: EventOK, Detail: "every component restarted and healthy"})
	return nil
}

// restartOne restarts a component and waits for its gates.
func (r *runner) restartOne(c string) error {
	if err := r.j.write(record{Step: stepRestart, Status: statusStart, Component: c}); err != nil {
		return err
	}
	err := r.timed("restart", c, func() (string, error) {
		return r.o.Restarter.Describe(c), r.o.Restarter.Restart(r.ctx, c)
	})
	r.emit(Event{Step: "restart", Component: c, Status: statusOf(err), Action: facts.ActionRestart, Name: c, Err: err})
	if err != nil {
		_ = r.j.write(record{Step: stepRestart, Status: statusFail, Component: c, Error: err.Error()})
		return fmt.Errorf("restart %s: %w", c, err)
	}
	_ = r.j.write(record{Step: stepRestart, Status: statusDone, Component: c})
	r.boundary("restarted " + c)
	if err := r.gate(r.ctx, c); err != nil {
		_ = r.j.write(record{Step: stepGate, Status: statusFail, Component: c, Error: err.Error()})
		return err
	}
	_ = r.j.write(record{Step: stepGate, Status: statusDone, Component: c})
	r.boundary("healthy " + c)
	return nil
}

func (r *runner) gate(ctx context.Context, c string) error {
	gates := r.o.Gates[c]
	if len(gates) == 0 {
		r.emit(Event{Step: "gate", Component: c, Status: EventSkip, Detail: "no health gate for " + c})
		return nil
	}
	for _, g := range gates {
		r.emit(Event{Step: "gate", Component: c, Status: EventStart, Detail: g.Name})
		res := health.Wait(ctx, g, r.o.Clock, r.o.Backoff)
		e := Event{Step: "gate", Component: c, Status: statusOf(res.Err), Detail: fmt.Sprintf("%s (%d attempts)", g.Name, res.Attempts), Took: res.Took, Err: res.Err}
		r.emit(e)
		if res.Err != nil {
			return fmt.Errorf("health gate of %s failed: %w", c, res.Err)
		}
	}
	return nil
}
