package renewal_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/deploy"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

var now = testpki.Epoch

// expiredTree is a kubeadm node whose every leaf expired a month ago, under
// CAs that are still valid.
func expiredTree(t *testing.T, spec pki.KeySpec) *testpki.Tree { return expiredTreeB(t, spec) }

func expiredTreeB(t testing.TB, spec pki.KeySpec) *testpki.Tree {
	t.Helper()
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{KeySpec: spec, Manifests: true})
	var leaves []string
	for _, r := range layout.Kubeadm {
		if renewal.Renewable(r) {
			leaves = append(leaves, r.Name)
		}
	}
	testpki.AgeKubeadmTree(t, tr.Root, now.Add(-400*24*time.Hour), now.Add(-30*24*time.Hour), testpki.AgeOnly(leaves...))
	return tr
}

// current reads a role's certificate and public key from the node.
func current(t *testing.T, root, name string) (*x509.Certificate, any) {
	t.Helper()
	for _, c := range renewal.Inspect(root, layout.Kubeadm) {
		if c.Role.Name == name {
			if c.Err != nil {
				t.Fatalf("%s: %v", name, c.Err)
			}
			return c.Cert, c.Cert.PublicKey
		}
	}
	t.Fatalf("%s: not inspected", name)
	return nil, nil
}

func apply(t *testing.T, root string, p *renewal.Plan) {
	t.Helper()
	if _, err := deploy.Apply(p.Files(), deploy.Options{Root: root}); err != nil {
		t.Fatal(err)
	}
}

func TestRenewAllKeepsEachTemplateKeyAndSigningCA(t *testing.T) {
	for _, tt := range []struct {
		name   string
		spec   pki.KeySpec
		rotate bool
	}{
		{"ECDSA keys kept", pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256}, false},
		{"RSA keys rotated to new RSA-2048 keys", pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := expiredTree(t, tt.spec)
			before := map[string]*x509.Certificate{}
			for _, c := range renewal.Inspect(tr.Root, layout.Kubeadm) {
				before[c.Role.Name] = c.Cert
			}
			plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, RotateKeys: tt.rotate})
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Items) != 13 || len(plan.Skipped) != 0 {
				t.Fatalf("%d items, skipped %v; want all 13 kubeadm leaves and kubeconfigs", len(plan.Items), plan.Skipped)
			}
			apply(t, tr.Root, plan)
			for _, r := range layout.Kubeadm {
				if !renewal.Renewable(r) {
					continue
				}
				old := before[r.Name]
				got, _ := current(t, tr.Root, r.Name)
				if got.Subject.String() != old.Subject.String() {
					t.Errorf("%s: subject %q, want %q", r.Name, got.Subject, old.Subject)
				}
				if !slices.Equal(got.DNSNames, old.DNSNames) || len(got.IPAddresses) != len(old.IPAddresses) {
					t.Errorf("%s: SANs %v %v, want %v %v", r.Name, got.DNSNames, got.IPAddresses, old.DNSNames, old.IPAddresses)
				}
				if got.KeyUsage != old.KeyUsage || !slices.Equal(got.ExtKeyUsage, old.ExtKeyUsage) {
					t.Errorf("%s: usages changed", r.Name)
				}
				if !got.NotAfter.After(now.Add(364*24*time.Hour)) || got.NotBefore.After(now) {
					t.Errorf("%s: valid %s to %s, want a year from now", r.Name, got.NotBefore, got.NotAfter)
				}
				if err := got.CheckSignatureFrom(tr.CAs[r.CA].Cert); err != nil {
					t.Errorf("%s: not signed by %s: %v", r.Name, r.CA, err)
				}
				samekey := pki.PublicKeysEqual(got.PublicKey, old.PublicKey)
				if samekey == tt.rotate {
					t.Errorf("%s: key kept = %v with rotate = %v", r.Name, samekey, tt.rotate)
				}
				if spec, _ := pki.SpecOf(got.PublicKey); spec != tt.spec {
					t.Errorf("%s: key %v, want %v", r.Name, spec, tt.spec)
				}
			}
			// The kubelet's symlink is still a symlink, to the same file.
			link := tr.Path(layout.KubeletPKIDir + "/kubelet-client-current.pem")
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("kubelet-client-current.pem is no longer a symlink")
			}
		})
	}
}

func TestPrepareWritesNothing(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	before := tree(t, tr.Root)
	if _, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, RotateKeys: true}); err != nil {
		t.Fatal(err)
	}
	if after := tree(t, tr.Root); !maps(before, after) {
		t.Error("Prepare changed files on the node")
	}
}

func TestAdminConfPointedAtTheAPIServersCertificateGetsItsOwn(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	// The field guide's sed line: admin.conf now uses the API server's serving
	// certificate and key as its client credential.
	for _, conf := range []string{"admin.conf", "super-admin.conf"} {
		p := tr.Path("/etc/kubernetes/" + conf)
		kc, err := kubeconfig.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		u := kc.Config.AuthInfos[kc.User]
		u.ClientCertificateData, u.ClientKeyData = nil, nil
		u.ClientCertificate, u.ClientKey = layout.PKIDir+"/apiserver.crt", layout.PKIDir+"/apiserver.key"
		testpki.WriteFile(t, p, testpki.EncodeKubeconfig(t, kc), 0o600)
	}
	apiserverBefore, _ := os.ReadFile(tr.Path(layout.PKIDir + "/apiserver.crt"))

	// Renewing everything, the API server included, must not make admin.conf
	// share the API server's renewed file.
	all, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all.Items {
		if strings.HasSuffix(it.Role.Name, "admin.conf") && (it.Own == "" || it.SharedWith != "") {
			t.Errorf("renew all: %s Own %q SharedWith %q", it.Role.Name, it.Own, it.SharedWith)
		}
	}
	plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, Names: []string{"admin.conf", "super-admin.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range plan.Items {
		if it.Own == "" || !it.NewKey {
			t.Errorf("%s: Own = %q, NewKey = %v; want its own credential with a new key", it.Role.Name, it.Own, it.NewKey)
		}
	}
	apply(t, tr.Root, plan)
	for conf, org := range map[string]string{"admin.conf": "kubeadm:cluster-admins", "super-admin.conf": "system:masters"} {
		kc, err := kubeconfig.Load(tr.Path("/etc/kubernetes/" + conf))
		if err != nil {
			t.Fatal(err)
		}
		if !kc.ClientCert.Embedded || !kc.ClientKey.Embedded {
			t.Errorf("%s: credentials not embedded", conf)
		}
		certs, _ := kc.ClientCertificates()
		c := certs[0]
		if !slices.Equal(c.Subject.Organization, []string{org}) || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
			t.Errorf("%s: O=%v EKU=%v, want O=%s client auth", conf, c.Subject.Organization, c.ExtKeyUsage, org)
		}
		key, _ := kc.ClientPrivateKey()
		apiserver, _ := current(t, tr.Root, "apiserver")
		if pki.PublicKeysEqual(key.Public(), apiserver.PublicKey) {
			t.Errorf("%s still uses the API server's key", conf)
		}
	}
	if after, _ := os.ReadFile(tr.Path(layout.PKIDir + "/apiserver.crt")); !bytes.Equal(after, apiserverBefore) {
		t.Error("renewing admin.conf rewrote the API server's certificate")
	}
}

func TestKubeletConfReferencingTheRotatedBundleIsRenewedOnce(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	p := tr.Path("/etc/kubernetes/kubelet.conf")
	kc, err := kubeconfig.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	u := kc.Config.AuthInfos[kc.User]
	u.ClientCertificateData, u.ClientKeyData = nil, nil
	bundle := layout.KubeletPKIDir + "/kubelet-client-current.pem"
	u.ClientCertificate, u.ClientKey = bundle, bundle
	testpki.WriteFile(t, p, testpki.EncodeKubeconfig(t, kc), 0o600)
	confBefore, _ := os.ReadFile(p)

	for _, names := range [][]string{nil, {"kubelet.conf"}} {
		plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, Names: names})
		if err != nil {
			t.Fatal(err)
		}
		var written []string
		for _, f := range plan.Files() {
			if strings.HasPrefix(f.Path, "/var/lib/kubelet") || strings.HasSuffix(f.Path, "kubelet.conf") {
				written = append(written, f.Path)
			}
		}
		if len(written) != 1 || !strings.HasPrefix(written[0], layout.KubeletPKIDir+"/kubelet-client-2") {
			t.Errorf("names %v: kubelet files written %v, want only the dated bundle", names, written)
		}
		apply(t, tr.Root, plan)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, confBefore) {
		t.Error("kubelet.conf itself was rewritten; it only references the bundle")
	}
	c, _ := current(t, tr.Root, "kubelet-client")
	if c.NotAfter.Before(now) {
		t.Error("the kubelet's client certificate is still expired")
	}
}

func TestAddSANGoesToServingCertificatesOnly(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, Names: []string{"apiserver", "admin.conf"},
		AddSANs: []string{"k8s-api.example.com", "10.0.0.99"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range plan.Items {
		has := slices.Contains(it.New.DNSNames, "k8s-api.example.com") && slices.ContainsFunc(it.New.IPAddresses, func(ip net.IP) bool { return ip.String() == "10.0.0.99" })
		if has != (it.Role.Name == "apiserver") {
			t.Errorf("%s: extra SANs present = %v", it.Role.Name, has)
		}
	}
	if _, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, AddSANs: []string{"bad name!"}}); err == nil {
		t.Error("a malformed --add-san was accepted")
	}
}

func TestPrepareRefusals(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	// A key that belongs to another certificate.
	other := testpki.MustLeaf(t, tr.CAs["ca"])
	testpki.WriteKey(t, tr.Path(layout.PKIDir+"/front-proxy-client.key"), other.Key)
	tests := []struct {
		name string
		opts renewal.Options
		want string
		is   error // the error it wraps, when callers branch on it
	}{
		{"an unknown name lists the valid ones", renewal.Options{Names: []string{"apiserverr"}}, "valid names: all, apiserver,", renewal.ErrUnknownName},
		{"a CA is not renewed", renewal.Options{Names: []string{"ca"}}, "is a CA or a key pair", renewal.ErrNotRenewable},
		{"a mismatched key needs a new key (--rotate-keys, the command layer says)", renewal.Options{Names: []string{"front-proxy-client"}}, "the private key does not match the certificate", renewal.ErrKeyNotKept},
		{"an expired CA is refused", renewal.Options{Names: []string{"apiserver"}, Now: now.Add(20 * 365 * 24 * time.Hour)}, "CA certificate is not valid now", pki.ErrCAExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Root = tr.Root
			if o.Now.IsZero() {
				o.Now = now
			}
			_, err := renewal.Prepare(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.is)
			}
		})
	}
	// With --rotate-keys the mismatched key is replaced.
	if _, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, Names: []string{"front-proxy-client"}, RotateKeys: true}); err != nil {
		t.Errorf("--rotate-keys: %v", err)
	}
}

func TestMissingFilesAreSkippedUnlessNamed(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	os.Remove(tr.Path("/etc/kubernetes/super-admin.conf"))
	plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Skipped) != 1 || plan.Skipped[0].Name != "super-admin.conf" {
		t.Errorf("skipped = %v", plan.Skipped)
	}
	if _, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, Names: []string{"super-admin.conf"}}); err == nil {
		t.Error("naming a missing credential succeeded")
	}
	if got := plan.Components(); !slices.Equal(got, layout.RestartOrder) {
		t.Errorf("components = %v, want %v", got, layout.RestartOrder)
	}
}

func TestALegacyAdminConfKeepsItsGroup(t *testing.T) {
	tr := expiredTree(t, pki.DefaultKeySpec)
	p := tr.Path("/etc/kubernetes/admin.conf")
	kc, err := kubeconfig.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	old := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithCN("kubernetes-admin"), testpki.WithOrg("system:masters"),
		testpki.WithUsage(x509.ExtKeyUsageClientAuth), testpki.WithValidity(now.Add(-400*24*time.Hour), now.Add(-time.Hour)))
	u := kc.Config.AuthInfos[kc.User]
	u.ClientCertificateData, u.ClientKeyData = testpki.CertPEM(old.Cert), testpki.KeyPEM(t, old.Key)
	testpki.WriteFile(t, p, testpki.EncodeKubeconfig(t, kc), 0o600)
	plan, err := renewal.Prepare(renewal.Options{Root: tr.Root, Now: now, Names: []string{"admin.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	it := plan.Items[0]
	if it.Own != "" || !slices.Equal(it.New.Subject.Organization, []string{"system:masters"}) || len(plan.Warnings) != 1 {
		t.Errorf("Own %q, O=%v, warnings %v; want a plain renewal in system:masters with a warning", it.Own, it.New.Subject.Organization, plan.Warnings)
	}
}
