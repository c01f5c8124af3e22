package backup

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCreateThenRestoreBringsBackEveryByteModeAndSymlink(t *testing.T) {
	root := nodeTree(t)
	dir := filepath.Join(root, DefaultDir)
	before := snapshot(t, root)

	info, err := Create(Options{Root: root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "certrescue-backup-20260304T050607Z" {
		t.Errorf("ID = %q", info.ID)
	}
	if _, ok := info.Manifest.Find("/etc/kubernetes/not-a-conf.txt"); ok {
		t.Error("a file outside the default paths was backed up")
	}
	link, ok := info.Manifest.Find("/var/lib/kubelet/pki/kubelet-client-current.pem")
	if !ok || link.Type != TypeSymlink || link.Target != "/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem" {
		t.Errorf("symlink entry = %+v", link)
	}
	for p, want := range map[string]os.FileMode{dir: DirMode, info.Path: ArchiveMode} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), want)
		}
	}

	// Damage the node: new content, loose mode, a deleted key, a repointed link.
	os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/ca.crt"), []byte("renewed"), 0o644)
	os.Chmod(filepath.Join(root, "etc/kubernetes/pki/ca.key"), 0o666)
	os.Remove(filepath.Join(root, "etc/kubernetes/pki/etcd/server.key"))
	os.Remove(filepath.Join(root, "var/lib/kubelet/pki/kubelet-client-current.pem"))
	os.Symlink("elsewhere.pem", filepath.Join(root, "var/lib/kubelet/pki/kubelet-client-current.pem"))
	os.Chmod(filepath.Join(root, "etc/kubernetes/pki"), 0o755)

	res, err := Restore(info.Path, RestoreOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, root)
	delete(after, strings.TrimPrefix(filepath.Join(DefaultDir, info.ID+archiveExt), "/"))
	delete(after, strings.TrimPrefix(DefaultDir, "/"))
	delete(after, "var/lib/certrescue")
	delete(after, "var/lib/certrescue/txn") // the journal's directory, left empty
	sameSnapshot(t, "after restore", after, before)
	if des, err := os.ReadDir(filepath.Join(root, TxnDir)); err != nil || len(des) != 0 {
		t.Errorf("the transaction journal stays after a restore that finished: %v, %v", des, err)
	}
	if res.Txn == "" || !strings.HasPrefix(res.Txn, "restore-") {
		t.Errorf("txn = %q, want the restore's transaction", res.Txn)
	}
	if len(res.Written) != 3 {
		t.Errorf("written = %v, want the three damaged entries", res.Written)
	}

	// A second restore finds nothing to do.
	res, err = Restore(info.Path, RestoreOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 0 {
		t.Errorf("second restore wrote %v", res.Written)
	}
}

func TestKeysStay0600UnderUmask000(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := nodeTree(t)
	dir := filepath.Join(root, DefaultDir)
	info, err := Create(Options{Root: root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(root, "etc/kubernetes/pki/ca.key"))
	if _, err := Restore(info.Path, RestoreOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		dir:       0o700,
		info.Path: 0o600,
		filepath.Join(root, "etc/kubernetes/pki/ca.key"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v under umask 000, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestRestoreOnlySomePaths(t *testing.T) {
	root := nodeTree(t)
	info, err := Create(Options{Root: root, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/ca.crt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/kubernetes/admin.conf"), []byte("y"), 0o600)
	res, err := Restore(info.Path, RestoreOptions{Root: root, Only: []string{"/etc/kubernetes/admin.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 1 || res.Written[0] != "/etc/kubernetes/admin.conf" {
		t.Errorf("written = %v", res.Written)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/pki/ca.crt")); string(b) != "x" {
		t.Error("a path that was not asked for was restored")
	}
	if _, err := Restore(info.Path, RestoreOptions{Root: root, Only: []string{"/etc/shadow"}}); err == nil {
		t.Error("restoring a path that is not in the backup succeeded")
	}
}

// errWriter fails with ENOSPC after n bytes, like a full disk.
type errWriter struct {
	w io.Writer
	n int
}

func (e *errWriter) Write(p []byte) (int, error) {
	if len(p) > e.n {
		k, _ := e.w.Write(p[:e.n])
		e.n = 0
		return k, &os.PathError{Op: "write", Path: "archive", Err: syscall.ENOSPC}
	}
	e.n -= len(p)
	return e.w.Write(p)
}

func TestDiskFullDuringBackupLeavesNothing(t *testing.T) {
	root := nodeTree(t)
	dir := filepath.Join(t.TempDir(), "backups")
	before := snapshot(t, root)
	_, err := Create(Options{Root: root, Dir: dir, Now: testNow,
		wrap: func(w io.Writer) io.Writer { return &errWriter{w: w, n: 100} }})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("err = %v, want a disk-full error", err)
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("backups directory holds %d entries after a failed backup", len(des))
	}
	sameSnapshot(t, "node after failed backup", snapshot(t, root), before)
}

// TestDiskFullOnARealTmpfs backs up onto a 64 KiB tmpfs, which the kernel
// fills for real. Mounting needs root (CAP_SYS_ADMIN).
func TestDiskFullOnARealTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := nodeTree(t)
	big := filepath.Join(root, "etc/kubernetes/pki/big.crt")
	if err := os.WriteFile(big, randomBytes(t, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	before := snapshot(t, root)
	_, err := Create(Options{Root: root, Dir: filepath.Join(mnt, "backups"), Now: testNow})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if des, _ := os.ReadDir(filepath.Join(mnt, "backups")); len(des) != 0 {
		t.Errorf("the tmpfs holds %d entries after the failed backup", len(des))
	}
	sameSnapshot(t, "node after failed backup", snapshot(t, root), before)
}

func TestListResolveAndDamagedArchives(t *testing.T) {
	root := nodeTree(t)
	dir := filepath.Join(root, DefaultDir)
	first, err := Create(Options{Root: root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Create(Options{Root: root, Dir: dir, Now: testNow}) // same second: a -2 suffix
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID+"-2" {
		t.Errorf("second ID = %q", second.ID)
	}
	os.WriteFile(filepath.Join(dir, "broken.tar.gz"), []byte("not gzip"), 0o600)
	all, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("List = %d archives, want 3", len(all))
	}
	var broken int
	for _, l := range all {
		if l.Err != nil {
			broken++
		}
	}
	if broken != 1 {
		t.Errorf("%d archives listed as damaged, want 1", broken)
	}
	latest, err := Resolve(dir, "latest")
	if err != nil || latest != second.Path {
		t.Errorf("Resolve(latest) = %q, %v; want %q", latest, err, second.Path)
	}
	if p, err := Resolve(dir, first.ID); err != nil || p != first.Path {
		t.Errorf("Resolve(%s) = %q, %v", first.ID, p, err)
	}
	if _, err := Resolve(dir, "nope"); err == nil {
		t.Error("Resolve of an unknown ID succeeded")
	}
}

func TestVerifyCatchesAByteFlippedInTheArchive(t *testing.T) {
	root := nodeTree(t)
	info, err := Create(Options{Root: root, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(info.Path)
	// Flip a byte in the gzip stream body; gzip's own CRC or our sha256 must catch it.
	for _, off := range []int{len(raw) / 2, len(raw) - 12} {
		bad := bytes.Clone(raw)
		bad[off] ^= 0xff
		p := filepath.Join(t.TempDir(), "bad.tar.gz")
		os.WriteFile(p, bad, 0o600)
		if _, err := Verify(p); err == nil {
			t.Errorf("Verify accepted an archive with byte %d flipped", off)
		}
	}
}

func FuzzDecode(f *testing.F) {
	root := f.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/kubernetes/pki"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/ca.crt"), []byte("certificate"), 0o644)
	info, err := Create(Options{Root: root, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(info.Path)
	f.Add(seed)
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decode(bytes.NewReader(data))
		if err == nil {
			if err := a.info.Manifest.validate(); err != nil {
				t.Fatalf("decode accepted an invalid manifest: %v", err)
			}
		}
	})
}
