package testpki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"
	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// AgeOption narrows what AgeKubeadmTree re-signs.
type AgeOption func(*ageOptions)

type ageOptions struct{ only []string }

// AgeOnly re-signs only the named roles (layout names: "apiserver",
// "admin.conf", "ca", ...). Leaves are re-signed by their CA's current
// certificate, so AgeOnly("apiserver") gives an expired leaf under a valid CA,
// which is the usual incident.
func AgeOnly(roles ...string) AgeOption { return func(o *ageOptions) { o.only = roles } }

// AgeKubeadmTree re-signs every certificate of the kubeadm node under root
// (layout.Kubeadm: the CAs, the leaves, the client certificates embedded in the
// kubeconfigs and the kubelet's client bundle) with its own key, its own CA and
// the same subject, SANs and usages, valid from notBefore to notAfter. A window
// in the past makes a tree whose certificates are all expired yet otherwise
// intact: every chain verifies and every key matches. Kubeconfigs get the new
// CA certificate embedded too. Files keep their modes. It returns the names of
// the roles it re-signed; roles whose files are absent are skipped.
func AgeKubeadmTree(t testing.TB, root string, notBefore, notAfter time.Time, opts ...AgeOption) []string {
	t.Helper()
	var o ageOptions
	for _, opt := range opts {
		opt(&o)
	}
	want := func(name string) bool { return len(o.only) == 0 || slices.Contains(o.only, name) }
	at := func(p string) string { return filepath.Join(root, p) }
	resign := func(c *x509.Certificate, pub crypto.PublicKey, ca *pki.CA) *x509.Certificate {
		t.Helper()
		tmpl := TemplateFrom(c)
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
		out, err := pki.Sign(ca, tmpl, pub)
		if err != nil {
			t.Fatalf("testpki: re-sign %s: %v", c.Subject.CommonName, err)
		}
		return out
	}

	var aged []string
	cas := map[string]*pki.CA{}
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindCA || !exists(at(r.CertPath)) {
			continue
		}
		ca, err := pki.LoadCA(at(r.CertPath), at(r.KeyPath))
		if err != nil {
			t.Fatalf("testpki: %v", err)
		}
		if want(r.Name) {
			tmpl := TemplateFrom(ca.Cert)
			tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
			cert, err := pki.SelfSign(ca.Signer, tmpl)
			if err != nil {
				t.Fatalf("testpki: re-sign CA %s: %v", r.Name, err)
			}
			ca = &pki.CA{Cert: cert, Signer: ca.Signer}
			rewrite(t, at(r.CertPath), CertPEM(cert))
			aged = append(aged, r.Name)
		}
		cas[r.Name] = ca
	}
	for _, r := range layout.Kubeadm {
		if !want(r.Name) || !exists(at(r.CertPath)) {
			continue
		}
		ca := cas[r.CA]
		switch r.Kind {
		case layout.KindLeaf:
			c := mustCerts(t, at(r.CertPath))
			rewrite(t, at(r.CertPath), CertPEM(resign(c[0], c[0].PublicKey, ca)))
		case layout.KindBundle:
			path := resolveUnder(t, root, r.CertPath)
			data := mustRead(t, path)
			c, err := pki.ParseCertificatesPEM(data)
			if err != nil {
				t.Fatalf("testpki: %s: %v", path, err)
			}
			key, err := pki.ParsePrivateKeyPEM(data)
			if err != nil {
				t.Fatalf("testpki: %s: %v", path, err)
			}
			rewrite(t, path, append(CertPEM(resign(c[0], key.Public(), ca)), KeyPEM(t, key)...))
		case layout.KindKubeconfig:
			if !ageKubeconfig(t, at(r.CertPath), cas["ca"], resign) {
				continue
			}
		default:
			continue
		}
		aged = append(aged, r.Name)
	}
	return aged
}

// ageKubeconfig re-signs an embedded client certificate and re-embeds the CA.
// A kubeconfig that references its certificate (kubelet.conf after bootstrap)
// is left alone: the referenced file is a role of its own.
func ageKubeconfig(t testing.TB, path string, ca *pki.CA, resign func(*x509.Certificate, crypto.PublicKey, *pki.CA) *x509.Certificate) bool {
	t.Helper()
	kc, err := kubeconfig.Parse(mustRead(t, path), filepath.Dir(path), nil)
	if err != nil {
		t.Fatalf("testpki: %s: %v", path, err)
	}
	if !kc.ClientCert.Embedded {
		return false
	}
	certs, err := kc.ClientCertificates()
	if err != nil {
		t.Fatalf("testpki: %s: %v", path, err)
	}
	user := kc.Config.AuthInfos[kc.User]
	user.ClientCertificateData = CertPEM(resign(certs[0], certs[0].PublicKey, ca))
	if kc.CA.Embedded {
		kc.Config.Clusters[kc.Cluster].CertificateAuthorityData = CertPEM(ca.Cert)
	}
	rewrite(t, path, EncodeKubeconfig(t, kc))
	return true
}

// EncodeKubeconfig serialises a kubeconfig as clientcmd.Write does.
func EncodeKubeconfig(t testing.TB, kc *kubeconfig.Kubeconfig) []byte {
	t.Helper()
	j, err := runtime.Encode(clientcmdlatest.Codec, kc.Config)
	if err != nil {
		t.Fatalf("testpki: encode kubeconfig: %v", err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatalf("testpki: encode kubeconfig: %v", err)
	}
	return y
}

// resolveUnder follows symlinks of a node path with absolute targets taken
// under root, as the node itself would see them.
func resolveUnder(t testing.TB, root, nodePath string) string {
	t.Helper()
	p := nodePath
	for range 40 {
		target, err := os.Readlink(filepath.Join(root, p))
		if err != nil {
			return filepath.Join(root, p)
		}
		if filepath.IsAbs(target) {
			p = target
		} else {
			p = filepath.Join(filepath.Dir(p), target)
		}
	}
	t.Fatalf("testpki: %s: too many symlinks", nodePath)
	return ""
}

func rewrite(t testing.TB, path string, data []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	WriteFile(t, path, data, fi.Mode().Perm())
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return b
}

func mustCerts(t testing.TB, path string) []*x509.Certificate {
	t.Helper()
	c, err := pki.ParseCertificatesPEM(mustRead(t, path))
	if err != nil {
		t.Fatalf("testpki: %s: %v", path, err)
	}
	return c
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}
