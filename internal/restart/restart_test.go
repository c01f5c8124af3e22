package restart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
)

// recorder is a fake Exec. The static-pod and systemd strategies need a
// kubelet with a container runtime and systemd as PID 1, neither of which can
// run on a build machine, so their tests check the commands they would run.
type recorder struct {
	calls []string
	reply func(call string) (string, error)
}

func (r *recorder) exec(_ context.Context, name string, args ...string) ([]byte, error) {
	call := strings.Join(append([]string{name}, args...), " ")
	r.calls = append(r.calls, call)
	if r.reply != nil {
		out, err := r.reply(call)
		return []byte(out), err
	}
	return nil, nil
}

func TestStaticPodStopsTheContainersWithCrictl(t *testing.T) {
	rec := &recorder{reply: func(call string) (string, error) {
		if strings.HasPrefix(call, "crictl ps") {
			return "abc123\ndef456\n", nil
		}
		return "", nil
	}}
	r := StaticPodRestarter{Exec: rec.exec, Root: t.TempDir()}
	if err := r.Restart(context.Background(), "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(context.Background(), "kubelet"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"crictl ps -q --state running --name ^kube-apiserver$",
		"crictl stop abc123 def456",
		"systemctl restart kubelet",
	}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestStaticPodWithNoRunningContainerSaysWhatToDo(t *testing.T) {
	rec := &recorder{}
	err := StaticPodRestarter{Exec: rec.exec, Root: t.TempDir()}.Restart(context.Background(), "etcd")
	if err == nil || !strings.Contains(err.Error(), "no running container named etcd") {
		t.Fatalf("err = %v", err)
	}
}

func TestStaticPodMovesTheManifestOutAndBack(t *testing.T) {
	root := t.TempDir()
	manifests := filepath.Join(root, "etc/kubernetes/manifests")
	os.MkdirAll(manifests, 0o755)
	src := filepath.Join(manifests, "kube-scheduler.yaml")
	os.WriteFile(src, []byte("pod"), 0o600)

	clk := clock.NewFake(time.Unix(0, 0)) // polls advance it: the test never waits
	polls := 0
	rec := &recorder{reply: func(call string) (string, error) {
		if _, err := os.Stat(src); err == nil {
			t.Errorf("crictl polled while the manifest was still in place")
		}
		polls++
		if polls < 3 {
			return "abc\n", nil // the kubelet has not stopped it yet
		}
		return "", nil
	}}
	r := StaticPodRestarter{Exec: rec.exec, Root: root, MoveManifest: true,
		Clock: clk}
	if err := r.Restart(context.Background(), "kube-scheduler"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "pod" {
		t.Errorf("manifest not back in place: %v", err)
	}
	if polls != 3 {
		t.Errorf("%d polls, want 3", polls)
	}

	// A kubelet that never stops the pod: the manifest still comes back.
	rec.reply = func(string) (string, error) { return "abc\n", nil }
	err := r.Restart(context.Background(), "kube-scheduler")
	if err == nil || !strings.Contains(err.Error(), "did not stop the pod") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Error("manifest not moved back after a timeout")
	}
}

func TestStaticPodGivesUpWhenTheKubeletNeverStopsThePodAndPutsTheManifestBack(t *testing.T) {
	root := t.TempDir()
	manifests := filepath.Join(root, "etc/kubernetes/manifests")
	os.MkdirAll(manifests, 0o755)
	src := filepath.Join(manifests, "etcd.yaml")
	os.WriteFile(src, []byte("pod"), 0o600)
	clk := clock.NewFake(time.Unix(0, 0))
	rec := &recorder{reply: func(string) (string, error) { return "abc\n", nil }} // never stops
	r := StaticPodRestarter{Exec: rec.exec, Root: root, MoveManifest: true, Timeout: 10 * time.Second, Poll: time.Second, Clock: clk}
	err := r.Restart(context.Background(), "etcd")
	if err == nil || !strings.Contains(err.Error(), "did not stop the pod within 10s") {
		t.Fatalf("Restart = %v, want the kubelet's timeout", err)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "pod" {
		t.Errorf("manifest not back in place: %v", err)
	}
	if waited := clk.Now().Sub(time.Unix(0, 0)); waited < 10*time.Second || waited > 12*time.Second {
		t.Errorf("fake time advanced %s, want about the 10s timeout", waited)
	}
}

func TestSystemdRestartsTheUnit(t *testing.T) {
	rec := &recorder{reply: func(call string) (string, error) {
		if strings.Contains(call, "etcd") {
			return "Job for etcd.service failed.", errors.New("exit status 1")
		}
		return "", nil
	}}
	r := SystemdRestarter{Exec: rec.exec, Units: map[string]string{"kube-apiserver": "apiserver.service"}}
	if err := r.Restart(context.Background(), "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	err := r.Restart(context.Background(), "etcd")
	if err == nil || !strings.Contains(err.Error(), "Job for etcd.service failed") {
		t.Errorf("err = %v, want systemctl's message", err)
	}
	want := []string{"systemctl show --property=NeedDaemonReload --value apiserver.service", "systemctl restart apiserver.service",
		"systemctl show --property=NeedDaemonReload --value etcd", "systemctl restart etcd"}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls = %q", rec.calls)
	}
}

// A unit whose files changed on disk (a rescue edited a flag in it) is
// loaded again before the restart, else systemd starts the old command.
func TestSystemdReloadsAChangedUnitBeforeTheRestart(t *testing.T) {
	rec := &recorder{reply: func(call string) (string, error) {
		if strings.HasPrefix(call, "systemctl show") && strings.Contains(call, "kube-controller-manager") {
			return "yes\n", nil
		}
		return "no\n", nil
	}}
	r := SystemdRestarter{Exec: rec.exec}
	for _, c := range []string{"kube-controller-manager", "kube-scheduler"} {
		if err := r.Restart(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"systemctl show --property=NeedDaemonReload --value kube-controller-manager", "systemctl daemon-reload", "systemctl restart kube-controller-manager",
		"systemctl show --property=NeedDaemonReload --value kube-scheduler", "systemctl restart kube-scheduler"}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
}

// The command strategy runs real shell commands.
func TestCommandRunsTheShellCommand(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "restarted")
	r := CommandRestarter{Commands: map[string]string{
		"etcd":           "echo etcd >> " + marker,
		"kube-apiserver": "echo 'cannot start' >&2; exit 7",
	}}
	if err := r.Restart(context.Background(), "etcd"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(marker); string(b) != "etcd\n" {
		t.Errorf("marker = %q", b)
	}
	err := r.Restart(context.Background(), "kube-apiserver")
	if err == nil || !strings.Contains(err.Error(), "cannot start") || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("err = %v", err)
	}
	if err := r.Restart(context.Background(), "kube-scheduler"); err == nil || !strings.Contains(err.Error(), "--restart-command kube-scheduler=") {
		t.Errorf("err = %v", err)
	}
}

func TestParseCommands(t *testing.T) {
	known := []string{"etcd", "kube-apiserver"}
	tests := []struct {
		in   []string
		want string // error substring, "" for success
	}{
		{[]string{"etcd=systemctl restart etcd", "kube-apiserver=a=b"}, ""},
		{[]string{"etcd"}, "want COMPONENT=COMMAND"},
		{[]string{"etcd= "}, "want COMPONENT=COMMAND"},
		{[]string{"etc=x"}, "unknown component"},
		{[]string{"etcd=a", "etcd=b"}, "given twice"},
	}
	for _, tt := range tests {
		got, err := ParseCommands(tt.in, known)
		if tt.want == "" {
			if err != nil || got["kube-apiserver"] != "a=b" {
				t.Errorf("%v: %v %v", tt.in, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestValidateNeedsTheirPrograms(t *testing.T) {
	none := func(p string) (string, error) { return "", errors.New("executable file not found in $PATH") }
	only := func(have string) func(string) (string, error) {
		return func(p string) (string, error) {
			if p == have {
				return "/usr/bin/" + p, nil
			}
			return none(p)
		}
	}
	tests := []struct {
		name string
		r    Validator
		comp []string
		want string
	}{
		{"static-pod without crictl", StaticPodRestarter{LookPath: none, Root: t.TempDir()}, []string{"etcd"}, "needs crictl"},
		{"static-pod with crictl, restarting the kubelet without systemctl", StaticPodRestarter{LookPath: only("crictl"), Root: t.TempDir()}, []string{"etcd", "kubelet"}, "needs systemctl"},
		{"static-pod with crictl", StaticPodRestarter{LookPath: only("crictl"), Root: t.TempDir()}, []string{"etcd"}, ""},
		{"systemd without systemctl", SystemdRestarter{LookPath: none}, nil, "needs systemctl"},
		{"command without a command for the scheduler", CommandRestarter{Commands: map[string]string{"etcd": "true"}}, []string{"etcd", "kube-scheduler"}, "no restart command for kube-scheduler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate(tt.comp)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
