package rescue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/restart"
)

// ReloadHealthy is how long a component that took its renewed credentials up
// by itself may take to pass its own gates before it is restarted instead.
const ReloadHealthy = 15 * time.Second

// DefaultExpiredGrace is the stop grace of a component that cannot work
// anyway (its certificates, or those of a component it needs, expired).
const DefaultExpiredGrace = time.Second

// reloadItems are the plan's items as reload.Decide reads them.
func reloadItems(plan *renewal.Plan) []reload.Item {
	var out []reload.Item
	for _, it := range plan.Items {
		ri := reload.Item{Role: it.Role.Name, Components: it.Role.Components}
		for _, p := range []string{it.Path, it.Role.CertPath, it.Role.KeyPath, it.Role.PubPath} {
			if p != "" && !slices.Contains(ri.Paths, p) {
				ri.Paths = append(ri.Paths, p)
			}
		}
		for _, f := range it.Files {
			if !slices.Contains(ri.Paths, f.Path) {
				ri.Paths = append(ri.Paths, f.Path)
			}
		}
		if it.Role.Kind == layout.KindKubeconfig {
			ri.Kubeconfig = reload.Files
			for _, f := range it.Files {
				if f.Path != it.Path {
					continue
				}
				if kc, err := kubeconfig.Parse(f.Data, "", nil); err != nil || kc.ClientCert.Embedded {
					ri.Kubeconfig = reload.Embedded // unparsable: the conservative answer
				}
			}
		}
		out = append(out, ri)
	}
	return out
}

// decide says what the plan restarts and what is taken up without a
// restart: the reload table when Options.ReloadGate can prove it, every
// component otherwise.
func (r *runner) decide(plan *renewal.Plan) reload.Decision {
	items := reloadItems(plan)
	if r.o.ReloadGate == nil || r.o.Manual {
		// No gate proves a reload (--restart none runs none): the operator
		// restarts every component the renewal touches, as before the table.
		return reload.All(items)
	}
	comps := r.o.Components
	if comps == nil {
		comps, _ = inventory.NewReader(r.o.Root).Components()
	}
	d := reload.Decide(items, comps)
	// A take whose gate cannot be built restarts its component instead. The
	// gates are built now, before the deploy, like the components' own: the
	// server name they check is the one of the certificate clients know.
	var keep []reload.Take
	r.reloadGates = map[string]reloadGate{}
	for _, t := range d.Takes {
		if slices.Contains(d.Restart, t.Component) {
			continue
		}
		g, ok, err := r.o.ReloadGate(t)
		if err == nil {
			r.reloadGates[takeKey(t)] = reloadGate{g, ok}
		}
		if err != nil {
			d.Restart = append(d.Restart, t.Component)
			d.Why[t.Component] = fmt.Sprintf("%s: no gate can prove it reloaded: %v", t.Role, err)
			continue
		}
		keep = append(keep, t)
	}
	var ordered []string
	for _, c := range layout.RestartOrder {
		if slices.Contains(d.Restart, c) {
			ordered = append(ordered, c)
		}
	}
	d.Restart = ordered
	d.Takes = nil
	for _, t := range keep {
		if !slices.Contains(d.Restart, t.Component) {
			d.Takes = append(d.Takes, t)
		}
	}
	return d
}

// reloadGate is a take's gate as built before the deploy.
type reloadGate struct {
	g  health.Gate
	ok bool
}

func takeKey(t reload.Take) string { return t.Component + "/" + t.Flag }

func (r *runner) reloadGate(t reload.Take) (health.Gate, bool, error) {
	if rg, found := r.reloadGates[takeKey(t)]; found {
		return rg.g, rg.ok, nil
	}
	return r.o.ReloadGate(t)
}

// expiredComponents are the components that cannot work anyway: one of
// their due credentials has expired, or one of a component they need
// (etcd for the API server, the API server for the rest).
func (r *runner) expiredComponents() map[string]bool {
	out := map[string]bool{}
	now := r.now()
	for _, c := range r.rep.Due {
		if c.Cert != nil && now.After(c.Cert.NotAfter) {
			for _, comp := range c.Role.Components {
				out[comp] = true
			}
		}
	}
	if out[layout.Etcd] {
		out[layout.KubeAPIServer] = true
	}
	if out[layout.KubeAPIServer] {
		for _, c := range []string{layout.KubeControllerManager, layout.KubeScheduler, layout.Kubelet} {
			out[c] = true
		}
	}
	return out
}

// grace is the stop grace of c and why (-1: the restarter's normal period).
func (r *runner) grace(c string) (time.Duration, string) {
	switch {
	case r.o.StopGraceSet:
		return r.o.StopGrace, "--stop-grace"
	case r.expired[c]:
		g := r.o.ExpiredGrace
		if g == 0 {
			g = DefaultExpiredGrace
		}
		return g, "its certificates expired: it cannot work anyway"
	}
	return -1, "a planned renewal: the normal stop period"
}

func (r *runner) graceDetail(c string) string {
	g, why := r.grace(c)
	if g < 0 {
		return "stop: " + why
	}
	return fmt.Sprintf("stop grace %s (%s)", g, why)
}

// restartDetail says, for the plan, why each component restarts (when the
// reload table decided) and how it is stopped (unless the operator restarts).
func (r *runner) restartDetail() string {
	if r.o.Manual {
		return ""
	}
	out := ""
	for _, c := range r.decision.Restart {
		out += "; " + c + ": "
		if r.o.ReloadGate != nil {
			out += r.decision.Why[c] + ", "
		}
		out += r.graceDetail(c)
	}
	return out
}

// planDetail says what restarts and what is taken up without a restart.
func planDetail(d reload.Decision) string {
	var parts []string
	if len(d.Restart) > 0 {
		parts = append(parts, "restart "+strings.Join(d.Restart, ", "))
	} else {
		parts = append(parts, "no restart")
	}
	var rel []string
	for _, c := range d.Components() {
		if ts := d.Reloaded(c); len(ts) > 0 {
			rel = append(rel, c+" ("+strings.Join(credentials(ts), ", ")+")")
		}
	}
	if len(rel) > 0 {
		parts = append(parts, "taken up without a restart: "+strings.Join(rel, ", "))
	}
	return strings.Join(parts, "; ")
}

func credentials(ts []reload.Take) []string {
	var out []string
	for _, t := range ts {
		if !slices.Contains(out, t.Entry.What) {
			out = append(out, t.Entry.What)
		}
	}
	return out
}

// uniqueTakes keeps one take per table entry (a certificate and its key are
// one credential).
func uniqueTakes(ts []reload.Take) []reload.Take {
	var out []reload.Take
	seen := map[string]bool{}
	for _, t := range ts {
		k := t.Component + "/" + t.Entry.What
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

// Levels are the control plane's dependency levels: etcd; the API server
// (it needs etcd); the rest (each needs only the API server). A level's
// components are restarted and gated in parallel, the levels in order.
var Levels = [][]string{{layout.Etcd}, {layout.KubeAPIServer}, {layout.KubeControllerManager, layout.KubeScheduler, layout.Kubelet}}

// levelsOf groups components by Levels (unknown ones last, alone).
func levelsOf(components []string) [][]string {
	var out [][]string
	placed := map[string]bool{}
	for _, lv := range Levels {
		var this []string
		for _, c := range components {
			if slices.Contains(lv, c) {
				this = append(this, c)
				placed[c] = true
			}
		}
		if len(this) > 0 {
			out = append(out, this)
		}
	}
	for _, c := range components {
		if !placed[c] {
			out = append(out, []string{c})
		}
	}
	return out
}

// rollout restarts what the decision restarts and gates what it takes up,
// level by level in dependency order (the components of a level in
// parallel); a failure rolls back once the level's steps have ended.
func (r *runner) rollout(d reload.Decision, backupPath string) error {
	if r.o.Manual || len(d.Takes) == 0 {
		return r.restartAll(d.Restart, backupPath)
	}
	r.rep.Components = d.Restart
	for _, level := range levelsOf(d.Components()) {
		errs := make([]error, len(level))
		var wg sync.WaitGroup
		for i, c := range level {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if slices.Contains(d.Restart, c) {
					r.noteRestarted(c)
					errs[i] = r.restartOne(c)
				} else {
					errs[i] = r.reloadOne(r.ctx, c, d.Reloaded(c))
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err == nil {
				continue
			}
			if r.ctx.Err() != nil {
				return r.interrupted(level[i], d.Components(), backupPath, err)
			}
			return r.rollback(backupPath, r.restartedSoFar(), d.Components(), errors.Join(errs...))
		}
	}
	return r.finish(r.rep.Components)
}

func (r *runner) noteRestarted(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.restarted, c) {
		r.restarted = append(r.restarted, c)
	}
}

func (r *runner) restartedSoFar() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.restarted)
}

// reloadOne waits for c to take up each credential by itself, then for its
// own gates. A component that still uses an old credential once the table's
// time has passed is restarted instead (and reported so).
func (r *runner) reloadOne(ctx context.Context, c string, takes []reload.Take) error {
	fallback, err := r.proveReload(ctx, c, takes)
	if err != nil {
		return err
	}
	if !fallback {
		// Its own gates, for a while only: a component that took its files
		// up but is not healthy (an API server whose etcd client waits out
		// a long reconnect back-off after hours of expired certificates) is
		// restarted rather than waited for.
		err := r.gateWithin(ctx, c, ReloadHealthy)
		if err == nil {
			return nil
		}
		if health.IsPermanent(err) {
			return err
		}
		r.emit(Event{Step: "reload", Component: c, Status: EventSkip, Detail: fmt.Sprintf("%s took its renewed credentials up but is not healthy within %s: restarting it", c, ReloadHealthy)})
		fallback = true
	}
	if fallback {
		r.noteRestarted(c)
		r.mu.Lock()
		r.rep.Components = appendOrdered(r.rep.Components, c)
		r.mu.Unlock()
		return r.restartOne(c)
	}
	return r.gate(ctx, c)
}

// proveReload runs the reload gates of c's takes. fallback is true when c
// still uses an old credential after the table's time: restart it.
func (r *runner) proveReload(ctx context.Context, c string, takes []reload.Take) (fallback bool, err error) {
	for _, t := range uniqueTakes(takes) {
		g, ok, err := r.reloadGate(t)
		if err != nil {
			return false, fmt.Errorf("reload gate of %s: %w", c, err)
		}
		if !ok {
			continue // the component's own gates are the proof
		}
		r.emit(Event{Step: "reload", Component: c, Status: EventStart, Detail: g.Name})
		res := health.Wait(ctx, g, r.o.Wall, r.o.Backoff)
		r.emit(Event{Step: "reload", Component: c, Status: statusOf(res.Err), Took: res.Took, Err: res.Err,
			Detail: fmt.Sprintf("%s: %s (%s, measured within %s; %d attempts)", t.Entry.What, g.Name, t.Entry.Use, t.Entry.Within, res.Attempts)})
		if res.Err == nil {
			continue
		}
		// Still the old credential, or (for a served certificate) nothing
		// answering at all: a restart loads the files; a served file that
		// fails verification is the renewal's fault: roll back.
		if errors.Is(res.Err, health.ErrNotTakenUp) || t.Entry.Proof == reload.ProofServed && !health.IsPermanent(res.Err) {
			r.emit(Event{Step: "reload", Component: c, Status: EventSkip, Detail: fmt.Sprintf("%s did not take up its %s within %s: restarting it", c, t.Entry.What, g.Timeout)})
			return true, nil
		}
		return false, fmt.Errorf("reload gate of %s failed: %w", c, res.Err)
	}
	return false, nil
}

// reloadReady checks that every reload gate can read what it probes with.
func (r *runner) reloadReady() []error {
	if r.o.ReloadGate == nil {
		return nil
	}
	var errs []error
	for _, t := range uniqueTakes(r.decision.Takes) {
		g, ok, err := r.reloadGate(t)
		if err != nil || !ok || g.Ready == nil {
			continue
		}
		if err := g.Ready(); err != nil {
			errs = append(errs, &GateError{Gate: g.Name, Component: t.Component, Err: err})
		}
	}
	return errs
}

func appendOrdered(list []string, c string) []string {
	if slices.Contains(list, c) {
		return list
	}
	list = append(list, c)
	var out []string
	for _, o := range layout.RestartOrder {
		if slices.Contains(list, o) {
			out = append(out, o)
		}
	}
	for _, o := range list {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// gateWithin is gate with each gate's timeout capped at limit.
func (r *runner) gateWithin(ctx context.Context, c string, limit time.Duration) error {
	gates := r.o.Gates[c]
	if len(gates) == 0 {
		return r.gate(ctx, c)
	}
	for _, g := range gates {
		g.Timeout = min(g.Timeout, limit)
		r.emit(Event{Step: "gate", Component: c, Status: EventStart, Detail: g.Name})
		res := health.Wait(ctx, g, r.o.Wall, r.o.Backoff)
		r.emit(Event{Step: "gate", Component: c, Status: statusOf(res.Err), Detail: fmt.Sprintf("%s (%d attempts)", g.Name, res.Attempts), Took: res.Took, Err: res.Err})
		if res.Err != nil {
			return fmt.Errorf("health gate of %s failed: %w", c, res.Err)
		}
	}
	return nil
}

// restartWithGrace restarts c with its stop grace, after preparing its
// gates (the lease gate notes the old holder).
func (r *runner) restartWithGrace(ctx context.Context, c string, grace time.Duration) error {
	for _, g := range r.o.Gates[c] {
		if g.Prepare != nil {
			g.Prepare(ctx)
		}
	}
	return restart.RestartWith(ctx, r.o.Restarter, c, grace)
}

// restartedHooks runs the gates' Restarted hooks of c (the lease gate
// releases the stopped process's lease) and reports what they did.
func (r *runner) restartedHooks(ctx context.Context, c string) {
	for _, g := range r.o.Gates[c] {
		if g.Restarted == nil {
			continue
		}
		if note := g.Restarted(ctx); note != "" {
			r.emit(Event{Step: "gate", Component: c, Status: EventSkip, Detail: note})
		}
	}
}

// unverifiedOf are the restarted components without a gate.
func (r *runner) unverifiedOf(components []string) []string {
	var out []string
	for _, c := range components {
		if len(r.o.Gates[c]) == 0 {
			out = append(out, c)
		}
	}
	return out
}
