package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestDemoRescuesTheSandbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	r := runAt(t, testpki.Epoch, "", "demo", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"== 1. check", "== 2. rescue", "result: manual-restart", "== 3. check again", "== 4. what changed",
		"CN=kube-apiserver -> CN=kubernetes-admin,O=kubeadm:cluster-admins", "Backup of the expired node: certrescue-backup-"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, c := range renewal.Inspect(dir, layout.Kubeadm) {
		if c.Err != nil || c.Cert.NotAfter.Before(testpki.Epoch.Add(364*24*time.Hour)) {
			t.Errorf("%s not renewed by the demo", c.Role.Name)
		}
	}
	assertNoKeys(t, keySecrets(t, dir), r.stdout, r.stderr)
	if r := runAt(t, testpki.Epoch, "", "demo", "--dir", dir); r.code != ExitUsage {
		t.Errorf("demo into a non-empty --dir: exit %d", r.code)
	}
}

// restartLog is a --restart-command for each component that appends the
// component's name to a log: a real shell command, as an operator would give.
func restartLog(log string) []string {
	var args []string
	for _, c := range layout.RestartOrder {
		args = append(args, "--restart-command", c+"=echo "+c+" >> "+log)
	}
	return args
}

func gatesOff() []string {
	var args []string
	for _, c := range layout.RestartOrder {
		args = append(args, "--gate", c+"=off")
	}
	return args
}

func TestRescueWithTheCommandStrategyRestartsInOrder(t *testing.T) {
	tr := expiredNode(t)
	secrets := keySecrets(t, tr.Root)
	log := filepath.Join(t.TempDir(), "restarts")
	args := append([]string{"--root", tr.Root, "rescue", "--restart", "command"}, restartLog(log)...)
	r := runAt(t, testpki.Epoch, "", append(args, gatesOff()...)...)
	// Every gate is off: everything is restarted, nothing is verified.
	if r.code != ExitUnverified || !strings.Contains(r.stderr, "restarted but not verified: etcd, kube-apiserver") {
		t.Fatalf("rescue: exit %d, want %d\n%s\n%s", r.code, ExitUnverified, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(log)
	if got := strings.Fields(string(b)); strings.Join(got, ",") != strings.Join(layout.RestartOrder, ",") {
		t.Errorf("restarted %v, want %v", got, layout.RestartOrder)
	}
	for _, want := range []string{"check", "lock", "plan", "backup", "deploy", "restart  etcd", "skip", "NOT verified", "result: restarted-unverified"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("progress lacks %q:\n%s", want, r.stdout)
		}
	}
	assertNoKeys(t, append(secrets, keySecrets(t, tr.Root)...), r.stdout, r.stderr)
	journal, _ := os.ReadFile(filepath.Join(tr.Root, "var/lib/certrescue/rescue.journal"))
	assertNoKeys(t, append(secrets, keySecrets(t, tr.Root)...), string(journal))
}

func TestRescueRefusals(t *testing.T) {
	tr := expiredNode(t)
	log := filepath.Join(t.TempDir(), "restarts")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an unknown strategy", []string{"--restart", "reboot"}, ExitUsage, "use auto, static-pod, systemd, command, none"},
		{"the default auto restart of another machine's disk", nil, ExitUsage, "--restart auto with --root " + tr.Root + ": the node's disk is mounted from another machine"},
		{"the default auto restart of another machine's disk, in a dry run too", []string{"--dry-run"}, ExitUsage, "pass --restart command with --restart-command"},
		{"static pods of another machine's disk", []string{"--restart", "static-pod"}, ExitUsage, "--restart static-pod with --root"},
		{"systemd units of another machine's disk", []string{"--restart", "systemd"}, ExitUsage, "or --restart none"},
		{"a missing restart command, found by the dry run", []string{"--dry-run", "--restart", "command", "--restart-command", "etcd=echo etcd >> " + log}, ExitFailure, "no restart command for kube-apiserver"},
		{"a restart command without the command strategy", []string{"--restart-command", "etcd=true"}, ExitUsage, "needs --restart command"},
		{"an unknown component", []string{"--restart", "command", "--restart-command", "etc=true"}, ExitUsage, "unknown component"},
		{"a gate for an unknown component", []string{"--restart", "none", "--gate", "dns=off"}, ExitUsage, "unknown component"},
		{"a missing restart command, before anything changes", []string{"--restart", "command", "--restart-command", "etcd=echo etcd >> " + log}, ExitFailure, "no restart command for kube-apiserver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := renewal.Inspect(tr.Root, layout.Kubeadm)
			r := runAt(t, testpki.Epoch, "", append([]string{"--root", tr.Root, "rescue"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			for i, c := range renewal.Inspect(tr.Root, layout.Kubeadm) {
				if !c.Cert.Equal(before[i].Cert) {
					t.Errorf("%s changed", c.Role.Name)
				}
			}
		})
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("a refused rescue restarted something")
	}
}

// TestConcurrentRescueIsRefused holds the rescue lock from another process
// (util-linux flock) and runs a rescue, which must refuse and change nothing.
func TestConcurrentRescueIsRefused(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("flock (util-linux) not installed")
	}
	tr := expiredNode(t)
	lockFile := filepath.Join(tr.Root, "var/lib/certrescue/rescue.lock")
	os.MkdirAll(filepath.Dir(lockFile), 0o700)
	holder := exec.Command(flock, "--exclusive", lockFile, "sh", "-c", "echo locked; read x")
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); holder.Process.Kill(); holder.Wait() })
	buf := make([]byte, 7)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("the lock holder did not start: %q %v", buf, err)
	}
	before := renewal.Inspect(tr.Root, layout.Kubeadm)
	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "rescue", "--restart", "none")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "another certrescue rescue is running") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for i, c := range renewal.Inspect(tr.Root, layout.Kubeadm) {
		if !c.Cert.Equal(before[i].Cert) {
			t.Errorf("%s changed under someone else's lock", c.Role.Name)
		}
	}
}

// TestRescueDryRunNamesEachRestartAndGate: the plan says, per component, the
// command that restarts it and the gates derived from its manifest, on the
// local address and never on admin.conf's load balancer; a component without
// a gate is named as one whose restart will not be verified.
func TestRescueDryRunNamesEachRestartAndGate(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true, ControlPlaneEndpoint: "k8s-api.example.invalid"})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.Add(-400*24*time.Hour), testpki.Epoch.Add(-30*24*time.Hour),
		testpki.AgeOnly(renewal.RenewableNames(layout.Kubeadm)...))
	log := filepath.Join(t.TempDir(), "restarts")
	// --reload=false: every component restarts, so each is listed with its command.
	args := append([]string{"--root", tr.Root, "rescue", "--dry-run", "--reload=false", "--restart", "command", "--gate", "kube-scheduler=off"}, restartLog(log)...)
	r := runAt(t, testpki.Epoch, "", args...)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"restarts and health gates:",
		"etcd:                    sh -c 'echo etcd >> " + log + "'",
		"gate etcd https://127.0.0.1:2379/health as /etc/kubernetes/pki/etcd/healthcheck-client.crt",
		"gate kube-apiserver https://10.0.0.1:6443/livez as /etc/kubernetes/admin.conf",
		"gate kube-apiserver https://10.0.0.1:6443/readyz as /etc/kubernetes/admin.conf",
		"address from kube-apiserver --advertise-address (/etc/kubernetes/manifests/kube-apiserver.yaml)",
		"gate kube-controller-manager https://127.0.0.1:10257/healthz",
		"no health gate: turned off with --gate kube-scheduler=off: restarted, NOT verified (exit 4)",
		"gate kubelet http://127.0.0.1:10248/healthz",
		"result: dry-run",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "k8s-api.example.invalid:6443/") {
		t.Errorf("a gate probes admin.conf's load balancer:\n%s", r.stdout)
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("the dry run restarted something")
	}
}
