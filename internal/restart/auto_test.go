package restart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

func TestTargetsFollowHowTheNodeStartsEachComponent(t *testing.T) {
	comps := []inventory.Component{
		{Name: layout.KubeAPIServer, Origin: "/etc/kubernetes/manifests/kube-apiserver.yaml"},
		{Name: layout.Etcd, Origin: "/etc/systemd/system/etcd.service", Unit: "etcd.service"}, // kubespray: etcd on the host
		{Name: layout.Kubelet, Origin: "/usr/lib/systemd/system/kubelet.service", Unit: "kubelet.service"},
		{Name: layout.KubeAPIServer, Origin: "/etc/systemd/system/kube-apiserver.service", Unit: "kube-apiserver.service"}, // a leftover: the manifest came first
	}
	got := Targets(comps, []inventory.RancherServer{{Dist: "k3s", Unit: "k3s.service", Origin: "/etc/systemd/system/k3s.service"}})
	want := map[string]Target{
		layout.KubeAPIServer: {layout.KubeAPIServer, StaticPod, "", "/etc/kubernetes/manifests/kube-apiserver.yaml"},
		layout.Etcd:          {layout.Etcd, Systemd, "etcd.service", "/etc/systemd/system/etcd.service"},
		layout.Kubelet:       {layout.Kubelet, Systemd, "kubelet.service", "/usr/lib/systemd/system/kubelet.service"},
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v", got)
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("%s: %+v, want %+v", c, got[c], w)
		}
	}
	// A k3s node: the API server is the k3s service; one found only by its
	// data directory has no unit to restart.
	got = Targets(nil, []inventory.RancherServer{{Dist: "rke2", Unit: "rke2-server.service"}, {Dist: "k3s", Unit: "k3s.service", Origin: "/etc/systemd/system/k3s.service"}})
	if got[layout.KubeAPIServer] != (Target{layout.KubeAPIServer, Systemd, "k3s.service", "/etc/systemd/system/k3s.service"}) || len(got) != 1 {
		t.Errorf("k3s targets %v", got)
	}
}

func TestAutoRestartsEachComponentItsOwnWay(t *testing.T) {
	root := t.TempDir()
	rec := &recorder{reply: func(call string) (string, error) {
		if strings.HasPrefix(call, "crictl ps") {
			return "c1\n", nil
		}
		return "", nil
	}}
	a := AutoRestarter{
		Targets: Targets([]inventory.Component{
			{Name: layout.Etcd, Origin: "/etc/kubernetes/manifests/etcd.yaml"},
			{Name: layout.KubeAPIServer, Origin: "/etc/systemd/system/kube-apiserver.service", Unit: "kube-apiserver.service"},
			{Name: layout.Kubelet, Origin: "/lib/systemd/system/kubelet.service", Unit: "kubelet.service"},
		}, nil),
		StaticPod: StaticPodRestarter{Exec: rec.exec, Root: root},
		Systemd:   SystemdRestarter{Exec: rec.exec},
	}
	for _, c := range []string{layout.Etcd, layout.KubeAPIServer, layout.Kubelet} {
		if err := a.Restart(context.Background(), c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	want := []string{"crictl ps -q --state running --name ^etcd$", "crictl stop c1",
		"systemctl show --property=NeedDaemonReload --value kube-apiserver.service", "systemctl restart kube-apiserver.service",
		"systemctl show --property=NeedDaemonReload --value kubelet.service", "systemctl restart kubelet.service"}
	if strings.Join(rec.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
	if d := a.Describe(layout.KubeAPIServer); d != "systemctl restart kube-apiserver.service (from /etc/systemd/system/kube-apiserver.service)" {
		t.Errorf("Describe = %q", d)
	}
	if d := a.Describe(layout.Etcd); !strings.Contains(d, "crictl stop") || !strings.HasSuffix(d, "(from /etc/kubernetes/manifests/etcd.yaml)") {
		t.Errorf("Describe = %q", d)
	}
	err := a.Restart(context.Background(), layout.KubeScheduler)
	if !errors.Is(err, ErrNoTarget) {
		t.Errorf("a component the node does not start: %v", err)
	}
	if d := a.Describe(layout.KubeScheduler); !strings.Contains(d, "cannot restart kube-scheduler") {
		t.Errorf("Describe = %q", d)
	}

	// --move-manifest moves the manifest of the directory it was found in.
	manifests := filepath.Join(root, "var/lib/rancher/rke2/agent/pod-manifests")
	os.MkdirAll(manifests, 0o755)
	os.WriteFile(filepath.Join(manifests, "etcd.yaml"), []byte("pod"), 0o600)
	a.Targets[layout.Etcd] = Target{layout.Etcd, StaticPod, "", "/var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml"}
	a.StaticPod.MoveManifest = true
	if d := a.Describe(layout.Etcd); !strings.Contains(d, "move /var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml out") {
		t.Errorf("Describe = %q", d)
	}
}

func TestAutoValidateSaysWhatIsMissing(t *testing.T) {
	none := func(string) (string, error) { return "", errors.New("executable file not found in $PATH") }
	only := func(have string) func(string) (string, error) {
		return func(p string) (string, error) {
			if p == have {
				return "/usr/bin/" + p, nil
			}
			return none(p)
		}
	}
	targets := Targets([]inventory.Component{
		{Name: layout.Etcd, Origin: "/etc/kubernetes/manifests/etcd.yaml"},
		{Name: layout.KubeAPIServer, Origin: "/etc/systemd/system/kube-apiserver.service", Unit: "kube-apiserver.service"},
	}, nil)
	tests := []struct {
		name   string
		look   func(string) (string, error)
		comps  []string
		want   []string
		wantOK bool
	}{
		{"everything there", func(p string) (string, error) { return "/usr/bin/" + p, nil }, []string{layout.Etcd, layout.KubeAPIServer}, nil, true},
		{"no crictl for the static pod", only("systemctl"), []string{layout.Etcd, layout.KubeAPIServer}, []string{"--restart auto for etcd", "needs crictl"}, false},
		{"no systemctl for the unit", only("crictl"), []string{layout.Etcd, layout.KubeAPIServer}, []string{"needs systemctl"}, false},
		{"a component the node does not start", func(p string) (string, error) { return "/usr/bin/" + p, nil }, []string{layout.KubeScheduler, layout.Kubelet},
			[]string{"no static pod manifest or systemd unit on the node starts it: kube-scheduler, kubelet", "--restart command", "--restart none"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := AutoRestarter{Targets: targets, StaticPod: StaticPodRestarter{LookPath: tt.look, Root: t.TempDir()}, Systemd: SystemdRestarter{LookPath: tt.look}}
			err := a.Validate(tt.comps)
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCheckRootRefusesHostLevelRestartsOfAnotherDisk(t *testing.T) {
	tests := []struct {
		strategy, root string
		refused        bool
	}{
		{Auto, "/", false}, {StaticPod, "", false}, {Systemd, "/./", false},
		{Auto, "/mnt/node", true}, {StaticPod, "/mnt/node", true}, {Systemd, "/mnt/node", true},
		{Command, "/mnt/node", false}, {None, "/mnt/node", false},
	}
	for _, tt := range tests {
		err := CheckRoot(tt.strategy, tt.root)
		if tt.refused != (err != nil) || tt.refused && !errors.Is(err, ErrOtherMachine) {
			t.Errorf("CheckRoot(%q, %q) = %v", tt.strategy, tt.root, err)
		}
	}
}
