package binaryinstall

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

const advertise = "10.0.0.1"

// components are restarted in this order, each by its unit.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// plane is a running binary-install control plane.
type plane struct {
	t    testing.TB
	ns   *testbed.NetNS
	node *testbed.BinaryInstall
	sup  *testbed.Supervisor
	kctl string
	// cache is kubectl's --cache-dir: its discovery cache would otherwise
	// go to the host's ~/.kube.
	cache string
}

// newPlane lays the node out, starts its units and waits until kubectl
// with admin.conf works.
func newPlane(t testing.TB) *plane {
	t.Helper()
	kctl := testbed.Bin(t, "k8s", "kubectl")
	testbed.NeedRoot(t, "the binary-install control plane")
	p := &plane{t: t, kctl: kctl, cache: t.TempDir()}
	p.ns = testbed.NewNetNS(t, advertise)
	p.node = testbed.NewBinaryInstall(t, t.TempDir(), advertise)
	p.sup = testbed.StartSupervisor(t, p.ns, testbed.SupervisorSpec{Root: p.node.Root, Units: testbed.BinaryInstallUnits, Binds: testbed.BinaryInstallBinds})
	testbed.Eventually(t, "kubectl with admin.conf works", 90*time.Second, p.ready)
	return p
}

// kubectl runs the testbed's kubectl with the node's admin.conf, inside the
// supervisor's namespaces (admin.conf names /etc/kubernetes/ssl/admin.pem).
func (p *plane) kubectl(args ...string) (string, error) {
	return p.sup.Exec(p.kctl, append([]string{"--kubeconfig", testbed.BinAdminConf, "--cache-dir", p.cache, "--request-timeout=5s"}, args...)...)
}

func (p *plane) ready() error {
	out, err := p.kubectl("get", "--raw", "/readyz")
	if err != nil || strings.TrimSpace(out) != "ok" {
		return fmt.Errorf("readyz: %v: %s", err, out)
	}
	return nil
}

// expire re-signs every leaf into the past and waits until kubectl says so.
func (p *plane) expire(t testing.TB) {
	t.Helper()
	now := time.Now() // the real components' clock
	p.node.Expire(t, now.Add(-400*24*time.Hour), now.Add(-24*time.Hour))
	testbed.Eventually(t, "kubectl fails with an x509 expiry error", 60*time.Second, func() error {
		out, err := p.kubectl("get", "namespaces")
		if err != nil && strings.Contains(out, "x509: certificate has expired or is not yet valid") {
			return nil
		}
		return fmt.Errorf("kubectl: %v: %s", err, out)
	})
}

// restartArgs are the rescue's restart flags: the supervisor's restart per
// component, and no --gate flag (the gates come from the units).
func (p *plane) restartArgs() []string {
	args := []string{"--restart", "command"}
	for _, c := range components {
		args = append(args, "--restart-command", c+"="+p.sup.RestartCommand(c+".service"))
	}
	return args
}

// certrescue runs the binary under test in the network namespace, on the
// node through --root (never inside the mount namespace).
func (p *plane) certrescue(bin string, args ...string) (string, error) {
	return p.ns.Run(bin, append([]string{"--root", p.node.Root}, args...)...)
}

// hashes are the sha256 and mode of every credential of the node.
func (p *plane) hashes(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	node := nodefs.New(p.node.Root)
	for _, f := range p.node.Credentials() {
		file, err := node.ReadFile(f, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s := sha256.Sum256(file.Data)
		out[f] = hex.EncodeToString(s[:]) + " " + file.Mode.Perm().String()
	}
	return out
}

func sameHashes(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	for f, w := range want {
		if got[f] != w {
			t.Errorf("%s: %s is %s, want %s", what, f, got[f], w)
		}
	}
}

// allValid wants every leaf valid for most of a year, signed by ca.pem, and
// every key 0600.
func (p *plane) allValid(t testing.TB) {
	t.Helper()
	ca := p.node.CA(t)
	node := nodefs.New(p.node.Root)
	for _, l := range testbed.BinaryInstallLeaves {
		data, err := node.Read(testbed.SSL(l+".pem"), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			t.Fatalf("%s.pem: %v", l, err)
		}
		c := certs[0]
		if left := time.Until(c.NotAfter); left < 300*24*time.Hour || c.NotBefore.After(time.Now()) {
			t.Errorf("%s.pem: valid %s to %s after the rescue", l, c.NotBefore, c.NotAfter)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s.pem: does not verify with ca.pem: %v", l, err)
		}
		fi, err := node.Stat(testbed.SSL(l + "-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s-key.pem: mode %v, want 0600", l, fi.Mode().Perm())
		}
	}
}

func (p *plane) leaseRenewedSince(name string, since time.Time) error {
	out, err := p.kubectl("-n", "kube-system", "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity} {.spec.renewTime}")
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	holder, renewed, _ := strings.Cut(strings.TrimSpace(out), " ")
	at, err := time.Parse(time.RFC3339Nano, renewed)
	if holder == "" || err != nil || at.Before(since) {
		return fmt.Errorf("lease %s: holder %q renewed %q", name, holder, renewed)
	}
	return nil
}

var (
	gateLine = regexp.MustCompile(`\] gate +(\S+) +(ok|FAILED|skip)\b(.*)`)
	backupID = regexp.MustCompile(`(?m)^result: .*; backup (\S+)`)
)

// gates maps each component to the status of its last gate line.
func gates(out string) map[string]string {
	m := map[string]string{}
	for _, g := range gateLine.FindAllStringSubmatch(out, -1) {
		m[g[1]] = g[2] + g[3]
	}
	return m
}
