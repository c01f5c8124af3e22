package restart

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// Auto is the --restart value that picks, per component, the way the node
// starts it.
const Auto = "auto"

// Target is how the node starts one component, as its inventory found it.
type Target struct {
	Component string
	Strategy  string // StaticPod or Systemd
	Unit      string // the systemd unit, for Systemd
	Origin    string // node path of the manifest or unit
}

// Targets says how the node starts each component: a static pod manifest
// (kubeadm) is restarted as a static pod, a systemd unit (binary installs,
// the kubelet everywhere) with systemctl, and on a k3s or RKE2 server the
// API server (which certrescue restarts for every file of theirs) is the
// k3s.service or rke2-server.service that runs or supervises the whole
// control plane (RKE2's static pods included: its documented way to load new
// certificates is restarting rke2-server). A component found both ways keeps
// the first: manifests come first in the inventory.
func Targets(comps []inventory.Component, servers []inventory.RancherServer) map[string]Target {
	out := map[string]Target{}
	for _, c := range comps {
		if _, ok := out[c.Name]; ok {
			continue
		}
		t := Target{Component: c.Name, Origin: c.Origin, Strategy: StaticPod}
		if !c.StaticPod() {
			t.Strategy, t.Unit = Systemd, c.Unit
		}
		out[c.Name] = t
	}
	if _, ok := out[layout.KubeAPIServer]; !ok {
		for _, s := range servers {
			if s.Origin != "" {
				out[layout.KubeAPIServer] = Target{Component: layout.KubeAPIServer, Strategy: Systemd, Unit: s.Unit, Origin: s.Origin}
				break
			}
		}
	}
	return out
}

// ErrNoTarget is wrapped when --restart auto finds no way the node starts a
// component.
var ErrNoTarget = errors.New("no static pod manifest or systemd unit on the node starts it")

// AutoRestarter restarts each component the way the node starts it, with
// StaticPod and Systemd configured by the caller (their Exec, LookPath,
// MoveManifest, ...).
type AutoRestarter struct {
	Targets   map[string]Target
	StaticPod StaticPodRestarter
	Systemd   SystemdRestarter
}

// Restart restarts one component.
func (a AutoRestarter) Restart(ctx context.Context, c string) error {
	t, ok := a.Targets[c]
	if !ok {
		return fmt.Errorf("restart %s: %w", c, ErrNoTarget)
	}
	switch t.Strategy {
	case StaticPod:
		return a.staticPod(t).Restart(ctx, c)
	default:
		return a.systemd(t).Restart(ctx, c)
	}
}

func (a AutoRestarter) staticPod(t Target) StaticPodRestarter {
	sp := a.StaticPod
	sp.ManifestsDir = path.Dir(t.Origin)
	return sp
}

func (a AutoRestarter) systemd(t Target) SystemdRestarter {
	sd := a.Systemd
	sd.Units = map[string]string{t.Component: t.Unit}
	return sd
}

// Describe says what Restart does and where the way was found:
// "systemctl restart kube-apiserver.service (from /etc/systemd/system/kube-apiserver.service)".
func (a AutoRestarter) Describe(c string) string {
	t, ok := a.Targets[c]
	if !ok {
		return "cannot restart " + c + ": " + ErrNoTarget.Error()
	}
	if t.Strategy == StaticPod {
		return a.staticPod(t).Describe(c) + " (from " + t.Origin + ")"
	}
	return a.systemd(t).Describe(c) + " (from " + t.Origin + ")"
}

// Validate checks, before anything changes, that every component has a way
// to restart it and that the programs those ways run are on this machine.
func (a AutoRestarter) Validate(components []string) error {
	var missing, static []string
	systemd := false
	for _, c := range components {
		t, ok := a.Targets[c]
		switch {
		case !ok:
			missing = append(missing, c)
		case t.Strategy == StaticPod:
			static = append(static, c)
		default:
			systemd = true
		}
	}
	var errs []error
	if len(missing) > 0 {
		sort.Strings(missing)
		errs = append(errs, fmt.Errorf("--restart auto: %w: %s; pass --restart command with --restart-command NAME=COMMAND for each, or --restart none (nothing was changed)",
			ErrNoTarget, strings.Join(missing, ", ")))
	}
	if len(static) > 0 {
		if err := a.StaticPod.Validate(static); err != nil {
			errs = append(errs, fmt.Errorf("--restart auto for %s: %w", strings.Join(static, ", "), err))
		}
	}
	if systemd {
		if err := a.Systemd.Validate(nil); err != nil {
			errs = append(errs, fmt.Errorf("--restart auto: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ErrOtherMachine is wrapped when a host-level restart is asked for a node
// mounted at a --root other than "/".
var ErrOtherMachine = errors.New("the node's disk is mounted from another machine")

// HostLevel reports whether a strategy restarts processes of the machine
// certrescue runs on (crictl, systemctl), which is the node only when the
// root is "/".
func HostLevel(strategy string) bool {
	return strategy == Auto || strategy == StaticPod || strategy == Systemd
}

// CheckRoot refuses a host-level strategy for a node mounted at root: its
// restarts would hit this machine's processes, not the node's.
func CheckRoot(strategy, root string) error {
	if root == "" || path.Clean(root) == "/" || !HostLevel(strategy) {
		return nil
	}
	return fmt.Errorf("--restart %s with --root %s: %w; its restarts would run on this machine's processes", strategy, root, ErrOtherMachine)
}
