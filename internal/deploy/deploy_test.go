package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/renewal"
)

func write(t *testing.T, root, p, data string, mode os.FileMode) {
	t.Helper()
	real := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func TestApplyKeepsOwnersAndMakesKeys0600UnderUmask000(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := t.TempDir()
	write(t, root, "/etc/kubernetes/pki/apiserver.crt", "old cert", 0o644)
	write(t, root, "/etc/kubernetes/pki/apiserver.key", "old key", 0o644) // too loose before
	if os.Geteuid() == 0 {
		os.Chown(filepath.Join(root, "etc/kubernetes/pki/apiserver.crt"), 1234, 5678)
	}
	files := []renewal.File{
		{Path: "/etc/kubernetes/pki/apiserver.crt", Data: []byte("new cert"), Mode: 0o644},
		{Path: "/etc/kubernetes/pki/apiserver.key", Data: []byte("new key"), Mode: 0o644, Key: true},
		{Path: "/etc/kubernetes/pki/new.key", Data: []byte("brand new key"), Mode: 0o600, Key: true},
	}
	var renamed []string
	written, err := Apply(files, Options{Root: root, AfterRename: func(p string) { renamed = append(renamed, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 3 || len(renamed) != 3 {
		t.Fatalf("written %d, renamed %d", len(written), len(renamed))
	}
	for p, want := range map[string]os.FileMode{"apiserver.crt": 0o644, "apiserver.key": 0o600, "new.key": 0o600} {
		fi, err := os.Stat(filepath.Join(root, "etc/kubernetes/pki", p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v under umask 000, want %v", p, fi.Mode().Perm(), want)
		}
		if p == "apiserver.crt" && os.Geteuid() == 0 {
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != 1234 || st.Gid != 5678 {
				t.Errorf("owner %d:%d, want the old file's 1234:5678", st.Uid, st.Gid)
			}
		}
	}
	match, differ := Matches(root, written)
	if len(match) != 3 || len(differ) != 0 {
		t.Errorf("Matches = %v / %v", match, differ)
	}
	write(t, root, "/etc/kubernetes/pki/apiserver.crt", "rolled back", 0o644)
	if _, differ := Matches(root, written); !slices.Equal(differ, []string{"/etc/kubernetes/pki/apiserver.crt"}) {
		t.Errorf("differ = %v", differ)
	}
}

func TestApplyThatCannotStageChangesNothing(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/etc/kubernetes/pki/a.crt", "old a", 0o644)
	os.MkdirAll(filepath.Join(root, "etc/kubernetes/pki/b.crt"), 0o755) // a directory in the way
	files := []renewal.File{
		{Path: "/etc/kubernetes/pki/a.crt", Data: []byte("new a"), Mode: 0o644},
		{Path: "/etc/kubernetes/pki/b.crt", Data: []byte("new b"), Mode: 0o644},
	}
	_, err := Apply(files, Options{Root: root})
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/pki/a.crt")); string(b) != "old a" {
		t.Errorf("a.crt = %q after a failed deploy", b)
	}
	des, _ := os.ReadDir(filepath.Join(root, "etc/kubernetes/pki"))
	if len(des) != 2 {
		t.Errorf("%d entries left in pki, want the two originals (no temp files)", len(des))
	}
}

func TestCleanStaleRemovesOnlyOurTempFiles(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/etc/kubernetes/pki/ca.crt", "x", 0o644)
	write(t, root, "/etc/kubernetes/pki/.ca.crt8237465", "staged", 0o600)
	write(t, root, "/etc/kubernetes/pki/.ca.crt.bak", "someone's", 0o600)
	removed := CleanStale(root, []string{"/etc/kubernetes/pki/ca.crt"})
	if !slices.Equal(removed, []string{"/etc/kubernetes/pki/.ca.crt8237465"}) {
		t.Errorf("removed %v", removed)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/kubernetes/pki/.ca.crt.bak")); err != nil {
		t.Error("a file that is not ours was removed")
	}
}
