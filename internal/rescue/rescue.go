package rescue

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/deploy"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/restart"
)

// StateDir is where the lock and the journal live, as a node path.
const StateDir = "/var/lib/certrescue"

// DefaultWithin is how close to expiry a certificate must be for a rescue to
// renew it without --all.
const DefaultWithin = 30 * 24 * time.Hour

// Results of a run.
const (
	ResultOK            = "ok"             // renewed, restarted, every gate passed
	ResultNothingToDo   = "nothing-to-do"  // nothing expired or expiring
	ResultDryRun        = "dry-run"        // planned only
	ResultManualRestart = "manual-restart" // renewed; the operator restarts (--restart none)
	ResultRolledBack    = "rolled-back"    // a step failed; the backup is back in place
	ResultFailed        = "failed"         // failed, and the rollback did not fully recover either
	// ResultStillCritical: renewed (and restarted, unless --restart none),
	// but check still finds something critical in the renewed set; the
	// report's Critical says what.
	ResultStillCritical = "renewed-still-critical"
)

// Options of a rescue.
type Options struct {
	Root      string
	Roles     []layout.Role   // layout.Kubeadm when nil
	Renew     renewal.Options // validity, SANs, key rotation; the rest is filled in
	All       bool            // renew everything, not only what is due
	Within    time.Duration   // due = expired or expiring within this; DefaultWithin when 0
	DryRun    bool
	BackupDir string // real path of the backups directory
	// BackupPaths are node paths or globs backed up beside what the plan
	// changes and relies on (backup.PathsFor); backup.DefaultPaths when nil.
	BackupPaths []string
	// Scan finds the node's credentials as check does, for the check of the
	// renewed set and the backup's trust files; DefaultScanner(Root) when nil.
	Scan      Scanner
	StateDir  string // real path of the lock and journal directory
	Restarter restart.Restarter
	Manual    bool // --restart none: print what to restart, no gates
	Gates     map[string][]health.Gate
	// Clock is "now" for certificates: what is due, validity windows, backup
	// and run names. Required.
	Clock clock.Clock
	// Wall times the steps and bounds and paces the gates, which measure
	// real processes: the command layer passes clock.Real even when Clock
	// stands at another instant. Clock when nil.
	Wall    clock.Clock
	Backoff health.Backoff
	Events  func(Event)

	// ReloadGate builds the gate that proves a component took up a renewed
	// credential without a restart (health.ReloadGate on the node's
	// components). When nil, every component a renewal touches is restarted,
	// as before the reload table.
	ReloadGate func(reload.Take) (health.Gate, bool, error)
	// Components are the node's components as the inventory found them, for
	// reload.Decide; read from Root when nil.
	Components []inventory.Component
	// StopGrace bounds every restart's stop when StopGraceSet (--stop-grace);
	// otherwise a component that cannot work anyway (its credentials, or
	// those of a component it needs, expired) gets ExpiredGrace
	// (DefaultExpiredGrace when 0) and the others their normal period.
	StopGrace    time.Duration
	StopGraceSet bool
	ExpiredGrace time.Duration

	// Txn journals the deploy (nodefs.Txn) so that a crash inside it is
	// finished or abandoned by the next command, whatever it is.
	Txn *nodefs.Txn
	// Intent records the plan in the audit log once every file is staged and
	// before the first one is replaced; an error abandons the deploy and
	// nothing changes. Without it the renewals are only reported (Events)
	// after the deploy.
	Intent func(*renewal.Plan) error

	// AfterStep is called at every step boundary with the step's name (tests
	// kill the process there).
	AfterStep func(step string)
	// BeforeDeploy may change the plan's files before they are deployed
	// (tests break a certificate on purpose).
	BeforeDeploy func(*renewal.Plan)

	// CAs are CA names (FindCA) renewed on their own keys whatever their
	// expiry; due CAs are renewed anyway (carenew.go). CAOnly renews those
	// and no leaf (certrescue ca renew). CAValidity is the renewed CAs'
	// lifetime (carenewal.DefaultValidity when 0).
	CAs        []string
	CAOnly     bool
	CAValidity time.Duration
	// Imported are CA certificates renewed on another node (ca apply): each
	// replaces this node's certificate of the same CA (subject and key) in
	// every trust consumer; implies CAOnly.
	Imported []*x509.Certificate
	// Due, when set, decides instead of Within which certificates are due
	// at now (renew --auto: a share of each one's lifetime); DueRule says
	// its rule in words for the check step ("with less than a third of its
	// lifetime left").
	Due     func(c *x509.Certificate, now time.Time) bool
	DueRule string
	// Planner, when set, computes the plan in place of the renewal
	// (planner.go: ca rotate's phases).
	Planner Planner
	// ExpectedAnchors are CA certificates the recheck expects in trust
	// bundles besides the node's CAs: a rotation's new CAs.
	ExpectedAnchors []*x509.Certificate
}

// Event is one step of a rescue, for progress output and the audit log.
type Event struct {
	Step      string // check, lock, recover, plan, backup, deploy, restart, gate, rollback, done
	Component string
	Status    string // start, ok, fail, skip
	Detail    string
	Took      time.Duration
	Err       error
	Plan      *renewal.Plan // on the plan step's ok event
	// Decision is on the plan step's ok event: what restarts, what is taken
	// up without a restart.
	Decision *reload.Decision
	Critical []Left // on the plan step's ok event: what the renewal leaves critical
	// Audit fields: set when the step changed something.
	Action   facts.Action
	Name     string
	Path     string
	Cert     *x509.Certificate
	Previous *x509.Certificate
}

// Event statuses.
const (
	EventStart = "start"
	EventOK    = "ok"
	EventFail  = "fail"
	EventSkip  = "skip"
)

// Report is what a rescue did.
type Report struct {
	Run        string
	Result     string
	Due        []renewal.Current // what check found expired or expiring
	Plan       *renewal.Plan
	Backup     *backup.Info
	Components []string // restarted (or to restart, for --restart none), in order
	// Reloaded are the components that took up renewed credentials without
	// a restart, in order.
	Reloaded []string
	// Decision is what the plan restarts and what it lets components take up
	// by themselves (reload table), with the reasons.
	Decision  reload.Decision
	Recovered string // what was done about an unfinished previous run
	Failure   error  // what failed, when rolled back
	// Critical are the critical findings check still makes on the renewed
	// set (computed before deploying, shown in the plan). When any is left
	// the run ends ResultStillCritical (unless it rolled back or failed).
	Critical []Left
	Took     time.Duration
}

type runner struct {
	o     Options
	ctx   context.Context
	j     *journal
	rep   *Report
	items []inventory.Item // the node's credentials as check found them before deploying
	// rotate are the roles whose certificate and key are of different
	// generations: renewed with a new key.
	rotate []string

	decision  reload.Decision
	restarted []string        // restarted in this run so far, in order
	expired   map[string]bool // components that cannot work anyway
	mu        sync.Mutex      // restarted and rep.Components, written by parallel steps
	// reloadGates are the decision's reload gates, built before the deploy.
	reloadGates map[string]reloadGate
	emitMu      sync.Mutex
}

// now is the certificates' "now"; wall is the steps' and gates' clock.
func (r *runner) now() time.Time { return r.o.Clock.Now() }

func (r *runner) emit(e Event) {
	if r.o.Events != nil {
		r.emitMu.Lock() // components of one dependency level restart in parallel
		defer r.emitMu.Unlock()
		r.o.Events(e)
	}
}

func (r *runner) boundary(step string) {
	if r.o.AfterStep != nil {
		r.o.AfterStep(step)
	}
}

// timed runs f as one step, emitting its start and end.
func (r *runner) timed(step, component string, f func() (string, error)) error {
	r.emit(Event{Step: step, Component: component, Status: EventStart})
	t0 := r.o.Wall.Now()
	detail, err := f()
	e := Event{Step: step, Component: component, Status: EventOK, Detail: detail, Took: r.o.Wall.Now().Sub(t0), Err: err}
	if step == "plan" {
		e.Plan, e.Critical, e.Decision = r.rep.Plan, r.rep.Critical, &r.rep.Decision
	}
	if err != nil {
		e.Status = EventFail
	}
	r.emit(e)
	return err
}

// Run performs a rescue: check, lock, recover an unfinished previous run,
// plan, back up, deploy, restart in order with a health gate after each, and
// roll everything back when a restart or a gate fails. The error is non-nil
// for every result but ok, nothing-to-do, dry-run and manual-restart; it
// wraps ErrStillCritical for ResultStillCritical. A dry run's report carries
// the same Critical findings as the run would (the error stays nil).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Roles == nil {
		o.Roles = layout.Kubeadm
	}
	if o.Within == 0 {
		o.Within = DefaultWithin
	}
	if o.Backoff == (health.Backoff{}) {
		o.Backoff = health.DefaultBackoff
	}
	if o.Restarter == nil {
		o.Restarter, o.Manual = restart.NoneRestarter{}, true
	}
	if o.Clock == nil {
		return nil, errors.New("rescue: Options.Clock is nil (the certificates' clock)")
	}
	if o.Wall == nil {
		o.Wall = o.Clock
	}
	r := &runner{o: o, ctx: ctx, rep: &Report{}}
	start := r.o.Wall.Now()
	r.rep.Run = "rescue-" + r.now().UTC().Format("20060102T150405.000Z")
	defer func() { r.rep.Took = r.o.Wall.Now().Sub(start) }()

	var names []string
	if err := r.timed("check", "", func() (string, error) {
		var err error
		names, err = r.check()
		if err != nil {
			return "", err
		}
		if o.All {
			return fmt.Sprintf("%d due; --all renews every certificate", len(r.rep.Due)), nil
		}
		if o.Due != nil {
			return fmt.Sprintf("%d due (expired, or %s)", len(r.rep.Due), o.DueRule), nil
		}
		return fmt.Sprintf("%d expired or expiring within %s", len(r.rep.Due), human(o.Within)), nil
	}); err != nil {
		return r.rep, err
	}

	if o.DryRun {
		if recs, err := lastRun(filepath.Join(o.StateDir, "rescue.journal")); err == nil {
			if st := summarise(recs); st.run != "" && !st.ended {
				r.emit(Event{Step: "recover", Status: EventSkip, Detail: fmt.Sprintf("previous run %s did not finish; a real run recovers it first (resume or roll back)", st.run)})
			}
		}
	}
	if !o.DryRun {
		var l *lock
		if err := r.timed("lock", "", func() (string, error) {
			var err error
			l, err = takeLock(filepath.Join(o.StateDir, "rescue.lock"))
			return filepath.Join(o.StateDir, "rescue.lock"), err
		}); err != nil {
			return r.rep, err
		}
		defer l.release()
		r.boundary("locked")
		j, err := openJournal(filepath.Join(o.StateDir, "rescue.journal"), r.rep.Run, r.now)
		if err != nil {
			return r.rep, err
		}
		defer j.close()
		r.j = j
		done, err := r.recoverPrevious()
		if done || err != nil {
			return r.rep, err
		}
		if r.rep.Recovered != "" {
			// The recovery may have restored files: check again.
			r.rep.Due, r.rotate = nil, nil
			if names, err = r.check(); err != nil {
				return r.rep, err
			}
		}
	}

	if o.Planner != nil {
		return r.rep, r.planned(o.Planner)
	}
	if o.CAOnly || len(o.Imported) > 0 {
		names = nil
		r.o.Imported = r.pendingImports()
	}
	dueCAs, caWhy, err := r.dueCAs(names)
	if err != nil {
		return r.rep, err
	}
	if len(names) == 0 && !o.All && len(dueCAs) == 0 && len(r.o.Imported) == 0 {
		r.rep.Result = ResultNothingToDo
		r.emit(Event{Step: "done", Status: EventOK, Detail: "nothing expired or expiring: nothing to do"})
		return r.rep, nil
	}
	var plan *renewal.Plan
	if err := r.timed("plan", "", func() (string, error) {
		ro := o.Renew
		ro.Root, ro.Roles, ro.Now, ro.Names = o.Root, o.Roles, r.now(), names
		ro.RotateFor = append(ro.RotateFor, r.rotate...)
		rns, err := r.renewCAs(dueCAs, names)
		if err != nil {
			return "", err
		}
		ro.CAs = signers(rns)
		if o.CAOnly || len(o.Imported) > 0 {
			plan = &renewal.Plan{Now: r.now()}
		} else if plan, err = renewal.Prepare(ro); err != nil {
			return "", err
		}
		if err := MergeCARenewals(o.Root, plan, rns, r.consumers); err != nil {
			return "", err
		}
		r.setPlan(plan)
		if err := r.recheck(plan); err != nil {
			return "", err
		}
		if err := r.preflight(r.decision.Components()); err != nil {
			return "", err
		}
		detail := fmt.Sprintf("%d certificates, %d files; %s", len(plan.Items), len(plan.Files()), planDetail(r.decision))
		detail += r.restartDetail()
		if len(caWhy) > 0 {
			detail += "; CA renewed on its key first (" + strings.Join(caWhy, "; ") + ")"
		}
		if len(r.o.Imported) > 0 {
			detail += "; CA certificates renewed on another node: " + adoptedNames(rns)
		}
		if len(r.rep.Critical) > 0 {
			detail += "; " + summary(r.rep.Critical)
		}
		return detail, nil
	}); err != nil {
		return r.rep, err
	}
	if o.DryRun {
		r.rep.Result = ResultDryRun
		r.emit(Event{Step: "done", Status: EventOK, Detail: "dry run: nothing was changed"})
		return r.rep, nil
	}
	err = r.apply(plan)
	return r.rep, r.stillCritical(err)
}

// stillCritical turns a run that renewed everything into
// ResultStillCritical when check still finds something critical in the
// renewed set: the components were restarted on the renewed files as usual
// (better than expired), but the run does not report ok. A run that rolled
// back or failed keeps its result: the renewed files are gone.
func (r *runner) stillCritical(err error) error {
	switch {
	case len(r.rep.Critical) == 0, r.rep.Result == ResultRolledBack, r.rep.Result == ResultFailed, r.rep.Result == "":
		return err
	}
	was := r.rep.Result
	r.rep.Result = ResultStillCritical
	detail := "renewed, still critical: " + summary(r.rep.Critical)
	if was == ResultManualRestart {
		detail += "; restart " + strings.Join(r.rep.Components, ", ") + " yourself, in that order"
	}
	_ = r.j.write(record{Step: stepCheck, Status: statusFail, Result: ResultStillCritical, Error: summary(r.rep.Critical)})
	r.emit(Event{Step: "done", Status: EventFail, Detail: detail})
	sc := fmt.Errorf("%w: %s", ErrStillCritical, summary(r.rep.Critical))
	if err != nil {
		return errors.Join(sc, err) // restarted but not verified, for instance
	}
	return sc
}

// ErrUnreadable means a credential rescue must renew cannot be read or
// parsed: nothing was changed; fix or restore it first (the command layer
// names the backups).
var ErrUnreadable = errors.New("a credential cannot be read; fix or restore it first")

// check returns the names of the renewable roles that are due.
func (r *runner) check() ([]string, error) {
	var names []string
	for _, c := range renewal.Inspect(r.o.Root, r.o.Roles) {
		switch {
		case errors.Is(c.Err, renewal.ErrNotOnNode):
			continue
		case c.Err != nil:
			return nil, fmt.Errorf("check: %w: %w", ErrUnreadable, c.Err)
		case r.isDue(c.Cert):
			r.rep.Due = append(r.rep.Due, c)
			names = append(names, c.Role.Name)
			if c.KeyMismatch {
				r.rotate = append(r.rotate, c.Role.Name)
			}
		case renewal.NeedsFix(c):
			// The field guide's sed: a kubeconfig holding another
			// credential's certificate is fixed whatever its expiry.
			r.rep.Due = append(r.rep.Due, c)
			names = append(names, c.Role.Name)
		case c.KeyMismatch:
			// A certificate beside a key of another generation (an
			// interrupted tool, a file copied by hand): a new pair.
			r.rep.Due = append(r.rep.Due, c)
			names = append(names, c.Role.Name)
			r.rotate = append(r.rotate, c.Role.Name)
		}
	}
	if r.o.All {
		return nil, nil // renewal.Prepare renews every renewable role present
	}
	return names, nil
}

// apply backs up, deploys and restarts.
func (r *runner) apply(plan *renewal.Plan) error {
	if err := r.j.write(record{Step: stepBegin}); err != nil {
		return err
	}
	var info *backup.Info
	if err := r.timed("backup", "", func() (string, error) {
		var err error
		info, err = TakeBackup(r.o.Root, plan, r.o.Roles, r.items, r.o.BackupPaths, r.o.BackupDir, r.now())
		if info != nil && err == nil {
			r.rep.Backup = info
		}
		if err != nil {
			return "", fmt.Errorf("%w; nothing was changed", err)
		}
		return fmt.Sprintf("%s, %d files (every one of the %d the renewal replaces)", info.Path, info.Manifest.Files(), len(plan.Files())), nil
	}); err != nil {
		_ = r.j.write(record{Step: stepEnd, Result: "abandoned", Error: err.Error()})
		return err
	}
	r.emit(Event{Step: "backup", Status: EventOK, Action: facts.ActionBackup, Name: info.ID, Path: info.Path})
	if err := r.j.write(record{Step: stepBackup, Status: statusDone, Backup: info.Path}); err != nil {
		return err
	}
	r.boundary("backed-up")

	if r.o.BeforeDeploy != nil {
		r.o.BeforeDeploy(plan)
	}
	files := plan.Files()
	hashes := make([]deploy.Written, 0, len(files))
	for _, f := range files {
		hashes = append(hashes, deploy.Written{Path: f.Path, SHA256: sha(f.Data)})
	}
	if err := r.j.write(record{Step: stepDeploy, Status: statusStart, Files: hashes, Components: plan.Components()}); err != nil {
		return err
	}
	r.boundary("deploy-started")
	intentOnRecord := false
	err := r.timed("deploy", "", func() (string, error) {
		_, err := deploy.Apply(files, deploy.Options{Root: r.o.Root, Txn: r.o.Txn, Context: r.ctx,
			BeforeCommit: func() error {
				if r.o.Intent == nil {
					return nil
				}
				if err := r.o.Intent(plan); err != nil {
					return err
				}
				intentOnRecord = true
				return nil
			},
			AfterRename: func(p string) { r.boundary("renamed " + p) }})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d files replaced atomically", len(files)), nil
	})
	for _, it := range plan.Items {
		if it.SharedWith == "" && (!intentOnRecord || err != nil) {
			r.emit(Event{Step: "deploy", Status: statusOf(err), Action: facts.ActionRenew, Name: it.Role.Name, Path: it.Path, Cert: it.New, Previous: it.Old, Err: err})
		}
	}
	if err != nil {
		return r.rollback(info.Path, nil, nil, fmt.Errorf("deploy: %w", err)) // nothing restarted yet
	}
	for _, f := range files {
		r.emit(Event{Step: "deploy", Status: EventOK, Action: facts.ActionDeploy, Name: f.Path, Path: f.Path})
	}
	if err := r.j.write(record{Step: stepDeploy, Status: statusDone}); err != nil {
		return err
	}
	r.boundary("deployed")
	return r.rollout(r.decision, info.Path)
}

func statusOf(err error) string {
	if err != nil {
		return EventFail
	}
	return EventOK
}

func human(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
