package kubelet

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// TestCSRApproveApprovesTheNodesOwnServingCSRAndDeniesTheOthers runs csr
// approve against a real API server (Node,RBAC with NodeRestriction) where
// node-a has asked for two serving certificates, for its own name and
// address and for one more SAN that is not its own, and a user who is not a
// node has asked for one in node-a's name (NodeRestriction already refuses a
// node's request for another node's identity). Only the first is approved;
// each denial says why.
func TestCSRApproveApprovesTheNodesOwnServingCSRAndDeniesTheOthers(t *testing.T) {
	kctl := testbed.Bin(t, "k8s", "kubectl")
	bin := testbed.Certrescue(t)
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{Authorization: "Node,RBAC", ExtraArgs: []string{"--enable-admission-plugins=NodeRestriction"}})
	cache := t.TempDir()
	kubectl := func(conf, stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kctl, append([]string{"--kubeconfig", conf, "--cache-dir", cache, "--request-timeout=20s"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	node := api.UserKubeconfig(t, "system:node:node-a", "system:nodes")
	// The node registers itself (the Node authorizer and NodeRestriction let
	// it create and update its own Node), and may create CSRs.
	kubectl(node, `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a"}}`, "create", "-f", "-")
	kubectl(api.Kubeconfig, "", "patch", "node", "node-a", "--subresource=status", "--type=merge", "-p",
		`{"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.10"},{"type":"Hostname","address":"node-a"}]}}`)
	kubectl(api.Kubeconfig, "", "create", "clusterrolebinding", "certrescue-test-nodes-csr", "--clusterrole=system:node-bootstrapper", "--group=system:nodes", "--user=mallory")
	mallory := api.UserKubeconfig(t, "mallory")
	for name, req := range map[string]struct {
		as  string
		dns []string
	}{
		"csr-own":     {node, []string{"node-a"}},
		"csr-foreign": {node, []string{"node-a", "api.bank.example"}},
		"csr-other":   {mallory, []string{"node-a"}},
	} {
		kubectl(req.as, servingCSRObject(t, name, "system:node:node-a", req.dns, "192.0.2.10"), "create", "-f", "-")
	}

	work := t.TempDir()
	cmd := exec.Command(bin, "--audit-dsn", filepath.Join(work, "audit.db"), "csr", "approve", "--kubeconfig", api.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("csr approve: %v\n%s", err, out.String())
	}
	t.Logf("csr approve:\n%s", out.String())
	for name, want := range map[string]string{
		"csr-own":     "Approved CertrescueNodeAddresses",
		"csr-foreign": "Denied CertrescueNotTheNodes api.bank.example are not addresses of Node node-a",
		"csr-other":   "Denied CertrescueNotTheNodes requested by \"mallory\"",
	} {
		got := kubectl(api.Kubeconfig, "", "get", "csr", name, "-o", "jsonpath={.status.conditions[0].type} {.status.conditions[0].reason} {.status.conditions[0].message}")
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want it to begin %q", name, got, want)
		}
	}
	audit, err := exec.Command(bin, "--audit-dsn", filepath.Join(work, "audit.db"), "audit", "list", "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("audit list: %v\n%s", err, audit)
	}
	if n := strings.Count(string(audit), `"APPROVE"`); n != 1 {
		t.Errorf("%d APPROVE events, want 1:\n%s", n, audit)
	}
	if n := strings.Count(string(audit), `"DENY"`); n != 2 {
		t.Errorf("%d DENY events, want 2:\n%s", n, audit)
	}
}

// servingCSRObject is a kubelet-serving CertificateSigningRequest as the
// kubelet creates it with serverTLSBootstrap.
func servingCSRObject(t *testing.T, name, cn string, dns []string, ips ...string) string {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := pki.Template{Subject: pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}}, DNSNames: dns}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := pki.CreateCSR(key, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":%q},
"spec":{"request":%q,"signerName":"kubernetes.io/kubelet-serving","usages":["digital signature","server auth"]}}`,
		name, base64.StdEncoding.EncodeToString(pki.EncodeCSRPEM(der)))
}
