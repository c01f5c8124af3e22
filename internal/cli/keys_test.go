package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestKeysAre0600UnderUmask000 proves a key written by every key-writing
// command is 0600 (or the --key-mode asked for) even when the umask lets
// everything through, and that no key appears on stdout or stderr.
func TestKeysAre0600UnderUmask000(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	dir := t.TempDir()
	conf := writeKitConf(t, dir)
	var outputs []result
	outputs = append(outputs, mustRun(t, "ca", "init", "--out-dir", dir, filepath.Join(conf, "ca-csr.json")))
	outputs = append(outputs, mustRun(t, "gencert", "-ca", filepath.Join(dir, "ca.pem"), "-ca-key", filepath.Join(dir, "ca-key.pem"),
		"-config", filepath.Join(conf, "ca-config.json"), "-profile", "kubernetes", "--out-dir", dir, filepath.Join(conf, "apiserver-csr.json")))
	outputs = append(outputs, mustRun(t, "gencert", "-ca", filepath.Join(dir, "ca.pem"), "-ca-key", filepath.Join(dir, "ca-key.pem"),
		"--key-mode", "0400", "--bare", "strict", "--out-dir", dir, filepath.Join(conf, "apiserver-csr.json")))
	outputs = append(outputs, mustRun(t, "ca", "init", "--layout", "kubeadm", "--out-dir", dir, "--bare", "etcd-ca", filepath.Join(conf, "ca-csr.json")))

	want := map[string]os.FileMode{
		"ca-key.pem": 0o600, "apiserver-key.pem": 0o600, "strict-key.pem": 0o400, "etcd-ca.key": 0o600,
		"ca.pem": 0o644, "apiserver.pem": 0o644, "etcd-ca.crt": 0o644,
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o under umask 000, want %04o", name, fi.Mode().Perm(), mode)
		}
	}
	for _, r := range outputs {
		if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
			t.Errorf("key material printed without --json:\n%s%s", r.stdout, r.stderr)
		}
	}
	// No temporary files left behind by the atomic writes.
	for _, f := range listTree(t, dir) {
		if strings.Contains(filepath.Base(f), ".tmp") || strings.HasPrefix(filepath.Base(f), ".") {
			t.Errorf("leftover temporary file %s", f)
		}
	}
}
