package rescue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/restart"
)

func TestAComponentWithoutAGateIsRestartedNotVerified(t *testing.T) {
	root := node(t, true)
	rec := &recorder{}
	var events []Event
	o := options(root, rec, &events)
	delete(o.Gates, layout.Kubelet)
	delete(o.Gates, layout.KubeScheduler)
	rep, err := Run(context.Background(), o)
	if !errors.Is(err, ErrUnverified) || rep.Result != ResultRestartedUnverified {
		t.Fatalf("result %q, err %v; want %s", rep.Result, err, ResultRestartedUnverified)
	}
	if !strings.Contains(err.Error(), "kube-scheduler, kubelet had no health gate") {
		t.Errorf("err = %v", err)
	}
	if len(rec.calls) != len(layout.RestartOrder) {
		t.Errorf("restarted %v", rec.calls)
	}
	if err := allRenewed(root); err != nil {
		t.Error(err)
	}
	var done Event
	for _, e := range events {
		if e.Step == "done" {
			done = e
		}
	}
	if done.Status == EventOK || !strings.Contains(done.Detail, "NOT verified: kube-scheduler, kubelet") {
		t.Errorf("done event %+v", done)
	}
	recs, err := lastRun(filepath.Join(root, StateDir, "rescue.journal"))
	if err != nil || recs[len(recs)-1].Result != ResultRestartedUnverified {
		t.Errorf("journal ends %+v, %v", recs[len(recs)-1], err)
	}
	// The run is finished: a second one has nothing to do.
	if rep, err := Run(context.Background(), options(root, &recorder{}, nil)); err != nil || rep.Result != ResultNothingToDo {
		t.Errorf("second run: %q %v", rep.Result, err)
	}
}

// TestDryRunChecksWhatTheRunNeeds runs the dry run with the auto strategy
// and the real exec.LookPath over a PATH the test sets: without crictl and
// systemctl on it the dry run fails saying so; with them it passes. A gate
// that cannot read its credentials fails it too. Nothing changes either way.
func TestDryRunChecksWhatTheRunNeeds(t *testing.T) {
	root := node(t, true)
	before := files(t, root)
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	r := inventory.NewReader(root)
	comps, _ := r.Components()
	comps = append(comps, inventory.Component{Name: layout.Kubelet, Origin: "/usr/lib/systemd/system/kubelet.service", Unit: "kubelet.service"})
	auto := restart.AutoRestarter{Targets: restart.Targets(comps, nil)}
	run := func(o Options) error {
		o.DryRun = true
		o.Restarter = auto
		_, err := Run(context.Background(), o)
		return err
	}
	o := options(root, &recorder{}, nil)
	err := run(o)
	if err == nil || !strings.Contains(err.Error(), "needs crictl") || !strings.Contains(err.Error(), "needs systemctl") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("dry run without crictl and systemctl: %v", err)
	}
	for _, prog := range []string{"crictl", "systemctl"} {
		if err := os.WriteFile(filepath.Join(bin, prog), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(o); err != nil {
		t.Fatalf("dry run with both: %v", err)
	}
	o.Gates[layout.Etcd][0].Ready = func() error {
		return errors.New("read /etc/kubernetes/pki/etcd/healthcheck-client.key: permission denied")
	}
	err = run(o)
	var ge *GateError
	if err == nil || !strings.Contains(err.Error(), "health gate etcd certificate cannot read what it needs") || !errors.As(err, &ge) || ge.Component != layout.Etcd {
		t.Fatalf("dry run with an unreadable gate credential: %v", err)
	}
	if after := files(t, root); !mapsEqual(before, after) {
		t.Error("the dry runs changed files")
	}
}

// TestGatesForTheRescuedNodeComeFromItsManifests checks the wiring the
// command layer uses: health.ForNode on the node's inventory gives every
// restarted component of a kubeadm node a gate, the kubelet's included.
func TestGatesForTheRescuedNodeComeFromItsManifests(t *testing.T) {
	root := node(t, true)
	gates, notes := health.ForNode(inventory.NewReader(root), health.Options{Clock: clock.Fixed(epoch)})
	for _, c := range layout.RestartOrder {
		if len(gates[c]) == 0 {
			t.Errorf("no gate for %s: %v", c, notes)
		}
	}
}
