package signer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/signer/signertest"
	"github.com/certrescue/certrescue/internal/testpki"
)

// The Vault path end to end, against the FAKE Vault of signertest (no Vault
// server builds here; it answers the documented calls only): vault setup
// mounts the PKI engine and has the intermediate's key made inside Vault;
// the offline root (the node's CA, its key nowhere on the node) signs the
// CSR with certrescue sign; vault setup imports it and creates the
// k8s-cluster role and the nodes' policy; then renew signs through
// sign-verbatim, first with a token, then with AppRole. The renewed files
// carry Vault's intermediate after each leaf, and openssl verifies them
// against the node's ca.crt, the root.
func TestVaultSetupThenRenewThroughVault(t *testing.T) {
	n := newNode(t)
	v := signertest.StartFakeVault(t, nil)
	writeFile(t, n.path("/etc/certrescue/vault-token"), v.Token+"\n")
	writeFile(t, n.path("/etc/certrescue/vault-ca.pem"), string(v.CABundle))
	conn := []string{"--vault-addr", v.URL, "--vault-token", "file:/etc/certrescue/vault-token", "--vault-ca-bundle", "/etc/certrescue/vault-ca.pem"}

	code, out := n.certrescue(t, append([]string{"vault", "setup"}, conn...)...)
	if code != 0 || !strings.Contains(out, "POST /v1/sys/mounts/pki") || len(v.CallList()) != 0 {
		t.Fatalf("vault setup (print): exit %d, calls made %v\n%s", code, v.CallList(), out)
	}
	code, out = n.certrescue(t, append([]string{"vault", "setup", "--apply", "--csr-out", "/root/pki-intermediate.csr"}, conn...)...)
	t.Logf("vault setup --apply:\n%s", out)
	if code != 0 {
		t.Fatalf("vault setup phase 1: exit %d", code)
	}

	t.Run("phase 1 again: an existing CSR file is refused before Vault is asked, an existing mount by Vault", func(t *testing.T) {
		calls := len(v.CallList())
		code, out := n.certrescue(t, append([]string{"vault", "setup", "--apply", "--csr-out", "/root/pki-intermediate.csr"}, conn...)...)
		if code == 0 || !strings.Contains(out, "--csr-out /root/pki-intermediate.csr exists") || len(v.CallList()) != calls {
			t.Fatalf("exit %d, %d calls more:\n%s", code, len(v.CallList())-calls, out)
		}
		code, out = n.certrescue(t, append([]string{"vault", "setup", "--apply", "--force", "--csr-out", "/root/pki-intermediate.csr"}, conn...)...)
		if code == 0 || !strings.Contains(out, "POST /v1/sys/mounts/pki") || !strings.Contains(out, "path is already in use") {
			t.Fatalf("exit %d, want Vault's refusal naming the call:\n%s", code, out)
		}
	})

	// Offline: the root signs the intermediate with a CA profile.
	off := t.TempDir()
	root := n.tree.CAs["ca"]
	testpki.WriteCert(t, filepath.Join(off, "root.pem"), root.Cert)
	testpki.WriteKey(t, filepath.Join(off, "root-key.pem"), root.Signer)
	writeFile(t, filepath.Join(off, "ca-config.json"), `{"signing":{"profiles":{"intermediate":{"expiry":"43800h",
		"usages":["cert sign","crl sign"],"ca_constraint":{"is_ca":true,"max_path_len":0,"max_path_len_zero":true}}}}}`)
	t.Setenv("CERTRESCUE_AUDIT_DSN", filepath.Join(off, "audit.db"))
	code, out = offline(t, "sign", "-ca", filepath.Join(off, "root.pem"), "-ca-key", filepath.Join(off, "root-key.pem"),
		"-config", filepath.Join(off, "ca-config.json"), "-profile", "intermediate", "--bare", filepath.Join(off, "pki-intermediate"),
		n.path("/root/pki-intermediate.csr"))
	if code != 0 {
		t.Fatalf("certrescue sign of the intermediate: exit %d\n%s", code, out)
	}
	inter, err := os.ReadFile(filepath.Join(off, "pki-intermediate.pem"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, n.path("/root/intermediate-chain.pem"), string(inter)+string(testpki.CertPEM(root.Cert)))

	code, out = n.certrescue(t, append([]string{"vault", "setup", "--apply", "--intermediate-cert", "/root/intermediate-chain.pem"}, conn...)...)
	t.Logf("vault setup --apply --intermediate-cert:\n%s", out)
	if code != 0 {
		t.Fatalf("vault setup phase 2: exit %d", code)
	}
	if !strings.Contains(v.Policies["certrescue-node"], `"pki/sign-verbatim"`) {
		t.Errorf("the nodes' policy: %q", v.Policies["certrescue-node"])
	}

	before := n.leaves(t)
	code, out = n.certrescue(t, append([]string{"renew", "all", "--signer", "vault"}, conn...)...)
	t.Logf("renew all --signer vault:\n%s", out)
	if code != 0 {
		t.Fatalf("renew all through Vault: exit %d", code)
	}
	byCA := []string{"apiserver", "apiserver-kubelet-client", "admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet-client"}
	after := n.leaves(t)
	renewed(t, before, after, byCA...)
	for _, name := range byCA {
		if got := after[name].cert.Issuer.CommonName; !strings.HasPrefix(got, "kubernetes-intermediate") {
			t.Errorf("%s issued by %q, want Vault's intermediate", name, got)
		}
	}
	if !strings.Contains(out, "skipped etcd-server") {
		t.Error("etcd-server (etcd-ca, not in Vault) is not reported skipped")
	}
	opensslVerifies(t, after)
	n.caKeysAbsent(t)

	t.Setenv("VAULT_SECRET_ID", v.SecretID)
	code, out = n.certrescue(t, "renew", "apiserver", "--signer", "vault", "--vault-addr", v.URL, "--vault-ca-bundle", "/etc/certrescue/vault-ca.pem",
		"--vault-role-id", v.RoleID)
	if code != 0 || strings.Contains(out, v.SecretID) {
		t.Fatalf("renew apiserver with AppRole: exit %d\n%s", code, out)
	}
	calls := strings.Join(v.CallList(), "\n")
	t.Logf("Vault calls:\n%s", calls)
	for _, want := range []string{"PUT /v1/sys/mounts/pki", "PUT /v1/pki/intermediate/generate/internal", "PUT /v1/pki/intermediate/set-signed",
		"PUT /v1/pki/roles/k8s-cluster", "PUT /v1/sys/policies/acl/certrescue-node", "GET /v1/pki/cert/ca_chain", "PUT /v1/pki/sign-verbatim", "PUT /v1/auth/approle/login"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no %s call", want)
		}
	}
	for _, d := range n.auditDetails(t) {
		if strings.Contains(d, v.Token) || strings.Contains(d, v.SecretID) {
			t.Error("the audit log holds a Vault credential")
		}
	}
	if !slices.ContainsFunc(n.auditDetails(t), func(d string) bool { return strings.Contains(d, "signed by vault "+v.URL+" pki/sign-verbatim") }) {
		t.Error("no audit record names the Vault signer")
	}
}

// renew all through Vault with one PKI mount per kubeadm CA (the CA keys
// live in Vault, none on the node), logging in with AppRole: every
// credential is renewed by its CA's mount; openssl verifies each.
func TestRenewAllThroughAVaultMountPerCA(t *testing.T) {
	n := newNode(t)
	v := signertest.StartFakeVault(t, n.tree.CAs["ca"])
	v.AddMount("pki_etcd", n.tree.CAs["etcd-ca"])
	v.AddMount("pki_front_proxy", n.tree.CAs["front-proxy-ca"])
	writeFile(t, n.path("/etc/certrescue/vault-ca.pem"), string(v.CABundle))
	writeFile(t, n.path("/etc/certrescue/secret-id"), v.SecretID)
	before := n.leaves(t)
	code, out := n.certrescue(t, "renew", "all", "--signer", "vault", "--vault-addr", v.URL, "--vault-ca-bundle", "/etc/certrescue/vault-ca.pem",
		"--vault-role-id", v.RoleID, "--vault-secret-id", "file:/etc/certrescue/secret-id",
		"--vault-mount", "pki", "--vault-mount", "pki_etcd", "--vault-mount", "pki_front_proxy")
	t.Logf("renew all:\n%s", out)
	if code != 0 {
		t.Fatalf("renew all through three Vault mounts: exit %d", code)
	}
	after := n.leaves(t)
	renewed(t, before, after, renewableNames()...)
	opensslVerifies(t, after)
	for _, want := range []string{"etcd-ca: signed by vault " + v.URL + " pki_etcd/sign-verbatim (approle)", "front-proxy-ca: signed by vault " + v.URL + " pki_front_proxy/sign-verbatim"} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan does not say %q", want)
		}
	}
	if strings.Contains(out, v.SecretID) {
		t.Error("the output shows the secret ID")
	}
}
