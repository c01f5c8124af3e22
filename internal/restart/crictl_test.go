package restart

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A node root with the given files (node path -> content).
func nodeWith(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const kubeletCfg = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/k8s/containerd.sock\n"

func TestCrictlTalksToTheNodesRuntime(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		flag  string // "" when crictl gets no --runtime-endpoint
	}{
		{"crictl.yaml's runtime-endpoint", map[string]string{CrictlConfig: "runtime-endpoint: unix:///run/crio/crio.sock\n", KubeletConfig: kubeletCfg},
			"--runtime-endpoint unix:///run/crio/crio.sock "},
		{"the kubelet's containerRuntimeEndpoint without a crictl.yaml", map[string]string{KubeletConfig: kubeletCfg},
			"--runtime-endpoint unix:///run/k8s/containerd.sock "},
		{"the kubelet's when crictl.yaml names no runtime endpoint", map[string]string{CrictlConfig: "timeout: 10\n", KubeletConfig: kubeletCfg},
			"--runtime-endpoint unix:///run/k8s/containerd.sock "},
		{"crictl's default with neither", nil, ""},
		{"crictl's default when the kubelet config names none", map[string]string{KubeletConfig: "kind: KubeletConfiguration\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{reply: func(call string) (string, error) {
				if strings.Contains(call, " ps ") {
					return "0123456789ab\n", nil
				}
				return "", nil
			}}
			r := StaticPodRestarter{Exec: rec.exec, Root: nodeWith(t, tt.files)}
			if err := r.Restart(context.Background(), "etcd"); err != nil {
				t.Fatal(err)
			}
			want := []string{"crictl " + tt.flag + "ps -q --state running --name ^etcd$", "crictl " + tt.flag + "stop 0123456789ab"}
			if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestAnExplicitRuntimeEndpointWins(t *testing.T) {
	rec := &recorder{reply: func(string) (string, error) { return "abc\n", nil }}
	r := StaticPodRestarter{Exec: rec.exec, Root: nodeWith(t, map[string]string{KubeletConfig: kubeletCfg}), RuntimeEndpoint: "unix:///x.sock"}
	if err := r.Restart(context.Background(), "etcd"); err != nil {
		t.Fatal(err)
	}
	if rec.calls[0] != "crictl --runtime-endpoint unix:///x.sock ps -q --state running --name ^etcd$" {
		t.Errorf("calls = %q", rec.calls)
	}
}

func TestAnUnreadableEndpointFileIsRefusedBeforeAnythingChanges(t *testing.T) {
	root := nodeWith(t, map[string]string{CrictlConfig: "runtime-endpoint: [unclosed\n"})
	look := func(p string) (string, error) { return "/usr/bin/" + p, nil }
	err := StaticPodRestarter{Root: root, LookPath: look}.Validate([]string{"etcd"})
	if err == nil || !strings.Contains(err.Error(), CrictlConfig) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Validate = %v, want an error naming %s", err, CrictlConfig)
	}
	rec := &recorder{}
	err = StaticPodRestarter{Exec: rec.exec, Root: root}.Restart(context.Background(), "etcd")
	if err == nil || len(rec.calls) != 0 {
		t.Fatalf("Restart = %v after %q, want an error and no crictl call", err, rec.calls)
	}
}

// The kubelet's back-off: the component's containers all exited, so
// crictl ps --state running finds none; its pod sandbox is stopped and
// removed, and the kubelet recreates the pod at once.
func TestNoRunningContainerRemovesThePodSandbox(t *testing.T) {
	for _, grace := range []bool{false, true} {
		rec := &recorder{reply: func(call string) (string, error) {
			switch {
			case strings.Contains(call, " ps "):
				return `time="2026-12-02T18:47:49Z" level=warning msg="Config \"/etc/crictl.yaml\" does not exist"` + "\n", nil
			case strings.Contains(call, " pods "):
				return "warning: something\nfeedc0ffee12\n", nil
			}
			return "", nil
		}}
		r := StaticPodRestarter{Exec: rec.exec, Root: nodeWith(t, map[string]string{KubeletConfig: kubeletCfg})}
		var err error
		if grace {
			err = r.RestartGrace(context.Background(), "kube-apiserver", 0)
		} else {
			err = r.Restart(context.Background(), "kube-apiserver")
		}
		if err != nil {
			t.Fatal(err)
		}
		ep := "crictl --runtime-endpoint unix:///run/k8s/containerd.sock "
		want := []string{ep + "ps -q --state running --name ^kube-apiserver$",
			ep + "pods -q --namespace kube-system --label component=kube-apiserver",
			ep + "stopp feedc0ffee12", ep + "rmp feedc0ffee12"}
		if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
			t.Errorf("grace %v: calls:\n%s\nwant:\n%s", grace, strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestNeitherContainerNorPodIsAFailureNotASuccess(t *testing.T) {
	rec := &recorder{reply: func(string) (string, error) {
		return `time="x" level=warning msg="Config \"/etc/crictl.yaml\" does not exist"` + "\n", nil
	}}
	r := StaticPodRestarter{Exec: rec.exec, Root: nodeWith(t, map[string]string{KubeletConfig: kubeletCfg})}
	for _, err := range []error{r.Restart(context.Background(), "kube-scheduler"), r.RestartGrace(context.Background(), "kube-scheduler", 0)} {
		if err == nil || !strings.Contains(err.Error(), "no pod sandbox labelled component=kube-scheduler") ||
			!strings.Contains(err.Error(), "unix:///run/k8s/containerd.sock from "+KubeletConfig) {
			t.Errorf("err = %v", err)
		}
	}
	for _, c := range rec.calls {
		if strings.Contains(c, " stop") || strings.Contains(c, " rmp") {
			t.Errorf("stopped something that was not found: %s", c)
		}
	}
}
