package reload

import (
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/inventory"
)

func kubeadmComponents() []inventory.Component {
	p := "/etc/kubernetes/pki/"
	return []inventory.Component{
		{Name: "etcd", Origin: "/etc/kubernetes/manifests/etcd.yaml", Flags: map[string]string{
			"cert-file": p + "etcd/server.crt", "key-file": p + "etcd/server.key", "trusted-ca-file": p + "etcd/ca.crt",
			"peer-cert-file": p + "etcd/peer.crt", "peer-key-file": p + "etcd/peer.key"}},
		{Name: "kube-apiserver", Origin: "/etc/kubernetes/manifests/kube-apiserver.yaml", Flags: map[string]string{
			"tls-cert-file": p + "apiserver.crt", "tls-private-key-file": p + "apiserver.key", "client-ca-file": p + "ca.crt",
			"etcd-certfile": p + "apiserver-etcd-client.crt", "etcd-keyfile": p + "apiserver-etcd-client.key", "etcd-cafile": p + "etcd/ca.crt",
			"proxy-client-cert-file": p + "front-proxy-client.crt", "proxy-client-key-file": p + "front-proxy-client.key",
			"kubelet-client-certificate": p + "apiserver-kubelet-client.crt", "kubelet-client-key": p + "apiserver-kubelet-client.key"}},
		{Name: "kube-controller-manager", Origin: "/etc/kubernetes/manifests/kube-controller-manager.yaml", Flags: map[string]string{
			"kubeconfig": "/etc/kubernetes/controller-manager.conf", "authentication-kubeconfig": "/etc/kubernetes/controller-manager.conf",
			"root-ca-file": p + "ca.crt"}},
		{Name: "kube-scheduler", Origin: "/etc/kubernetes/manifests/kube-scheduler.yaml", Flags: map[string]string{
			"kubeconfig": "/etc/kubernetes/scheduler.conf"}},
		{Name: "kubelet", Unit: "kubelet.service", Origin: "/usr/lib/systemd/system/kubelet.service", Flags: map[string]string{
			"kubeconfig": "/etc/kubernetes/kubelet.conf"}},
	}
}

func leaf(role, crt string, comps ...string) Item {
	return Item{Role: role, Components: comps, Paths: []string{crt, strings.TrimSuffix(crt, ".crt") + ".key"}}
}

func TestDecide(t *testing.T) {
	p := "/etc/kubernetes/pki/"
	every := []Item{
		leaf("apiserver", p+"apiserver.crt", "kube-apiserver"),
		leaf("apiserver-etcd-client", p+"apiserver-etcd-client.crt", "kube-apiserver"),
		leaf("apiserver-kubelet-client", p+"apiserver-kubelet-client.crt", "kube-apiserver"),
		leaf("front-proxy-client", p+"front-proxy-client.crt", "kube-apiserver"),
		leaf("etcd-server", p+"etcd/server.crt", "etcd"),
		leaf("etcd-peer", p+"etcd/peer.crt", "etcd"),
		{Role: "controller-manager.conf", Components: []string{"kube-controller-manager"}, Paths: []string{"/etc/kubernetes/controller-manager.conf"}, Kubeconfig: Embedded},
		{Role: "scheduler.conf", Components: []string{"kube-scheduler"}, Paths: []string{"/etc/kubernetes/scheduler.conf"}, Kubeconfig: Embedded},
		{Role: "kubelet.conf", Components: []string{"kubelet"}, Paths: []string{"/etc/kubernetes/kubelet.conf"}, Kubeconfig: Embedded},
	}
	tests := []struct {
		name        string
		items       []Item
		comps       []inventory.Component
		restart     []string
		takes       int
		whySubstr   map[string]string
		reloadedFor string
	}{
		{name: "a kubeadm renewal restarts only what reads embedded kubeconfigs", items: every, comps: kubeadmComponents(),
			restart: []string{"kube-controller-manager", "kube-scheduler", "kubelet"}, takes: 12,
			whySubstr: map[string]string{"kube-scheduler": "reads its kubeconfig, embedded data only at start"}},
		{name: "file references in the controller-manager's kubeconfig are taken up",
			items: []Item{{Role: "controller-manager.conf", Components: []string{"kube-controller-manager"},
				Paths: []string{"/etc/kubernetes/controller-manager.conf", "/etc/kubernetes/pki/cm.crt"}, Kubeconfig: Files}},
			comps: kubeadmComponents(), takes: 2},
		{name: "a component the inventory does not find restarts", items: every[:1], comps: nil,
			restart: []string{"kube-apiserver"}, whySubstr: map[string]string{"kube-apiserver": "no static pod manifest"}},
		{name: "a flag outside the table restarts (the CA as root-ca-file)",
			items: []Item{leaf("ca", p+"ca.crt", "kube-apiserver", "kube-controller-manager", "kube-scheduler")}, comps: kubeadmComponents(),
			restart: []string{"kube-controller-manager", "kube-scheduler"}, takes: 1,
			whySubstr: map[string]string{"kube-controller-manager": "--root-ca-file", "kube-scheduler": "no flag of kube-scheduler names"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.items, tt.comps)
			if !slices.Equal(d.Restart, tt.restart) {
				t.Errorf("restart %v, want %v (why: %v)", d.Restart, tt.restart, d.Why)
			}
			if len(d.Takes) != tt.takes {
				t.Errorf("%d takes, want %d: %+v", len(d.Takes), tt.takes, d.Takes)
			}
			for c, s := range tt.whySubstr {
				if !strings.Contains(d.Why[c], s) {
					t.Errorf("why %s: %q, want it to say %q", c, d.Why[c], s)
				}
			}
			for _, tk := range d.Takes {
				if slices.Contains(d.Restart, tk.Component) {
					t.Errorf("%s both restarted and reloaded", tk.Component)
				}
			}
		})
	}
}

func TestAllRestartsEverything(t *testing.T) {
	d := All([]Item{leaf("etcd-server", "/x/server.crt", "etcd"), leaf("apiserver", "/x/a.crt", "kube-apiserver")})
	if !slices.Equal(d.Restart, []string{"etcd", "kube-apiserver"}) || len(d.Takes) != 0 {
		t.Fatalf("%+v", d)
	}
}

func TestEveryEntryNamesItsTest(t *testing.T) {
	for _, e := range Table {
		if e.Test == "" || len(e.Flags) == 0 || e.Use != Restart && (e.Within == 0 || e.Proof == "") {
			t.Errorf("incomplete entry %+v", e)
		}
	}
}
