package backup

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// credentialTree says whether a node path is one of nodeTree's credentials:
// what a restore of it may change.
func credentialTree(p string) bool {
	for _, d := range []string{"/etc/kubernetes/pki", "/etc/kubernetes/manifests", "/var/lib/kubelet/pki"} {
		if nodefs.IsUnder(p, d) {
			return true
		}
	}
	ok, _ := path.Match("/etc/kubernetes/*.conf", p)
	return ok
}

// FuzzRestoreWritesOnlyCredentials restores archives of up to three fuzzed
// entries (a type, a path, a symlink target) onto nodeTree and checks what
// changed on disk: only credentials, never certrescue's state, nothing
// outside the root; and every symlink among the credentials afterwards
// resolves to a credential, so a later renew writes nowhere else.
func FuzzRestoreWritesOnlyCredentials(f *testing.F) {
	for _, seed := range [][3]string{
		{"file /etc/kubernetes/pki/ca.crt", "link /etc/kubernetes/pki/apiserver.crt /etc/shadow", "dir /etc"},
		{"link /etc/kubernetes/pki/etcd2 ..", "file /etc/kubernetes/pki/etcd2/x", ""},
		{"link /var/lib/kubelet/pki/kubelet-client-current.pem ../../../certrescue/audit.db", "", ""},
		{"file /var/lib/certrescue/audit.db", "link /etc/kubernetes/admin.conf /root/.ssh/authorized_keys", "file /etc/cron.d/x"},
		{"link /etc/kubernetes/pki/a.crt b.crt", "link /etc/kubernetes/pki/b.crt /etc/kubernetes/manifests/../../passwd", "file /etc/kubernetes/pki/b.crt"},
		{"link /etc/kubernetes/manifests /etc", "dir /etc/kubernetes/pki/new", "file /etc/kubernetes/pki/new/k.key"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var entries []Entry
		var members []member
		for i, spec := range []string{a, b, c} {
			fields := strings.Fields(spec)
			if len(fields) < 2 || !path.IsAbs(fields[1]) {
				continue
			}
			p := path.Clean(fields[1])
			switch {
			case fields[0] == "file":
				data := []byte("fuzzed content " + string(rune('a'+i)))
				entries, members = append(entries, fileEntry(p, data)), append(members, regMember(p, data))
			case fields[0] == "dir":
				entries, members = append(entries, dirEntry(p, 0o755)), append(members, dirMember(p))
			case fields[0] == "link" && len(fields) == 3:
				entries, members = append(entries, linkEntry(p, fields[2])), append(members, linkMember(p, fields[2]))
			}
		}
		m := &Manifest{Version: FormatVersion, Entries: entries}
		if len(entries) == 0 || m.validate() != nil {
			return
		}
		root := nodeTree(t)
		os.MkdirAll(filepath.Join(root, "var/lib/certrescue"), 0o700)
		os.WriteFile(filepath.Join(root, "var/lib/certrescue/audit.db"), sqliteBytes, 0o600)
		before := snapshot(t, root)

		_, err := Restore(craft(t, m, members), RestoreOptions{Root: root, Now: testNow})
		after := snapshot(t, root)
		for rel, desc := range after {
			np := "/" + filepath.ToSlash(rel)
			if rel == "." || before[rel] == desc || credentialTree(np) || np == TxnDir {
				continue
			}
			if nodefs.IsUnder(np, StateDir) {
				t.Fatalf("restore (err %v) changed certrescue's state %s", err, np)
			}
			// A parent directory created for a credential is fine.
			if strings.HasPrefix(desc, "d") && before[rel] == "" && anyBelow(after, rel) {
				continue
			}
			t.Fatalf("restore (err %v) changed %s, not a credential: %q -> %q", err, np, before[rel], desc)
		}
		for rel := range before {
			if _, ok := after[rel]; !ok {
				t.Fatalf("restore (err %v) removed %s", err, rel)
			}
		}
		n := nodefs.New(root)
		for rel, desc := range after {
			np := "/" + filepath.ToSlash(rel)
			if !strings.HasPrefix(desc, "L") || before[rel] == desc || !credentialTree(np) {
				continue
			}
			r, rerr := n.Resolve(np)
			if rerr != nil || (!credentialTree(r) && !nodefs.IsUnder(r, "/etc/kubernetes")) || nodefs.IsUnder(r, StateDir) {
				t.Fatalf("the restored link %s leads to %s (%v): a renew would write there", np, r, rerr)
			}
		}
	})
}

func anyBelow(snap map[string]string, dir string) bool {
	for rel := range snap {
		if strings.HasPrefix(rel, dir+"/") {
			return true
		}
	}
	return false
}
