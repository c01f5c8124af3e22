package certmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

const certManagerVersion = "v1.21.2"

// crdDir downloads cert-manager's module from the Go module proxy (go mod
// download: the module cache keeps it) and returns its deploy/crds.
func crdDir(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/cert-manager/cert-manager@"+certManagerVersion)
	cmd.Dir = t.TempDir() // outside the product's module: nothing is added to go.mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); err != nil || jerr != nil || info.Dir == "" {
		msg := "go mod download github.com/cert-manager/cert-manager@" + certManagerVersion + ": " + info.Error
		if err != nil {
			msg += " " + err.Error()
		}
		if testbed.Require() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := filepath.Join(info.Dir, "deploy", "crds")
	if _, err := os.Stat(filepath.Join(dir, "cert-manager.io_clusterissuers.yaml")); err != nil {
		t.Fatalf("cert-manager %s has no CRDs where expected: %v", certManagerVersion, err)
	}
	return dir
}

type cluster struct {
	t       *testing.T
	kubectl string
	config  string
}

// run runs kubectl and returns its combined output and error.
func (c cluster) run(stdin []byte, args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", c.config}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (c cluster) must(stdin []byte, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func manifests(t *testing.T, bin, root string, args ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--root", root, "cert-manager", "manifests"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("certrescue cert-manager manifests %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

func TestTheGeneratedResourcesAreCreatedOnARealAPIServerWithCertManagersCRDs(t *testing.T) {
	crds := crdDir(t)
	kubectl := testbed.Bin(t, "k8s", "kubectl")
	bin := testbed.Certrescue(t)
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	k := cluster{t: t, kubectl: kubectl, config: api.Kubeconfig}

	// cert-manager's CRDs, as its release installs them (create: the
	// Certificate CRD is too large for apply's last-applied annotation).
	k.must(nil, "create", "-f", crds)
	k.must(nil, "wait", "--for=condition=Established", "--timeout=90s",
		"crd/clusterissuers.cert-manager.io", "crd/issuers.cert-manager.io", "crd/certificates.cert-manager.io", "crd/certificaterequests.cert-manager.io")
	for _, ns := range []string{"cert-manager", "web", "infra"} {
		k.must(nil, "create", "namespace", ns)
	}

	node := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	kube := manifests(t, bin, node.Root, "--vault-server", "https://vault.example.com:8200", "--vault-role", "cert-manager",
		"--certificate", "web/shop=shop.example.com,10.0.0.20", "--certificate", "web/api=api.shop.example.com")
	out := k.must(kube, "create", "--validate=strict", "-f", "-")
	for _, want := range []string{"clusterissuer.cert-manager.io/vault-issuer created", "serviceaccount/vault-issuer created",
		"role.rbac.authorization.k8s.io/vault-issuer-token-request created", "rolebinding.rbac.authorization.k8s.io/vault-issuer-token-request created",
		"certificate.cert-manager.io/shop created", "certificate.cert-manager.io/api created"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl create said:\n%s\nwant %q", out, want)
		}
	}
	if got := k.must(nil, "get", "clusterissuer", "vault-issuer", "-o", "jsonpath={.spec.vault.path} {.spec.vault.auth.kubernetes.serviceAccountRef.name}"); got != "pki/sign/k8s-cluster vault-issuer" {
		t.Errorf("ClusterIssuer as stored: %q", got)
	}
	if got := k.must(nil, "-n", "web", "get", "certificate", "shop", "-o", "jsonpath={.spec.duration} {.spec.renewBefore} {.spec.issuerRef.kind}/{.spec.issuerRef.name}"); got != "2160h0m0s 360h0m0s ClusterIssuer/vault-issuer" && got != "2160h 360h ClusterIssuer/vault-issuer" {
		t.Errorf("Certificate as stored: %q", got)
	}
	// The caBundle is the node's cluster CA.
	ca, _ := os.ReadFile(node.Path("/etc/kubernetes/pki/ca.crt"))
	if got := k.must(nil, "get", "clusterissuer", "vault-issuer", "-o", "jsonpath={.spec.vault.caBundle}"); !strings.Contains(string(kube), got) || got == "" || !bytes.Contains(decode(t, got), bytes.TrimSpace(ca)) {
		t.Errorf("caBundle is not the node's CA")
	}
	// The Role lets cert-manager's controller request tokens of the issuer's
	// service account, and nothing else.
	if got := k.must(nil, "auth", "can-i", "create", "serviceaccounts/vault-issuer", "--subresource=token", "-n", "cert-manager", "--as=system:serviceaccount:cert-manager:cert-manager"); got != "yes" {
		t.Errorf("cert-manager may not request the token: %q", got)
	}

	// AppRole auth, in a second ClusterIssuer.
	approle := manifests(t, bin, node.Root, "--issuer-name", "vault-approle", "--vault-server", "https://vault.example.com", "--auth", "approle",
		"--approle-role-id", "6a8f", "--vault-path", "pki_int/sign-verbatim/k8s", "--certificate", "infra/registry=registry.example.com",
		"--duration", "720h", "--renew-before", "240h")
	out = k.must(approle, "create", "--validate=strict", "-f", "-")
	if !strings.Contains(out, "clusterissuer.cert-manager.io/vault-approle created") || !strings.Contains(out, "certificate.cert-manager.io/registry created") {
		t.Errorf("AppRole manifests: %s", out)
	}

	// Broken resources: the CRD schemas reject them, and nothing is stored.
	for name, c := range map[string]struct{ yaml, want string }{
		"a ClusterIssuer without its server": {strings.Replace(string(kube), "    server: https://vault.example.com:8200\n", "", 1), "spec.vault.server: Required value"},
		"a misspelt field":                   {strings.Replace(string(kube), "    server: https://", "    sever: https://", 1), `unknown field "spec.vault.sever"`},
		"a Certificate without issuerRef": {`apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: broken, namespace: web}
spec: {secretName: broken-tls, dnsNames: [broken.example.com]}
`, "spec.issuerRef: Required value"},
		"a key algorithm cert-manager does not have": {`apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: broken, namespace: web}
spec:
  secretName: broken-tls
  dnsNames: [broken.example.com]
  issuerRef: {name: vault-issuer, kind: ClusterIssuer}
  privateKey: {algorithm: DSA}
`, `spec.privateKey.algorithm: Unsupported value: "DSA"`},
	} {
		y := strings.Replace(c.yaml, "name: vault-issuer\n", "name: broken-issuer\n", 1)
		out, err := k.run([]byte(y), "create", "--validate=strict", "-f", "-")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(out, c.want) {
			t.Errorf("%s: %v\n%s\nwant it rejected with %q", name, err, out, c.want)
		}
	}
	if out, err := k.run(nil, "get", "clusterissuer", "broken-issuer"); err == nil {
		t.Errorf("a broken ClusterIssuer was stored: %s", out)
	}
	if out, err := k.run(nil, "-n", "web", "get", "certificate", "broken"); err == nil {
		t.Errorf("a broken Certificate was stored: %s", out)
	}
}
