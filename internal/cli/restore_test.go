package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/testpki"
	"golang.org/x/sys/unix"
)

// crafted is one entry of an archive a test writes by hand: what a tampered
// or foreign backup holds.
type crafted struct {
	path   string
	data   []byte // a file
	target string // a symlink when set
}

// craftArchive writes a well-formed archive (manifest first, every checksum
// right: it verifies) holding exactly the entries given.
func craftArchive(t *testing.T, entries ...crafted) string {
	t.Helper()
	m := backup.Manifest{Version: backup.FormatVersion, Created: testpki.Epoch}
	for _, c := range entries {
		e := backup.Entry{Path: c.path, Mode: 0o600}
		if c.target != "" {
			e.Type, e.Target = backup.TypeSymlink, c.target
		} else {
			sum := sha256.Sum256(c.data)
			e.Type, e.Size, e.SHA256 = backup.TypeFile, int64(len(c.data)), hex.EncodeToString(sum[:])
		}
		m.Entries = append(m.Entries, e)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mj, _ := json.Marshal(m)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tw.WriteHeader(&tar.Header{Name: backup.ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(mj))}))
	_, err := tw.Write(mj)
	must(err)
	for _, c := range entries {
		h := &tar.Header{Name: strings.TrimPrefix(c.path, "/"), Mode: 0o600, Typeflag: tar.TypeReg, Size: int64(len(c.data))}
		if c.target != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, c.target, 0
		}
		must(tw.WriteHeader(h))
		if c.target == "" {
			_, err := tw.Write(c.data)
			must(err)
		}
	}
	must(tw.Close())
	must(zw.Close())
	p := filepath.Join(t.TempDir(), "certrescue-backup-20990101T000000Z.tar.gz")
	must(os.WriteFile(p, buf.Bytes(), 0o600))
	return p
}

// treeState describes every entry under root (type, mode, owner, sha256 or
// link target) except those skip names, so two states compare whole.
func treeState(t *testing.T, root string, skip func(nodePath string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		np := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if skip != nil && skip(np) {
			return nil
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
			s := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(s[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		out[np] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// auditFiles are the audit store's files: a refused restore records its
// refusal there, and nothing else changes.
func auditFiles(np string) bool { return strings.HasPrefix(np, backup.StateDir+"/audit.db") }

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s is %q, was %q", what, k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: new %s (%s)", what, k, g)
		}
	}
}

var verifiedEvents = regexp.MustCompile(`ok: audit log .*: (\d+) events verified`)

// auditEvents runs `audit verify` and returns how many events it verified.
func auditEvents(t *testing.T, root string) int {
	t.Helper()
	r := runAt(t, testpki.Epoch, "", "--root", root, "audit", "verify")
	m := verifiedEvents.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("audit verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestARestoreOverTheAuditStoreIsRefused: the run. An archive that
// holds the audit store (audit.db and its -wal, as a backup of
// /var/lib/certrescue taken by an older certrescue did) is refused, whatever
// the flags; the store stays whole and keeps every event.
func TestARestoreOverTheAuditStoreIsRefused(t *testing.T) {
	tr := expiredNode(t)
	if r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "renew", "all"); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	events := auditEvents(t, tr.Root)
	if events < 10 {
		t.Fatalf("only %d audit events: the test needs a store worth losing", events)
	}
	db := filepath.Join(tr.Root, backup.StateDir, "audit.db")
	stale, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	api := "/etc/kubernetes/pki/apiserver.crt"
	entries := []crafted{
		{path: backup.StateDir + "/audit.db", data: stale},
		{path: backup.StateDir + "/audit.db-wal", data: []byte("stale write-ahead log")},
		{path: api, data: []byte("an older apiserver.crt")},
	}
	archive := craftArchive(t, entries...)
	before := treeState(t, tr.Root, auditFiles)

	for _, flags := range [][]string{nil, {"--allow-manifest-paths"}, {"--allow-path", backup.StateDir}, {"--allow-path", backup.StateDir + "/audit.db"}} {
		r := runAt(t, testpki.Epoch, "", append([]string{"--root", tr.Root, "restore", archive}, flags...)...)
		if r.code != ExitFailure {
			t.Fatalf("restore %v: exit %d, want %d\n%s\n%s", flags, r.code, ExitFailure, r.stdout, r.stderr)
		}
		for _, want := range []string{backup.StateDir + "/audit.db: certrescue's own state", backup.StateDir + "/audit.db-wal", "nothing was written", "cannot be overridden"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("restore %v: the message lacks %q:\n%s", flags, want, r.stderr)
			}
		}
		sameTree(t, fmt.Sprintf("the node after restore %v", flags), treeState(t, tr.Root, auditFiles), before)
	}
	// Each refusal is on record, and nothing was lost.
	if got := auditEvents(t, tr.Root); got != events+4 {
		t.Errorf("audit verify: %d events after four refused restores, want %d + 4", got, events)
	}
}

// inotifyWatch reports every access to the paths from now on: a test's
// proof that nothing opened, read or wrote them.
type inotifyWatch struct{ fd int }

func watch(t *testing.T, paths ...string) *inotifyWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, p := range paths {
		if _, err := unix.InotifyAddWatch(fd, p, unix.IN_ACCESS|unix.IN_OPEN|unix.IN_MODIFY|unix.IN_ATTRIB|unix.IN_CREATE|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
			t.Fatalf("watch %s: %v", p, err)
		}
	}
	return &inotifyWatch{fd: fd}
}

// events is how many inotify events arrived since the watch began.
func (w *inotifyWatch) events(t *testing.T) int {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Read(w.fd, buf)
	if errors.Is(err, unix.EAGAIN) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for off := 0; off+unix.SizeofInotifyEvent <= n; count++ {
		// struct inotify_event: wd, mask, cookie, len (native order), name.
		off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
	}
	return count
}

// TestASymlinkARenewWouldFollowIsRefused: archives that plant the API
// server's certificate as a link to /etc/shadow, its key as a link to a
// file of this machine outside the root, and a directory link under the
// pki directory are refused, nothing written; a renew afterwards opens
// neither /etc/shadow nor anything outside the root.
func TestASymlinkARenewWouldFollowIsRefused(t *testing.T) {
	tr := expiredNode(t)
	shadow := filepath.Join(tr.Root, "etc/shadow")
	testpki.WriteFile(t, shadow, []byte("root:$6$secret:19000:0:99999:7:::\n"), 0o600)
	host := t.TempDir() // this machine's files, outside the node
	testpki.WriteFile(t, filepath.Join(host, "shadow"), []byte("the host's own"), 0o600)
	if r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "backup"); r.code != 0 {
		t.Fatalf("backup: exit %d\n%s", r.code, r.stderr)
	}
	before := treeState(t, tr.Root, auditFiles)
	hostBefore := treeState(t, host, nil)

	for name, entries := range map[string][]crafted{
		"apiserver.crt -> /etc/shadow":     {{path: "/etc/kubernetes/pki/apiserver.crt", target: "/etc/shadow"}},
		"a relative link to /etc/shadow":   {{path: "/etc/kubernetes/pki/apiserver.crt", target: "../../shadow"}},
		"apiserver.key -> a host path":     {{path: "/etc/kubernetes/pki/apiserver.key", target: filepath.Join(host, "shadow")}},
		"a directory link under pki":       {{path: "/etc/kubernetes/pki/etcd2", target: "/etc"}},
		"a link chain through the kubelet": {{path: "/etc/kubernetes/pki/apiserver.crt", target: "/var/lib/kubelet/pki/hop"}, {path: "/var/lib/kubelet/pki/hop", target: "/etc/shadow"}},
	} {
		r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", craftArchive(t, entries...))
		if r.code != ExitFailure || !strings.Contains(r.stderr, entries[0].path+": symlink to") || !strings.Contains(r.stderr, "nothing was written") {
			t.Errorf("%s: exit %d, want the link refused by name\n%s", name, r.code, r.stderr)
		}
		sameTree(t, name, treeState(t, tr.Root, auditFiles), before)
	}
	// The advice never hands over a command that would confirm the link.
	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", craftArchive(t, crafted{path: "/etc/kubernetes/pki/apiserver.crt", target: "/etc/shadow"}))
	if strings.Contains(r.stderr, "confirm them with") || !strings.Contains(r.stderr, "which is right only if /etc/shadow holds") {
		t.Errorf("the advice on a link to /etc/shadow:\n%s", r.stderr)
	}

	// The renew that follows reads and writes only the credentials.
	w := watch(t, shadow, host, filepath.Join(host, "shadow"))
	if r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "renew", "apiserver"); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := w.events(t); n != 0 {
		t.Errorf("the renew touched /etc/shadow or the host's files: %d inotify events", n)
	}
	fi, err := os.Lstat(filepath.Join(tr.Root, "etc/kubernetes/pki/apiserver.crt"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("apiserver.crt after the renew: %v, %v", fi, err)
	}
	if c := leafAt(t, tr.Root, "/etc/kubernetes/pki/apiserver.crt"); !c.NotAfter.After(testpki.Epoch) {
		t.Errorf("apiserver.crt was not renewed (until %s)", c.NotAfter)
	}
	sameTree(t, "the host directory", treeState(t, host, nil), hostBefore)
	if b, _ := os.ReadFile(shadow); !strings.HasPrefix(string(b), "root:$6$secret") {
		t.Errorf("/etc/shadow changed: %q", b)
	}
}

// TestPathsOutsideTheCredentialsAreRefusedUntilConfirmed: a cron job and
// root's authorized_keys beside a credential. Refused, naming each path and
// the flags that would confirm them, nothing written; confirmed path by
// path or all at once, they are restored and named in the output.
func TestPathsOutsideTheCredentialsAreRefusedUntilConfirmed(t *testing.T) {
	tr := expiredNode(t)
	cron, keys := "/etc/cron.d/certrescue", "/root/.ssh/authorized_keys"
	archive := craftArchive(t,
		crafted{path: cron, data: []byte("* * * * * root /tmp/x\n")},
		crafted{path: keys, data: []byte("ssh-ed25519 AAAA attacker\n")},
		crafted{path: "/etc/kubernetes/pki/apiserver.crt", data: []byte("an older apiserver.crt")})
	runAt(t, testpki.Epoch, "", "--root", tr.Root, "backup") // the audit store exists from now on
	before := treeState(t, tr.Root, auditFiles)

	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", archive)
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitFailure, r.stderr)
	}
	for _, want := range []string{cron + ": not a credential of this node", keys + ": not a credential of this node", "nothing was written",
		"--allow-path " + cron + " --allow-path " + keys, "backup verify"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the message lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "apiserver.crt: ") {
		t.Errorf("the credential was refused too:\n%s", r.stderr)
	}
	sameTree(t, "after the refusal", treeState(t, tr.Root, auditFiles), before)

	r = runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", archive, "--allow-path", cron)
	if r.code != ExitFailure || !strings.Contains(r.stderr, keys) || strings.Contains(r.stderr, cron+":") {
		t.Errorf("one path confirmed: exit %d, want only %s refused\n%s", r.code, keys, r.stderr)
	}
	sameTree(t, "after the second refusal", treeState(t, tr.Root, auditFiles), before)

	if r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "restore", archive, "--allow-path", "root/.ssh"); r.code != ExitUsage {
		t.Errorf("a relative --allow-path: exit %d, want %d", r.code, ExitUsage)
	}

	for _, flags := range [][]string{{"--allow-path", cron, "--allow-path", "/root/.ssh"}, {"--allow-manifest-paths"}} {
		root := expiredNode(t).Root
		r := runAt(t, testpki.Epoch, "", append([]string{"--root", root, "restore", archive}, flags...)...)
		if r.code != 0 {
			t.Fatalf("restore %v: exit %d\n%s", flags, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "Restored though not credentials of this node") || !strings.Contains(r.stdout, "  "+cron+"\n") || !strings.Contains(r.stdout, "  "+keys+"\n") {
			t.Errorf("restore %v does not name what only the flags allowed:\n%s", flags, r.stdout)
		}
		if b, _ := os.ReadFile(filepath.Join(root, keys)); !strings.Contains(string(b), "attacker") {
			t.Errorf("restore %v: %s not restored", flags, keys)
		}
	}
}

// TestRestoreOfARenewWithAnInventory: what `renew --inventory` backed up is
// a credential when restore is given the same inventory, and only then.
func TestRestoreOfARenewWithAnInventory(t *testing.T) {
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }
	ca := testpki.MustCA(t, testpki.WithCN("registry-ca"))
	testpki.WriteCert(t, at("/opt/registry/ca.crt"), ca.Cert)
	testpki.WriteKey(t, at("/opt/registry/ca.key"), ca.Signer)
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("registry.internal"), testpki.WithDNS("registry.internal"),
		testpki.WithValidity(testpki.Epoch.Add(-400*24*time.Hour), testpki.Epoch.Add(-time.Hour)))
	testpki.WriteCert(t, at("/opt/registry/tls.crt"), leaf.Cert)
	testpki.WriteKey(t, at("/opt/registry/tls.key"), leaf.Key)
	testpki.WriteFile(t, at("/etc/certrescue/inventory.yaml"), []byte("items:\n- path: /opt/registry/tls.crt\n  key: /opt/registry/tls.key\n  ca: /opt/registry/ca.crt\n"), 0o644)
	old := treeState(t, at("/opt"), nil)
	if r := runAt(t, testpki.Epoch, "", "--root", root, "renew", "all", "--inventory", "/etc/certrescue/inventory.yaml"); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	renewed := treeState(t, root, auditFiles)
	r := runAt(t, testpki.Epoch.Add(time.Minute), "", "--root", root, "restore", "latest")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "/opt/registry/tls.crt: not a credential") || !strings.Contains(r.stderr, "--inventory") {
		t.Errorf("restore without the inventory: exit %d\n%s", r.code, r.stderr)
	}
	sameTree(t, "after the refusal", treeState(t, root, auditFiles), renewed)
	r = runAt(t, testpki.Epoch.Add(time.Minute), "", "--root", root, "restore", "latest", "--inventory", "/etc/certrescue/inventory.yaml")
	if r.code != 0 || strings.Contains(r.stdout, "Restored though not credentials") {
		t.Fatalf("restore with the inventory: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	sameTree(t, "/opt after the restore", treeState(t, at("/opt"), nil), old)
	// Undoing it needs the same inventory: the hint carries it.
	undo := regexp.MustCompile(`undo with: (certrescue .*)\)`).FindStringSubmatch(r.stdout)
	if undo == nil || !strings.HasSuffix(undo[1], " --inventory /etc/certrescue/inventory.yaml") {
		t.Fatalf("the undo hint lacks --inventory:\n%s", r.stdout)
	}
	args := strings.Fields(undo[1])[1:]
	if r := runAt(t, testpki.Epoch.Add(2*time.Minute), "", args...); r.code != 0 {
		t.Errorf("the pasted undo hint: exit %d\n%s", r.code, r.stderr)
	}
	sameTree(t, "after the undo", treeState(t, root, func(np string) bool { return auditFiles(np) || strings.HasPrefix(np, backup.StateDir) }),
		treeStateWithout(renewed, func(np string) bool { return strings.HasPrefix(np, backup.StateDir) }))
}

func treeStateWithout(s map[string]string, skip func(string) bool) map[string]string {
	out := map[string]string{}
	for k, v := range s {
		if !skip(k) {
			out[k] = v
		}
	}
	return out
}
