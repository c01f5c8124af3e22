package rescue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/reload"
)

// graceRecorder is a recorder that also records the stop grace it was given.
type graceRecorder struct {
	recorder
	graces map[string]time.Duration
}

func (g *graceRecorder) RestartGrace(ctx context.Context, c string, grace time.Duration) error {
	g.mu.Lock()
	if g.graces == nil {
		g.graces = map[string]time.Duration{}
	}
	g.graces[c] = grace
	g.mu.Unlock()
	return g.Restart(ctx, c)
}

// notTakenUp fails as a component still serving its old certificate.
type notTakenUp struct{}

func (notTakenUp) Check(context.Context) error {
	return fmt.Errorf("%w: serves the old one", health.ErrNotTakenUp)
}

// reloadGates stands in for health.ReloadGate, whose real probes run against
// the real components in test/reload: each gate passes, but those of the
// components in stale, which keep their old credential.
func reloadGates(stale ...string) func(reload.Take) (health.Gate, bool, error) {
	return func(t reload.Take) (health.Gate, bool, error) {
		var p health.Probe = up{}
		if slices.Contains(stale, t.Component) {
			p = notTakenUp{}
		}
		return health.Gate{Component: t.Component, Name: t.Component + " " + t.Entry.What, Timeout: 3 * time.Second, Probe: p}, true, nil
	}
}

func restartsAndReloads(events []Event) (restarts, reloads []string) {
	for _, e := range events {
		if e.Status != EventOK || e.Action != "" {
			continue
		}
		switch e.Step {
		case "restart":
			restarts = append(restarts, e.Component)
		case "reload":
			if !slices.Contains(reloads, e.Component) {
				reloads = append(reloads, e.Component)
			}
		}
	}
	return restarts, reloads
}

func TestAnExpiredPlaneRestartsOnlyWhatCannotReloadWithAShortGrace(t *testing.T) {
	root := node(t, true)
	rec := &graceRecorder{}
	var events []Event
	o := options(root, &rec.recorder, &events)
	o.Restarter, o.ReloadGate = rec, reloadGates()
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("%q: %v", rep.Result, err)
	}
	restarts, reloads := restartsAndReloads(events)
	want := []string{layout.KubeControllerManager, layout.KubeScheduler, layout.Kubelet}
	// One dependency level: restarted in parallel, in any order.
	if !slices.Equal(sorted(rec.calls), want) || !slices.Equal(sorted(restarts), want) || !slices.Equal(rep.Components, want) {
		t.Errorf("restarted %v (events %v, report %v), want %v; why: %v", rec.calls, restarts, rep.Components, want, rep.Decision.Why)
	}
	if !slices.Equal(reloads, []string{layout.Etcd, layout.KubeAPIServer}) || !slices.Equal(rep.Reloaded, reloads) {
		t.Errorf("reloaded %v (report %v), want etcd and kube-apiserver", reloads, rep.Reloaded)
	}
	for _, c := range want {
		if rec.graces[c] != DefaultExpiredGrace {
			t.Errorf("%s stopped with grace %s, want %s (expired: it cannot work anyway)", c, rec.graces[c], DefaultExpiredGrace)
		}
	}
	plan := eventDetail(events, "plan", EventOK)
	if !strings.Contains(plan, "taken up without a restart: etcd (server certificate, peer certificate)") ||
		!strings.Contains(plan, "stop grace 1s (its certificates expired") {
		t.Errorf("the plan does not say what is reloaded and how it stops: %s", plan)
	}
}

func TestAPlannedRenewalStopsWithTheNormalPeriod(t *testing.T) {
	root := node(t, false)
	rec := &graceRecorder{}
	var events []Event
	o := options(root, &rec.recorder, &events)
	o.Restarter, o.ReloadGate, o.All = rec, reloadGates(), true
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(rec.graces) != 0 || len(rec.calls) == 0 {
		t.Errorf("graces %v for restarts %v: a planned renewal keeps the normal stop period", rec.graces, rec.calls)
	}
	if plan := eventDetail(events, "plan", EventOK); !strings.Contains(plan, "a planned renewal: the normal stop period") {
		t.Errorf("plan: %s", plan)
	}
}

func TestAComponentThatKeepsItsOldCertificateIsRestarted(t *testing.T) {
	root := node(t, true)
	rec := &recorder{}
	var events []Event
	o := options(root, rec, &events)
	o.ReloadGate = reloadGates(layout.Etcd)
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("%q: %v", rep.Result, err)
	}
	if len(rec.calls) != 4 || rec.calls[0] != layout.Etcd || !slices.Equal(sorted(rec.calls[1:]), []string{layout.KubeControllerManager, layout.KubeScheduler, layout.Kubelet}) {
		t.Errorf("restarts %v, want etcd (which kept its old certificate) first", rec.calls)
	}
	if d := eventDetail(events, "reload", EventSkip); !strings.Contains(d, "etcd did not take up its server certificate") {
		t.Errorf("no event says why etcd was restarted: %q", d)
	}
}

func TestARollbackRestartsOnlyWhatTheRestoredFilesNeed(t *testing.T) {
	root := node(t, false)
	before := files(t, root)
	rec := &recorder{}
	var events []Event
	o := options(root, rec, &events)
	o.All, o.ReloadGate, o.BeforeDeploy = true, reloadGates(), breakAPIServerSANs(t, root)
	rep, err := Run(context.Background(), o)
	if rep.Result != ResultRolledBack || err == nil {
		t.Fatalf("%q: %v", rep.Result, err)
	}
	if len(rec.calls) != 0 {
		t.Errorf("restarts %v: the API server failed before anything was restarted, and it reloads the restored files itself", rec.calls)
	}
	if !mapsEqual(before, files(t, root)) {
		t.Error("the rollback did not restore every file")
	}
	identicalToBackup(t, root, rep.Backup.Path)
}

func eventDetail(events []Event, step, status string) string {
	var out []string
	for _, e := range events {
		if e.Step == step && e.Status == status && e.Detail != "" {
			out = append(out, e.Detail)
		}
	}
	return strings.Join(out, "\n")
}

// sorted is a sorted copy (kube-controller-manager < kube-scheduler < kubelet).
func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

// down fails as a component that is not running.
type down struct{}

func (down) Check(context.Context) error {
	return errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")
}

func TestAComponentThatIsNotRunningIsRestartedNotRolledBack(t *testing.T) {
	root := node(t, true)
	rec := &recorder{}
	o := options(root, rec, nil)
	o.ReloadGate = func(tk reload.Take) (health.Gate, bool, error) {
		g, ok, err := reloadGates()(tk)
		if tk.Component == layout.KubeAPIServer && tk.Entry.Proof == reload.ProofServed {
			g.Probe = down{} // its serving certificate's port: nothing listens
		}
		return g, ok, err
	}
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("%q: %v", rep.Result, err)
	}
	if len(rec.calls) == 0 || rec.calls[0] != layout.KubeAPIServer {
		t.Errorf("restarts %v, want the API server (not running) restarted first", rec.calls)
	}
}

func TestAReloadedComponentNotHealthySoonIsRestarted(t *testing.T) {
	root := node(t, true)
	rec := &recorder{}
	var events []Event
	o := options(root, rec, &events)
	o.ReloadGate = reloadGates()
	// etcd's own gate fails until etcd is restarted (a long reconnect back-off).
	o.Gates[layout.Etcd] = []health.Gate{{Component: layout.Etcd, Name: "etcd health", Timeout: time.Minute, Probe: afterRestart{rec: rec, c: layout.Etcd}}}
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("%q: %v", rep.Result, err)
	}
	if len(rec.calls) == 0 || rec.calls[0] != layout.Etcd {
		t.Errorf("restarts %v, want etcd first", rec.calls)
	}
	if d := eventDetail(events, "reload", EventSkip); !strings.Contains(d, "etcd took its renewed credentials up but is not healthy within 15s") {
		t.Errorf("no event says why etcd was restarted: %q", d)
	}
}

// afterRestart passes once the recorder restarted c.
type afterRestart struct {
	rec *recorder
	c   string
}

func (a afterRestart) Check(context.Context) error {
	a.rec.mu.Lock()
	defer a.rec.mu.Unlock()
	if slices.Contains(a.rec.calls, a.c) {
		return nil
	}
	return errors.New("not healthy yet")
}
