package inventory

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name, data string
		want       map[string]string
		wantErr    string
	}{
		{"kubespray's etcd.env", "# Environment file for etcd\nETCD_DATA_DIR=/var/lib/etcd\nETCD_LISTEN_CLIENT_URLS=https://10.0.0.1:2379,https://127.0.0.1:2379\n\n; TLS\nETCD_CLIENT_CERT_AUTH=true\n",
			map[string]string{"ETCD_DATA_DIR": "/var/lib/etcd", "ETCD_LISTEN_CLIENT_URLS": "https://10.0.0.1:2379,https://127.0.0.1:2379", "ETCD_CLIENT_CERT_AUTH": "true"}, ""},
		{"kubeadm-flags.env, double quotes", `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10"` + "\n",
			map[string]string{"KUBELET_KUBEADM_ARGS": "--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10"}, ""},
		{"single quotes keep backslashes", `A='x\y'` + "\n", map[string]string{"A": `x\y`}, ""},
		{"a continued line", "KUBE_API_ARGS=--a=1 \\\n  --b=2\n", map[string]string{"KUBE_API_ARGS": "--a=1 --b=2"}, ""},
		{"a quoted value over lines", "KUBE_API_ARGS=\"--a=1\n--b=2\"\nX=1\n", map[string]string{"KUBE_API_ARGS": "--a=1\n--b=2", "X": "1"}, ""},
		{"export prefix, spaces, trailing comment", "export A = b   # note\n", map[string]string{"A": "b"}, ""},
		{"CRLF", "A=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}, ""},
		{"not an assignment", "A=1\njust words\n", nil, "line 2"},
		{"a bad name", "1A=x\n", nil, "line 1"},
		{"an unterminated quote", "A=\"oops\n", nil, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add([]byte("A=1\nB=\"x y\" # c\nC='d'\\\n e\n"))
	f.Add([]byte("export K=\"a\nb\"\n;x\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseEnvFile(data) })
}

func TestParseUnitEnvironmentFiles(t *testing.T) {
	u, err := ParseUnit([]byte("[Service]\nEnvironmentFile=-/etc/default/%N /etc/a.env\nEnvironmentFile=/etc/b.env\nExecStart=/bin/x $ARGS\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvFile{{"/etc/default/%N", true}, {"/etc/a.env", false}, {"/etc/b.env", false}}
	if !slices.Equal(u.EnvFiles, want) {
		t.Fatalf("EnvFiles = %v, want %v", u.EnvFiles, want)
	}
	u, err = ParseUnit([]byte("[Service]\nEnvironmentFile=\nEnvironmentFile=/etc/c.env\n"), u)
	if err != nil || !slices.Equal(u.EnvFiles, []EnvFile{{"/etc/c.env", false}}) {
		t.Fatalf("a drop-in's empty EnvironmentFile= resets the list: %v %v", u.EnvFiles, err)
	}
	u.Env["ARGS"] = "--from-environment"
	if err := u.Expand(map[string]string{"ARGS": "--from-file=1 --two"}); err != nil || !slices.Equal(u.ExecStart[0], []string{"/bin/x", "--from-file=1", "--two"}) {
		t.Fatalf("EnvironmentFile= overrides Environment=: %q %v", u.ExecStart, err)
	}
	if got := expandSpecifiers("/etc/default/%N %n %p-%i %% %z", "etcd@main.service"); got != "/etc/default/etcd@main etcd@main.service etcd-main % %z" {
		t.Errorf("specifiers: %q", got)
	}
}

// node writes files under a temporary root and returns a Reader of it.
func node(t *testing.T, files map[string]string) (*Reader, string) {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		testpki.WriteFile(t, filepath.Join(root, p), []byte(data), 0o644)
	}
	return NewReader(root), root
}

func component(t *testing.T, comps []Component, name string) Component {
	t.Helper()
	for _, c := range comps {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %s among %v", name, comps)
	return Component{}
}

func TestKubeadmKubeletUnitWithItsDropInAndFlagsFile(t *testing.T) {
	r, _ := node(t, map[string]string{
		"/usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n",
		"/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`,
		// A drop-in of the same name in /etc hides the one in /usr/lib; 20-
		// sorts after 10- whichever directory it is in.
		"/etc/systemd/system/kubelet.service.d/20-extra.conf": "[Service]\nEnvironment=\"KUBELET_EXTRA_ARGS=--healthz-port=10255\"\n",
		"/var/lib/kubelet/kubeadm-flags.env":                  `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip=10.0.0.1"` + "\n",
	})
	comps, bad := r.Components()
	if len(bad) != 0 {
		t.Fatalf("problems: %v", bad)
	}
	k := component(t, comps, layout.Kubelet)
	want := map[string]string{"bootstrap-kubeconfig": "/etc/kubernetes/bootstrap-kubelet.conf", "kubeconfig": "/etc/kubernetes/kubelet.conf",
		"config": "/var/lib/kubelet/config.yaml", "container-runtime-endpoint": "unix:///run/containerd/containerd.sock", "node-ip": "10.0.0.1", "healthz-port": "10255"}
	if !maps.Equal(k.Flags, want) {
		t.Errorf("flags %v\nwant %v", k.Flags, want)
	}
	if k.Unit != "kubelet.service" || k.Origin != "/usr/lib/systemd/system/kubelet.service" || k.StaticPod() {
		t.Errorf("unit %q origin %q", k.Unit, k.Origin)
	}
}

func TestKubesprayEtcdFromItsEnvironmentFile(t *testing.T) {
	r, _ := node(t, map[string]string{
		"/etc/systemd/system/etcd.service": "[Unit]\nDescription=etcd\n[Service]\nType=notify\nUser=root\nEnvironmentFile=/etc/etcd.env\nExecStart=/usr/local/bin/etcd\n",
		"/etc/etcd.env": "ETCD_DATA_DIR=/var/lib/etcd\nETCD_LISTEN_CLIENT_URLS=https://10.0.0.1:2379,https://127.0.0.1:2379\n" +
			"ETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem\nETCD_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem\n" +
			"ETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem\nETCD_CLIENT_CERT_AUTH=true\nETCD_PEER_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem\n",
		"/etc/systemd/system/etcd.service.d/override.conf": "[Service]\nEnvironment=ETCD_NAME=node1\n",
	})
	comps, bad := r.Components()
	if len(bad) != 0 {
		t.Fatalf("problems: %v", bad)
	}
	e := component(t, comps, layout.Etcd)
	for flag, want := range map[string]string{"cert-file": "/etc/ssl/etcd/ssl/member-node1.pem", "trusted-ca-file": "/etc/ssl/etcd/ssl/ca.pem",
		"listen-client-urls": "https://10.0.0.1:2379,https://127.0.0.1:2379", "client-cert-auth": "true", "name": "node1", "peer-cert-file": "/etc/ssl/etcd/ssl/member-node1.pem"} {
		if e.Flags[flag] != want {
			t.Errorf("--%s = %q, want %q", flag, e.Flags[flag], want)
		}
	}
	if w := e.Where("cert-file"); w != "etcd --cert-file (ETCD_CERT_FILE in /etc/etcd.env)" {
		t.Errorf("Where = %q", w)
	}
	if w := e.Where("name"); w != "etcd --name (ETCD_NAME in /etc/systemd/system/etcd.service)" {
		t.Errorf("Where = %q", w)
	}
	// The inventory now names what the environment file names.
	var paths []string
	for _, it := range componentItems(e) {
		paths = append(paths, it.Path)
	}
	for _, p := range []string{"/etc/ssl/etcd/ssl/member-node1.pem", "/etc/ssl/etcd/ssl/ca.pem"} {
		if !slices.Contains(paths, p) {
			t.Errorf("items %v lack %s", paths, p)
		}
	}
}

func TestEtcdCommandLineWinsOverItsEnvironment(t *testing.T) {
	r, _ := node(t, map[string]string{
		"/etc/systemd/system/etcd.service": "[Service]\nEnvironment=ETCD_CERT_FILE=/env.pem\nExecStart=/usr/bin/etcd --cert-file=/flag.pem\n",
	})
	comps, _ := r.Components()
	if e := component(t, comps, layout.Etcd); e.Flags["cert-file"] != "/flag.pem" || e.Where("cert-file") != "etcd --cert-file (/etc/systemd/system/etcd.service)" {
		t.Errorf("cert-file %q from %q", e.Flags["cert-file"], e.Where("cert-file"))
	}
}

func TestUnreadableEnvironmentFiles(t *testing.T) {
	tests := []struct {
		name, unit, env string
		wantBad         string
	}{
		{"an optional file may be absent", "[Service]\nEnvironmentFile=-/etc/default/kube-apiserver\nExecStart=/bin/kube-apiserver\n", "", ""},
		{"a required one may not", "[Service]\nEnvironmentFile=/etc/kubernetes/apiserver\nExecStart=/bin/kube-apiserver\n", "", "/etc/kubernetes/apiserver"},
		{"a malformed one is a finding", "[Service]\nEnvironmentFile=/etc/kubernetes/apiserver\nExecStart=/bin/kube-apiserver\n", "KUBE_API_ARGS=\"--x\n", "/etc/kubernetes/apiserver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"/etc/systemd/system/kube-apiserver.service": tt.unit}
			if tt.env != "" {
				files["/etc/kubernetes/apiserver"] = tt.env
			}
			r, _ := node(t, files)
			comps, bad := r.Components()
			if tt.wantBad == "" {
				if len(bad) != 0 || len(comps) != 1 {
					t.Fatalf("comps %v bad %v", comps, bad)
				}
				return
			}
			if len(bad) != 1 || bad[0].Path != tt.wantBad || len(bad[0].Problems) == 0 {
				t.Fatalf("bad = %+v, want a problem on %s", bad, tt.wantBad)
			}
		})
	}
}

func TestOldStyleKubernetesPackageUnits(t *testing.T) {
	// The Fedora/CentOS kubernetes packages: every flag in $KUBE_* variables
	// of /etc/kubernetes/{config,apiserver}.
	r, _ := node(t, map[string]string{
		"/usr/lib/systemd/system/kube-apiserver.service": "[Service]\nEnvironmentFile=-/etc/kubernetes/config\nEnvironmentFile=-/etc/kubernetes/apiserver\n" +
			"ExecStart=/usr/bin/kube-apiserver $KUBE_LOGTOSTDERR $KUBE_API_ADDRESS $KUBE_API_PORT $KUBE_API_ARGS\n",
		"/etc/kubernetes/config":    "KUBE_LOGTOSTDERR=\"--logtostderr=true\"\n",
		"/etc/kubernetes/apiserver": "KUBE_API_ADDRESS=\"--bind-address=10.0.0.5\"\nKUBE_API_PORT=\"--secure-port=8443\"\nKUBE_API_ARGS=\"--tls-cert-file=/etc/kubernetes/certs/server.crt --client-ca-file=/etc/kubernetes/certs/ca.crt\"\n",
	})
	comps, bad := r.Components()
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	a := component(t, comps, layout.KubeAPIServer)
	if a.Flags["bind-address"] != "10.0.0.5" || a.Flags["secure-port"] != "8443" || a.Flags["tls-cert-file"] != "/etc/kubernetes/certs/server.crt" {
		t.Errorf("flags %v", a.Flags)
	}
}

func TestRancherServers(t *testing.T) {
	r, _ := node(t, map[string]string{
		"/etc/systemd/system/k3s.service":                "[Service]\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--https-listen-port=7443' \\\n\t'--write-kubeconfig=/root/k3s.yaml' \\\n\n",
		"/etc/systemd/system/k3s.service.env":            "K3S_TOKEN=secret\n",
		"/etc/rancher/k3s/config.yaml":                   "https-listen-port: 6444\nbind-address: 10.0.0.1\ntls-san:\n  - a.example\n  - 10.0.0.9\ndata-dir: /srv/k3s\n",
		"/etc/rancher/k3s/config.yaml.d/a.yaml":          "tls-san+: [b.example]\n",
		"/var/lib/rancher/rke2/server/tls/server-ca.crt": "x",
	})
	servers, bad := r.RancherServers()
	if len(bad) != 0 || len(servers) != 2 {
		t.Fatalf("servers %+v bad %v", servers, bad)
	}
	k := servers[0]
	if k.Dist != "k3s" || k.Unit != "k3s.service" || k.Origin != "/etc/systemd/system/k3s.service" {
		t.Errorf("k3s: %+v", k)
	}
	for key, want := range map[string]string{"https-listen-port": "7443", "bind-address": "10.0.0.1", "tls-san": "b.example"} {
		if k.Config[key] != want {
			t.Errorf("k3s %s = %q, want %q (the command line wins, config.yaml.d after config.yaml)", key, k.Config[key], want)
		}
	}
	if k.DataDir != "/srv/k3s" || k.Kubeconfig != "/root/k3s.yaml" {
		t.Errorf("k3s data dir %q kubeconfig %q", k.DataDir, k.Kubeconfig)
	}
	if k.Where("bind-address") != "k3s bind-address (/etc/rancher/k3s/config.yaml, /etc/rancher/k3s/config.yaml.d/a.yaml, /etc/systemd/system/k3s.service)" {
		t.Errorf("Where: %q", k.Where("bind-address"))
	}
	rk := servers[1]
	if rk.Dist != "rke2" || rk.Origin != "" || rk.Kubeconfig != "/etc/rancher/rke2/rke2.yaml" || rk.DataDir != "/var/lib/rancher/rke2" {
		t.Errorf("rke2 (data directory only): %+v", rk)
	}
}

func TestParseRancherConfig(t *testing.T) {
	got, err := ParseRancherConfig([]byte("write-kubeconfig-mode: 0644\nnode-label:\n  - a=b\n  - c=d\nselinux: true\nnested: {a: 1}\n"))
	want := map[string]string{"write-kubeconfig-mode": "420", "node-label": "a=b,c=d", "selinux": "true"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("got %v %v, want %v", got, err, want)
	}
	if _, err := ParseRancherConfig([]byte("a: [\n")); err == nil {
		t.Error("broken YAML accepted")
	}
}

func FuzzParseRancherConfig(f *testing.F) {
	f.Add([]byte("https-listen-port: 6443\ntls-san:\n  - a\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseRancherConfig(data) })
}
