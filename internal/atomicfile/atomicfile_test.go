package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteSetsExactModeWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o600, 0o400, 0o644} {
		p := filepath.Join(dir, mode.String())
		if err := Write(p, []byte("x"), mode, false); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != mode {
			t.Errorf("mode %v written as %v", mode, fi.Mode().Perm())
		}
	}
	syscall.Umask(0o077)
	p := filepath.Join(dir, "public")
	if err := Write(p, []byte("x"), 0o644, false); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("a strict umask changed a certificate's mode to %v", fi.Mode().Perm())
	}
}

func TestWriteSetRefusesBeforeWritingAnything(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "b")
	if err := os.WriteFile(existing, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteSet([]File{{Path: filepath.Join(dir, "a"), Data: []byte("new"), Mode: 0o600}, {Path: existing, Data: []byte("new"), Mode: 0o600}}, false)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Error("a was written although b existed")
	}
	if err := WriteSet([]File{{Path: filepath.Join(dir, "missing", "c"), Data: nil, Mode: 0o600}}, false); err == nil {
		t.Error("a missing directory was accepted")
	}
	if err := WriteSet([]File{{Path: existing, Data: []byte("new"), Mode: 0o600}}, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "new" {
		t.Errorf("force did not replace: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "b" {
			t.Errorf("leftover %s", e.Name())
		}
	}
}
