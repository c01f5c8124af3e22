package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// nodeTree lays out a small kubeadm-like node under a new temporary root. The
// contents are random bytes: a backup does not care what files hold.
func nodeTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := []struct {
		path string
		mode fs.FileMode
	}{
		{"/etc/kubernetes/pki/ca.crt", 0o644},
		{"/etc/kubernetes/pki/ca.key", 0o600},
		{"/etc/kubernetes/pki/etcd/server.key", 0o600},
		{"/etc/kubernetes/admin.conf", 0o600},
		{"/etc/kubernetes/manifests/kube-apiserver.yaml", 0o600},
		{"/etc/kubernetes/not-a-conf.txt", 0o644}, // outside DefaultPaths
		{"/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem", 0o600},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, randomBytes(t, 700), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	// kubelet's symlink has an absolute target, as on a real node.
	if err := os.Symlink("/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem",
		filepath.Join(root, "var/lib/kubelet/pki/kubelet-client-current.pem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "etc/kubernetes/pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	return root
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// snapshot describes every entry under dir: type, mode, owner and content hash
// or link target, so two snapshots compare byte for byte.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%s %04o %d:%d", fi.Mode().Type(), fi.Mode().Perm(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s (%s)", what, k, g)
		}
	}
}

// member is one entry of a hand-made archive.
type member struct {
	hdr  tar.Header
	data []byte
}

// craft writes an archive with exactly the manifest and members given, for
// tests of archives certrescue would never write itself.
func craft(t *testing.T, m *Manifest, members []member) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(mj))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(mj)
	for _, mb := range members {
		h := mb.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(mb.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(mb.data) > 0 {
			tw.Write(mb.data)
		}
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "crafted.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileEntry(path string, data []byte) Entry {
	sum := sha256.Sum256(data)
	return Entry{Path: path, Type: TypeFile, Mode: 0o600, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}
