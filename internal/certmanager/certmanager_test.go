package certmanager

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

var update = flag.Bool("update", false, "rewrite the golden manifests")

// bundle is a fixed, committed-free CA bundle: a PEM block whose bytes are
// not a real certificate (the golden output must not change every run, and
// no certificate is committed). checkBundle reads only the PEM framing.
const bundle = "-----BEGIN CERTIFICATE-----\nTUlJQmZha2U=\n-----END CERTIFICATE-----\n"

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (refresh with -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (refresh with -update):\n%s", name, got)
	}
}

func TestManifestsKubernetesAuth(t *testing.T) {
	shop, err := ParseCertificate("web/shop=shop.example.com,10.0.0.20")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Manifests(Issuer{Server: "https://vault.example.com:8200", CABundle: []byte(bundle),
		Auth: Auth{Kind: AuthKubernetes, Role: "cert-manager"}}, []Certificate{shop})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kubernetes-auth.yaml", got)
	for _, want := range []string{"path: pki/sign/k8s-cluster", "duration: 2160h", "renewBefore: 360h", "kind: ClusterIssuer", "serviceaccounts/token"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("manifests lack %q", want)
		}
	}
}

func TestManifestsAppRoleAuth(t *testing.T) {
	got, err := Manifests(Issuer{Server: "https://vault.example.com", Path: "pki_int/sign-verbatim/k8s", Namespace: "platform", CABundle: []byte(bundle),
		Auth: Auth{Kind: AuthAppRole, RoleID: "6a8f-role-id"}},
		[]Certificate{{Name: "registry", Namespace: "infra", DNSNames: []string{"registry.example.com"}, Duration: 30 * 24 * time.Hour, RenewBefore: 10 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "approle-auth.yaml", got)
	if strings.Contains(string(got), "ServiceAccount") {
		t.Error("AppRole auth needs no service account")
	}
}

func TestBadSettingsAreRefused(t *testing.T) {
	ok := Issuer{Server: "https://vault.example.com", CABundle: []byte(bundle), Auth: Auth{Kind: AuthKubernetes, Role: "cm"}}
	cert := Certificate{Name: "shop", Namespace: "web", DNSNames: []string{"shop.example.com"}}
	cases := map[string]func(i *Issuer, c *Certificate){
		"a plain http server":       func(i *Issuer, _ *Certificate) { i.Server = "http://vault.example.com" },
		"a server with a path":      func(i *Issuer, _ *Certificate) { i.Server = "https://vault.example.com/v1/pki" },
		"a path that does not sign": func(i *Issuer, _ *Certificate) { i.Path = "pki/issue/k8s-cluster" },
		"a path of one word":        func(i *Issuer, _ *Certificate) { i.Path = "pki" },
		"an empty CA bundle":        func(i *Issuer, _ *Certificate) { i.CABundle = nil },
		"a key in the CA bundle": func(i *Issuer, _ *Certificate) {
			i.CABundle = []byte("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
		},
		"a CA bundle that is not PEM":         func(i *Issuer, _ *Certificate) { i.CABundle = []byte("not a certificate") },
		"Kubernetes auth without a role":      func(i *Issuer, _ *Certificate) { i.Auth.Role = "" },
		"a relative auth mount path":          func(i *Issuer, _ *Certificate) { i.Auth.MountPath = "auth/kubernetes" },
		"AppRole auth without a role ID":      func(i *Issuer, _ *Certificate) { i.Auth = Auth{Kind: AuthAppRole} },
		"an unknown auth":                     func(i *Issuer, _ *Certificate) { i.Auth.Kind = "token" },
		"an issuer name with capitals":        func(i *Issuer, _ *Certificate) { i.Name = "Vault" },
		"a certificate without names":         func(_ *Issuer, c *Certificate) { c.DNSNames = nil },
		"a DNS name with a space":             func(_ *Issuer, c *Certificate) { c.DNSNames = []string{"shop example.com"} },
		"renewBefore as long as the duration": func(_ *Issuer, c *Certificate) { c.RenewBefore = c.Duration },
		"a duration under an hour":            func(_ *Issuer, c *Certificate) { c.Duration = time.Minute },
		"a namespace with a dot":              func(_ *Issuer, c *Certificate) { c.Namespace = "web.prod" },
	}
	for name, mutate := range cases {
		i, c := ok, cert
		c.Duration, c.RenewBefore = DefaultDuration, DefaultRenewBefore
		mutate(&i, &c)
		if _, err := Manifests(i, []Certificate{c}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Manifests(ok, []Certificate{cert, cert}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a certificate given twice: %v", err)
	}
}

func TestParseCertificate(t *testing.T) {
	c, err := ParseCertificate("web/shop=shop.example.com, 10.0.0.20,www.shop.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "web" || c.Name != "shop" || c.SecretName != "shop-tls" || len(c.DNSNames) != 2 || len(c.IPAddresses) != 1 {
		t.Errorf("%+v", c)
	}
	for _, bad := range []string{"", "shop=shop.example.com", "web/=a.example.com", "/shop=a", "web/shop=", "web/shop", "web/Shop=a.example.com", "web/shop=a..b"} {
		if _, err := ParseCertificate(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCertificate(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzParseCertificate(f *testing.F) {
	for _, s := range []string{"web/shop=shop.example.com,10.0.0.20", "a/b=c", "=", "/=,", "x/y=::1,*.example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCertificate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseCertificate(%q): %v is not ErrInvalid", s, err)
			}
			return
		}
		if _, err := Manifests(Issuer{Server: "https://v.example.com", CABundle: []byte(bundle), Auth: Auth{Kind: AuthKubernetes, Role: "r"}}, []Certificate{c}); err != nil {
			t.Fatalf("ParseCertificate(%q) accepted what Manifests refuses: %v", s, err)
		}
	})
}

func TestEveryCertificateOfAKubeadmNodeIsTheTimers(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	list := CannotManage(renewal.Inspect(tr.Root, layout.Kubeadm))
	if want := len(renewal.RenewableNames(layout.Kubeadm)); len(list) != want {
		t.Errorf("%d listed, want every one of the %d renewable credentials", len(list), want)
	}
	by := map[string]Unmanaged{}
	for _, u := range list {
		by[u.Name] = u
		if u.Why == "" || u.By == "" || u.Path == "" {
			t.Errorf("%+v", u)
		}
	}
	for name, want := range map[string]string{
		"apiserver":      "kube-apiserver (static pods or systemd units): a static pod cannot mount a Secret",
		"etcd-server":    "read from the node's disk by etcd",
		"scheduler.conf": "kube-scheduler",
		"kubelet-client": "the kubelet's own credential",
		"admin.conf":     "the way in when the API server's own certificates fail",
	} {
		if !strings.Contains(by[name].Why, want) {
			t.Errorf("%s: %q, want it to say %q", name, by[name].Why, want)
		}
	}
}
