package testbed

import (
	"cmp"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// APIServer is a real etcd and kube-apiserver started by a test on
// 127.0.0.1, with a CA, a serving certificate and an admin client
// certificate (group system:masters) made by internal/pki. Both processes are
// killed by PID when the test ends, also on failure.
type APIServer struct {
	URL        string // https://127.0.0.1:PORT
	Dir        string // where certificates, data and logs live
	Kubeconfig string // admin kubeconfig (system:masters)
	CA         *pki.CA
}

// APIServerOptions tune StartAPIServer.
type APIServerOptions struct {
	// ExtraArgs are appended to kube-apiserver's command line.
	ExtraArgs []string
	// Authorization is --authorization-mode (RBAC when empty; the flag is a
	// list, so ExtraArgs cannot replace it).
	Authorization string
}

// StartAPIServer starts etcd and kube-apiserver and waits until /readyz
// answers (at most a minute). The certificates are valid from an hour ago for
// a day of wall-clock time: the API server checks them against the real clock.
func StartAPIServer(t testing.TB, o APIServerOptions) *APIServer {
	t.Helper()
	etcdBin := Bin(t, "etcd", "etcd")
	apiBin := Bin(t, "k8s", "kube-apiserver")
	dir := t.TempDir()
	now := time.Now() // the real API server's clock, not the code under test's
	nb, na := now.Add(-time.Hour), now.Add(24*time.Hour)

	ca := mustCA(t, nb, na)
	a := &APIServer{Dir: dir, CA: ca}
	serving := a.leaf(t, "kube-apiserver", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nb, na)
	a.writePair(t, "apiserver", serving.cert, serving.key)
	saKey, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	a.write(t, "ca.crt", pki.EncodeCertificatePEM(ca.Cert.Raw), 0o644)
	a.write(t, "sa.pub", pemBlock("PUBLIC KEY", saPub), 0o644)
	keyPEM, err := pki.MarshalPrivateKeyPEM(saKey)
	if err != nil {
		t.Fatal(err)
	}
	a.write(t, "sa.key", keyPEM, 0o600)

	ports := freePorts(t, 3)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	start(t, dir, "etcd", etcdBin,
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--quota-backend-bytes=4294967296",
		"--log-level=warn")
	a.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[2]),
		"--tls-cert-file=" + a.path("apiserver.crt"), "--tls-private-key-file=" + a.path("apiserver.key"),
		"--client-ca-file=" + a.path("ca.crt"),
		"--service-account-key-file=" + a.path("sa.pub"), "--service-account-signing-key-file=" + a.path("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=" + cmp.Or(o.Authorization, "RBAC"),
		"--endpoint-reconciler-type=none", "--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
	}
	start(t, dir, "kube-apiserver", apiBin, append(args, o.ExtraArgs...)...)
	a.Kubeconfig = a.UserKubeconfig(t, "certrescue-test-admin", "system:masters")
	a.waitReady(t)
	return a
}

// UserKubeconfig writes a kubeconfig for a client certificate with this user
// name and groups (RBAC tests use an unprivileged user).
func (a *APIServer) UserKubeconfig(t testing.TB, user string, groups ...string) string {
	t.Helper()
	now := time.Now()
	l := a.leaf(t, user, groups, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, now.Add(-time.Hour), now.Add(24*time.Hour))
	a.writePair(t, "user-"+user, l.cert, l.key)
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: testbed
  context: {cluster: testbed, user: %s}
current-context: testbed
`, a.URL, a.path("ca.crt"), user, a.path("user-"+user+".crt"), a.path("user-"+user+".key"), user)
	p := a.path(user + ".kubeconfig")
	a.write(t, user+".kubeconfig", []byte(kc), 0o600)
	return p
}

func (a *APIServer) waitReady(t testing.TB) {
	t.Helper()
	client := a.adminHTTP(t)
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(a.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond) // polling a real process, not letting time pass
	}
	t.Fatalf("testbed: kube-apiserver not ready after a minute (%s)\n%s", last, tail(filepath.Join(a.Dir, "kube-apiserver.log")))
}

type pair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func mustCA(t testing.TB, nb, na time.Time) *pki.CA {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSign(key, pki.Template{Subject: pkix.Name{CommonName: "testbed-ca"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, NotBefore: nb, NotAfter: na})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func (a *APIServer) leaf(t testing.TB, cn string, org []string, eku []x509.ExtKeyUsage, nb, na time.Time) pair {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := pki.Template{Subject: pkix.Name{CommonName: cn, Organization: org}, ExtKeyUsage: eku,
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: nb, NotAfter: na}
	if eku[0] == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}
	}
	cert, err := pki.Sign(a.CA, tmpl, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pair{cert, key}
}

func (a *APIServer) path(name string) string { return filepath.Join(a.Dir, name) }

func (a *APIServer) write(t testing.TB, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(a.path(name), data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(a.path(name), mode); err != nil {
		t.Fatal(err)
	}
}

func (a *APIServer) writePair(t testing.TB, name string, cert *x509.Certificate, key crypto.Signer) {
	t.Helper()
	a.write(t, name+".crt", pki.EncodeCertificatePEM(cert.Raw), 0o644)
	k, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	a.write(t, name+".key", k, 0o600)
}

// start runs a peer with its output in DIR/NAME.log and kills it by PID when
// the test ends.
func start(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("testbed: start %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID, the one this test started
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			t.Logf("testbed: %s (pid %d) log tail:\n%s", name, pid, tail(log.Name()))
		}
	})
}

func tail(p string) string {
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
