package backup

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFilesAreTakenLiterallyAndAbsentOnesListedMissing(t *testing.T) {
	root := nodeTree(t)
	dir := filepath.Join(root, DefaultDir)
	// A name with glob characters, and the file a glob of it would match.
	os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/a[1].pem"), []byte("literal"), 0o600)
	os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/a1.pem"), []byte("glob match"), 0o600)
	files := []string{"/etc/kubernetes/pki/a[1].pem", "/etc/kubernetes/pki/absent.key"}
	info, err := Create(Options{Root: root, Files: files, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range info.Manifest.Entries {
		got = append(got, e.Path)
	}
	if !slices.Equal(got, []string{"/etc/kubernetes/pki/a[1].pem"}) {
		t.Errorf("entries %v, want only the literal file (no default paths when Files are given)", got)
	}
	if !slices.Equal(info.Manifest.Missing, []string{"/etc/kubernetes/pki/absent.key"}) {
		t.Errorf("missing %v", info.Manifest.Missing)
	}
	if lacks := info.Manifest.Lacks(append(files, "/etc/kubernetes/pki/ca.key")); !slices.Equal(lacks, []string{"/etc/kubernetes/pki/ca.key"}) {
		t.Errorf("Lacks = %v, want only the file the backup was not asked for", lacks)
	}
}

// TestSymlinksResolveInsideTheRoot: a node whose pki directory is a symlink
// with an absolute target (kubespray: /etc/kubernetes/pki -> /etc/kubernetes/ssl)
// is backed up through the link inside the node; a link whose target is a
// path of this machine (absolute, or climbing out with "..") is the node's
// path of that name, never this machine's file.
func TestSymlinksResolveInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir() // this machine's files, outside the node
	os.WriteFile(filepath.Join(host, "ca.key"), []byte("the host's own key"), 0o600)
	hostBefore := snapshot(t, host)
	ssl := filepath.Join(root, "etc/kubernetes/ssl")
	os.MkdirAll(ssl, 0o700)
	os.WriteFile(filepath.Join(ssl, "ca.pem"), []byte("node ca"), 0o644)
	os.WriteFile(filepath.Join(ssl, "ca-key.pem"), []byte("node ca key"), 0o600)
	os.Symlink("/etc/kubernetes/ssl", filepath.Join(root, "etc/kubernetes/pki"))
	os.MkdirAll(filepath.Join(root, "var/lib/kubelet"), 0o755)
	os.Symlink(host, filepath.Join(root, "var/lib/kubelet/pki"))                              // absolute: a host path
	os.Symlink("../../../../../../../../.."+host+"/ca.key", filepath.Join(ssl, "escape.key")) // relative, climbing out

	dir := filepath.Join(root, DefaultDir)
	info, err := Create(Options{Root: root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/etc/kubernetes/pki":            TypeSymlink,
		"/etc/kubernetes/ssl":            TypeDir,
		"/etc/kubernetes/ssl/ca.pem":     TypeFile,
		"/etc/kubernetes/ssl/ca-key.pem": TypeFile,
		"/etc/kubernetes/ssl/escape.key": TypeSymlink,
		"/var/lib/kubelet/pki":           TypeSymlink,
	}
	got := map[string]string{}
	for _, e := range info.Manifest.Entries {
		got[e.Path] = e.Type
	}
	for p, typ := range want {
		if got[p] != typ {
			t.Errorf("%s: %q in the backup, want %q", p, got[p], typ)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected entry %s (%s): nothing of the host may be read", p, got[p])
		}
	}

	// Restoring through the same links writes inside the root only.
	os.WriteFile(filepath.Join(ssl, "ca.pem"), []byte("changed"), 0o644)
	crafted := craft(t, &Manifest{Version: FormatVersion, Entries: []Entry{fileEntry("/var/lib/kubelet/pki/ca.key", []byte("evil"))}},
		[]member{{hdr: tarReg("var/lib/kubelet/pki/ca.key", 4), data: []byte("evil")}})
	if _, err := Restore(info.Path, RestoreOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(ssl, "ca.pem")); string(b) != "node ca" {
		t.Errorf("ssl/ca.pem after restore: %q", b)
	}
	if _, err := Restore(crafted, RestoreOptions{Root: root}); err != nil {
		t.Logf("restore through a link to a host path: %v", err)
	}
	sameSnapshot(t, "the host directory", snapshot(t, host), hostBefore)
	if b, err := os.ReadFile(filepath.Join(root, host, "ca.key")); err == nil && string(b) != "evil" {
		t.Errorf("the write through the link landed at the node's %s/ca.key with %q", host, b)
	}
}

func TestRestoreTakesAnUndoArchiveOfWhatItOverwrites(t *testing.T) {
	root := nodeTree(t)
	dir := filepath.Join(root, DefaultDir)
	info, err := Create(Options{Root: root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing differs: no undo archive.
	res, err := Restore(info.Path, RestoreOptions{Root: root, Undo: &UndoOptions{Dir: dir, Now: testNow.Add(1)}})
	if err != nil || res.Undo != nil {
		t.Fatalf("restore of an identical node: undo %v, %v", res.Undo, err)
	}
	renewed := []byte("renewed ca")
	crt := filepath.Join(root, "etc/kubernetes/pki/ca.crt")
	os.WriteFile(crt, renewed, 0o644)
	os.Chmod(filepath.Join(root, "etc/kubernetes/pki/ca.key"), 0o640)
	afterChange := snapshot(t, filepath.Join(root, "etc"))

	res, err = Restore(info.Path, RestoreOptions{Root: root, Undo: &UndoOptions{Dir: dir, Now: testNow.Add(60e9)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Undo == nil || !res.Undo.IsUndo() || res.Undo.ID != "certrescue-undo-20260304T050707Z" {
		t.Fatalf("undo archive %+v", res.Undo)
	}
	var held []string
	for _, e := range res.Undo.Manifest.Entries {
		held = append(held, e.Path)
	}
	if !slices.Equal(held, []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"}) {
		t.Errorf("the undo archive holds %v, want the changed file and the one whose mode changed", held)
	}
	if latest, err := Resolve(dir, "latest"); err != nil || latest != info.Path {
		t.Errorf("latest = %s, %v; want the backup %s, never an undo archive", latest, err, info.Path)
	}
	// Restoring the undo archive undoes the restore.
	if _, err := Restore(res.Undo.Path, RestoreOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "after undoing the restore", snapshot(t, filepath.Join(root, "etc")), afterChange)
}

func TestARestoreWhoseUndoArchiveCannotBeWrittenChangesNothing(t *testing.T) {
	root := nodeTree(t)
	dir := filepath.Join(root, DefaultDir)
	info, err := Create(Options{Root: root, Dir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/ca.crt"), []byte("renewed"), 0o644)
	before := snapshot(t, filepath.Join(root, "etc"))
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o600)
	_, err = Restore(info.Path, RestoreOptions{Root: root, Undo: &UndoOptions{Dir: filepath.Join(blocked, "undo"), Now: testNow}})
	if err == nil {
		t.Fatal("a restore went ahead without its undo archive")
	}
	sameSnapshot(t, "after the refused restore", snapshot(t, filepath.Join(root, "etc")), before)
}

func tarReg(name string, size int64) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: size}
}
