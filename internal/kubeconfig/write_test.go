package kubeconfig_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestUpdateClientCredentialsKeepsHowTheFileStoresThem(t *testing.T) {
	ca := testpki.MustCA(t)
	old := testpki.MustLeaf(t, ca, testpki.WithCN("kubernetes-admin"))
	renewed := testpki.MustLeaf(t, ca, testpki.WithCN("kubernetes-admin"), testpki.WithKey(old.Key))
	newKey := testpki.MustLeaf(t, ca, testpki.WithCN("kubernetes-admin"))
	certPEM, oldKeyPEM, newKeyPEM := testpki.CertPEM(renewed.Cert), testpki.KeyPEM(t, old.Key), testpki.KeyPEM(t, newKey.Key)

	embedded := testpki.Kubeconfig(t, "https://10.0.0.1:6443", ca.Cert, old, "kubernetes-admin")
	dir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(dir, "client.crt"), testpki.CertPEM(old.Cert), 0o644)
	testpki.WriteFile(t, filepath.Join(dir, "client.key"), oldKeyPEM, 0o600)
	testpki.WriteFile(t, filepath.Join(dir, "bundle.pem"), append(testpki.CertPEM(old.Cert), oldKeyPEM...), 0o600)
	refs := func(cert, key string) []byte {
		return []byte(`apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
  name: k
contexts:
- context: {cluster: k, user: u}
  name: c
current-context: c
users:
- name: u
  user: {client-certificate: ` + cert + `, client-key: ` + key + `}
`)
	}
	read := func(p string) ([]byte, error) { return os.ReadFile(p) }

	tests := []struct {
		name      string
		config    []byte
		update    kubeconfig.Update
		wantFiles map[string][]byte // path (relative to dir) -> content
		wantCert  []byte            // embedded certificate data afterwards
		wantKey   []byte            // embedded key data afterwards
		wantRefs  bool              // file references kept
	}{
		{name: "embedded data stays embedded, key kept", config: embedded,
			update: kubeconfig.Update{CertPEM: certPEM}, wantCert: certPEM, wantKey: oldKeyPEM},
		{name: "embedded data stays embedded, key rotated", config: embedded,
			update: kubeconfig.Update{CertPEM: certPEM, KeyPEM: newKeyPEM}, wantCert: certPEM, wantKey: newKeyPEM},
		{name: "file references stay references, key kept", config: refs("client.crt", "client.key"),
			update: kubeconfig.Update{CertPEM: certPEM}, wantRefs: true, wantFiles: map[string][]byte{"client.crt": certPEM}},
		{name: "file references stay references, key rotated", config: refs("client.crt", "client.key"),
			update:    kubeconfig.Update{CertPEM: certPEM, KeyPEM: newKeyPEM},
			wantRefs:  true,
			wantFiles: map[string][]byte{"client.crt": certPEM, "client.key": newKeyPEM}},
		{name: "one bundle file keeps its key block", config: refs("bundle.pem", "bundle.pem"),
			update: kubeconfig.Update{CertPEM: certPEM}, wantRefs: true, wantFiles: map[string][]byte{"bundle.pem": append(bytes.Clone(certPEM), oldKeyPEM...)}},
		{name: "references to another component's files become embedded data", config: refs("client.crt", "client.key"),
			update: kubeconfig.Update{CertPEM: certPEM, KeyPEM: newKeyPEM, Embed: true}, wantCert: certPEM, wantKey: newKeyPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := kubeconfig.Parse(tt.config, dir, read)
			if err != nil {
				t.Fatal(err)
			}
			out, files, err := kubeconfig.UpdateClientCredentials(k, tt.update)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			for _, f := range files {
				rel, _ := filepath.Rel(dir, f.Path)
				got[rel] = f.Data
				if f.Key != bytes.Contains(f.Data, []byte("PRIVATE KEY")) {
					t.Errorf("%s: Key = %v", rel, f.Key)
				}
			}
			if len(got) != len(tt.wantFiles) {
				t.Errorf("%d files written, want %d", len(got), len(tt.wantFiles))
			}
			for p, want := range tt.wantFiles {
				if !bytes.Equal(got[p], want) {
					t.Errorf("file %s has the wrong content", p)
				}
			}
			if out == nil {
				if tt.wantCert != nil {
					t.Fatal("the kubeconfig was not rewritten")
				}
				return
			}
			again, err := kubeconfig.Parse(out, dir, read)
			if err != nil {
				t.Fatalf("rewritten kubeconfig does not parse: %v", err)
			}
			if again.Server != "https://10.0.0.1:6443" || again.Context != k.Context {
				t.Errorf("server %q context %q changed", again.Server, again.Context)
			}
			if tt.wantRefs != (!again.ClientCert.Embedded) {
				t.Errorf("client-certificate embedded = %v", again.ClientCert.Embedded)
			}
			if tt.wantCert != nil && !bytes.Equal(again.ClientCert.Data, tt.wantCert) {
				t.Error("embedded certificate is not the new one")
			}
			if tt.wantKey != nil && !bytes.Equal(again.ClientKey.Data, tt.wantKey) {
				t.Error("embedded key is not the expected one")
			}
		})
	}
}
