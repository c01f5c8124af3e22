package health

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// epochClock is the certificates' clock of these tests: TLS verification happens at testpki.Epoch.
var epochClock = clock.Fixed(testpki.Epoch)

// binaryInstall is a binary-install node as the hard-way guides, kubeasz and
// kubespray lay it out: one cfssl-style CA in /etc/kubernetes/ssl for the
// Kubernetes components, a kubespray-style etcd CA in /etc/ssl/etcd/ssl,
// systemd units whose flags name every file, etcd configured by
// EnvironmentFile=/etc/etcd.env only (kubespray's unit has no flags), and
// kubeconfigs that reference .pem files.
type binaryInstall struct {
	root             string
	ca, etcdCA       *pki.CA
	apiserver, etcd  *testpki.Leaf
	etcdClient       *testpki.Leaf // the API server's --etcd-certfile
	admin, cm, sched *testpki.Leaf
}

type binaryOptions struct {
	advertise, bind   string // the API server's addresses
	securePort        string
	etcdURLs          string // ETCD_LISTEN_CLIENT_URLS
	admin             bool   // write /etc/kubernetes/admin.conf
	adminServer       string // admin.conf's server: a load balancer name
	anonymousAuthOff  bool
	etcdOwnCertClient bool // etcd's own certificate has client auth (hard-way's kubernetes.pem)
}

func writeBinaryInstall(t *testing.T, o binaryOptions) *binaryInstall {
	t.Helper()
	if o.advertise == "" {
		o.advertise = "10.0.0.1"
	}
	if o.securePort == "" {
		o.securePort = "6443"
	}
	if o.etcdURLs == "" {
		o.etcdURLs = "https://10.0.0.1:2379,https://127.0.0.1:2379"
	}
	if o.adminServer == "" {
		o.adminServer = "https://k8s-api.example.invalid:6443"
	}
	root := t.TempDir()
	b := &binaryInstall{root: root}
	b.ca = testpki.MustCA(t, testpki.WithCN("kubernetes"))
	b.etcdCA = testpki.MustCA(t, testpki.WithCN("etcd-ca"))
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	b.apiserver = testpki.MustLeaf(t, b.ca, testpki.WithCN("kubernetes"), testpki.WithUsage(both...),
		testpki.WithIPs("10.96.0.1", "127.0.0.1", o.advertise), testpki.WithDNS("kubernetes", "kubernetes.default"))
	etcdUsage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if o.etcdOwnCertClient {
		etcdUsage = both
	}
	b.etcd = testpki.MustLeaf(t, b.etcdCA, testpki.WithCN("etcd-member-node1"), testpki.WithUsage(etcdUsage...),
		testpki.WithIPs("127.0.0.1", "10.0.0.1"), testpki.WithDNS("localhost", "node1"))
	b.etcdClient = testpki.MustLeaf(t, b.etcdCA, testpki.WithCN("etcd-node-node1"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	b.admin = testpki.MustLeaf(t, b.ca, testpki.WithCN("admin"), testpki.WithOrg("system:masters"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	b.cm = testpki.MustLeaf(t, b.ca, testpki.WithCN("system:kube-controller-manager"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	b.sched = testpki.MustLeaf(t, b.ca, testpki.WithCN("system:kube-scheduler"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))

	ssl := "/etc/kubernetes/ssl"
	etcdSSL := "/etc/ssl/etcd/ssl"
	testpki.WriteCert(t, b.path(ssl+"/ca.pem"), b.ca.Cert)
	testpki.WriteKey(t, b.path(ssl+"/ca-key.pem"), b.ca.Signer)
	for name, l := range map[string]*testpki.Leaf{"kubernetes": b.apiserver, "admin": b.admin, "kube-controller-manager": b.cm, "kube-scheduler": b.sched} {
		testpki.WriteCert(t, b.path(ssl+"/"+name+".pem"), l.Cert)
		testpki.WriteKey(t, b.path(ssl+"/"+name+"-key.pem"), l.Key)
	}
	testpki.WriteCert(t, b.path(etcdSSL+"/ca.pem"), b.etcdCA.Cert)
	testpki.WriteCert(t, b.path(etcdSSL+"/member-node1.pem"), b.etcd.Cert)
	testpki.WriteKey(t, b.path(etcdSSL+"/member-node1-key.pem"), b.etcd.Key)
	testpki.WriteCert(t, b.path(etcdSSL+"/node-node1.pem"), b.etcdClient.Cert)
	testpki.WriteKey(t, b.path(etcdSSL+"/node-node1-key.pem"), b.etcdClient.Key)

	kubeconfig := func(name, server string) []byte {
		return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority: %[1]s/ca.pem
    server: %[2]s
users:
- name: %[3]s
  user:
    client-certificate: %[1]s/%[3]s.pem
    client-key: %[1]s/%[3]s-key.pem
contexts:
- name: default
  context: {cluster: kubernetes, user: %[3]s}
current-context: default
`, ssl, server, name)
	}
	if o.admin {
		testpki.WriteFile(t, b.path("/etc/kubernetes/admin.conf"), kubeconfig("admin", o.adminServer), 0o600)
	}
	testpki.WriteFile(t, b.path("/etc/kubernetes/kube-controller-manager.kubeconfig"), kubeconfig("kube-controller-manager", "https://127.0.0.1:6443"), 0o600)
	testpki.WriteFile(t, b.path("/etc/kubernetes/kube-scheduler.kubeconfig"), kubeconfig("kube-scheduler", "https://127.0.0.1:6443"), 0o600)

	unit := func(name, body string) {
		testpki.WriteFile(t, b.path("/etc/systemd/system/"+name), []byte(body), 0o644)
	}
	anon := ""
	if o.anonymousAuthOff {
		anon = "  --anonymous-auth=false \\\n"
	}
	bind := ""
	if o.bind != "" {
		bind = "  --bind-address=" + o.bind + " \\\n"
	}
	unit("kube-apiserver.service", `[Unit]
Description=Kubernetes API Server
[Service]
ExecStart=/usr/local/bin/kube-apiserver \
  --advertise-address=`+o.advertise+` \
`+bind+anon+`  --secure-port=`+o.securePort+` \
  --client-ca-file=`+ssl+`/ca.pem \
  --tls-cert-file=`+ssl+`/kubernetes.pem \
  --tls-private-key-file=`+ssl+`/kubernetes-key.pem \
  --etcd-cafile=`+etcdSSL+`/ca.pem \
  --etcd-certfile=`+etcdSSL+`/node-node1.pem \
  --etcd-keyfile=`+etcdSSL+`/node-node1-key.pem \
  --etcd-servers=https://127.0.0.1:2379 \
  --service-cluster-ip-range=10.96.0.0/12
Restart=on-failure
[Install]
WantedBy=multi-user.target
`)
	unit("etcd.service", "[Unit]\nDescription=etcd\n[Service]\nType=notify\nEnvironmentFile=/etc/etcd.env\nExecStart=/usr/local/bin/etcd\n")
	testpki.WriteFile(t, b.path("/etc/systemd/system/etcd.service.d/10-name.conf"), []byte("[Service]\nEnvironment=ETCD_NAME=node1\n"), 0o644)
	testpki.WriteFile(t, b.path("/etc/etcd.env"), []byte(`# Environment file for etcd v3.6.16
ETCD_DATA_DIR=/var/lib/etcd
ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.1:2379
ETCD_LISTEN_CLIENT_URLS=`+o.etcdURLs+`
ETCD_LISTEN_PEER_URLS=https://10.0.0.1:2380

# TLS settings
ETCD_TRUSTED_CA_FILE=`+etcdSSL+`/ca.pem
ETCD_CERT_FILE=`+etcdSSL+`/member-node1.pem
ETCD_KEY_FILE=`+etcdSSL+`/member-node1-key.pem
ETCD_CLIENT_CERT_AUTH=true
`), 0o644)
	unit("kube-controller-manager.service", "[Service]\nExecStart=/usr/local/bin/kube-controller-manager \\\n  --bind-address=127.0.0.1 \\\n  --kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig \\\n  --cluster-signing-cert-file="+ssl+"/ca.pem\n")
	unit("kube-scheduler.service", "[Service]\nExecStart=/usr/local/bin/kube-scheduler --kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig --leader-elect=true\n")
	unit("kubelet.service", "[Service]\nExecStart=/usr/local/bin/kubelet --config=/var/lib/kubelet/kubelet-config.yaml --kubeconfig=/var/lib/kubelet/kubeconfig\n")
	testpki.WriteFile(t, b.path("/var/lib/kubelet/kubelet-config.yaml"), []byte("kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nhealthzPort: 10249\nhealthzBindAddress: 127.0.0.1\n"), 0o644)
	return b
}

func (b *binaryInstall) path(p string) string { return filepath.Join(b.root, p) }

func gateNames(gates map[string][]Gate) map[string][]string {
	out := map[string][]string{}
	for c, gs := range gates {
		for _, g := range gs {
			out[c] = append(out[c], g.Name)
		}
	}
	return out
}

func notesOf(notes []Note, c string) string {
	var out []string
	for _, n := range notes {
		if n.Component == c {
			out = append(out, n.Text)
		}
	}
	return strings.Join(out, "; ")
}

func TestGatesFromBinaryInstallUnits(t *testing.T) {
	b := writeBinaryInstall(t, binaryOptions{})
	gates, notes := ForNode(inventory.NewReader(b.root), Options{Clock: epochClock})
	want := map[string][]string{
		layout.Etcd: {"etcd https://127.0.0.1:2379/health as /etc/ssl/etcd/ssl/node-node1.pem (kube-apiserver --etcd-certfile (/etc/systemd/system/kube-apiserver.service))"},
		layout.KubeAPIServer: {
			"kube-apiserver https://10.0.0.1:6443/livez as /etc/kubernetes/kube-controller-manager.kubeconfig (kube-controller-manager --kubeconfig (/etc/systemd/system/kube-controller-manager.service))",
			"kube-apiserver https://10.0.0.1:6443/readyz as /etc/kubernetes/kube-controller-manager.kubeconfig (kube-controller-manager --kubeconfig (/etc/systemd/system/kube-controller-manager.service))",
		},
		layout.KubeControllerManager: {"kube-controller-manager https://127.0.0.1:10257/healthz",
			"kube-controller-manager holds its leader lease kube-system/kube-controller-manager (read from https://10.0.0.1:6443 as /etc/kubernetes/kube-controller-manager.kubeconfig (kube-controller-manager --kubeconfig (/etc/systemd/system/kube-controller-manager.service)))"},
		layout.KubeScheduler: {"kube-scheduler https://127.0.0.1:10259/healthz",
			"kube-scheduler holds its leader lease kube-system/kube-scheduler (read from https://10.0.0.1:6443 as /etc/kubernetes/kube-controller-manager.kubeconfig (kube-controller-manager --kubeconfig (/etc/systemd/system/kube-controller-manager.service)))"},
		layout.Kubelet: {"kubelet http://127.0.0.1:10249/healthz"},
	}
	got := gateNames(gates)
	for c, w := range want {
		if strings.Join(got[c], "\n") != strings.Join(w, "\n") {
			t.Errorf("%s gates:\n%s\nwant:\n%s", c, strings.Join(got[c], "\n"), strings.Join(w, "\n"))
		}
	}
	if n := notesOf(notes, layout.Etcd); !strings.Contains(n, "ETCD_LISTEN_CLIENT_URLS in /etc/etcd.env") {
		t.Errorf("etcd notes %q do not say the URL came from /etc/etcd.env", n)
	}
	if n := notesOf(notes, layout.KubeAPIServer); !strings.Contains(n, "--advertise-address") || !strings.Contains(n, `checked for "10.0.0.1"`) {
		t.Errorf("API server notes %q", n)
	}
	for c, gs := range gates {
		for _, g := range gs {
			if g.Ready != nil {
				if err := g.Ready(); err != nil {
					t.Errorf("%s: Ready: %v", g.Name, err)
				}
			}
			if g.Timeout != 90*time.Second {
				t.Errorf("%s: timeout %s", c, g.Timeout)
			}
		}
	}
	// A gate whose credentials went missing says so before anything changes.
	os.Remove(b.path("/etc/ssl/etcd/ssl/node-node1-key.pem"))
	if err := gates[layout.Etcd][0].Ready(); err == nil || !strings.Contains(err.Error(), "/etc/ssl/etcd/ssl/node-node1-key.pem") {
		t.Errorf("Ready with the client key gone: %v", err)
	}
}

func TestAPIServerCredentialsAndAddressChoices(t *testing.T) {
	tests := []struct {
		name     string
		o        binaryOptions
		wantGate string // substring of the first API server gate, "" for none
		wantNote string
	}{
		{"admin.conf first, its load balancer name ignored", binaryOptions{admin: true}, "https://10.0.0.1:6443/livez as /etc/kubernetes/admin.conf", "--advertise-address"},
		{"a specific --bind-address is where it listens", binaryOptions{admin: true, bind: "10.0.0.7"}, "https://10.0.0.7:6443/livez", "--bind-address"},
		{"every interface: the advertise address", binaryOptions{admin: true, bind: "0.0.0.0", securePort: "8443"}, "https://10.0.0.1:8443/livez", ""},
		{"IPv6 advertise address", binaryOptions{admin: true, advertise: "fd00::1"}, "https://[fd00::1]:6443/livez", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := writeBinaryInstall(t, tt.o)
			gates, notes := ForNode(inventory.NewReader(b.root), Options{Clock: epochClock})
			g := gates[layout.KubeAPIServer]
			if len(g) != 2 || !strings.Contains(g[0].Name, tt.wantGate) {
				t.Fatalf("gates %v, want %q", gateNames(gates)[layout.KubeAPIServer], tt.wantGate)
			}
			for _, x := range g {
				if strings.Contains(x.Name, "example.invalid") {
					t.Errorf("%s uses admin.conf's load balancer", x.Name)
				}
			}
			if n := notesOf(notes, layout.KubeAPIServer); !strings.Contains(n, tt.wantNote) {
				t.Errorf("notes %q, want %q", n, tt.wantNote)
			}
		})
	}
}

func TestNoGateWithoutACredentialTheServerAccepts(t *testing.T) {
	b := writeBinaryInstall(t, binaryOptions{anonymousAuthOff: true})
	// No kubeconfig the API server trusts, no client certificate etcd trusts.
	for _, p := range []string{"/etc/kubernetes/kube-controller-manager.kubeconfig", "/etc/kubernetes/kube-scheduler.kubeconfig", "/etc/ssl/etcd/ssl/node-node1.pem"} {
		os.Remove(b.path(p))
	}
	gates, notes := ForNode(inventory.NewReader(b.root), Options{Clock: epochClock})
	for _, c := range []string{layout.Etcd, layout.KubeAPIServer} {
		if len(gates[c]) != 0 {
			t.Errorf("%s has gates %v", c, gateNames(gates)[c])
		}
		found := false
		for _, n := range notes {
			found = found || n.Component == c && n.NoGate
		}
		if !found {
			t.Errorf("no NoGate note for %s: %q", c, notesOf(notes, c))
		}
	}
	if n := notesOf(notes, layout.Etcd); !strings.Contains(n, "--client-cert-auth") {
		t.Errorf("etcd note %q", n)
	}
	if n := notesOf(notes, layout.KubeAPIServer); !strings.Contains(n, "--anonymous-auth=false") {
		t.Errorf("API server note %q", n)
	}

	// etcd's own certificate with client auth is the last resort.
	b = writeBinaryInstall(t, binaryOptions{etcdOwnCertClient: true})
	os.Remove(b.path("/etc/ssl/etcd/ssl/node-node1.pem"))
	gates, _ = ForNode(inventory.NewReader(b.root), Options{Clock: epochClock})
	if g := gates[layout.Etcd]; len(g) != 1 || !strings.Contains(g[0].Name, "as /etc/ssl/etcd/ssl/member-node1.pem (etcd's own") {
		t.Errorf("etcd gates %v", gateNames(gates)[layout.Etcd])
	}
}

func TestOverridesAndOff(t *testing.T) {
	b := writeBinaryInstall(t, binaryOptions{admin: true})
	gates, notes := ForNode(inventory.NewReader(b.root), Options{Clock: epochClock, Endpoints: map[string]string{
		layout.KubeAPIServer: "https://10.0.0.9:443/",
		layout.Etcd:          "https://127.0.0.1:12379/health",
		layout.Kubelet:       Off,
	}})
	got := gateNames(gates)
	if len(got[layout.KubeAPIServer]) != 2 || !strings.HasPrefix(got[layout.KubeAPIServer][1], "kube-apiserver https://10.0.0.9:443/readyz as /etc/kubernetes/admin.conf") {
		t.Errorf("API server: %v", got[layout.KubeAPIServer])
	}
	if len(got[layout.Etcd]) != 1 || !strings.HasPrefix(got[layout.Etcd][0], "etcd https://127.0.0.1:12379/health as ") {
		t.Errorf("etcd: %v", got[layout.Etcd])
	}
	if len(got[layout.Kubelet]) != 0 || !strings.Contains(notesOf(notes, layout.Kubelet), "--gate kubelet=off") {
		t.Errorf("kubelet: %v, %q", got[layout.Kubelet], notesOf(notes, layout.Kubelet))
	}
}

func TestKubeadmManifestGatesNeverUseTheControlPlaneEndpoint(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true, ControlPlaneEndpoint: "k8s-api.example.invalid"})
	gates, notes := ForNode(inventory.NewReader(tr.Root), Options{Clock: epochClock})
	got := gateNames(gates)
	want := map[string]string{
		layout.Etcd:                  "etcd https://127.0.0.1:2379/health as /etc/kubernetes/pki/etcd/healthcheck-client.crt",
		layout.KubeAPIServer:         "kube-apiserver https://10.0.0.1:6443/livez as /etc/kubernetes/admin.conf",
		layout.KubeControllerManager: "kube-controller-manager https://127.0.0.1:10257/healthz",
		layout.KubeScheduler:         "kube-scheduler https://127.0.0.1:10259/healthz",
		layout.Kubelet:               "kubelet http://127.0.0.1:10248/healthz",
	}
	for c, w := range want {
		if len(got[c]) == 0 || got[c][0] != w {
			t.Errorf("%s: %v, want %q", c, got[c], w)
		}
	}
	if n := notesOf(notes, layout.KubeAPIServer); strings.Contains(n, "example.invalid") {
		t.Errorf("notes mention the control plane endpoint: %q", n)
	}
}

// TestAPIServerGateAsksTheLocalAddressOverTLS runs the derived gates against
// real TLS servers on loopback: the API server's manifest says 127.0.0.1 and
// a port, admin.conf names a load balancer that does not exist.
func TestAPIServerGateAsksTheLocalAddressOverTLS(t *testing.T) {
	var sawAdmin, sawEtcdClient string
	etcdLn := listen(t)
	apiLn := listen(t)
	b := writeBinaryInstall(t, binaryOptions{admin: true, advertise: "127.0.0.1", securePort: port(apiLn),
		etcdURLs: "https://10.0.0.1:2379,https://127.0.0.1:" + port(etcdLn)})
	serve(t, etcdLn, b.etcd, b.etcdCA.Cert, func(w http.ResponseWriter, r *http.Request) {
		sawEtcdClient = r.TLS.PeerCertificates[0].Subject.CommonName
		w.Write([]byte(`{"health":"true","reason":""}`))
	})
	serve(t, apiLn, b.apiserver, b.ca.Cert, func(w http.ResponseWriter, r *http.Request) {
		sawAdmin = r.TLS.PeerCertificates[0].Subject.CommonName
		w.Write([]byte("ok"))
	})
	gates, _ := ForNode(inventory.NewReader(b.root), Options{Clock: epochClock, Timeout: time.Second})
	for _, c := range []string{layout.Etcd, layout.KubeAPIServer} {
		if len(gates[c]) == 0 {
			t.Fatalf("no %s gate", c)
		}
		for _, g := range gates[c] {
			if err := g.Probe.Check(context.Background()); err != nil {
				t.Errorf("%s: %v", g.Name, err)
			}
		}
	}
	if sawAdmin != "admin" || sawEtcdClient != "etcd-node-node1" {
		t.Errorf("clients seen: API server %q (want admin.conf's admin), etcd %q (want the API server's etcd client)", sawAdmin, sawEtcdClient)
	}

	// A renewed certificate on disk that the server does not serve yet.
	renewed := testpki.MustLeaf(t, b.ca, testpki.WithTemplate(testpki.TemplateFrom(b.apiserver.Cert)), testpki.WithKey(b.apiserver.Key))
	testpki.WriteCert(t, b.path("/etc/kubernetes/ssl/kubernetes.pem"), renewed.Cert)
	if err := gates[layout.KubeAPIServer][0].Probe.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "not the renewed one on disk") {
		t.Errorf("API server serving the old certificate: %v", err)
	}
	// Verification uses the injected time: at a time the served certificate
	// is expired, the gate fails.
	late, _ := ForNode(inventory.NewReader(b.root), Options{Clock: clock.Fixed(testpki.Epoch.Add(5 * 365 * 24 * time.Hour))})
	if err := late[layout.Etcd][0].Probe.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("etcd gate at a time its certificate is expired: %v", err)
	}
}

func TestK3sGateFromItsConfig(t *testing.T) {
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	serverCA := testpki.MustCA(t, testpki.WithCN("k3s-server-ca@1"))
	clientCA := testpki.MustCA(t, testpki.WithCN("k3s-client-ca@1"))
	serving := testpki.MustLeaf(t, serverCA, testpki.WithCN("k3s"), testpki.WithIPs("127.0.0.1"), testpki.WithDNS("localhost", "kubernetes"), testpki.WithUsage(x509.ExtKeyUsageServerAuth))
	admin := testpki.MustLeaf(t, clientCA, testpki.WithCN("system:admin"), testpki.WithOrg("system:masters"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	tls := "/var/lib/rancher/k3s/server/tls"
	testpki.WriteCert(t, at(tls+"/server-ca.crt"), serverCA.Cert)
	testpki.WriteCert(t, at(tls+"/client-ca.crt"), clientCA.Cert)
	ln := listen(t)
	testpki.WriteFile(t, at("/etc/rancher/k3s/config.yaml"), []byte("write-kubeconfig-mode: \"0644\"\ntls-san:\n  - k3s.example.invalid\nhttps-listen-port: "+port(ln)+"\n"), 0o644)
	testpki.WriteFile(t, at("/etc/systemd/system/k3s.service"), []byte("[Service]\nType=notify\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--disable=traefik' \\\n\n"), 0o644)
	// k3s writes its kubeconfig for its default port; the gate uses the configured one.
	testpki.WriteFile(t, at("/etc/rancher/k3s/k3s.yaml"), testpki.Kubeconfig(t, "https://127.0.0.1:6443", serverCA.Cert, admin, "default"), 0o600)
	var saw string
	serve(t, ln, serving, clientCA.Cert, func(w http.ResponseWriter, r *http.Request) {
		saw = r.TLS.PeerCertificates[0].Subject.CommonName
		w.Write([]byte("ok"))
	})
	gates, notes := ForNode(inventory.NewReader(root), Options{Clock: epochClock, Timeout: time.Second})
	g := gates[layout.KubeAPIServer]
	if len(g) != 2 || !strings.Contains(g[0].Name, "k3s API server https://127.0.0.1:"+port(ln)+"/livez as /etc/rancher/k3s/k3s.yaml") {
		t.Fatalf("gates %v", gateNames(gates))
	}
	for _, x := range g {
		if err := x.Probe.Check(context.Background()); err != nil {
			t.Errorf("%s: %v", x.Name, err)
		}
		if err := x.Ready(); err != nil {
			t.Errorf("%s: Ready: %v", x.Name, err)
		}
	}
	if saw != "system:admin" {
		t.Errorf("the server saw %q", saw)
	}
	if n := notesOf(notes, layout.KubeAPIServer); !strings.Contains(n, "/etc/systemd/system/k3s.service") {
		t.Errorf("notes %q", n)
	}
}

func TestRKE2GateComparesItsServingCertificate(t *testing.T) {
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	tls := "/var/lib/rancher/rke2/server/tls"
	serverCA := testpki.MustCA(t, testpki.WithCN("rke2-server-ca@1"))
	admin := testpki.MustLeaf(t, serverCA, testpki.WithCN("system:admin"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	serving := testpki.MustLeaf(t, serverCA, testpki.WithCN("kube-apiserver"), testpki.WithIPs("127.0.0.1"), testpki.WithUsage(x509.ExtKeyUsageServerAuth))
	testpki.WriteCert(t, at(tls+"/server-ca.crt"), serverCA.Cert)
	testpki.WriteCert(t, at(tls+"/serving-kube-apiserver.crt"), serving.Cert)
	testpki.WriteFile(t, at("/usr/local/lib/systemd/system/rke2-server.service"), []byte("[Service]\nExecStart=/usr/local/bin/rke2 server\n"), 0o644)
	testpki.WriteFile(t, at("/etc/rancher/rke2/rke2.yaml"), testpki.Kubeconfig(t, "https://127.0.0.1:6443", serverCA.Cert, admin, "default"), 0o600)
	gates, _ := ForNode(inventory.NewReader(root), Options{Clock: epochClock})
	g := gates[layout.KubeAPIServer]
	if len(g) != 2 || g[0].Name != "rke2 API server https://127.0.0.1:6443/livez as /etc/rancher/rke2/rke2.yaml" {
		t.Fatalf("gates %v", gateNames(gates))
	}
	if p := g[0].Probe.(HTTPProbe); p.Served == nil {
		t.Error("the RKE2 gate does not compare the served certificate with serving-kube-apiserver.crt")
	}
}

func TestParseKubeletHealthz(t *testing.T) {
	tests := []struct{ data, port, bind, err string }{
		{"healthzPort: 10249\nhealthzBindAddress: 0.0.0.0\n", "10249", "0.0.0.0", ""},
		{"kind: KubeletConfiguration\n", "", "", ""},
		{"healthzPort: 0\n", "0", "", ""},
		{"healthzPort: 70000\n", "", "", "not a port"},
		{"healthzPort: [\n", "", "", "not a KubeletConfiguration"},
	}
	for _, tt := range tests {
		p, b, err := ParseKubeletHealthz([]byte(tt.data))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.data, err, tt.err)
			}
			continue
		}
		if err != nil || p != tt.port || b != tt.bind {
			t.Errorf("%q: %q %q %v", tt.data, p, b, err)
		}
	}
}

func FuzzParseKubeletHealthz(f *testing.F) {
	f.Add([]byte("healthzPort: 10248\nhealthzBindAddress: 127.0.0.1\n"))
	f.Add([]byte("healthzPort: -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _, _ = ParseKubeletHealthz(data) })
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// serve answers HTTPS on ln with leaf's certificate, requiring client
// certificates signed by clientCA.
func serve(t *testing.T, ln net.Listener, leaf *testpki.Leaf, clientCA *x509.Certificate, h http.HandlerFunc) {
	t.Helper()
	s := tlsServerOn(t, ln, leaf.Cert, leaf.Key, clientCA, h)
	if _, err := url.Parse(s.URL); err != nil {
		t.Fatal(err)
	}
}

// A kubeadm layout whose components run from elsewhere (the e2e plane starts
// them from scripts) is probed as kubeadm's manifests would start them; the
// API server on admin.conf's server only when that is an address.
func TestKubeadmFilesWithoutManifests(t *testing.T) {
	tests := []struct {
		name, endpoint, want string
	}{
		{"admin.conf names the advertise address", "", "kube-apiserver https://10.0.0.1:6443/livez as /etc/kubernetes/admin.conf"},
		{"admin.conf names a load balancer", "k8s-api.example.invalid", "kube-apiserver https://127.0.0.1:6443/livez as /etc/kubernetes/admin.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{ControlPlaneEndpoint: tt.endpoint})
			gates, notes := ForNode(inventory.NewReader(tr.Root), Options{Clock: epochClock})
			got := gateNames(gates)
			if len(got[layout.KubeAPIServer]) != 2 || got[layout.KubeAPIServer][0] != tt.want {
				t.Errorf("API server gates %v, want %q", got[layout.KubeAPIServer], tt.want)
			}
			if len(got[layout.Etcd]) != 1 || got[layout.Etcd][0] != "etcd https://127.0.0.1:2379/health as /etc/kubernetes/pki/etcd/healthcheck-client.crt" {
				t.Errorf("etcd gates %v", got[layout.Etcd])
			}
			if !strings.Contains(notesOf(notes, layout.Etcd), "its kubeadm files are on the node") {
				t.Errorf("notes %q", notesOf(notes, layout.Etcd))
			}
		})
	}
	// Served-name choice: kubeadm's API server certificate has no 127.0.0.1.
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{ControlPlaneEndpoint: "k8s-api.example.invalid"})
	_, notes := ForNode(inventory.NewReader(tr.Root), Options{Clock: epochClock})
	if n := notesOf(notes, layout.KubeAPIServer); !strings.Contains(n, `checked for "kubernetes"`) {
		t.Errorf("notes %q", n)
	}
}
