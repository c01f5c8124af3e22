package backup

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRestoreRefusesMaliciousArchives feeds Restore archives that try to write
// outside the root or create what a credential backup never holds. Each must be
// refused before a single byte is written, inside or outside the root.
func TestRestoreRefusesMaliciousArchives(t *testing.T) {
	good := []byte("good content")
	evil := []byte("evil content")
	outside := t.TempDir() // a directory the archive must never reach
	outsideFile := filepath.Join(outside, "victim")
	reg := func(name string, data []byte) member {
		return member{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600}, data: data}
	}
	tests := []struct {
		name    string
		entries []Entry
		members []member
		want    error
	}{
		{
			name:    "a member name climbing out with ..",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.crt", good), fileEntry("/victim", evil)},
			members: []member{reg("etc/kubernetes/pki/ca.crt", good), reg("etc/../../../../../../.."+outsideFile, evil)},
			want:    ErrUnsafe,
		},
		{
			name:    "a manifest path climbing out with ..",
			entries: []Entry{fileEntry("/etc/kubernetes/../../.."+outsideFile, evil)},
			members: []member{reg("etc/kubernetes/../../.."+outsideFile, evil)},
			want:    ErrUnsafe,
		},
		{
			name:    "an absolute member name",
			entries: []Entry{fileEntry(outsideFile, evil)},
			members: []member{reg(outsideFile, evil)},
			want:    ErrUnsafe,
		},
		{
			name: "a symlink to outside followed by a file through it",
			entries: []Entry{
				{Path: "/etc/kubernetes/pki", Type: TypeSymlink, Target: outside},
				fileEntry("/etc/kubernetes/pki/victim", evil),
			},
			members: []member{
				{hdr: tar.Header{Name: "etc/kubernetes/pki", Typeflag: tar.TypeSymlink, Linkname: outside}},
				reg("etc/kubernetes/pki/victim", evil),
			},
			want: ErrUnsafe,
		},
		{
			name: "a relative symlink climbing out followed by a file through it",
			entries: []Entry{
				{Path: "/etc/link", Type: TypeSymlink, Target: "../../../../../../.." + outside},
				fileEntry("/etc/link/victim", evil),
			},
			members: []member{
				{hdr: tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../.." + outside}},
				reg("etc/link/victim", evil),
			},
			want: ErrUnsafe,
		},
		{
			name:    "a symlink member the manifest calls a directory",
			entries: []Entry{{Path: "/etc/kubernetes/pki", Type: TypeDir, Mode: 0o755}, fileEntry("/etc/kubernetes/pki/victim", evil)},
			members: []member{
				{hdr: tar.Header{Name: "etc/kubernetes/pki", Typeflag: tar.TypeSymlink, Linkname: outside}},
				reg("etc/kubernetes/pki/victim", evil),
			},
			want: ErrCorrupt,
		},
		{
			name:    "a hard link",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.key", evil)},
			members: []member{{hdr: tar.Header{Name: "etc/kubernetes/pki/ca.key", Typeflag: tar.TypeLink, Linkname: outsideFile}}},
			want:    ErrUnsafe,
		},
		{
			name:    "a hard link in the manifest",
			entries: []Entry{{Path: "/etc/kubernetes/pki/ca.key", Type: "hardlink", Target: outsideFile}},
			members: nil,
			want:    ErrUnsafe,
		},
		{
			name:    "a character device",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.key", evil)},
			members: []member{{hdr: tar.Header{Name: "etc/kubernetes/pki/ca.key", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}},
			want:    ErrUnsafe,
		},
		{
			name:    "a block device",
			entries: []Entry{fileEntry("/dev/sda", evil)},
			members: []member{{hdr: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8}}},
			want:    ErrUnsafe,
		},
		{
			name:    "a FIFO",
			entries: []Entry{fileEntry("/etc/kubernetes/fifo", evil)},
			members: []member{{hdr: tar.Header{Name: "etc/kubernetes/fifo", Typeflag: tar.TypeFifo}}},
			want:    ErrUnsafe,
		},
		{
			name: "a setuid file",
			entries: []Entry{func() Entry {
				e := fileEntry("/usr/local/bin/sh", evil)
				e.Mode = 0o4755
				return e
			}()},
			members: []member{reg("usr/local/bin/sh", evil)},
			want:    ErrUnsafe,
		},
		{
			name:    "a checksum that does not match, after a good member",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.crt", good), fileEntry("/etc/kubernetes/pki/ca.key", good)},
			members: []member{reg("etc/kubernetes/pki/ca.crt", good), reg("etc/kubernetes/pki/ca.key", evil[:len(good)])},
			want:    ErrCorrupt,
		},
		{
			name:    "a member the manifest does not list",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.crt", good)},
			members: []member{reg("etc/kubernetes/pki/ca.crt", good), reg("etc/kubernetes/pki/extra", evil)},
			want:    ErrCorrupt,
		},
		{
			name:    "a listed member that is missing",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.crt", good), fileEntry("/etc/kubernetes/pki/ca.key", good)},
			members: []member{reg("etc/kubernetes/pki/ca.crt", good)},
			want:    ErrCorrupt,
		},
		{
			name:    "the same member twice",
			entries: []Entry{fileEntry("/etc/kubernetes/pki/ca.crt", good)},
			members: []member{reg("etc/kubernetes/pki/ca.crt", good), reg("etc/kubernetes/pki/ca.crt", good)},
			want:    ErrUnsafe,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := nodeTree(t)
			os.WriteFile(outsideFile, []byte("untouched"), 0o644)
			beforeRoot, beforeOutside := snapshot(t, root), snapshot(t, outside)
			p := craft(t, &Manifest{Version: FormatVersion, Entries: tt.entries}, tt.members)

			_, err := Restore(p, RestoreOptions{Root: root})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Restore error = %v, want %v", err, tt.want)
			}
			if _, err := Verify(p); !errors.Is(err, tt.want) {
				t.Errorf("Verify error = %v, want %v", err, tt.want)
			}
			sameSnapshot(t, "root", snapshot(t, root), beforeRoot)
			sameSnapshot(t, "outside", snapshot(t, outside), beforeOutside)
		})
	}
}

func TestRestoreRefusesAnArchiveWithoutAManifestFirst(t *testing.T) {
	root := nodeTree(t)
	p := filepath.Join(t.TempDir(), "x.tar.gz")
	// A manifest.json that is not first: craft writes it first, so build by hand.
	m := &Manifest{Version: FormatVersion}
	crafted := craft(t, m, nil)
	raw, _ := os.ReadFile(crafted)
	os.WriteFile(p, raw, 0o600)
	if _, err := Restore(p, RestoreOptions{Root: root}); err != nil {
		t.Fatalf("an empty but valid archive was refused: %v", err)
	}
	bad := &Manifest{Version: 99}
	if _, err := Restore(craft(t, bad, nil), RestoreOptions{Root: root}); err == nil {
		t.Error("an archive of an unknown format version was accepted")
	}
}
