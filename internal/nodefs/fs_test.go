package nodefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tree makes a node root and a "host" directory beside it that nothing may touch.
func tree(t *testing.T) (root, host string) {
	t.Helper()
	base := t.TempDir()
	root, host = filepath.Join(base, "node"), filepath.Join(base, "host")
	for _, d := range []string{root + "/etc/kubernetes/pki", host + "/etc/kubernetes/pki"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(root+"/etc/kubernetes/pki/ca.crt", []byte("node ca"), 0o644))
	must(t, os.WriteFile(host+"/etc/kubernetes/pki/ca.crt", []byte("host ca"), 0o644))
	return root, host
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSymlinksResolveInsideTheRoot(t *testing.T) {
	root, host := tree(t)
	// An absolute target is the node's path, never the host's.
	must(t, os.Symlink(host+"/etc/kubernetes/pki/ca.crt", root+"/etc/kubernetes/abs-host"))
	must(t, os.Symlink("/etc/kubernetes/pki/ca.crt", root+"/etc/kubernetes/abs-node"))
	// ".." never climbs above the root.
	must(t, os.Symlink("../../../../../../../../etc/kubernetes/pki/ca.crt", root+"/etc/kubernetes/rel-up"))
	// A directory symlink with an absolute target.
	must(t, os.Symlink("/etc/kubernetes/pki", root+"/etc/kubernetes/ssl"))
	n := New(root)
	for _, p := range []string{"/etc/kubernetes/abs-node", "/etc/kubernetes/rel-up", "/etc/kubernetes/ssl/ca.crt", "/../../etc/kubernetes/pki/ca.crt"} {
		f, err := n.ReadFile(p, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if string(f.Data) != "node ca" || f.Resolved != "/etc/kubernetes/pki/ca.crt" {
			t.Errorf("%s: read %q from %s, want the node's ca.crt", p, f.Data, f.Resolved)
		}
	}
	// The host-absolute target is a node path that does not exist in the node.
	if _, err := n.ReadFile("/etc/kubernetes/abs-host", 1<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a link to a host path: %v, want not exist", err)
	}
}

func TestWritesStayInsideTheRoot(t *testing.T) {
	root, host := tree(t)
	// The node's pki directory is a symlink to the host's absolute path.
	must(t, os.RemoveAll(root+"/etc/kubernetes/pki"))
	must(t, os.Symlink(host+"/etc/kubernetes/pki", root+"/etc/kubernetes/pki"))
	n := New(root)
	err := n.Write("/etc/kubernetes/pki/ca.crt", []byte("new"), 0o644, true)
	if err == nil {
		t.Fatal("wrote through a link to the host")
	}
	if b, _ := os.ReadFile(host + "/etc/kubernetes/pki/ca.crt"); string(b) != "host ca" {
		t.Fatalf("host file changed: %q", b)
	}
	if err := n.Chmod("/etc/kubernetes/pki/ca.crt", 0o600); err == nil {
		t.Error("chmod through a link to the host succeeded")
	}
	if fi, _ := os.Stat(host + "/etc/kubernetes/pki/ca.crt"); fi.Mode().Perm() != 0o644 {
		t.Errorf("host file mode changed: %v", fi.Mode())
	}
	// As in a chroot, the link's target is a node path: the directory is
	// made there, inside the root.
	must(t, n.MkdirAll("/etc/kubernetes/pki/etcd", 0o700))
	if _, err := os.Stat(host + "/etc/kubernetes/pki/etcd"); err == nil {
		t.Error("directory created on the host")
	}
	if _, err := os.Stat(filepath.Join(root, host, "etc/kubernetes/pki/etcd")); err != nil {
		t.Errorf("directory not made at the link's node path: %v", err)
	}
}

func TestWriteSetIsExactAndAtomic(t *testing.T) {
	root, _ := tree(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	n := New(root)
	must(t, os.Symlink("pki/ca.crt", root+"/etc/kubernetes/link.crt"))
	err := n.WriteSet([]Put{
		{Path: "/etc/kubernetes/link.crt", Data: []byte("renewed"), Mode: 0o644},
		{Path: "/etc/kubernetes/pki/new.key", Data: []byte("key"), Mode: 0o600},
	}, WriteOptions{Force: true})
	must(t, err)
	if fi, _ := os.Lstat(root + "/etc/kubernetes/link.crt"); fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("the link was replaced instead of written through")
	}
	if b, _ := os.ReadFile(root + "/etc/kubernetes/pki/ca.crt"); string(b) != "renewed" {
		t.Errorf("link target holds %q", b)
	}
	if fi, _ := os.Stat(root + "/etc/kubernetes/pki/ca.crt"); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v under umask 077, want 0644", fi.Mode().Perm())
	}
	// Refusals change nothing.
	err = n.WriteSet([]Put{{Path: "/etc/kubernetes/pki/a", Data: []byte("a"), Mode: 0o600}, {Path: "/etc/kubernetes/pki/ca.crt", Data: []byte("x"), Mode: 0o644}}, WriteOptions{})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("existing target without force: %v", err)
	}
	if _, err := os.Stat(root + "/etc/kubernetes/pki/a"); err == nil {
		t.Error("a refused set wrote its first file")
	}
	entries, _ := os.ReadDir(root + "/etc/kubernetes/pki")
	for _, e := range entries {
		if IsTemp(e.Name()) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestNonRegularFilesAreRefusedWithoutBlocking(t *testing.T) {
	root, _ := tree(t)
	fifo := root + "/etc/kubernetes/admin.conf"
	must(t, syscall.Mkfifo(fifo, 0o600))
	n := New(root)
	if _, err := n.ReadFile("/etc/kubernetes/admin.conf", 1<<20); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("read a FIFO: %v", err)
	}
	if err := n.Write("/etc/kubernetes/admin.conf", []byte("x"), 0o600, true); !errors.Is(err, ErrNotRegular) {
		t.Errorf("replace a FIFO: %v", err)
	}
}

func TestLinkLoopsEnd(t *testing.T) {
	root, _ := tree(t)
	must(t, os.Symlink("b", root+"/etc/a"))
	must(t, os.Symlink("a", root+"/etc/b"))
	if _, err := New(root).ReadFile("/etc/a", 10); !errors.Is(err, ErrLinkLoop) {
		t.Errorf("loop: %v", err)
	}
}

func TestCleanTempsRemovesOnlyOurs(t *testing.T) {
	root, _ := tree(t)
	dir := root + "/etc/kubernetes/pki"
	must(t, os.WriteFile(dir+"/"+tempName("apiserver.key"), []byte("k"), 0o600))
	must(t, os.WriteFile(dir+"/.hidden", []byte("h"), 0o600))
	removed := New(root).CleanTemps("/etc/kubernetes/pki")
	if len(removed) != 1 || !strings.HasPrefix(removed[0], "/etc/kubernetes/pki/.apiserver.key.certrescue-tmp.") {
		t.Errorf("removed %v", removed)
	}
	if _, err := os.Stat(dir + "/.hidden"); err != nil {
		t.Error("removed a file that is not ours")
	}
}

func TestMkdirAllModeIsExact(t *testing.T) {
	root, _ := tree(t)
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	n := New(root)
	must(t, n.MkdirAll("/var/lib/certrescue/backups", 0o700))
	for _, d := range []string{"/var", "/var/lib/certrescue/backups"} {
		fi, err := os.Stat(root + d)
		must(t, err)
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v", d, fi.Mode().Perm())
		}
	}
}

func TestHostPathsAreRelativeToTheWorkingDirectory(t *testing.T) {
	h := Host()
	if h.Clean("/a/../b") != "/b" {
		t.Error(h.Clean("/a/../b"))
	}
	wd, _ := os.Getwd()
	if h.Clean("x.pem") != filepath.Join(wd, "x.pem") {
		t.Error(h.Clean("x.pem"))
	}
	if New("/tmp/n").Clean("x.pem") != "/x.pem" {
		t.Error("a relative path under --root is a node path")
	}
}
