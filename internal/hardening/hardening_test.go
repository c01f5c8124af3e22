package hardening

import (
	"github.com/certrescue/certrescue/internal/nodefs"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
)

// tree makes a kubeadm-like PKI directory with loose modes and returns its path.
func tree(t *testing.T) string {
	t.Helper()
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "etc", "kubernetes", "pki")
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(p string, mode fs.FileMode, data []byte) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("ca.key", 0o644, keyPEM)
	mk("ca.crt", 0o644, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	mk("apiserver.key", 0o640, keyPEM)
	mk("sa.key", 0o600, keyPEM)
	mk("sa.pub", 0o644, []byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	mk("front-proxy-ca.key", 0o600, keyPEM)
	mk("etcd/ca.key", 0o400, keyPEM)
	mk("etcd/peer.key", 0o400, keyPEM)
	mk("backup/old-ca-key.pem", 0o666, keyPEM)
	mk("encrypted.key", 0o644, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	mk("notes.txt", 0o666, []byte("hello"))
	if err := os.Symlink("/etc/shadow", filepath.Join(dir, "link.key")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPlanAndApply(t *testing.T) {
	tests := []struct {
		name    string
		keyMode fs.FileMode
		want    map[string]fs.FileMode // relative path -> new mode
	}{
		{"keys 0600, CA keys 0400, directories 0700", 0, map[string]fs.FileMode{
			".": 0o700, "ca.key": 0o400, "apiserver.key": 0o600, "front-proxy-ca.key": 0o400,
			"etcd": 0o700, "backup": 0o700, "backup/old-ca-key.pem": 0o400, "encrypted.key": 0o600,
		}},
		{"--key-mode 0400 makes every key read-only", 0o400, map[string]fs.FileMode{
			".": 0o700, "ca.key": 0o400, "apiserver.key": 0o400, "sa.key": 0o400, "front-proxy-ca.key": 0o400,
			"etcd": 0o700, "backup": 0o700, "backup/old-ca-key.pem": 0o400, "encrypted.key": 0o400,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tree(t)
			changes, skips, err := Plan(Options{Dirs: []string{dir}, KeyMode: tc.keyMode})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]fs.FileMode{}
			for _, c := range changes {
				rel, _ := filepath.Rel(dir, c.Path)
				got[rel] = c.To
			}
			for p, m := range tc.want {
				if got[p] != m {
					t.Errorf("%s: planned %04o, want %04o", p, got[p], m)
				}
			}
			for p := range got {
				if _, ok := tc.want[p]; !ok {
					t.Errorf("%s: changed, should not be (%04o)", p, got[p])
				}
			}
			if len(skips) != 1 || !strings.Contains(skips[0].Reason, "symbolic link") {
				t.Errorf("skips: %+v", skips)
			}
			for _, c := range changes {
				if err := Apply(nodefs.Host(), c); err != nil {
					t.Fatal(err)
				}
			}
			for p, m := range tc.want {
				fi, err := os.Stat(filepath.Join(dir, p))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != m {
					t.Errorf("%s: mode %04o after apply, want %04o", p, fi.Mode().Perm(), m)
				}
			}
			for p, m := range map[string]fs.FileMode{"ca.crt": 0o644, "sa.pub": 0o644, "notes.txt": 0o666, "etcd/peer.key": 0o400} {
				fi, _ := os.Stat(filepath.Join(dir, p))
				if fi.Mode().Perm() != m {
					t.Errorf("%s: touched (%04o), want %04o", p, fi.Mode().Perm(), m)
				}
			}
			if again, _, _ := Plan(Options{Dirs: []string{dir}, KeyMode: tc.keyMode}); len(again) != 0 {
				t.Errorf("a second run still plans %v", again)
			}
		})
	}
}

func TestApplyRefusesAFileThatChanged(t *testing.T) {
	dir := tree(t)
	changes, _, err := Plan(Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	var c Change
	for _, ch := range changes {
		if filepath.Base(ch.Path) == "apiserver.key" {
			c = ch
		}
	}
	if err := os.Chmod(c.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Apply(nodefs.Host(), c); err == nil || !strings.Contains(err.Error(), "since it was checked") {
		t.Errorf("err = %v", err)
	}
}

func TestPlanMissingDirectory(t *testing.T) {
	_, _, err := Plan(Options{Dirs: []string{filepath.Join(t.TempDir(), "nope")}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v", err)
	}
}
