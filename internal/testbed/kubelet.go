package testbed

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

// Node paths of a kubeadm worker's kubelet, as `kubeadm join` leaves them.
const (
	KubeletConf       = "/etc/kubernetes/kubelet.conf"
	KubeletPKIDir     = "/var/lib/kubelet/pki"
	KubeletCurrentPEM = KubeletPKIDir + "/kubelet-client-current.pem"
	kubeletUnitName   = "kubelet.service"
)

// KubeletBinds are the node directories a worker's kubelet reads and writes.
var KubeletBinds = []string{"/etc/kubernetes", "/var/lib/kubelet", "/usr/local/bin"}

// HollowKubelet is one worker node: a node root laid out as `kubeadm join`
// leaves it, and kubemark's hollow kubelet (the kubelet's own code with a
// fake container runtime: no runtime, no cgroups) running from its
// kubelet.service unit under a Supervisor of its own, which stands in for
// systemd (see Supervisor). Under the root:
//
//   - /var/lib/kubelet/pki/kubelet-client-<timestamp>.pem, certificate and
//     key of system:node:NAME (O=system:nodes) signed by the cluster CA, and
//     kubelet-client-current.pem, a symbolic link to it (the kubelet's store);
//   - /etc/kubernetes/kubelet.conf, 0600, the cluster CA embedded and
//     client-certificate/client-key naming kubelet-client-current.pem (or,
//     with KubeletOptions.Embedded, the init node's kubelet.conf: the client
//     certificate and key embedded);
//   - /etc/systemd/system/kubelet.service running /usr/local/bin/hollow-kubelet,
//     a wrapper that gives kubemark a private /tmp (the node's
//     /var/lib/kubelet/tmp) so nothing it makes lands in the host's /tmp.
//
// Each hollow kubelet serves its kubelet API, /healthz included, in plain
// HTTP on its own Port (kubemark runs the kubelet server without TLS, and
// without the separate 10248 health port), inside the test's namespace.
type HollowKubelet struct {
	Name string
	Root string
	Port int
	Sup  *Supervisor
}

// KubeletOptions shape StartHollowKubelets.
type KubeletOptions struct {
	// Server is the API server's URL as the kubelets reach it inside the
	// namespace (https://10.0.0.1:6443).
	Server string
	// CA signs the node certificates and is kubelet.conf's certificate
	// authority (the cluster CA, which is also the API server's client CA).
	CA *pki.CA
	// Names are the nodes' names; without them, worker-1 ... worker-N.
	Names []string
	// FirstPort is the first kubelet port (10250 by default); node i
	// listens on FirstPort+i.
	FirstPort int
	// NotBefore and NotAfter bound the node certificates (an hour ago to a
	// day from now by default: the API server checks them on the wall clock).
	NotBefore, NotAfter time.Time
	// Embedded writes the init node's kubelet.conf, with the client
	// certificate and key embedded, instead of a reference to the store.
	Embedded bool
	// Hostname gives each worker's supervisor a UTS namespace of its own
	// with the node's name as hostname (a fleet's worker is its own host).
	Hostname bool
	// Binds are more node directories the worker's units see at their node
	// paths, beside KubeletBinds (/var/lib/certrescue, /run/sshd, ...).
	Binds []string
	// FreshHome gives each worker a home of its own for root
	// (SupervisorSpec.FreshHome): workers reached over ssh need it.
	FreshHome bool
	// Prepare, when set, is called for each worker after its root is laid
	// out and before its supervisor starts; it may write more units under
	// ROOT/etc/systemd/system and returns their names, started after the
	// kubelet (an sshd, say).
	Prepare func(k *HollowKubelet) []string
	// CPUCgroup, when set, is a cgroup v1 cpu directory (CPUCgroup makes
	// one) every kubelet process is moved into once it starts, restarts
	// included (the test process watches the supervisors' logs: inside a
	// worker's namespaces /sys is the network namespace's, without the
	// cgroup mounts). The worker's other units (its sshd, what runs
	// through it) stay where the supervisor is.
	CPUCgroup string
}

// StartHollowKubelets lays out n worker nodes and starts their hollow
// kubelets in ns, each under its own name and system:node certificate. It
// returns once every kubelet process has started; WaitNodesReady waits for
// the API server to see them Ready. Every process is stopped by PID when the
// test ends (the supervisors'), also on failure. It needs root and the
// testbed's kubelet set.
func StartHollowKubelets(t testing.TB, ns *NetNS, n int, o KubeletOptions) []*HollowKubelet {
	t.Helper()
	kubemark := Bin(t, "kubelet", "kubemark")
	NeedRoot(t, "hollow kubelets")
	if o.FirstPort == 0 {
		o.FirstPort = 10250
	}
	names := o.Names
	for i := len(names); i < n; i++ {
		names = append(names, fmt.Sprintf("worker-%d", i+1))
	}
	out := make([]*HollowKubelet, 0, n)
	for i := range n {
		k := &HollowKubelet{Name: names[i], Root: t.TempDir(), Port: o.FirstPort + i}
		LayoutWorker(t, k.Root, k.Name, kubemark, k.Port, o)
		spec := SupervisorSpec{Root: k.Root, Units: []string{kubeletUnitName}, Binds: append(append([]string{}, KubeletBinds...), o.Binds...), FreshHome: o.FreshHome}
		if o.Hostname {
			spec.Hostname = k.Name
		}
		if o.Prepare != nil {
			spec.Units = append(spec.Units, o.Prepare(k)...)
		}
		for _, d := range o.Binds {
			if err := os.MkdirAll(filepath.Join(k.Root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		k.Sup = StartSupervisor(t, ns, spec)
		out = append(out, k)
	}
	if o.CPUCgroup != "" {
		joinCgroup(t, o.CPUCgroup, out)
	}
	return out
}

// joinCgroup moves each kubelet process of ks into the cgroup dir as its
// supervisor starts it, until the test ends: a first pass before it
// returns, then every 250 ms.
func joinCgroup(t testing.TB, dir string, ks []*HollowKubelet) {
	started := regexp.MustCompile(`started ` + regexp.QuoteMeta(strings.TrimSuffix(kubeletUnitName, ".service")) + ` pid (\d+)`)
	offsets := make([]int64, len(ks))
	pass := func() {
		for i, k := range ks {
			f, err := os.Open(filepath.Join(k.Sup.Run, "supervisor.log"))
			if err != nil {
				continue
			}
			if _, err := f.Seek(offsets[i], io.SeekStart); err == nil {
				data, _ := io.ReadAll(f)
				// Only whole lines: a line being written is read next time.
				if end := bytes.LastIndexByte(data, '\n'); end >= 0 {
					offsets[i] += int64(end + 1)
					for _, m := range started.FindAllSubmatch(data[:end], -1) {
						// A kubelet that exited already is not an error.
						_ = os.WriteFile(filepath.Join(dir, "cgroup.procs"), m[1], 0o644)
					}
				}
			}
			f.Close()
		}
	}
	pass()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				pass()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// LayoutWorker writes a worker node under root (see HollowKubelet) whose
// kubelet.service runs kubemark as node name on port.
func LayoutWorker(t testing.TB, root, name, kubemark string, port int, o KubeletOptions) {
	t.Helper()
	for _, d := range []string{"/etc/kubernetes", KubeletPKIDir, "/var/lib/kubelet/tmp", "/usr/local/bin", BinUnitDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now() // the API server's clock
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb, na = now.Add(-time.Hour), now.Add(24*time.Hour)
	}
	pair := NodePair(t, o.CA, name, nb, na)
	dated := fmt.Sprintf("%s/kubelet-client-%s.pem", KubeletPKIDir, nb.UTC().Format("2006-01-02-15-04-05"))
	writeNode(t, root, dated, pair, 0o600)
	if err := os.Symlink(dated, filepath.Join(root, KubeletCurrentPEM)); err != nil {
		t.Fatal(err)
	}
	writeNode(t, root, KubeletConf, []byte(KubeletKubeconfig(o.Server, o.CA, name, pair, o.Embedded)), 0o600)
	dst := filepath.Join(root, "/usr/local/bin/kubemark")
	if err := os.Link(kubemark, dst); err != nil {
		if err := os.Symlink(kubemark, dst); err != nil {
			t.Fatal(err)
		}
	}
	writeNode(t, root, "/usr/local/bin/hollow-kubelet", []byte(`#!/bin/sh
# The testbed's kubelet: kubemark's hollow kubelet in a mount namespace of its
# own whose /tmp is the node's /var/lib/kubelet/tmp (kubemark puts its root
# directory and its fake runtime's socket in /tmp). unshare and sh exec: the
# kubelet keeps this script's PID.
exec unshare --mount --propagation private /bin/sh -c 'mount --bind /var/lib/kubelet/tmp /tmp && exec /usr/local/bin/kubemark "$@"' hollow-kubelet "$@"
`), 0o755)
	writeNode(t, root, BinUnitDir+"/"+kubeletUnitName, []byte(fmt.Sprintf(`[Unit]
Description=kubelet: The Kubernetes Node Agent (kubemark's hollow kubelet)
Documentation=https://kubernetes.io/docs/
After=network-online.target

[Service]
ExecStart=/usr/local/bin/hollow-kubelet --morph=kubelet --name=%s \
  --kubeconfig=%s --use-host-image-service=false \
  --kubelet-port=%d --kubelet-read-only-port=0 --v=2
Restart=always
RestartSec=%d
TimeoutStopSec=%d

[Install]
WantedBy=multi-user.target
`, name, KubeletConf, port, UnitRestartSec, UnitTimeoutStopSec)), 0o644)
}

// NodePair is a pair file's content (certificate, then key) for
// system:node:NAME in system:nodes, a client certificate signed by ca.
func NodePair(t testing.TB, ca *pki.CA, name string, nb, na time.Time) []byte {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256}) // the kubelet's own choice
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: nb, NotAfter: na}, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pki.EncodeCertificatePEM(cert.Raw), keyPEM...)
}

// KubeletKubeconfig is the kubelet.conf kubeadm writes for node name: the
// cluster CA embedded, and the client credential either referenced (a
// joined node: kubelet-client-current.pem) or embedded (the init node).
func KubeletKubeconfig(server string, ca *pki.CA, name string, pair []byte, embedded bool) string {
	b64 := func(d []byte) string { return encodeBase64(d) }
	user := "    client-certificate: " + KubeletCurrentPEM + "\n    client-key: " + KubeletCurrentPEM + "\n"
	if embedded {
		certs, key := splitPair(pair)
		user = "    client-certificate-data: " + b64(certs) + "\n    client-key-data: " + b64(key) + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
kind: Config
preferences: {}
users:
- name: default-auth
  user:
%s`, b64(pki.EncodeCertificatePEM(ca.Cert.Raw)), server, user)
}

// Expire re-signs the node's current client certificate with ca, same
// subject and key, valid from notBefore to notAfter (a window in the past),
// in the file the current link names (or in kubelet.conf when it embeds
// it), and restarts the kubelet so it presents it.
func (k *HollowKubelet) Expire(t testing.TB, ca *pki.CA, notBefore, notAfter time.Time) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(k.Root, KubeletCurrentPEM))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(k.Root, target) // an absolute link: a node path
	if !filepath.IsAbs(target) {
		p = filepath.Join(k.Root, KubeletPKIDir, target)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	c := certs[0]
	re, err := pki.Sign(ca, pki.Template{Subject: c.Subject, KeyUsage: c.KeyUsage, ExtKeyUsage: c.ExtKeyUsage,
		NotBefore: notBefore, NotAfter: notAfter}, c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_, key := splitPair(data)
	if err := os.WriteFile(p, append(pki.EncodeCertificatePEM(re.Raw), key...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := k.Sup.Ctl("restart", kubeletUnitName); err != nil {
		t.Fatalf("restart %s's kubelet: %v\n%s", k.Name, err, out)
	}
}

// RestartCommand is the shell command that restarts this node's kubelet
// (for certrescue's --restart-command kubelet=...).
func (k *HollowKubelet) RestartCommand() string { return k.Sup.RestartCommand(kubeletUnitName) }

// Healthz is the kubelet's health URL inside the namespace.
func (k *HollowKubelet) Healthz() string {
	return "http://127.0.0.1:" + strconv.Itoa(k.Port) + "/healthz"
}

// Log is the path of the kubelet's output.
func (k *HollowKubelet) Log() string { return k.Sup.Log(kubeletUnitName) }

// NodeCondition is the Ready condition of a Node as the API server has it.
type NodeCondition struct {
	Status        string    // "True", "False", "Unknown"; "" when the Node does not exist
	Reason        string    // KubeletReady, NodeStatusUnknown, ...
	LastHeartbeat time.Time // the kubelet's last status post
}

// NodeReady reads node's Ready condition with kubectl (inside ns, with an
// admin kubeconfig).
func NodeReady(ns *NetNS, kubectl, kubeconfig, node string) (NodeCondition, error) {
	out, err := ns.Run(kubectl, "--kubeconfig", kubeconfig, "--request-timeout=10s", "get", "node", node, "-o", "json")
	if err != nil {
		if strings.Contains(out, "NotFound") {
			return NodeCondition{}, nil
		}
		return NodeCondition{}, fmt.Errorf("kubectl get node %s: %w: %s", node, err, out)
	}
	var n struct {
		Status struct {
			Conditions []struct {
				Type, Status, Reason string
				LastHeartbeatTime    time.Time
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		return NodeCondition{}, fmt.Errorf("node %s: %w", node, err)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return NodeCondition{Status: c.Status, Reason: c.Reason, LastHeartbeat: c.LastHeartbeatTime}, nil
		}
	}
	return NodeCondition{Status: "Unknown", Reason: "no Ready condition yet"}, nil
}

// WaitNodeCondition polls node until want reports true, at most limit, and
// returns the time it took.
func WaitNodeCondition(t testing.TB, ns *NetNS, kubectl, kubeconfig, node string, limit time.Duration, want func(NodeCondition) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last NodeCondition
	var lastErr error
	for time.Since(start) < limit {
		last, lastErr = NodeReady(ns, kubectl, kubeconfig, node)
		if lastErr == nil && want(last) {
			return time.Since(start)
		}
		time.Sleep(time.Second) // polling the API server, not letting time pass
	}
	t.Fatalf("node %s: condition not reached within %v (last Ready: %+v, %v)", node, limit, last, lastErr)
	return 0
}

func writeNode(t testing.TB, root, nodePath string, data []byte, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, nodePath)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func encodeBase64(d []byte) string { return base64.StdEncoding.EncodeToString(d) }

// splitPair separates a pair file's certificates from its key.
func splitPair(data []byte) (certs, key []byte) {
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return certs, key
		}
		if b.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(b)...)
		} else {
			key = append(key, pem.EncodeToMemory(b)...)
		}
	}
}
