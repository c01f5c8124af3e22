package rescue

import (
	"fmt"
	"path/filepath"

	"github.com/certrescue/certrescue/internal/renewal"
)

// Planner computes a run's plan in place of the renewal (certrescue ca
// rotate's phases, package carotation). It is called after the lock and the
// recovery of an unfinished previous run, so it reads the node as that
// recovery left it; the rest of the run is a rescue's: recheck, backup,
// journaled deploy, restarts behind gates, rollback. A plan without items is
// nothing to do; an error refuses the run with nothing changed.
type Planner func() (*renewal.Plan, error)

// planned is Run's plan-and-apply with o.Planner's plan.
func (r *runner) planned(pl Planner) error {
	var plan *renewal.Plan
	if err := r.timed("plan", "", func() (string, error) {
		var err error
		if plan, err = pl(); err != nil {
			return "", err
		}
		if len(plan.Items) == 0 {
			return "nothing to change", nil
		}
		r.setPlan(plan)
		if err := r.recheck(plan); err != nil {
			return "", err
		}
		if err := r.preflight(r.decision.Components()); err != nil {
			return "", err
		}
		detail := fmt.Sprintf("%d changes, %d files; %s", len(plan.Items), len(plan.Files()), planDetail(r.decision)) + r.restartDetail()
		if len(r.rep.Critical) > 0 {
			detail += "; " + summary(r.rep.Critical)
		}
		return detail, nil
	}); err != nil {
		return err
	}
	switch {
	case len(plan.Items) == 0:
		r.rep.Result = ResultNothingToDo
		r.emit(Event{Step: "done", Status: EventOK, Detail: "nothing to change"})
		return nil
	case r.o.DryRun:
		r.rep.Result = ResultDryRun
		r.emit(Event{Step: "done", Status: EventOK, Detail: "dry run: nothing was changed"})
		return nil
	}
	return r.stillCritical(r.apply(plan))
}

// setPlan records the plan and decides, from the reload table, what its
// components take up by themselves and what must restart (both paths of Run:
// the renewal's plan and a Planner's).
func (r *runner) setPlan(plan *renewal.Plan) {
	r.decision, r.expired = r.decide(plan), r.expiredComponents()
	r.rep.Plan, r.rep.Components, r.rep.Decision = plan, r.decision.Restart, r.decision
	for _, c := range r.decision.Components() {
		if len(r.decision.Reloaded(c)) > 0 {
			r.rep.Reloaded = append(r.rep.Reloaded, c)
		}
	}
}

// RunningHere keeps the components of comps that run on the node at root
// (a worker restarts its kubelet, not an API server it does not run).
func RunningHere(root string, comps []string) []string { return runningHere(root, comps) }

// Unfinished names the last run journaled in stateDir (a real path) when it
// did not end (a crash, a SIGKILL): "" when there is none. The next run
// recovers it first (resumes its restarts, or rolls it back); a status that
// reads the files (ca rotate --status) says so beside what the files hold.
func Unfinished(stateDir string) string {
	recs, err := lastRun(filepath.Join(stateDir, "rescue.journal"))
	if err != nil {
		return ""
	}
	st := summarise(recs)
	if st.run == "" || st.ended {
		return ""
	}
	switch {
	case st.deployStart == nil:
		return st.run + " (stopped before changing anything)"
	case st.deployDone:
		return st.run + " (deployed; its restarts did not all finish: the next run resumes them)"
	}
	return st.run + " (stopped once its deploy had begun: the next run resumes its restarts if every file is in place, else rolls it back)"
}
