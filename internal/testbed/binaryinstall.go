package testbed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// BinaryInstall is the field guide's kind of node under Root: one cfssl CA
// (the real cfssl v1.6.5: `cfssl gencert -initca`, then `cfssl gencert -ca
// -ca-key -config -profile=kubernetes` piped into `cfssljson -bare`) signing
// every certificate in /etc/kubernetes/ssl, etcd's included (kubeasz names:
// apiserver.pem doubles as etcd's client certificate, admin.pem as the
// kubelet client, the CA key signs service accounts); kubeconfigs that
// reference those .pem paths; and systemd units whose ExecStart flags name
// every file, etcd's through a drop-in that overrides its ExecStart. The
// binaries are the testbed's, linked into ROOT/usr/local/bin where the units
// look for them.
type BinaryInstall struct {
	Root        string
	Advertise   string // the node address: --advertise-address, SAN of every serving certificate
	ServiceCIDR string
	ServiceIP   string // the first address of ServiceCIDR, a SAN of the API server's certificate
	// CSRDir holds the operator's cfssl files (ca-config.json, *-csr.json):
	// the toolkit, not the node.
	CSRDir string
}

// Node paths of the layout.
const (
	BinSSLDir        = "/etc/kubernetes/ssl"
	BinAdminConf     = "/etc/kubernetes/admin.conf"
	BinControllerCfg = "/etc/kubernetes/kube-controller-manager.kubeconfig"
	BinSchedulerCfg  = "/etc/kubernetes/kube-scheduler.kubeconfig"
	BinUnitDir       = "/etc/systemd/system"
)

// BinaryInstallUnits are the units in the order a node boots them.
var BinaryInstallUnits = []string{"etcd.service", "kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service"}

// BinaryInstallBinds are the node directories the components read.
var BinaryInstallBinds = []string{"/etc/kubernetes", "/var/lib/etcd", "/usr/local/bin"}

// BinaryInstallLeaves are the leaf certificates (file stems in ssl/).
var BinaryInstallLeaves = []string{"apiserver", "admin", "kube-controller-manager", "kube-scheduler", "etcd", "aggregator-proxy"}

// NewBinaryInstall lays the node out under root (a fresh directory) with the
// node address advertise. It needs the testbed's cfssl, etcd and k8s sets.
func NewBinaryInstall(t testing.TB, root, advertise string) *BinaryInstall {
	t.Helper()
	b := &BinaryInstall{Root: root, Advertise: advertise, ServiceCIDR: "10.96.0.0/12", ServiceIP: "10.96.0.1", CSRDir: t.TempDir()}
	bins := map[string]string{"etcd": Bin(t, "etcd", "etcd")}
	for _, n := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		bins[n] = Bin(t, "k8s", n)
	}
	cfssl, cfssljson := Bin(t, "cfssl", "cfssl"), Bin(t, "cfssl", "cfssljson")
	for _, d := range []string{BinSSLDir, BinUnitDir, "/usr/local/bin"} {
		b.mkdir(t, d, 0o755)
	}
	b.mkdir(t, "/var/lib/etcd", 0o700)
	for name, p := range bins {
		// A hard link where the filesystem allows it (no copy of 100 MB); a
		// symbolic link to the cache otherwise, which the supervisor's
		// namespace resolves as the host does.
		dst := b.Path("/usr/local/bin/" + name)
		if err := os.Link(p, dst); err != nil {
			if err := os.Symlink(p, dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.pki(t, cfssl, cfssljson)
	b.kubeconfigs(t)
	b.units(t)
	return b
}

// Path is where node path p is under the root.
func (b *BinaryInstall) Path(p string) string { return filepath.Join(b.Root, p) }

// SSL is the node path of a file in /etc/kubernetes/ssl.
func SSL(name string) string { return BinSSLDir + "/" + name }

// node is the layout's view of its root, the product's own (nodefs).
func (b *BinaryInstall) node() *nodefs.FS { return nodefs.New(b.Root) }

func (b *BinaryInstall) mkdir(t testing.TB, p string, mode os.FileMode) {
	t.Helper()
	if err := b.node().MkdirAll(p, mode); err != nil {
		t.Fatal(err)
	}
}

func (b *BinaryInstall) write(t testing.TB, p, data string, mode os.FileMode) {
	t.Helper()
	if err := b.node().MkdirAll(path.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.node().Write(p, []byte(data), mode, true); err != nil {
		t.Fatal(err)
	}
}

// csr is a cfssl CSR file.
type csr struct {
	CN    string              `json:"CN"`
	Hosts []string            `json:"hosts"`
	Key   map[string]any      `json:"key"`
	Names []map[string]string `json:"names"`
	CA    map[string]string   `json:"ca,omitempty"`
}

func (b *BinaryInstall) pki(t testing.TB, cfssl, cfssljson string) {
	t.Helper()
	names := func(o string) []map[string]string {
		return []map[string]string{{"C": "CN", "ST": "Beijing", "L": "Beijing", "O": o, "OU": "System"}}
	}
	rsa := map[string]any{"algo": "rsa", "size": 2048}
	// The field guide's conf/ca-config.json: one "kubernetes" profile for
	// servers and clients alike.
	conf := `{"signing":{"default":{"expiry":"87600h"},"profiles":{"kubernetes":{"usages":["signing","key encipherment","server auth","client auth"],"expiry":"87600h"}}}}`
	if err := os.WriteFile(filepath.Join(b.CSRDir, "ca-config.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	csrs := map[string]csr{
		"ca": {CN: "kubernetes", Key: rsa, Names: names("k8s"), CA: map[string]string{"expiry": "876000h"}},
		"apiserver": {CN: "kubernetes", Key: rsa, Names: names("k8s"), Hosts: []string{"127.0.0.1", b.Advertise, b.ServiceIP,
			"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local"}},
		"admin":                   {CN: "admin", Key: rsa, Names: names("system:masters"), Hosts: []string{}},
		"kube-controller-manager": {CN: "system:kube-controller-manager", Key: rsa, Names: names("system:kube-controller-manager"), Hosts: []string{"127.0.0.1", b.Advertise}},
		"kube-scheduler":          {CN: "system:kube-scheduler", Key: rsa, Names: names("system:kube-scheduler"), Hosts: []string{"127.0.0.1", b.Advertise}},
		"etcd":                    {CN: "etcd", Key: rsa, Names: names("k8s"), Hosts: []string{"127.0.0.1", b.Advertise}},
		"aggregator-proxy":        {CN: "aggregator", Key: rsa, Names: names("k8s"), Hosts: []string{}},
	}
	for name, c := range csrs {
		data, _ := json.MarshalIndent(c, "", "  ")
		if err := os.WriteFile(filepath.Join(b.CSRDir, name+"-csr.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ssl := b.Path(BinSSLDir)
	gen := func(bare string, args ...string) {
		t.Helper()
		var js, errb bytes.Buffer
		cmd := exec.Command(cfssl, args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = b.CSRDir, &js, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("cfssl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		cmd = exec.Command(cfssljson, "-bare", bare)
		cmd.Dir, cmd.Stdin = ssl, &js
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cfssljson -bare %s: %v\n%s", bare, err, out)
		}
	}
	gen("ca", "gencert", "-initca", "ca-csr.json")
	for _, leaf := range BinaryInstallLeaves {
		gen(leaf, "gencert", "-ca="+filepath.Join(ssl, "ca.pem"), "-ca-key="+filepath.Join(ssl, "ca-key.pem"),
			"-config=ca-config.json", "-profile=kubernetes", leaf+"-csr.json")
	}
}

func (b *BinaryInstall) kubeconfigs(t testing.TB) {
	t.Helper()
	kc := func(p, user, cert, server string) {
		b.write(t, p, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority: %s
    server: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: default
  context:
    cluster: kubernetes
    user: %s
current-context: default
`, SSL("ca.pem"), server, user, SSL(cert+".pem"), SSL(cert+"-key.pem"), user), 0o600)
	}
	api := "https://" + b.Advertise + ":6443"
	kc(BinAdminConf, "admin", "admin", api)
	kc(BinControllerCfg, "system:kube-controller-manager", "kube-controller-manager", "https://127.0.0.1:6443")
	kc(BinSchedulerCfg, "system:kube-scheduler", "kube-scheduler", "https://127.0.0.1:6443")
}

// units writes the four units. etcd's base unit names the files where an
// older install kept them (/etc/etcd/ssl); the drop-in, as `systemctl edit
// etcd` writes it, resets ExecStart= and names /etc/kubernetes/ssl: a reader
// that ignores drop-ins finds files that are not there.
func (b *BinaryInstall) units(t testing.TB) {
	t.Helper()
	unit := func(name, desc, after string, argv ...string) {
		b.write(t, BinUnitDir+"/"+name, fmt.Sprintf(`[Unit]
Description=%s
Documentation=https://github.com/kubernetes/kubernetes
After=%s

[Service]
Type=notify
ExecStart=%s
Restart=always
RestartSec=%d
TimeoutStopSec=%d
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`, desc, after, strings.Join(argv, " \\\n  "), UnitRestartSec, UnitTimeoutStopSec), 0o644)
	}
	ssl := SSL
	a := b.Advertise
	etcdArgs := func(dir string) []string {
		return []string{"/usr/local/bin/etcd", "--name=etcd-" + a, "--data-dir=/var/lib/etcd",
			"--cert-file=" + dir + "/etcd.pem", "--key-file=" + dir + "/etcd-key.pem",
			"--peer-cert-file=" + dir + "/etcd.pem", "--peer-key-file=" + dir + "/etcd-key.pem",
			"--trusted-ca-file=" + dir + "/ca.pem", "--peer-trusted-ca-file=" + dir + "/ca.pem",
			"--client-cert-auth", "--peer-client-cert-auth",
			"--initial-advertise-peer-urls=https://" + a + ":2380", "--listen-peer-urls=https://" + a + ":2380",
			"--listen-client-urls=https://" + a + ":2379,https://127.0.0.1:2379", "--advertise-client-urls=https://" + a + ":2379",
			"--initial-cluster-token=etcd-cluster-0", "--initial-cluster=etcd-" + a + "=https://" + a + ":2380",
			"--initial-cluster-state=new", "--log-level=warn"}
	}
	unit("etcd.service", "Etcd Server", "network.target", etcdArgs("/etc/etcd/ssl")...)
	b.write(t, BinUnitDir+"/etcd.service.d/10-certs.conf", fmt.Sprintf(`# certificates moved to %s
[Service]
Environment="ETCD_UNSAFE_NO_FSYNC=true"
ExecStart=
ExecStart=%s
`, BinSSLDir, strings.Join(etcdArgs(BinSSLDir), " \\\n  ")), 0o644)

	unit("kube-apiserver.service", "Kubernetes API Server", "network.target etcd.service",
		"/usr/local/bin/kube-apiserver",
		"--advertise-address="+a, "--bind-address=0.0.0.0", "--secure-port=6443",
		"--allow-privileged=true", "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--client-ca-file="+ssl("ca.pem"),
		"--etcd-cafile="+ssl("ca.pem"), "--etcd-certfile="+ssl("apiserver.pem"), "--etcd-keyfile="+ssl("apiserver-key.pem"),
		"--etcd-servers=https://"+a+":2379",
		"--kubelet-client-certificate="+ssl("admin.pem"), "--kubelet-client-key="+ssl("admin-key.pem"),
		"--proxy-client-cert-file="+ssl("aggregator-proxy.pem"), "--proxy-client-key-file="+ssl("aggregator-proxy-key.pem"),
		"--requestheader-allowed-names=aggregator", "--requestheader-client-ca-file="+ssl("ca.pem"),
		"--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+ssl("ca.pem"), "--service-account-signing-key-file="+ssl("ca-key.pem"),
		"--service-cluster-ip-range="+b.ServiceCIDR,
		"--tls-cert-file="+ssl("apiserver.pem"), "--tls-private-key-file="+ssl("apiserver-key.pem"),
		"--v=1")
	unit("kube-controller-manager.service", "Kubernetes Controller Manager", "kube-apiserver.service",
		"/usr/local/bin/kube-controller-manager",
		"--bind-address=127.0.0.1", "--secure-port=10257",
		"--kubeconfig="+BinControllerCfg, "--authentication-kubeconfig="+BinControllerCfg, "--authorization-kubeconfig="+BinControllerCfg,
		"--client-ca-file="+ssl("ca.pem"), "--requestheader-client-ca-file="+ssl("ca.pem"),
		"--cluster-name=kubernetes", "--cluster-signing-cert-file="+ssl("ca.pem"), "--cluster-signing-key-file="+ssl("ca-key.pem"),
		"--root-ca-file="+ssl("ca.pem"), "--service-account-private-key-file="+ssl("ca-key.pem"),
		"--service-cluster-ip-range="+b.ServiceCIDR, "--use-service-account-credentials=true", "--leader-elect=true", "--v=1")
	unit("kube-scheduler.service", "Kubernetes Scheduler", "kube-apiserver.service",
		"/usr/local/bin/kube-scheduler",
		"--bind-address=127.0.0.1", "--secure-port=10259",
		"--kubeconfig="+BinSchedulerCfg, "--authentication-kubeconfig="+BinSchedulerCfg, "--authorization-kubeconfig="+BinSchedulerCfg,
		"--leader-elect=true", "--v=1")
}

// Credentials are the node paths of every certificate, key and kubeconfig
// of the layout (what a backup must hold and a restore bring back).
func (b *BinaryInstall) Credentials() []string {
	out := []string{SSL("ca.pem"), SSL("ca-key.pem"), BinAdminConf, BinControllerCfg, BinSchedulerCfg}
	for _, l := range BinaryInstallLeaves {
		out = append(out, SSL(l+".pem"), SSL(l+"-key.pem"))
	}
	return out
}

// CA is the node's CA (ssl/ca.pem and ca-key.pem), read through the node's view.
func (b *BinaryInstall) CA(t testing.TB) *pki.CA {
	t.Helper()
	node := b.node()
	ca, err := pki.LoadCAFrom(func(p string) ([]byte, error) { return node.Read(p, 1<<20) }, SSL("ca.pem"), SSL("ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Expire re-signs every leaf with the CA's key, same subject, SANs, usages
// and public key, valid from notBefore to notAfter (a window in the past).
// The CA stays valid: the incident is expired leaves under a good CA. Files
// keep their modes. Go binaries ignore libfaketime, so this is how a test
// makes certificates expire.
func (b *BinaryInstall) Expire(t testing.TB, notBefore, notAfter time.Time) {
	t.Helper()
	ca := b.CA(t)
	node := b.node()
	for _, l := range BinaryInstallLeaves {
		p := SSL(l + ".pem")
		f, err := node.ReadFile(p, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		certs, err := pki.ParseCertificatesPEM(f.Data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		tmpl := testpki.TemplateFrom(certs[0])
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
		c, err := pki.Sign(ca, tmpl, certs[0].PublicKey)
		if err != nil {
			t.Fatalf("re-sign %s: %v", p, err)
		}
		if err := node.Write(p, testpki.CertPEM(c), f.Mode.Perm(), true); err != nil {
			t.Fatal(err)
		}
	}
}
