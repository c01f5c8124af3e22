package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestHardenKubeadmPKI(t *testing.T) {
	n := newAuditNode(t, "")
	if err := os.MkdirAll(n.path("/etc/kubernetes/pki/etcd"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.mustRun(t, "ca", "init", "--layout", "kubeadm", "--out-dir", "/etc/kubernetes/pki/etcd", "/csr/ca-csr.json")
	n.mustRun(t, "gencert", "-ca", "/etc/kubernetes/pki/etcd/ca.crt", "-ca-key", "/etc/kubernetes/pki/etcd/ca.key",
		"--layout", "kubeadm", "--bare", "peer", "--out-dir", "/etc/kubernetes/pki/etcd", "/csr/leaf-csr.json")
	for _, bad := range []string{"0644", "0700", "x"} {
		if r := n.run(t, "harden", "--key-mode", bad); r.code != ExitUsage {
			t.Errorf("--key-mode %s: exit %d", bad, r.code)
		}
	}
	if r := n.run(t, "harden", "/no/such/dir"); r.code != ExitUsage || !strings.Contains(r.stderr, "/no/such/dir") {
		t.Errorf("missing dir: %d %s", r.code, r.stderr)
	}
	r := n.mustRun(t, "harden", "--key-mode", "0400", "-o", "json")
	var out struct {
		Changes []struct{ Path, Kind, From, To string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	got := map[string]string{}
	for _, c := range out.Changes {
		got[strings.TrimPrefix(c.Path, n.root)] = c.Kind + " " + c.From + "->" + c.To
	}
	want := map[string]string{
		"/etc/kubernetes/pki":               "directory 0755->0700",
		"/etc/kubernetes/pki/etcd":          "directory 0755->0700",
		"/etc/kubernetes/pki/etcd/ca.key":   "CA private key 0600->0400",
		"/etc/kubernetes/pki/etcd/peer.key": "private key 0600->0400",
	}
	if len(got) != len(want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %q, want %q", p, got[p], w)
		}
	}
	var harden int
	for _, e := range n.events(t) {
		if e["action_type"] == "HARDEN" {
			harden++
		}
	}
	if harden != 4 {
		t.Errorf("%d HARDEN events, want 4", harden)
	}
	if r := n.mustRun(t, "harden"); !strings.Contains(r.stdout, "nothing to change") {
		t.Errorf("second run: %s", r.stdout)
	}
}
