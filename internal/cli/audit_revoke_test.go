package cli

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRevokeAndCRLWithOpenSSL revokes a certificate issued by certrescue, signs
// a CRL and has the real openssl verify the CRL and reject the certificate.
func TestRevokeAndCRLWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
			t.Fatal("openssl not installed (scripts/test-deps.sh installs it)")
		}
		t.Skip("openssl not installed")
	}
	n := newAuditNode(t, "")
	// openssl judges validity by its own clock: issue with the real one.
	n.now = time.Now()
	n.issue(t)
	r := n.mustRun(t, "revoke", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--cert", "/pki/leaf.pem",
		"--reason", "KeyCompromise", "--crl", "/pki/ca.crl")
	if !strings.Contains(r.stdout, "revoked serial") || !strings.Contains(r.stdout, "CRL number 1, 1 revoked") {
		t.Errorf("revoke: %s", r.stdout)
	}
	r = n.mustRun(t, "revoke", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--cert", "/pki/leaf.pem")
	if !strings.Contains(r.stdout, "already revoked") {
		t.Errorf("second revoke: %s", r.stdout)
	}
	n.mustRun(t, "revoke", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--serial", "0A:0B")
	n.mustRun(t, "crl", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--out", "/pki/ca.crl", "--next-update", "24h")

	crl, ca, leaf := n.path("/pki/ca.crl"), n.path("/pki/ca.pem"), n.path("/pki/leaf.pem")
	if out, err := exec.Command(openssl, "crl", "-in", crl, "-CAfile", ca, "-noout", "-verify").CombinedOutput(); err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -verify: %v\n%s", err, out)
	}
	out, _ := exec.Command(openssl, "crl", "-in", crl, "-noout", "-text").CombinedOutput()
	if !strings.Contains(string(out), "A0B") || !strings.Contains(string(out), "Key Compromise") || !strings.Contains(string(out), "X509v3 CRL Number: \n                2") {
		t.Errorf("openssl crl -text:\n%s", out)
	}
	if out, err := exec.Command(openssl, "verify", "-crl_check", "-CAfile", ca, "-CRLfile", crl, leaf).CombinedOutput(); err == nil || !strings.Contains(string(out), "revoked") {
		t.Errorf("openssl verify accepted the revoked leaf: %v\n%s", err, out)
	}
	fi, err := os.Stat(crl)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("CRL file: %v %v", fi, err)
	}
	evs := n.events(t)
	var actions []string
	for _, e := range evs {
		actions = append(actions, e["action_type"].(string)+":"+e["cert_name"].(string))
	}
	want := "CREATE:ca CREATE:leaf REVOKE:leaf CREATE:crl REVOKE:a0b CREATE:crl"
	if strings.Join(actions, " ") != want {
		t.Errorf("events %v, want %s", actions, want)
	}
}

func TestRevokeRefusesBadInputAndChangesNothing(t *testing.T) {
	n := newAuditNode(t, "")
	n.issue(t)
	n.write(t, "/csr/other-csr.json", `{"CN":"other-ca","key":{"algo":"ecdsa","size":256}}`)
	if err := os.MkdirAll(n.path("/other"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.mustRun(t, "ca", "init", "--out-dir", "/other", "--bare", "other", "/csr/other-csr.json")
	ca := []string{"revoke", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither serial nor certificate", ca, "--serial HEX or --cert FILE"},
		{"both serial and certificate", append(ca, "--serial", "1", "--cert", "/pki/leaf.pem"), "one of them"},
		{"a bad serial", append(ca, "--serial", "xyz"), "--serial"},
		{"a bad reason", append(ca, "--serial", "1", "--reason", "boredom"), "keyCompromise"},
		{"certificateHold is not offered", append(ca, "--serial", "1", "--reason", "certificateHold"), "--reason"},
		{"another CA's certificate", append(ca, "--cert", "/other/other.pem"), "not issued by the CA"},
		{"a CA key that does not match", []string{"revoke", "--ca", "/pki/ca.pem", "--ca-key", "/other/other-key.pem", "--serial", "1"}, "does not match"},
		{"no CA key", []string{"revoke", "--ca", "/pki/ca.pem", "--serial", "1"}, "--ca-key are required"},
		{"crl without --out", []string{"crl", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem"}, "--out"},
		{"crl with a zero next update", []string{"crl", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--out", "/x.crl", "--next-update", "0s"}, "--next-update"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := n.run(t, tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, ExitUsage, tc.want)
			}
		})
	}
	if _, err := os.Stat(n.path("/pki/ca-revoked.json")); !os.IsNotExist(err) {
		t.Errorf("a refused revoke wrote the revocation list: %v", err)
	}
	if evs := n.events(t); len(evs) != 3 {
		t.Errorf("refused commands were recorded: %d events", len(evs))
	}
	n.write(t, "/pki/ca-revoked.json", `{"ca_fingerprint":"nope","crl_number":1,"revoked":[]}`)
	if r := n.run(t, append(ca, "--serial", "1")...); r.code != ExitUsage || !strings.Contains(r.stderr, "ca-revoked.json") || !strings.Contains(r.stderr, "another CA") {
		t.Errorf("another CA's revocation list: %d %s", r.code, r.stderr)
	}
}
