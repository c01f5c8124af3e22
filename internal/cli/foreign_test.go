package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/testpki"
)

// sed is the field guide's step 4.4:
//
//	sed -i 's|client-certificate:.*|client-certificate: /etc/kubernetes/pki/apiserver.pem|' /etc/kubernetes/admin.conf
//
// with the directory this node keeps its certificates in.
func sed(t *testing.T, root, to string) {
	t.Helper()
	p := filepath.Join(root, "etc/kubernetes/admin.conf")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "client-certificate:"); i >= 0 {
			line = line[:i] + "client-certificate: " + to
		}
		out = append(out, line)
	}
	testpki.WriteFile(t, p, []byte(strings.Join(out, "\n")), 0o600)
}

func adminClient(t *testing.T, root string) (cn string, orgs []string, embedded bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/kubernetes/admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(b, "/etc/kubernetes", func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) })
	if err != nil {
		t.Fatal(err)
	}
	certs, err := kc.ClientCertificates()
	if err != nil {
		t.Fatal(err)
	}
	return certs[0].Subject.CommonName, certs[0].Subject.Organization, kc.ClientCert.Embedded
}

func TestTheFieldGuidesSedIsAFindingOfItsOwnAndRenewGivesAdminConfItsIdentityBack(t *testing.T) {
	root := t.TempDir()
	g := buildFieldGuide(t, root)
	sed(t, root, "/etc/kubernetes/ssl/apiserver.pem")
	apiBefore, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/ssl/apiserver.pem"))

	var chk checkJSON
	runJSON(t, &chk, ExitCritical, "--root", root, "check", "--no-endpoints", "-o", "json")
	var reasons []string
	for _, r := range chk.Results {
		if r.Path == "/etc/kubernetes/admin.conf" {
			for _, f := range r.Findings {
				reasons = append(reasons, f.Reason)
			}
		}
	}
	if !slices.Equal(reasons, []string{"foreign_client_certificate"}) {
		t.Fatalf("admin.conf findings %v, want foreign_client_certificate alone (not key_mismatch)", reasons)
	}

	// The dry run plans admin.conf's own certificate, with the identity of
	// the client certificate whose key admin.conf still holds (admin.pem).
	var plan planJSON
	runJSON(t, &plan, 0, "--root", root, "renew", "admin.conf", "--dry-run", "-o", "json")
	if len(plan.Items) != 1 || plan.Items[0].Own == "" || plan.Items[0].New.CommonName != "admin" ||
		!slices.Equal(plan.Items[0].New.Organization, []string{"system:masters"}) || plan.Items[0].CAPath != "/etc/kubernetes/ssl/ca.pem" {
		t.Fatalf("plan %+v, want admin.conf's own CN=admin O=system:masters signed by ssl/ca.pem", plan.Items)
	}
	if !strings.Contains(plan.Items[0].Own, "admin.pem") {
		t.Errorf("Own %q does not say where the identity came from", plan.Items[0].Own)
	}

	r := runAt(t, testpki.Epoch, "", "--root", root, "renew", "admin.conf", "--no-backup")
	if r.code != 0 {
		t.Fatalf("renew admin.conf: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cn, orgs, embedded := adminClient(t, root)
	if cn != "admin" || !slices.Equal(orgs, []string{"system:masters"}) || !embedded {
		t.Errorf("admin.conf now CN=%s O=%v embedded=%v, want its own CN=admin O=system:masters, embedded", cn, orgs, embedded)
	}
	if apiAfter, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/ssl/apiserver.pem")); !bytes.Equal(apiBefore, apiAfter) {
		t.Error("renewing admin.conf rewrote the API server's certificate")
	}
	runJSON(t, &chk, -1, "--root", root, "check", "--no-endpoints", "-o", "json")
	for _, res := range chk.Results {
		for _, f := range res.Findings {
			if f.Reason == "foreign_client_certificate" || f.Reason == "key_mismatch" {
				t.Errorf("after renew: %s %s", f.Reason, res.Path)
			}
		}
	}
	_ = g
}

func TestClientNameSaysWhoseAKubeconfigIsWhenNothingOnTheNodeDoes(t *testing.T) {
	root := t.TempDir()
	buildFieldGuide(t, root)
	sed(t, root, "/etc/kubernetes/ssl/apiserver.pem")
	// The admin's own certificate is gone (its key is still admin.conf's):
	// nothing on the node says who admin.conf was.
	for _, p := range []string{"admin.pem"} {
		if err := os.Remove(filepath.Join(root, "etc/kubernetes/ssl", p)); err != nil {
			t.Fatal(err)
		}
	}
	unit(t, root, "kube-apiserver", "ExecStart=/usr/local/bin/kube-apiserver --client-ca-file=/etc/kubernetes/ssl/ca.pem --tls-cert-file=/etc/kubernetes/ssl/apiserver.pem --tls-private-key-file=/etc/kubernetes/ssl/apiserver-key.pem")
	r := runAt(t, testpki.Epoch, "", "--root", root, "renew", "admin.conf", "--dry-run")
	if r.code == 0 || !strings.Contains(r.stderr, "--client-name admin.conf=") {
		t.Fatalf("without an identity: exit %d, stderr %q; want a refusal naming --client-name", r.code, r.stderr)
	}
	var plan planJSON
	runJSON(t, &plan, 0, "--root", root, "renew", "admin.conf", "--dry-run", "-o", "json", "--client-name", "admin.conf=ops:system:masters")
	if len(plan.Items) != 1 || plan.Items[0].New.CommonName != "ops" || !slices.Equal(plan.Items[0].New.Organization, []string{"system:masters"}) {
		t.Fatalf("plan %+v, want CN=ops O=system:masters", plan.Items)
	}
	r = runAt(t, testpki.Epoch, "", "--root", root, "renew", "admin.conf", "--dry-run", "--client-name", "CN=")
	if r.code != ExitUsage {
		t.Errorf("--client-name CN=: exit %d, want a usage error", r.code)
	}
}

func TestRenewOfAnAbsentKubeadmRoleSaysNotPresentOnEveryLayout(t *testing.T) {
	root := t.TempDir()
	buildFieldGuide(t, root)
	r := runAt(t, testpki.Epoch, "", "--root", root, "renew", "super-admin.conf", "--dry-run")
	if r.code == 0 || !strings.Contains(r.stderr, "not present on this node") {
		t.Fatalf("renew super-admin.conf: exit %d, stderr %q; want \"not present on this node\"", r.code, r.stderr)
	}
	// renew all on the field guide's node signs with ssl/ca.pem (it used to
	// fail reading pki/ca.crt).
	var plan planJSON
	out := runJSON(t, &plan, 0, "--root", root, "renew", "all", "--dry-run", "-o", "json")
	for _, it := range plan.Items {
		if it.CAPath != "/etc/kubernetes/ssl/ca.pem" {
			t.Errorf("%s signed by %q", it.Name, it.CAPath)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(plan.Items) < 8 {
		t.Errorf("%d items: %s", len(plan.Items), out)
	}
}

func TestRescueFixesTheFieldGuidesSedWhenNothingIsExpired(t *testing.T) {
	root := t.TempDir()
	buildFieldGuide(t, root)
	sed(t, root, "/etc/kubernetes/ssl/apiserver.pem")
	apiBefore, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/ssl/apiserver.pem"))
	r := runAt(t, testpki.Epoch, "", "--root", root, "rescue", "--restart", "none")
	if !strings.Contains(r.stdout, "admin.conf") || strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("rescue left the sed alone: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cn, orgs, embedded := adminClient(t, root)
	if cn != "admin" || !slices.Equal(orgs, []string{"system:masters"}) || !embedded {
		t.Errorf("admin.conf now CN=%s O=%v embedded=%v, want its own CN=admin O=system:masters, embedded", cn, orgs, embedded)
	}
	if apiAfter, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/ssl/apiserver.pem")); !bytes.Equal(apiBefore, apiAfter) {
		t.Error("the rescue rewrote the API server's certificate")
	}
}
