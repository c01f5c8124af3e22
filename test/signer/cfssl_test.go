package signer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// cfsslPerCA starts a real cfssl serve for each of the node's three CAs (as
// a site runs one signer per CA, its key off the node) and returns the
// --signer flags that name them.
func cfsslPerCA(t *testing.T, n *node, o testbed.CFSSLServeOptions, extra ...string) []string {
	t.Helper()
	args := []string{"--signer", "cfssl"}
	for _, ca := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		srv := testbed.StartCFSSLServe(t, n.tree.CAs[ca], o)
		args = append(args, "--signer-url", srv.URL)
	}
	return append(args, extra...)
}

// The must-show: renew all on a kubeadm node with no CA key on it, every
// certificate signed by the real cfssl serve of its CA; openssl verifies
// each; the audit records name the signer.
func TestRenewAllThroughCFSSLServeWithNoCAKeyOnTheNode(t *testing.T) {
	n := newNode(t)
	before := n.leaves(t)
	code, out := n.certrescue(t, append([]string{"renew", "all"}, cfsslPerCA(t, n, testbed.CFSSLServeOptions{})...)...)
	t.Logf("renew all:\n%s", out)
	if code != 0 {
		t.Fatalf("renew all through cfssl serve: exit %d", code)
	}
	after := n.leaves(t)
	renewed(t, before, after, renewableNames()...)
	opensslVerifies(t, after)
	n.caKeysAbsent(t)
	signed := 0
	for _, d := range n.auditDetails(t) {
		if strings.Contains(d, "signed by cfssl http://127.0.0.1:") {
			signed++
		}
	}
	if signed < len(renewableNames())-1 { // kubelet.conf shares kubelet-client's file
		t.Errorf("%d audit records name the cfssl signer, want one per renewed credential", signed)
	}
}

// The must-show: rescue (renew what expires within 30 days, --restart none
// on a mounted node) through authsign with the profile's HMAC key, read
// from a file; openssl verifies every result. A wrong key changes nothing.
func TestRescueThroughCFSSLAuthSign(t *testing.T) {
	n := newNode(t)
	keyFile := "/etc/certrescue/cfssl-auth.key" // a node path: read under --root
	writeFile(t, n.path(keyFile), hmacKey+"\n")
	o := testbed.CFSSLServeOptions{Profile: "kubernetes", AuthKey: hmacKey}
	flags := cfsslPerCA(t, n, o, "--signer-profile", "kubernetes")

	t.Run("a wrong HMAC key renews nothing and changes nothing", func(t *testing.T) {
		wrong := "/etc/certrescue/wrong.key"
		writeFile(t, n.path(wrong), strings.Repeat("ab", 32))
		before := n.hashes(t)
		code, out := n.certrescue(t, append([]string{"rescue", "--restart", "none", "--cfssl-auth-key", "file:" + wrong}, flags...)...)
		t.Logf("rescue with a wrong key:\n%s", out)
		if code == 0 || !strings.Contains(out, "HMAC key") {
			t.Fatalf("rescue with a wrong HMAC key: exit %d, want a failure naming the HMAC key\n%s", code, out)
		}
		if strings.Contains(out, strings.Repeat("ab", 32)) {
			t.Error("the output shows the key")
		}
		if after := n.hashes(t); after != before {
			t.Error("a refused rescue changed the node")
		}
	})

	t.Run("a dry run names the signers and changes nothing", func(t *testing.T) {
		before := n.hashes(t)
		code, out := n.certrescue(t, append([]string{"rescue", "--dry-run", "--restart", "none", "--cfssl-auth-key", "file:" + keyFile}, flags...)...)
		if code != 0 || !strings.Contains(out, "etcd-ca: signed by cfssl http://127.0.0.1:") {
			t.Fatalf("rescue --dry-run: exit %d\n%s", code, out)
		}
		if n.hashes(t) != before {
			t.Error("a dry run changed the node")
		}
	})

	before := n.leaves(t)
	code, out := n.certrescue(t, append([]string{"rescue", "--restart", "none", "--cfssl-auth-key", "file:" + keyFile}, flags...)...)
	t.Logf("rescue:\n%s", out)
	if code != 0 {
		t.Fatalf("rescue through cfssl authsign: exit %d", code)
	}
	if strings.Contains(out, hmacKey) {
		t.Error("the output shows the HMAC key")
	}
	after := n.leaves(t)
	renewed(t, before, after, renewableNames()...)
	opensslVerifies(t, after)
	n.caKeysAbsent(t)
	for _, d := range n.auditDetails(t) {
		if strings.Contains(d, hmacKey) {
			t.Error("the audit log holds the HMAC key")
		}
	}
	if !strings.Contains(fmt.Sprint(n.auditDetails(t)), "(authsign)") {
		t.Error("no audit record names the authsign signer")
	}
}

// A credential whose CA no signer holds is skipped by renew all, and
// refused when named; nothing is signed with a wrong CA.
func TestRenewSkipsWhatNoSignerHolds(t *testing.T) {
	n := newNode(t)
	srv := testbed.StartCFSSLServe(t, n.tree.CAs["ca"], testbed.CFSSLServeOptions{})
	before := n.leaves(t)
	code, out := n.certrescue(t, "renew", "all", "--signer", "cfssl", "--signer-url", srv.URL)
	t.Logf("renew all:\n%s", out)
	if code != 0 && code != 5 {
		t.Fatalf("renew all with one signer: exit %d", code)
	}
	if !strings.Contains(out, "skipped etcd-server") || !strings.Contains(out, "none of the signers holds this CA") {
		t.Error("etcd-server is not reported skipped for want of a signer")
	}
	after := n.leaves(t)
	renewed(t, before, after, "apiserver", "admin.conf")
	if before["etcd-server"].cert.SerialNumber.Cmp(after["etcd-server"].cert.SerialNumber) != 0 {
		t.Error("etcd-server was renewed without a signer for etcd-ca")
	}
	opensslVerifies(t, after)
	code, out = n.certrescue(t, "renew", "etcd-server", "--signer", "cfssl", "--signer-url", srv.URL)
	if code == 0 || !strings.Contains(out, "etcd-ca") {
		t.Fatalf("renew etcd-server with no signer for etcd-ca: exit %d\n%s", code, out)
	}
}
