package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutDirIsCreated0700WhateverTheUmask: ca init and gencert create a
// missing --out-dir (and its missing parents) 0700, since it holds private
// keys, even under a umask that would take the owner's execute bit; an
// existing directory keeps its mode; a file in the way is refused and nothing
// is written.
func TestOutDirIsCreated0700WhateverTheUmask(t *testing.T) {
	conf := writeKitConf(t, t.TempDir())
	csr := filepath.Join(conf, "ca-csr.json")
	// A umask that would make a 0700 mkdir 0600, a directory nobody can enter.
	underUmask := func(args ...string) result {
		t.Helper()
		old := syscall.Umask(0o177)
		defer syscall.Umask(old)
		return runCLI(t, args...)
	}

	root := t.TempDir()
	r := underUmask("--root", root, "ca", "init", "--out-dir", "/etc/kubernetes/ssl", relTo(t, csr))
	if r.code != 0 {
		t.Fatalf("ca init: exit %d: %s", r.code, r.stderr)
	}
	for _, d := range []string{"etc", "etc/kubernetes", "etc/kubernetes/ssl"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a directory 0700", d, err)
		}
	}
	if !strings.Contains(r.stderr, "created "+filepath.Join(root, "etc/kubernetes/ssl")+" (0700)") {
		t.Errorf("stderr does not say what was created:\n%s", r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/kubernetes/ssl/ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem: %v, want 0600", err)
	}

	// gencert into a new directory next to the CA; the existing one keeps 0755.
	pub := filepath.Join(t.TempDir(), "pub")
	if err := os.Mkdir(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	ssl := filepath.Join(root, "etc/kubernetes/ssl")
	if r := underUmask("gencert", "-ca", filepath.Join(ssl, "ca.pem"), "-ca-key", filepath.Join(ssl, "ca-key.pem"),
		"--out-dir", filepath.Join(pub, "leaves"), filepath.Join(conf, "apiserver-csr.json")); r.code != 0 {
		t.Fatalf("gencert: exit %d: %s", r.code, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(pub, "leaves")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("leaves: %v, want 0700", err)
	}
	if fi, _ := os.Stat(pub); fi.Mode().Perm() != 0o755 {
		t.Errorf("an existing directory was changed to %v", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(pub, "leaves", "apiserver.pem")); err != nil {
		t.Error(err)
	}

	// A file where a directory should be: refused, nothing written.
	blocked := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = underUmask("ca", "init", "--out-dir", filepath.Join(blocked, "sub"), csr)
	if r.code != ExitUsage || !strings.Contains(r.stderr, blocked+" is not a directory") {
		t.Errorf("exit %d, stderr %q: want a usage error naming %s", r.code, r.stderr, blocked)
	}
	if des, _ := os.ReadDir(filepath.Dir(blocked)); len(des) != 1 {
		t.Errorf("the refusal left files behind: %v", des)
	}
}

// TestOutDirUnderRootStaysInsideIt: a node whose /etc/kubernetes is a symlink
// with an absolute target names the node's path, not this machine's: the new
// directory and the keys land under --root, the host directory stays empty.
func TestOutDirUnderRootStaysInsideIt(t *testing.T) {
	conf := writeKitConf(t, t.TempDir())
	root, host := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(root, "etc/kubernetes")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--root", root, "ca", "init", "--out-dir", "/etc/kubernetes/ssl", relTo(t, filepath.Join(conf, "ca-csr.json")))
	if des, _ := os.ReadDir(host); len(des) != 0 {
		t.Errorf("the host directory %s was written: %v", host, des)
	}
	inRoot := filepath.Join(root, host, "ssl")
	if fi, err := os.Stat(inRoot); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, want the directory created inside the root, 0700", inRoot, err)
	}
	if _, err := os.Stat(filepath.Join(inRoot, "ca-key.pem")); err != nil {
		t.Errorf("the key is not inside the root: %v", err)
	}
}
