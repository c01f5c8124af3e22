package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/audit/audittest"
	"github.com/certrescue/certrescue/internal/facts"
)

// The audit commands that only read must work on a read-only copy of a
// node's disk, as a forensic image is mounted. The tests make such copies
// for real: a read-only bind mount in a private mount namespace (root), or
// a directory the reading user may not write (chmod; run as nobody when the
// test runs as root, since root writes any directory whatever its mode).
// The checks themselves run in a re-executed test binary, inside the
// namespace or as that user.

// roInnerEnv tells a re-executed test binary to run the checks on the node
// copies under the directory it names.
const roInnerEnv = "CERTRESCUE_TEST_AUDIT_RO"

// roNodes makes, under base, the node copies the read-only checks read:
//
//	clean     two events, the log closed cleanly (audit.db alone)
//	crashed   the same plus two events still in audit.db-wal, copied with
//	          audit.db-shm while the store was open, as a crash leaves them
//	tampered  event 2 edited (its hash not recomputed), the triggers dropped
//
// and base/checkpoints.txt with the clean log's checkpoint and base/crashed.txt
// with the crashed copy's.
func roNodes(t *testing.T, base string) {
	t.Helper()
	clean := newAuditNodeAt(t, filepath.Join(base, "clean"), "")
	clean.issue(t)
	writeFile(t, filepath.Join(base, "checkpoints.txt"), clean.mustRun(t, "audit", "checkpoint").stdout)

	crashed := newAuditNodeAt(t, filepath.Join(base, "crashed"), "")
	crashed.issue(t)
	db := crashed.path(DefaultAuditDB)
	s, err := audit.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"late-1", "late-2"} {
		if _, err := s.Append(context.Background(), audit.Event{Time: auditEpoch, Action: facts.ActionRenew, CertName: name}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(base, "crashed.txt"), head.String()+"\n")
	image := filepath.Join(base, "crashed-image")
	if out, err := exec.Command("cp", "-a", crashed.root, image).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	s.Close()
	if err := os.RemoveAll(crashed.root); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(image, crashed.root); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the crashed copy has no events in its WAL: %v %v", fi, err)
	}

	tampered := newAuditNodeAt(t, filepath.Join(base, "tampered"), "")
	tampered.issue(t)
	tdb := tampered.path(DefaultAuditDB)
	audittest.Tamper(t, tdb, `UPDATE cert_audit SET record = REPLACE(record, '"cert_name":"leaf"', '"cert_name":"evil"') WHERE id = 2`)
}

// roChecks runs the audit commands on the copies under base, which this
// process cannot write.
func roChecks(t *testing.T, base string) {
	if err := os.WriteFile(filepath.Join(base, "clean", "probe"), nil, 0o600); err == nil {
		t.Fatalf("%s is writable: the test would prove nothing", base)
	}
	if err := os.WriteFile(filepath.Join(base, "clean", "var/lib/certrescue/probe"), nil, 0o600); err == nil {
		t.Fatal("the audit directory is writable: the test would prove nothing")
	}
	node := func(name string) *auditNode {
		return &auditNode{root: filepath.Join(base, name), env: map[string]string{}, now: auditEpoch}
	}
	clean := node("clean")
	r := clean.mustRun(t, "audit", "verify", "--checkpoint-file", filepath.Join(base, "checkpoints.txt"))
	if !strings.Contains(r.stdout, "ok: audit log") || !strings.Contains(r.stdout, "2 events verified") ||
		!strings.Contains(r.stdout, "matches") || !strings.Contains(r.stdout, "store opened read-only, immutable") {
		t.Errorf("verify:\n%s", r.stdout)
	}
	if r := clean.mustRun(t, "audit", "list"); !strings.Contains(r.stdout, "leaf") {
		t.Errorf("list:\n%s", r.stdout)
	}
	if r := clean.mustRun(t, "audit", "show", "2"); !strings.Contains(r.stdout, "cert_name:") {
		t.Errorf("show:\n%s", r.stdout)
	}
	if r := clean.mustRun(t, "audit", "export", "-o", "jsonl"); strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("export:\n%s", r.stdout)
	}
	cp, _ := os.ReadFile(filepath.Join(base, "checkpoints.txt"))
	if r := clean.mustRun(t, "audit", "checkpoint"); strings.Fields(r.stdout)[0] != strings.Fields(string(cp))[0] {
		t.Errorf("checkpoint %q, want %q", r.stdout, cp)
	}
	// A command that changes things fails on the read-only copy, and says why.
	if r := clean.run(t, "harden", "/pki"); r.code == 0 {
		t.Errorf("harden on a read-only copy: exit 0\n%s", r.stdout)
	}

	r = node("tampered").run(t, "audit", "verify")
	if r.code != ExitCritical || !strings.Contains(r.stdout, "first bad event: 2 (edited)") ||
		!strings.Contains(r.stdout, "append-only trigger cert_audit_no_update is missing") {
		t.Errorf("tampered copy: exit %d\n%s", r.code, r.stdout)
	}
	// Events a crash left in audit.db-wal are read through audit.db-shm:
	// an immutable open of audit.db alone would report 2 events, and the
	// checkpoint of 4 would call the log truncated.
	r = node("crashed").run(t, "audit", "verify", "--checkpoint-file", filepath.Join(base, "crashed.txt"))
	if r.code != 0 || !strings.Contains(r.stdout, "4 events verified") || !strings.Contains(r.stdout, "through its -wal and -shm files") {
		t.Errorf("crashed copy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestAuditCommandsOnAReadOnlyBindMount: verify, list, show, export and
// checkpoint on a real read-only bind mount of nodes' disks.
func TestAuditCommandsOnAReadOnlyBindMount(t *testing.T) {
	if base := os.Getenv(roInnerEnv); base != "" {
		roChecks(t, base)
		return
	}
	requireRootTool(t, "unshare")
	base := t.TempDir()
	roNodes(t, base)
	// The namespace, and the mounts in it, end with the command: nothing to
	// unmount on the host.
	script := `set -e; mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; grep -q " $1 .* ro[ ,]" /proc/self/mountinfo; exec "$2" -test.run '^TestAuditCommandsOnAReadOnlyBindMount$' -test.v`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", base, os.Args[0])
	cmd.Env = append(os.Environ(), roInnerEnv+"="+base)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestAuditCommandsOnAReadOnlyBindMount") {
		t.Fatalf("inside the read-only mount: %v\n%s", err, out)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), base) {
		t.Errorf("the bind mount of %s is visible outside its namespace", base)
	}
}

// TestAuditCommandsFromADirectoryTheyCannotWrite is the chmod-only fallback:
// the node copies are in directories the reading user may not write.
func TestAuditCommandsFromADirectoryTheyCannotWrite(t *testing.T) {
	if base := os.Getenv(roInnerEnv); base != "" {
		roChecks(t, base)
		return
	}
	base := t.TempDir()
	roNodes(t, base)
	// As a copy made read-only with chmod -R a-w: no directory or file may
	// be written by its owner. As root, the copies are handed to nobody,
	// who reads them but may write none of them.
	const nobody = 65534
	asRoot := os.Getuid() == 0
	if err := filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if asRoot {
			if err := os.Lchown(p, nobody, nobody); err != nil {
				return err
			}
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return os.Chmod(p, 0o444)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	if !asRoot {
		roChecks(t, base)
		return
	}
	chmod(t, filepath.Dir(base), 0o711) // t.TempDir's parent is 0700
	cmd := exec.Command("/proc/self/exe", "-test.run", "^TestAuditCommandsFromADirectoryTheyCannotWrite$", "-test.v")
	cmd.Env = append(os.Environ(), roInnerEnv+"="+base, "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestAuditCommandsFromADirectoryTheyCannotWrite") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// requireRootTool skips (fails under CERTRESCUE_REQUIRE_TESTBED=1) unless
// the tools are installed and, for unshare, the test runs as root.
func requireRootTool(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
		if tool == "unshare" && os.Geteuid() != 0 {
			missing = append(missing, "root")
		}
	}
	if len(missing) == 0 {
		return
	}
	err := errors.New("needs " + strings.Join(missing, ", "))
	if os.Getenv("CERTRESCUE_REQUIRE_TESTBED") == "1" {
		t.Fatal(err)
	}
	t.Skip(err)
}
