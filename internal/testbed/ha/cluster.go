package ha

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// Options size the testbed.
type Options struct {
	// Nodes is the number of control-plane nodes (default 3).
	Nodes int
	// Workers is the number of worker nodes: hollow kubelets registered
	// through the VIP, each with its own root, address and sshd (see
	// Worker). None by default.
	Workers int
}

// Cluster is a running HA control plane.
type Cluster struct {
	Dir   string // the testbed's own files: kubeadm configs, units, ssh keys, haproxy
	Nodes []*Node
	// Workers are the worker nodes (Options.Workers), Ready in the API when
	// Start returns.
	Workers []*Worker
	SSH     SSH
	// ClientTLS authenticates as a cluster admin (group system:masters) with
	// a certificate the test signed with the cluster CA, so it stays valid
	// whatever the nodes' own kubeconfigs go through.
	ClientTLS  *tls.Config
	LBPID      int
	HAProxyLog string
	// HAProxySocket is haproxy's admin socket (a path: usable from any
	// namespace): `set server kube-apiservers/NODE state drain|ready`.
	HAProxySocket string

	net       *network
	bins      map[string]string
	clientPub string
	pids      []int
	knownMu   sync.Mutex
	workerNS  *testbed.NetNS
}

// Start builds and starts the testbed and waits until every API server and
// the VIP answer /readyz and every sshd lets the controller in. It needs
// root, the testbed's k8s and etcd sets, haproxy and openssh-server; without
// them it skips, or fails under CERTRESCUE_REQUIRE_TESTBED=1.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	Need(t, "/usr/sbin/haproxy", "haproxy")
	Need(t, "/usr/sbin/sshd", "openssh-server")
	Need(t, "/usr/bin/ssh-keygen", "openssh-client")
	c := &Cluster{Dir: t.TempDir(), bins: map[string]string{}}
	t0 := time.Now()
	stage := func(what string) { t.Logf("ha: %s, %.1fs after the start", what, time.Since(t0).Seconds()) }
	for _, b := range []string{"kubeadm", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		c.bins[b] = testbed.Bin(t, "k8s", b)
	}
	c.bins[layout.Etcd] = testbed.Bin(t, "etcd", "etcd")
	c.net = newNetwork(t)
	c.newSSH(t)
	for i := range o.Nodes {
		n := &Node{Name: fmt.Sprintf("cp%d", i+1), Addr: NodeAddr(i), Root: filepath.Join(c.Dir, fmt.Sprintf("cp%d-root", i+1)),
			Units: filepath.Join(c.Dir, fmt.Sprintf("cp%d-units", i+1))}
		n.NS = c.net.addNode(t, i, n.Addr)
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		c.kubeadmLayout(t, n, c.Nodes[0])
	}
	for _, n := range c.Nodes {
		c.units(t, n)
	}
	c.clientTLS(t)
	stage("the nodes' files written")
	for _, n := range c.Nodes {
		c.startNode(t, n)
	}
	c.startLB(t)
	for _, n := range c.Nodes {
		c.WaitReady(t, "https://"+n.Addr+":6443", 5*time.Minute)
		stage(n.Name + "'s API server ready")
	}
	c.WaitReady(t, c.VIPURL(), 2*time.Minute)
	// kubeadm init binds admin.conf's group to cluster-admin; this testbed
	// runs kubeadm's phases only, so it makes that binding itself.
	if out, err := c.Nodes[0].Kubectl(context.Background(), c.bins["kubectl"], "super-admin.conf", "create", "clusterrolebinding",
		"kubeadm:cluster-admins", "--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"); err != nil {
		t.Fatalf("ha: create the kubeadm:cluster-admins binding: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		c.waitSSH(t, n)
	}
	stage("the control plane up")
	if o.Workers > 0 {
		c.startWorkers(t, o.Workers)
		stage(fmt.Sprintf("%d workers up", o.Workers))
	}
	return c
}

// Need skips the test when a Debian program the testbed needs is missing,
// or fails it under CERTRESCUE_REQUIRE_TESTBED=1 (scripts/test-deps.d/40-ha.sh
// installs them).
func Need(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if testbed.Require() {
		t.Fatalf("ha: %s missing: scripts/test-deps.d/40-ha.sh installs %s", path, pkg)
	}
	t.Skipf("ha: %s missing; scripts/test-deps.d/40-ha.sh installs %s (make test does)", path, pkg)
}

// VIPURL is the load balancer's API server URL.
func (c *Cluster) VIPURL() string { return "https://" + VIP + ":6443" }

// Bin is the path of one of the testbed's binaries (kubectl, etcd, ...).
func (c *Cluster) Bin(name string) string { return c.bins[name] }

// Controller is the controller's namespace: ansible-playbook and kubectl
// through the VIP run there.
func (c *Cluster) Controller() *testbed.NetNS { return c.net.ctl }

// HTTPClient is a client in the controller namespace with tlsConf.
func (c *Cluster) HTTPClient(tlsConf *tls.Config, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: c.DialContext, TLSClientConfig: tlsConf, DisableKeepAlives: true}}
}

// RefreshClientTLS signs the test's admin client certificate again with
// the cluster CA as the first node holds it now (after a CA rotation), and
// trusts every CA certificate of its ca.crt.
func (c *Cluster) RefreshClientTLS(t testing.TB) { c.clientTLS(t) }

// clientTLS signs the test's admin client certificate with the cluster CA.
func (c *Cluster) clientTLS(t testing.TB) {
	t.Helper()
	first := c.Nodes[0]
	ca, err := pki.LoadCA(first.Path(layout.PKIDir+"/ca.crt"), first.Path(layout.PKIDir+"/ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := os.ReadFile(first.Path(layout.PKIDir + "/ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := pki.ParseCertificatesPEM(bundle)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // the API servers' wall clock
	cert, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: "certrescue-ha-test", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour)}, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, c := range trusted {
		pool.AddCert(c)
	}
	c.ClientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}}
}

// Ready asks base's /readyz as the test's admin.
func (c *Cluster) Ready(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTPClient(c.ClientTLS, 5*time.Second).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/readyz: %s", base, resp.Status)
	}
	return nil
}

// WaitReady polls base's /readyz until it answers 200 or limit passes.
func (c *Cluster) WaitReady(t testing.TB, base string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := c.Ready(context.Background(), base)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ha: %s not ready within %s: %v", base, limit, err)
		}
		time.Sleep(500 * time.Millisecond) // polling real processes
	}
}

func (c *Cluster) waitSSH(t testing.TB, n *Node) {
	t.Helper()
	c.waitSSHAt(t, n.Name, n.Addr, n.Sup)
}

func (c *Cluster) waitSSHAt(t testing.TB, name, addr string, sup *testbed.Supervisor) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.sshRunAt(addr, "hostname")
		if err == nil && strings.TrimSpace(out) == name {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ha: ssh root@%s: %v\n%s\nsshd log:\n%s", addr, err, out, tailFile(sup.Log("sshd")))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Kubectl runs kubectl in the controller namespace with a kubeconfig file
// of the controller's (server: the VIP).
func (c *Cluster) Kubectl(kubeconfig string, args ...string) (string, error) {
	flags := []string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(c.Dir, "kube-cache"), "--request-timeout=10s"}
	return c.net.ctl.Run(c.bins["kubectl"], append(flags, args...)...)
}

func tailFile(p string) string {
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
