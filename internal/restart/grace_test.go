package restart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCommandGetsTheStopGraceInItsEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grace")
	r := CommandRestarter{Commands: map[string]string{"etcd": "echo \"$" + EnvStopGrace + "\" > " + out}}
	if err := RestartWith(context.Background(), r, "etcd", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || strings.TrimSpace(string(b)) != "1.5" {
		t.Fatalf("the command saw %s=%q (%v), want 1.5", EnvStopGrace, b, err)
	}
	if err := RestartWith(context.Background(), r, "etcd", -1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != "" {
		t.Fatalf("without a grace the command saw %q", b)
	}
}

func TestStaticPodStopsWithATimeout(t *testing.T) {
	rec := &recorder{reply: func(call string) (string, error) {
		if strings.HasPrefix(call, "crictl ps") {
			return "abc123\n", nil
		}
		return "", nil
	}}
	r := StaticPodRestarter{Exec: rec.exec, Root: t.TempDir()}
	if err := RestartWith(context.Background(), r, "kube-apiserver", 1200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := "crictl ps -q --state running --name ^kube-apiserver$\ncrictl stop --timeout 2 abc123"
	if got := strings.Join(rec.calls, "\n"); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
}

func TestSystemdKillsAfterTheGrace(t *testing.T) {
	rec := &recorder{reply: func(call string) (string, error) {
		if strings.HasPrefix(call, "systemctl is-active") {
			return "", errors.New("exit status 3") // stopped
		}
		return "", nil
	}}
	r := SystemdRestarter{Exec: rec.exec, Units: map[string]string{"kube-apiserver": "kube-apiserver.service"}}
	if err := RestartWith(context.Background(), r, "kube-apiserver", time.Second); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemctl kill --signal=SIGTERM kube-apiserver.service", "systemctl is-active --quiet kube-apiserver.service",
		"systemctl kill --signal=SIGKILL kube-apiserver.service", "systemctl show --property=NeedDaemonReload --value kube-apiserver.service",
		"systemctl restart kube-apiserver.service"}
	if got := strings.Join(rec.calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	rec.calls = nil
	if err := RestartWith(context.Background(), r, "kube-apiserver", 0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.calls, "\n"); got != strings.Join(want[2:], "\n") {
		t.Errorf("grace 0, calls:\n%s", got)
	}
}

func TestNoneIgnoresTheGrace(t *testing.T) {
	if err := RestartWith(context.Background(), NoneRestarter{}, "etcd", time.Second); !errors.Is(err, ErrManual) {
		t.Fatal(err)
	}
}
