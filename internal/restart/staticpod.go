package restart

import (
	"context"
	"fmt"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/nodefs"
)

// StaticPodRestarter restarts kubeadm's static pods through the container
// runtime: crictl stops the component's running containers and the kubelet
// recreates them from the unchanged manifest. When none runs (the kubelet is
// in its crash-loop back-off after the component failed on its expired
// certificates, and would wait up to five minutes before the next try), it
// stops and removes the component's pod sandbox instead (kubeadm's label
// component=NAME in kube-system), and the kubelet recreates the pod at once:
// a removed pod has no exited container to back off from. With neither, it
// fails: it never reports a component restarted that it did not restart.
// With MoveManifest it instead moves the manifest out of the kubelet's
// manifest directory, waits until the kubelet has removed the container,
// and moves it back.
//
// crictl talks to the node's runtime: RuntimeEndpoint, else the
// runtime-endpoint of the node's /etc/crictl.yaml, else the kubelet
// configuration's containerRuntimeEndpoint (read under Root), else crictl's
// own defaults.
//
// The kubelet is not a static pod: it is restarted with systemctl.
type StaticPodRestarter struct {
	Exec         Exec
	Root         string // node root: the manifests (MoveManifest) and the endpoint's files
	ManifestsDir string // node path, default /etc/kubernetes/manifests
	MoveManifest bool
	// RuntimeEndpoint overrides the endpoint read from the node's files.
	RuntimeEndpoint string
	// Clock measures Timeout and waits between polls (MoveManifest). It
	// measures a real kubelet: the command layer passes clock.Real, tests a
	// clock.Fake; clock.Real when nil.
	Clock       clock.Clock
	Poll        time.Duration // default 1s
	Timeout     time.Duration // how long the kubelet may take to stop the pod; default 90s (its file check runs every 20s)
	KubeletUnit string        // default kubelet
	// LookPath finds programs (exec.LookPath by default; tests fake it).
	LookPath func(string) (string, error)
}

// Validate checks, before anything changes, that crictl (and systemctl for
// the kubelet) can be run and that the node's runtime endpoint can be read.
func (r StaticPodRestarter) Validate(components []string) error {
	need := []string{"crictl"}
	if slices.Contains(components, "kubelet") {
		need = append(need, "systemctl")
	}
	if err := lookAll(r.LookPath, "--restart static-pod", need); err != nil {
		return err
	}
	if r.RuntimeEndpoint == "" {
		if _, _, err := RuntimeEndpoint(r.root()); err != nil {
			return fmt.Errorf("--restart static-pod: %w (nothing was changed)", err)
		}
	}
	return nil
}

// Restart restarts one component.
func (r StaticPodRestarter) Restart(ctx context.Context, c string) error {
	return r.restart(ctx, c, -1)
}

// restart stops c's running containers (crictl stop, with --timeout when
// grace >= 0), or, with none running, its pod sandboxes.
func (r StaticPodRestarter) restart(ctx context.Context, c string, grace time.Duration) error {
	if c == "kubelet" {
		if out, err := r.exec()(ctx, "systemctl", "restart", r.kubeletUnit()); err != nil {
			return runErr("restart kubelet: systemctl restart "+r.kubeletUnit(), out, err)
		}
		return nil
	}
	if r.MoveManifest {
		return r.moveAndBack(ctx, c)
	}
	ids, err := r.containers(ctx, c)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		args := []string{"stop"}
		if grace >= 0 {
			args = append(args, "--timeout", strconv.Itoa(int((grace+time.Second-1)/time.Second)))
		}
		args = append(args, ids...)
		if out, err := r.crictl(ctx, args...); err != nil {
			return runErr("restart "+c+": crictl "+strings.Join(args, " "), out, err)
		}
		return nil
	}
	pods, err := r.pods(ctx, c)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return fmt.Errorf("restart %s: crictl finds no running container named %s and no pod sandbox labelled component=%s in kube-system; is the kubelet running, and crictl talking to its runtime (%s)? (try --restart static-pod --move-manifest, or restart it yourself)", c, c, c, r.endpointNote())
	}
	for _, verb := range []string{"stopp", "rmp"} {
		args := append([]string{verb}, pods...)
		if out, err := r.crictl(ctx, args...); err != nil {
			return runErr("restart "+c+" (no running container: its pod sandbox): crictl "+strings.Join(args, " "), out, err)
		}
	}
	return nil
}

// Describe says what Restart does.
func (r StaticPodRestarter) Describe(c string) string {
	switch {
	case c == "kubelet":
		return "systemctl restart " + r.kubeletUnit()
	case r.MoveManifest:
		return fmt.Sprintf("move %s/%s.yaml out until the kubelet stops the pod, then back", r.manifests(), c)
	}
	return fmt.Sprintf("crictl stop $(crictl ps -q --name '^%s$'), or with none running crictl stopp/rmp its pod (label component=%s); the kubelet recreates it (%s)", c, c, r.endpointNote())
}

// endpointNote says which runtime endpoint crictl uses and where it was read.
func (r StaticPodRestarter) endpointNote() string {
	if r.RuntimeEndpoint != "" {
		return "runtime endpoint " + r.RuntimeEndpoint
	}
	ep, from, err := RuntimeEndpoint(r.root())
	switch {
	case err != nil:
		return err.Error()
	case ep == "":
		return "crictl's default runtime endpoints: none set in " + CrictlConfig + " or " + KubeletConfig
	}
	return "runtime endpoint " + ep + " from " + from
}

func (r StaticPodRestarter) containers(ctx context.Context, c string) ([]string, error) {
	out, err := r.crictl(ctx, "ps", "-q", "--state", "running", "--name", "^"+c+"$")
	if err != nil {
		return nil, runErr("restart "+c+": crictl ps", out, err)
	}
	return crictlIDs(out), nil
}

// pods are c's pod sandboxes, in any state: kubeadm labels its static pods
// component=NAME, and the kubelet copies a pod's labels to its sandbox.
func (r StaticPodRestarter) pods(ctx context.Context, c string) ([]string, error) {
	out, err := r.crictl(ctx, "pods", "-q", "--namespace", "kube-system", "--label", "component="+c)
	if err != nil {
		return nil, runErr("restart "+c+": crictl pods", out, err)
	}
	return crictlIDs(out), nil
}

func (r StaticPodRestarter) moveAndBack(ctx context.Context, c string) error {
	node := nodefs.New(r.Root) // the node's disk: the manifest moves inside it
	dir := r.manifests()
	src := path.Join(dir, c+".yaml")
	parked := path.Join(path.Dir(dir), ".certrescue-parked-"+c+".yaml")
	if err := node.Rename(src, parked); err != nil {
		return fmt.Errorf("restart %s: move manifest %s out: %w", c, src, err)
	}
	back := func() error {
		if err := node.Rename(parked, src); err != nil {
			return fmt.Errorf("restart %s: MOVE THE MANIFEST BACK BY HAND (mv %s %s): %w", c, parked, src, err)
		}
		return nil
	}
	clk := r.Clock
	if clk == nil {
		clk = clock.Real{} // the kubelet is a real process, whatever the caller's certificates' clock
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	poll := r.Poll
	if poll == 0 {
		poll = time.Second
	}
	deadline := clk.Now().Add(timeout)
	for {
		ids, err := r.containers(ctx, c)
		if err != nil {
			return joinErr(err, back())
		}
		if len(ids) == 0 {
			return back()
		}
		if clk.Now().After(deadline) {
			return joinErr(fmt.Errorf("restart %s: the kubelet did not stop the pod within %s of its manifest leaving %s", c, timeout, r.manifests()), back())
		}
		if err := clk.Sleep(ctx, poll); err != nil {
			return joinErr(fmt.Errorf("restart %s: %w", c, err), back())
		}
	}
}

func joinErr(err, backErr error) error {
	if backErr != nil {
		return fmt.Errorf("%w; %w", err, backErr)
	}
	return err
}

func (r StaticPodRestarter) exec() Exec {
	if r.Exec == nil {
		return RealExec
	}
	return r.Exec
}

func (r StaticPodRestarter) manifests() string {
	if r.ManifestsDir == "" {
		return "/etc/kubernetes/manifests"
	}
	return r.ManifestsDir
}

func (r StaticPodRestarter) kubeletUnit() string {
	if r.KubeletUnit == "" {
		return "kubelet"
	}
	return r.KubeletUnit
}

// SystemdRestarter runs `systemctl restart UNIT` for each component.
type SystemdRestarter struct {
	Exec  Exec
	Units map[string]string // component -> unit; the component's name by default
	// LookPath finds programs (exec.LookPath by default; tests fake it).
	LookPath func(string) (string, error)
}

// Validate checks, before anything changes, that systemctl can be run.
func (r SystemdRestarter) Validate([]string) error {
	return lookAll(r.LookPath, "--restart systemd", []string{"systemctl"})
}

func lookAll(look func(string) (string, error), strategy string, progs []string) error {
	if look == nil {
		look = exec.LookPath
	}
	for _, p := range progs {
		if _, err := look(p); err != nil {
			return fmt.Errorf("%s needs %s, which is not on this machine's PATH (%w); choose another --restart (nothing was changed)", strategy, p, err)
		}
	}
	return nil
}

// Restart restarts the component's unit.
func (r SystemdRestarter) Restart(ctx context.Context, c string) error {
	run := r.Exec
	if run == nil {
		run = RealExec
	}
	unit := r.unit(c)
	if err := reloadIfChanged(ctx, run, c, unit); err != nil {
		return err
	}
	if out, err := run(ctx, "systemctl", "restart", unit); err != nil {
		return runErr("restart "+c+": systemctl restart "+unit, out, err)
	}
	return nil
}

// reloadIfChanged runs `systemctl daemon-reload` when systemd says the
// unit's files changed on disk since it loaded them (NeedDaemonReload: a
// unit or drop-in a rescue edited); without it, systemctl restart starts
// the old command line. A systemctl that cannot say (an older one, a
// stand-in) is taken as "no change".
func reloadIfChanged(ctx context.Context, run Exec, c, unit string) error {
	out, err := run(ctx, "systemctl", "show", "--property=NeedDaemonReload", "--value", unit)
	if err != nil || strings.TrimSpace(string(out)) != "yes" {
		return nil
	}
	if out, err := run(ctx, "systemctl", "daemon-reload"); err != nil {
		return runErr("restart "+c+": systemctl daemon-reload (its unit changed on disk)", out, err)
	}
	return nil
}

// Describe shows the systemctl command.
func (r SystemdRestarter) Describe(c string) string { return "systemctl restart " + r.unit(c) }

func (r SystemdRestarter) unit(c string) string {
	if u, ok := r.Units[c]; ok {
		return u
	}
	return c
}
