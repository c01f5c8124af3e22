package testpki

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeadm"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// Tree is a kubeadm-shaped node written under Root by KubeadmTree.
type Tree struct {
	Root   string
	CAs    map[string]*pki.CA // by role name: ca, etcd-ca, front-proxy-ca
	Leaves map[string]*Leaf   // by role name, kubeconfigs and kubelet-client included
	// Server is the URL the kubeconfigs name.
	Server string
}

// TreeOptions shape KubeadmTree's node.
type TreeOptions struct {
	NotBefore, NotAfter     time.Time // leaves (default: Epoch-1h, +1 year)
	CANotBefore, CANotAfter time.Time // CAs (default: Epoch-1h, +10 years)
	AdvertiseAddress        string    // default 10.0.0.1
	ServiceIP               string    // first IP of the service range, default 10.96.0.1
	NodeName                string    // default node1
	ControlPlaneEndpoint    string    // host the kubeconfigs name; default the advertise address
	KeySpec                 pki.KeySpec
	// Manifests also writes static pod manifests naming every file.
	Manifests bool
}

func (o *TreeOptions) defaults() {
	if o.NotBefore.IsZero() {
		o.NotBefore, o.NotAfter = Epoch.Add(-time.Hour), Epoch.Add(365*24*time.Hour)
	}
	if o.CANotBefore.IsZero() {
		o.CANotBefore, o.CANotAfter = Epoch.Add(-time.Hour), Epoch.Add(10*365*24*time.Hour)
	}
	if o.AdvertiseAddress == "" {
		o.AdvertiseAddress = "10.0.0.1"
	}
	if o.ServiceIP == "" {
		o.ServiceIP = "10.96.0.1"
	}
	if o.NodeName == "" {
		o.NodeName = "node1"
	}
	if o.ControlPlaneEndpoint == "" {
		o.ControlPlaneEndpoint = o.AdvertiseAddress
	}
	if o.KeySpec.Algo == "" {
		o.KeySpec = pki.DefaultKeySpec
	}
}

// KubeadmTree writes every credential of layout.Kubeadm under root, shaped as
// `kubeadm init` makes them: the three CAs, the leaves with kubeadm's subjects,
// SANs and usages, the kubeconfigs with embedded data, sa.key/sa.pub, the
// kubelet's rotated client certificate behind kubelet-client-current.pem (an
// absolute symlink, as the kubelet writes it) and its self-signed kubelet.crt.
// It is a pure-Go stand-in for unit tests; tests that need the real thing run
// kubeadm itself (see test/check).
func KubeadmTree(t testing.TB, root string, opts TreeOptions) *Tree {
	t.Helper()
	opts.defaults()
	tr := &Tree{Root: root, CAs: map[string]*pki.CA{}, Leaves: map[string]*Leaf{},
		Server: "https://" + hostPort(opts.ControlPlaneEndpoint, "6443")}
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindCA {
			continue
		}
		ca := MustCA(t, WithCN(r.CN), WithKeySpec(opts.KeySpec), WithValidity(opts.CANotBefore, opts.CANotAfter))
		tr.CAs[r.Name] = ca
		WriteCert(t, tr.path(r.CertPath), ca.Cert)
		WriteKey(t, tr.path(r.KeyPath), ca.Signer)
	}
	for _, r := range layout.Kubeadm {
		switch r.Kind {
		case layout.KindLeaf, layout.KindKubeconfig, layout.KindBundle:
			tmpl := kubeadm.Template(r, opts.node())
			tmpl.NotBefore, tmpl.NotAfter = opts.NotBefore, opts.NotAfter
			leaf := MustLeaf(t, tr.CAs[r.CA], WithTemplate(tmpl), WithKeySpec(opts.KeySpec))
			tr.Leaves[r.Name] = leaf
			switch r.Kind {
			case layout.KindLeaf:
				WriteCert(t, tr.path(r.CertPath), leaf.Cert)
				WriteKey(t, tr.path(r.KeyPath), leaf.Key)
			case layout.KindKubeconfig:
				WriteFile(t, tr.path(r.CertPath), Kubeconfig(t, tr.Server, tr.CAs["ca"].Cert, leaf, leaf.Cert.Subject.CommonName), 0o600)
			case layout.KindBundle:
				dated := filepath.Join(layout.KubeletPKIDir, "kubelet-client-"+opts.NotBefore.Format("2006-01-02-15-04-05")+".pem")
				WriteFile(t, tr.path(dated), append(CertPEM(leaf.Cert), KeyPEM(t, leaf.Key)...), 0o600)
				link := tr.path(r.CertPath)
				_ = os.Remove(link)
				if err := os.Symlink(dated, link); err != nil {
					t.Fatalf("testpki: %v", err)
				}
			}
		case layout.KindKeyPair:
			key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048})
			if err != nil {
				t.Fatalf("testpki: %v", err)
			}
			WriteKey(t, tr.path(r.KeyPath), key)
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatalf("testpki: %v", err)
			}
			WriteFile(t, tr.path(r.PubPath), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
		}
	}
	kubeletCA := MustCA(t, WithCN(opts.NodeName+"-ca@1"), WithValidity(opts.NotBefore, opts.NotAfter))
	serving := MustLeaf(t, kubeletCA, WithCN(opts.NodeName+"@1"), WithDNS(opts.NodeName), WithUsage(x509.ExtKeyUsageServerAuth),
		WithValidity(opts.NotBefore, opts.NotAfter))
	WriteCert(t, tr.path(layout.KubeletPKIDir+"/kubelet.crt"), serving.Cert, kubeletCA.Cert)
	WriteKey(t, tr.path(layout.KubeletPKIDir+"/kubelet.key"), serving.Key)
	if opts.Manifests {
		WriteManifests(t, root, ManifestOptions{NodeName: opts.NodeName, AdvertiseAddress: opts.AdvertiseAddress, ServiceCIDR: serviceCIDR(opts.ServiceIP)})
	}
	return tr
}

func (tr *Tree) path(p string) string { return filepath.Join(tr.Root, p) }

// Path maps a node path under the tree's root.
func (tr *Tree) Path(p string) string { return tr.path(p) }

func hostPort(host, port string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func serviceCIDR(ip string) string {
	if strings.Contains(ip, ":") {
		return ip + "/112"
	}
	parts := strings.Split(ip, ".")
	return strings.Join(parts[:3], ".") + ".0/12"
}

// node is the layout.Node the options describe.
func (o TreeOptions) node() layout.Node {
	return layout.Node{Name: o.NodeName, AdvertiseAddress: o.AdvertiseAddress, ServiceIP: o.ServiceIP,
		ControlPlaneEndpoint: o.ControlPlaneEndpoint}
}

// Kubeconfig renders a kubeconfig with embedded CA, client certificate and key,
// as `kubeadm init phase kubeconfig` writes it.
func Kubeconfig(t testing.TB, server string, ca *x509.Certificate, leaf *Leaf, user string) []byte {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: %s
  name: %s@kubernetes
current-context: %s@kubernetes
kind: Config
preferences: {}
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(CertPEM(ca)), server, user, user, user, user, b64(CertPEM(leaf.Cert)), b64(KeyPEM(t, leaf.Key)))
}
