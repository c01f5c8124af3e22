package confine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/cli"
	"github.com/certrescue/certrescue/internal/testpki"
)

// snapshot is every entry under dir: type, mode, mtime and content hash.
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
		v := fmt.Sprintf("%v %d", fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			v += " -> " + l
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diff(before, after map[string]string) []string {
	var out []string
	for p, v := range before {
		if a, ok := after[p]; !ok {
			out = append(out, "removed "+p)
		} else if a != v {
			out = append(out, "changed "+p+": "+v+" -> "+a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, "created "+p)
		}
	}
	return out
}

type node struct {
	root, host string
}

// newNode writes an expired kubeadm node under base/node and a copy of its
// PKI, kubeconfigs and state directories under base/host: what a command
// would reach if it resolved a link on this machine instead of in the node.
func newNode(t *testing.T) node {
	t.Helper()
	base := t.TempDir()
	n := node{root: filepath.Join(base, "node"), host: filepath.Join(base, "host")}
	now := time.Now()
	testpki.KubeadmTree(t, n.root, testpki.TreeOptions{
		NotBefore: now.Add(-400 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour),
		CANotBefore: now.Add(-2 * 365 * 24 * time.Hour), CANotAfter: now.Add(8 * 365 * 24 * time.Hour),
		Manifests: true,
	})
	copyTree(t, filepath.Join(n.root, "etc/kubernetes"), filepath.Join(n.host, "etc/kubernetes"))
	for _, d := range []string{"var/lib/certrescue/backups", "audit", "textfile"} {
		if err := os.MkdirAll(filepath.Join(n.host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			return os.MkdirAll(dst, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			return os.Symlink(l, dst)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// link replaces node path p by a symlink to target.
func (n node) link(t *testing.T, p, target string) {
	t.Helper()
	full := filepath.Join(n.root, p)
	if err := os.RemoveAll(full); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// climb is a relative target from node path p that climbs to the host
// directory if ".." were allowed out of the root.
func (n node) climb(p, hostRel string) string {
	depth := strings.Count(strings.Trim(filepath.Dir(p), "/"), "/") + 1
	return strings.Repeat("../", depth+1) + "host/" + hostRel
}

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Main(ctx, args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

func TestNoCommandTouchesAFileOutsideTheRoot(t *testing.T) {
	escapes := []struct {
		name  string
		setup func(t *testing.T, n node)
	}{
		{"the pki directory links to the host's absolute path", func(t *testing.T, n node) {
			n.link(t, "/etc/kubernetes/pki", filepath.Join(n.host, "etc/kubernetes/pki"))
		}},
		{"the pki directory climbs out with ..", func(t *testing.T, n node) {
			n.link(t, "/etc/kubernetes/pki", n.climb("/etc/kubernetes/pki", "etc/kubernetes/pki"))
		}},
		{"a certificate and its key link to the host", func(t *testing.T, n node) {
			n.link(t, "/etc/kubernetes/pki/apiserver.crt", filepath.Join(n.host, "etc/kubernetes/pki/apiserver.crt"))
			n.link(t, "/etc/kubernetes/pki/apiserver.key", n.climb("/etc/kubernetes/pki/apiserver.key", "etc/kubernetes/pki/apiserver.key"))
		}},
		{"a kubeconfig links to the host", func(t *testing.T, n node) {
			n.link(t, "/etc/kubernetes/admin.conf", filepath.Join(n.host, "etc/kubernetes/admin.conf"))
			n.link(t, "/etc/kubernetes/scheduler.conf", n.climb("/etc/kubernetes/scheduler.conf", "etc/kubernetes/scheduler.conf"))
		}},
		{"the backup directory links to the host", func(t *testing.T, n node) {
			n.link(t, "/var/lib/certrescue/backups", filepath.Join(n.host, "var/lib/certrescue/backups"))
		}},
		{"the state and audit directory climbs out with ..", func(t *testing.T, n node) {
			n.link(t, "/var/lib/certrescue", n.climb("/var/lib/certrescue", "audit"))
		}},
		{"the textfile directory links to the host", func(t *testing.T, n node) {
			n.link(t, "/var/lib/node_exporter", filepath.Join(n.host, "textfile"))
		}},
	}
	commands := [][]string{
		{"check"},
		{"renew", "all"},
		{"renew", "all", "--rotate-keys"},
		{"rescue", "--restart", "none"},
		{"harden"},
		{"harden", "/../../../../host/etc/kubernetes/pki"},
		{"backup"},
		{"restore", "latest"},
		{"exporter", "--textfile", "/var/lib/node_exporter"},
		{"audit", "verify"},
	}
	for _, e := range escapes {
		t.Run(e.name, func(t *testing.T) {
			n := newNode(t)
			e.setup(t, n)
			before := snapshot(t, n.host)
			for _, c := range commands {
				code, out := run(t, append([]string{"--root", n.root}, c...)...)
				t.Logf("certrescue %s: exit %d\n%s", strings.Join(c, " "), code, indent(out))
				if d := diff(before, snapshot(t, n.host)); len(d) > 0 {
					t.Fatalf("certrescue --root %s %s changed files outside the root:\n%s", n.root, strings.Join(c, " "), strings.Join(d, "\n"))
				}
			}
		})
	}
}

func indent(s string) string {
	if len(s) > 3000 {
		s = s[:3000] + "..."
	}
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// A FIFO where a credential should be must never block a command: every
// read of a node file refuses what is not a regular file before reading.
func TestAFIFOWhereACredentialShouldBeNeverBlocks(t *testing.T) {
	for _, p := range []string{"/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/apiserver.key", "/etc/kubernetes/pki/ca.key"} {
		t.Run(p, func(t *testing.T) {
			n := newNode(t)
			if err := os.MkdirAll(filepath.Join(n.root, "var/lib/node_exporter"), 0o755); err != nil {
				t.Fatal(err)
			}
			full := filepath.Join(n.root, p)
			if err := os.Remove(full); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(full, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, c := range [][]string{{"check"}, {"renew", "all"}, {"rescue", "--restart", "none"}, {"harden"}, {"backup"}, {"exporter", "--textfile", "/var/lib/node_exporter"}} {
				done := make(chan struct{})
				var code int
				var out string
				go func() {
					defer close(done)
					code, out = run(t, append([]string{"--root", n.root}, c...)...)
				}()
				select {
				case <-done:
				case <-time.After(time.Minute): // a hang detector, not a timing assertion
					// Unblock the reader so the goroutine ends.
					if f, err := os.OpenFile(full, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						f.Close()
					}
					t.Fatalf("certrescue %s blocked on the FIFO at %s", strings.Join(c, " "), p)
				}
				t.Logf("certrescue %s: exit %d\n%s", strings.Join(c, " "), code, indent(out))
				if code != 0 && !strings.Contains(out, p) {
					t.Errorf("certrescue %s does not name %s", strings.Join(c, " "), p)
				}
			}
		})
	}
}

// Paths given in flags are node paths: ".." never climbs out of the root.
func TestFlagPathsStayInsideTheRoot(t *testing.T) {
	n := newNode(t)
	if err := os.MkdirAll(filepath.Join(n.host, "etc/kubernetes/pki/out"), 0o755); err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, filepath.Join(n.root, "ca-csr.json"), []byte(`{"CN":"escape","key":{"algo":"ecdsa","size":256}}`), 0o644)
	up := "/../../../../../../../../../.." + n.host
	before := snapshot(t, n.host)
	for _, c := range [][]string{
		{"harden", up + "/etc/kubernetes/pki"},
		{"backup", "--backup-dir", up + "/var/lib/certrescue/backups"},
		{"exporter", "--textfile", up + "/textfile"},
		{"ca", "init", "/ca-csr.json", "--out-dir", up + "/etc/kubernetes/pki/out"},
		{"certinfo", up + "/etc/kubernetes/pki/ca.crt"},
		{"renew", "all", "--backup-dir", up + "/var/lib/certrescue/backups"},
	} {
		code, out := run(t, append([]string{"--root", n.root}, c...)...)
		t.Logf("certrescue %s: exit %d\n%s", strings.Join(c, " "), code, indent(out))
		if d := diff(before, snapshot(t, n.host)); len(d) > 0 {
			t.Fatalf("certrescue --root %s %s changed files outside the root:\n%s", n.root, strings.Join(c, " "), strings.Join(d, "\n"))
		}
		if c[0] == "certinfo" && strings.Contains(out, "host ca") {
			t.Error("certinfo read the host's file")
		}
	}
}
