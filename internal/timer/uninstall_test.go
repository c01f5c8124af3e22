package timer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/certrescue/certrescue/internal/nodefs"
)

func TestUninstallRemovesWhatInstallWrote(t *testing.T) {
	root := t.TempDir()
	u, err := Make(Options{})
	if err != nil {
		t.Fatal(err)
	}
	fsys := nodefs.New(root)
	if _, err := Install(fsys, u, nil); err != nil {
		t.Fatal(err)
	}
	removed, err := Uninstall(fsys, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0] != UnitDir+"/"+TimerName {
		t.Fatalf("removed %v, want the timer first, then the service", removed)
	}
	if again, err := Uninstall(fsys, false); err != nil || len(again) != 0 {
		t.Fatalf("a second uninstall removed %v (%v), want nothing", again, err)
	}
}

func TestUninstallRefusesALinkToAUnitOutsideItsOwn(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "other.timer")
	if err := os.WriteFile(outside, []byte("# Written by certrescue timer install.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, UnitDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, TimerName)); err != nil {
		t.Fatal(err)
	}
	removed, err := Uninstall(nodefs.New(root), false)
	if !errors.Is(err, ErrNotOurs) || len(removed) != 0 {
		t.Fatalf("Uninstall = %v, %v; want ErrNotOurs and nothing removed", removed, err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("the link's target is gone: %v", err)
	}
	// --force removes the link itself, never what it names.
	if _, err := Uninstall(nodefs.New(root), true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("--force removed the link's target: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, TimerName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the link is still there: %v", err)
	}
}
