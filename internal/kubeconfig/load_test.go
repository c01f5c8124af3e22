package kubeconfig_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestLoadEmbeddedKubeconfig(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("kubernetes-admin"))
	p := filepath.Join(dir, "admin.conf")
	testpki.WriteFile(t, p, testpki.Kubeconfig(t, "https://10.0.0.1:6443", ca.Cert, leaf, "kubernetes-admin"), 0o600)

	k, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.Context != "kubernetes-admin@kubernetes" || k.Cluster != "kubernetes" || k.User != "kubernetes-admin" || k.Server != "https://10.0.0.1:6443" {
		t.Errorf("selected %q %q %q %q", k.Context, k.Cluster, k.User, k.Server)
	}
	for name, m := range map[string]Material{"cert": k.ClientCert, "key": k.ClientKey, "ca": k.CA} {
		if !m.Embedded || m.Path != "" || len(m.Data) == 0 {
			t.Errorf("%s: %+v, want embedded data", name, m)
		}
	}
	certs, err := k.ClientCertificates()
	if err != nil || !certs[0].Equal(leaf.Cert) {
		t.Errorf("client certificate: %v", err)
	}
	key, err := k.ClientPrivateKey()
	if err != nil || !pki.PublicKeysEqual(leaf.Key.Public(), key.Public()) {
		t.Errorf("client key: %v", err)
	}
	cas, err := k.CACertificates()
	if err != nil || !cas[0].Equal(ca.Cert) {
		t.Errorf("CA: %v", err)
	}
}

func TestLoadResolvesFileReferences(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.MustCA(t)
	leaf := testpki.MustLeaf(t, ca)
	testpki.WriteFile(t, filepath.Join(dir, "pki/client.pem"), append(testpki.CertPEM(leaf.Cert), testpki.KeyPEM(t, leaf.Key)...), 0o600)
	testpki.WriteCert(t, filepath.Join(dir, "ca.crt"), ca.Cert)
	p := filepath.Join(dir, "kubelet.conf")
	testpki.WriteFile(t, p, []byte(`apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    certificate-authority: ca.crt
    server: https://cp.example.com:6443
contexts:
- name: default
  context: {cluster: default, user: default}
users:
- name: default
  user:
    client-certificate: pki/client.pem
    client-key: `+filepath.Join(dir, "pki/client.pem")+`
`), 0o600)
	k, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.ClientCert.Embedded || k.ClientCert.Path != filepath.Join(dir, "pki/client.pem") || k.ClientCert.Err != nil {
		t.Errorf("client cert: %+v", k.ClientCert)
	}
	if k.CA.Path != filepath.Join(dir, "ca.crt") {
		t.Errorf("CA path %q: relative references resolve against the kubeconfig's directory", k.CA.Path)
	}
	if _, err := k.ClientPrivateKey(); err != nil {
		t.Error(err)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("x"))
	tests := []struct{ name, data, want string }{
		{"empty", "", "empty"},
		{"not yaml", ":\n - [", "not a kubeconfig"},
		{"missing context", "apiVersion: v1\nkind: Config\ncurrent-context: nope\n", `current-context "nope"`},
		{"two contexts no current", "apiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n- name: b\n  context: {cluster: c, user: u}\n", "current-context: not set"},
		{"missing cluster", "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n", `cluster "c" not found`},
		{"missing user", "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: https://x}\n", `user "u" not found`},
		{"bad base64", "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {client-certificate-data: '!!!" + b64 + "'}\n", "not a kubeconfig"},
		{"wrong kind", "apiVersion: v1\nkind: Pod\n", "not a kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), "/", nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestMissingReferenceIsKeptOnTheMaterial(t *testing.T) {
	data := []byte("apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: https://x}\nusers:\n- name: u\n  user: {client-certificate: /nope.crt}\n")
	k, err := Parse(data, "/", func(string) ([]byte, error) { return nil, os.ErrNotExist })
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(k.ClientCert.Err, os.ErrNotExist) || k.ClientKey.Present() || k.CA.Present() {
		t.Fatalf("materials: cert %+v key %+v ca %+v", k.ClientCert, k.ClientKey, k.CA)
	}
	if _, err := k.ClientCertificates(); err == nil || !strings.Contains(err.Error(), "/nope.crt") {
		t.Fatalf("ClientCertificates error %v should name the file", err)
	}
	if _, err := k.ClientPrivateKey(); !errors.Is(err, ErrAbsent) {
		t.Fatalf("ClientPrivateKey error %v, want ErrAbsent", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: https://x, certificate-authority: ca.crt}\nusers:\n- name: u\n  user: {client-certificate-data: aGVsbG8=, client-key: k.pem}\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{}}],"users":[{"name":"u","user":{"token":"t"}}]}`))
	f.Add([]byte("a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(data, "/etc/kubernetes", func(string) ([]byte, error) { return []byte("x"), nil })
		if err != nil {
			return
		}
		_, _ = k.ClientCertificates()
		_, _ = k.ClientPrivateKey()
		_, _ = k.CACertificates()
	})
}
