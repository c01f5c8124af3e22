package cli

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

func certAt(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return cs[0]
}

// ca renew on the layouts besides kubeadm's: every CA renewed on its key, its
// copies and the kubeconfigs naming it hold the renewed one, no leaf changes.
func TestCARenewOnOtherLayouts(t *testing.T) {
	epoch := testpki.Epoch
	t.Run("k3s: five CAs, a copy of two in the agent directory, kubeconfigs referencing them", func(t *testing.T) {
		root := t.TempDir()
		buildRancher(t, root, "k3s")
		tls := filepath.Join(root, "var/lib/rancher/k3s/server/tls")
		leaf := filepath.Join(tls, "serving-kube-apiserver.crt")
		before, _ := os.ReadFile(leaf)
		old := certAt(t, filepath.Join(tls, "server-ca.crt"))
		r := runAt(t, epoch, "", "--root", root, "ca", "renew", "all", "--restart", "none", "--export", "-")
		if r.code != 0 {
			t.Fatalf("ca renew all: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		renewed := certAt(t, filepath.Join(tls, "server-ca.crt"))
		if renewed.Equal(old) || !bytes.Equal(renewed.SubjectKeyId, old.SubjectKeyId) {
			t.Fatal("server-ca not renewed on its key")
		}
		if agent := certAt(t, filepath.Join(root, "var/lib/rancher/k3s/agent/server-ca.crt")); !agent.Equal(renewed) {
			t.Error("the agent's copy of server-ca is not the renewed one")
		}
		if after, _ := os.ReadFile(leaf); !bytes.Equal(before, after) {
			t.Error("a leaf was re-issued")
		}
		admin := kubeconfigCA(t, filepath.Join(root, "etc/rancher/k3s/k3s.yaml"))
		if !bytes.Equal(admin, testpki.CertPEM(renewed)) {
			t.Error("k3s.yaml does not embed the renewed server CA")
		}
		for _, ca := range []string{"client-ca", "request-header-ca", "etcd/server-ca", "etcd/peer-ca"} {
			if !strings.Contains(r.stdout, "var/lib/rancher/k3s/server/tls/"+ca+".crt") {
				t.Errorf("%s not renewed:\n%s", ca, r.stdout)
			}
		}
	})
	t.Run("the field guide's binary install: one cfssl CA, ssl/ca.pem", func(t *testing.T) {
		root := t.TempDir()
		b := testbed.NewBinaryInstall(t, root, "10.0.0.1")
		ca := b.Path(testbed.BinSSLDir + "/ca.pem")
		old := certAt(t, ca)
		now := old.NotBefore.Add(24 * 3600 * 1e9)
		r := runAt(t, now, "", "--root", root, "ca", "renew", testbed.BinSSLDir+"/ca.pem", "--restart", "none", "--export", "-")
		if r.code != 0 {
			t.Fatalf("ca renew: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		renewed := certAt(t, ca)
		if renewed.Equal(old) || !bytes.Equal(renewed.RawSubject, old.RawSubject) || !pki.PublicKeysEqual(renewed.PublicKey, old.PublicKey) {
			t.Fatal("ca.pem not renewed on its key")
		}
		if got := renewed.NotAfter.Sub(renewed.NotBefore).Hours(); got != 87600 {
			t.Errorf("renewed for %.0fh, want 87600h", got)
		}
		for _, kc := range []string{testbed.BinAdminConf, testbed.BinControllerCfg, testbed.BinSchedulerCfg} {
			data, _ := os.ReadFile(b.Path(kc))
			k, err := kubeconfig.Parse(data, "/etc/kubernetes", func(p string) ([]byte, error) { return os.ReadFile(b.Path(p)) })
			if err != nil {
				t.Fatal(err)
			}
			if cs, _ := pki.ParseCertificatesPEM(k.CA.Data); len(cs) == 0 || !cs[0].Equal(renewed) {
				t.Errorf("%s (certificate-authority %q) does not hold the renewed CA", kc, k.CA.Path)
			}
		}
		pool := x509.NewCertPool()
		pool.AddCert(renewed)
		for _, l := range testbed.BinaryInstallLeaves {
			c := certAt(t, b.Path(testbed.BinSSLDir+"/"+l+".pem"))
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("%s.pem (made by the real cfssl): %v", l, err)
			}
		}
	})
}
