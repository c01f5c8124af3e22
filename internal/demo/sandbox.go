package demo

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/kubeadm"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// Options shape a sandbox node.
type Options struct {
	Now              time.Time
	NodeName         string // default demo-node
	AdvertiseAddress string // default 10.0.0.1
	// ExpiredFor is how long ago every leaf expired (default 3 days); CAs stay
	// valid for years.
	ExpiredFor time.Duration
	// FieldGuideSed points admin.conf at the API server's serving certificate
	// and key, as the field guide's sed line does.
	FieldGuideSed bool
}

// serviceIP is the first address of kubeadm's default service range
// (10.96.0.0/12), the one the manifests name.
const serviceIP = "10.96.0.1"

// Sandbox is a built node.
type Sandbox struct {
	Root    string
	Options Options
}

// Build writes a kubeadm control-plane node under root: the three CAs, every
// leaf of layout.Kubeadm with kubeadm's subjects, SANs and usages (all
// expired), the kubeconfigs (kubelet.conf referencing the kubelet's rotated
// client certificate, as after kubeadm's kubelet-finalize phase), sa.key and
// sa.pub, and static pod manifests. Keys are RSA-2048 as kubeadm's, generated
// in parallel.
func Build(root string, o Options) (*Sandbox, error) {
	if o.NodeName == "" {
		o.NodeName = "demo-node"
	}
	if o.AdvertiseAddress == "" {
		o.AdvertiseAddress = "10.0.0.1"
	}
	if o.ExpiredFor == 0 {
		o.ExpiredFor = 3 * 24 * time.Hour
	}
	leafEnd := o.Now.Add(-o.ExpiredFor).UTC().Truncate(time.Minute)
	leafStart := leafEnd.Add(-365 * 24 * time.Hour)
	caStart, caEnd := leafStart, leafStart.Add(10*365*24*time.Hour)

	var specs []pki.KeySpec
	var names []string
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindKubeconfig || r.Name != "kubelet.conf" { // kubelet.conf shares kubelet-client's key
			specs = append(specs, pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048})
			names = append(names, r.Name)
		}
	}
	keyList, err := pki.GenerateKeys(specs)
	if err != nil {
		return nil, err
	}
	keys := map[string]crypto.Signer{}
	for i, n := range names {
		keys[n] = keyList[i]
	}
	keys["kubelet.conf"] = keys["kubelet-client"]

	w := &writer{root: root}
	cas := map[string]*pki.CA{}
	node := layout.Node{Name: o.NodeName, AdvertiseAddress: o.AdvertiseAddress, ServiceIP: serviceIP}
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindCA {
			continue
		}
		tmpl := kubeadm.Template(r, node)
		tmpl.NotBefore, tmpl.NotAfter = caStart, caEnd
		cert, err := pki.SelfSign(keys[r.Name], tmpl)
		if err != nil {
			return nil, err
		}
		cas[r.Name] = &pki.CA{Cert: cert, Signer: keys[r.Name]}
		w.cert(r.CertPath, cert)
		w.key(r.KeyPath, keys[r.Name])
	}
	server := "https://" + net.JoinHostPort(o.AdvertiseAddress, "6443")
	caPEM := pki.EncodeCertificatePEM(cas["ca"].Cert.Raw)
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindCA || r.Kind == layout.KindKeyPair {
			continue
		}
		tmpl := kubeadm.Template(r, node)
		tmpl.NotBefore, tmpl.NotAfter = leafStart, leafEnd
		cert, err := pki.Sign(cas[r.CA], tmpl, keys[r.Name].Public())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		certPEM := pki.EncodeCertificatePEM(cert.Raw)
		switch r.Kind {
		case layout.KindLeaf:
			w.cert(r.CertPath, cert)
			w.key(r.KeyPath, keys[r.Name])
		case layout.KindBundle:
			dated := layout.KubeletPKIDir + "/kubelet-client-" + leafStart.Format("2006-01-02-15-04-05") + ".pem"
			w.file(dated, append(certPEM, w.keyPEM(keys[r.Name])...), atomicfile.KeyMode)
			w.symlink(dated, r.CertPath)
		case layout.KindKubeconfig:
			nc := kubeconfig.NewConfig{Server: server, Cluster: "kubernetes", User: cert.Subject.CommonName, CAPEM: caPEM,
				CertPEM: certPEM, KeyPEM: w.keyPEM(keys[r.Name])}
			if r.Name == "kubelet.conf" {
				bundle, _ := layout.KubeadmRole("kubelet-client")
				nc.CertPEM, nc.KeyPEM, nc.CertPath, nc.KeyPath = nil, nil, bundle.CertPath, bundle.CertPath
			}
			if r.Name == "admin.conf" && o.FieldGuideSed {
				nc.CertPEM, nc.KeyPEM, nc.CertPath, nc.KeyPath = nil, nil, layout.PKIDir+"/apiserver.crt", layout.PKIDir+"/apiserver.key"
			}
			data, err := kubeconfig.Build(nc)
			if err != nil {
				return nil, err
			}
			w.file(r.CertPath, data, atomicfile.KeyMode)
		}
	}
	sa, _ := layout.KubeadmRole("sa")
	w.key(sa.KeyPath, keys["sa"])
	if der, err := x509.MarshalPKIXPublicKey(keys["sa"].Public()); err == nil {
		w.file(sa.PubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), atomicfile.KeyMode)
	}
	for _, f := range kubeadm.Manifests(kubeadm.ManifestOptions{NodeName: o.NodeName, AdvertiseAddress: o.AdvertiseAddress}) {
		w.file(f.Path, f.Data, 0o600) // as kubeadm writes them
	}
	if w.err != nil {
		return nil, w.err
	}
	return &Sandbox{Root: root, Options: o}, nil
}

// writer writes node files under a root, keeping the first error.
type writer struct {
	root string
	err  error
}

func (w *writer) file(nodePath string, data []byte, mode os.FileMode) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.root, nodePath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	w.err = atomicfile.Write(p, data, mode, true)
}

func (w *writer) cert(nodePath string, c *x509.Certificate) {
	w.file(nodePath, pki.EncodeCertificatePEM(c.Raw), atomicfile.CertMode)
}

func (w *writer) keyPEM(k crypto.Signer) []byte {
	b, err := pki.MarshalPrivateKeyPEM(k)
	if err != nil && w.err == nil {
		w.err = err
	}
	return b
}

func (w *writer) key(nodePath string, k crypto.Signer) {
	w.file(nodePath, w.keyPEM(k), atomicfile.KeyMode)
}

func (w *writer) symlink(target, nodePath string) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.root, nodePath)
	_ = os.Remove(p)
	w.err = os.Symlink(target, p)
}
