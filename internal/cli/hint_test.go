package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/audit/audittest"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/testpki"
)

// shellWords splits line as a POSIX shell does when it is pasted: sh itself
// does the splitting and unquoting.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "set -- "+line+"; printf '%s\\000' \"$@\"").Output()
	if err != nil {
		t.Fatalf("sh cannot parse %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// hintLine returns the text after prefix on the line of out that has it.
func hintLine(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if _, h, ok := strings.Cut(l, prefix); ok {
			return strings.TrimSpace(h)
		}
	}
	t.Fatalf("no %q line in:\n%s", prefix, out)
	return ""
}

// paste runs a hint as a user who pastes it would: split by sh, the program
// name checked, the rest run in-process.
func paste(t *testing.T, hint string) result {
	t.Helper()
	words := shellWords(t, hint)
	if words[0] != "certrescue" {
		t.Fatalf("hint %q starts with %q, not the program", hint, words[0])
	}
	return runAt(t, testpki.Epoch, "", words[1:]...)
}

func TestShellQuoteSurvivesARealShell(t *testing.T) {
	words := []string{"plain", "/mnt/my node", "it's", "$HOME", "a;b|c&d", "", "*", "`id`", "ünï", "--root=/mnt/node", "new\nline", `back\slash`, "~user", "#comment"}
	c := &commandLine{words: append([]string{"certrescue"}, words...)}
	got := shellWords(t, c.String())
	if !slices.Equal(got[1:], words) {
		t.Errorf("through sh: %q\nwant        %q\nline: %s", got[1:], words, c.String())
	}
	if s := (&commandLine{words: []string{"certrescue", "--root", "/mnt/node", "restore", "certrescue-backup-20300115T120000Z"}}).String(); s != "certrescue --root /mnt/node restore certrescue-backup-20300115T120000Z" {
		t.Errorf("plain words are quoted: %s", s)
	}
}

// TestHintsCarryTheGlobalFlags: --root when not /, the audit flags as given,
// and never an audit password.
func TestHintsCarryTheGlobalFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
		not  string
	}{
		{"the node itself: no --root", nil, "certrescue restore x", ""},
		{"a mounted node", []string{"--root", "/mnt/my node"}, "certrescue --root '/mnt/my node' restore x", ""},
		{"an audit file and an operator", []string{"--audit-dsn", "/srv/audit.db", "--operator", "Jane Doe", "--audit-optional"},
			"certrescue --audit-dsn /srv/audit.db --audit-optional --operator 'Jane Doe' restore x", ""},
		{"a database password is never printed", []string{"--audit-dsn", "postgres://audit:s3cret@db:5432/audit"},
			"certrescue --audit-dsn postgres://audit:xxxxx@db:5432/audit restore x", "s3cret"},
		{"a database without password is kept", []string{"--audit-dsn", "postgres://audit@db:5432/audit?sslmode=verify-full"},
			"certrescue --audit-dsn 'postgres://audit@db:5432/audit?sslmode=verify-full' restore x", ""},
		{"mysql's password is never printed", []string{"--audit-dsn", "mysql://audit:s3cret@db:3306/audit"}, "xxxxx", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Clock: clock.Fixed(testpki.Epoch), Root: "/"}
			root := NewRootCommand(env)
			if err := root.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			got := env.command("restore", "x").String()
			if !strings.Contains(got, tt.want) || (tt.not != "" && strings.Contains(got, tt.not)) {
				t.Errorf("hint %q, want %q without %q", got, tt.want, tt.not)
			}
		})
	}
	if p := programName("/tmp/go-build123/b001/exe/certrescue"); p != "certrescue" {
		t.Errorf("go run's temporary binary is named in hints: %s", p)
	}
	if p := programName("./bin/certrescue"); p != "./bin/certrescue" {
		t.Errorf("the program as invoked is not kept: %s", p)
	}
}

// TestRenewHintsCanBePasted renews under --root into a backup directory of
// its own, then pastes "undo with" and "then check" as printed: the undo
// brings back the exact bytes, on the mounted node, not this machine.
func TestRenewHintsCanBePasted(t *testing.T) {
	tr := expiredNode(t)
	crt := filepath.Join(tr.Root, "etc/kubernetes/pki/apiserver.crt")
	before := readBytes(t, crt)
	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "--operator", "oncall", "renew", "apiserver", "--backup-dir", "/srv/pki backups")
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if bytes.Equal(readBytes(t, crt), before) {
		t.Fatal("apiserver.crt was not renewed")
	}
	undo := hintLine(t, r.stdout, "undo with: ")
	for _, want := range []string{"--root " + tr.Root, "--operator oncall", "--backup-dir '/srv/pki backups'"} {
		if !strings.Contains(undo, want) {
			t.Errorf("undo hint %q lacks %q", undo, want)
		}
	}
	if u := paste(t, undo); u.code != 0 {
		t.Fatalf("pasted %q: exit %d\n%s%s", undo, u.code, u.stdout, u.stderr)
	}
	if !bytes.Equal(readBytes(t, crt), before) {
		t.Error("the pasted undo did not restore apiserver.crt's bytes")
	}
	check := hintLine(t, r.stdout, "then check: ")
	if c := paste(t, check); c.code == ExitUsage || !strings.Contains(c.stdout, "checked:") {
		t.Errorf("pasted %q: exit %d\n%s", check, c.code, c.stderr)
	}
}

// TestRenewOfAnUnknownNameIsAUsageErrorNamingTheValidOnes: exit 3, nothing
// changed, the names that would do listed; a CA is refused the same way.
func TestRenewOfAnUnknownNameIsAUsageErrorNamingTheValidOnes(t *testing.T) {
	tr := expiredNode(t)
	crt := filepath.Join(tr.Root, "etc/kubernetes/pki/apiserver.crt")
	before := readBytes(t, crt)
	for _, tc := range []struct{ name, want string }{
		{"apiservr", `unknown certificate "apiservr"; valid names: all, apiserver, `},
		{"etcd-ca", `"etcd-ca" is a CA or a key pair`},
	} {
		r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "renew", "apiserver", tc.name)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "admin.conf") {
			t.Errorf("renew %s: exit %d, stderr %q; want 3 and %q with the valid names", tc.name, r.code, r.stderr, tc.want)
		}
	}
	if !bytes.Equal(readBytes(t, crt), before) {
		t.Error("a refused renew changed apiserver.crt")
	}
	if _, err := os.Stat(filepath.Join(tr.Root, "var/lib/certrescue/backups")); !os.IsNotExist(err) {
		t.Errorf("a refused renew made a backup: %v", err)
	}
}

// TestRescueHintsCanBePasted: after --restart none, "then check" and "undo
// with" are printed with --root and the backup directory, and work pasted.
func TestRescueHintsCanBePasted(t *testing.T) {
	tr := expiredNode(t)
	crt := filepath.Join(tr.Root, "etc/kubernetes/pki/apiserver.crt")
	before := readBytes(t, crt)
	r := runAt(t, testpki.Epoch, "", "--root", tr.Root, "rescue", "--restart", "none", "--backup-dir", "/srv/b")
	if r.code != 0 {
		t.Fatalf("rescue: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "restart now, in this order: etcd, ") || !strings.Contains(r.stdout, "(on the node whose disk is mounted at "+tr.Root+")") {
		t.Errorf("no restart line:\n%s", r.stdout)
	}
	check := hintLine(t, r.stdout, "then check: ")
	if want := "certrescue --root " + tr.Root + " check"; check != want {
		t.Errorf("then check: %q, want %q", check, want)
	}
	if c := paste(t, check); c.code != 0 {
		t.Errorf("pasted %q after the rescue: exit %d\n%s%s", check, c.code, c.stdout, c.stderr)
	}
	undo := hintLine(t, r.stdout, "undo with: ")
	if !strings.HasSuffix(undo, "--backup-dir /srv/b") || !strings.Contains(undo, "--root "+tr.Root) {
		t.Errorf("undo hint %q", undo)
	}
	if u := paste(t, undo); u.code != 0 {
		t.Fatalf("pasted %q: exit %d\n%s%s", undo, u.code, u.stdout, u.stderr)
	}
	if !bytes.Equal(readBytes(t, crt), before) {
		t.Error("the pasted undo did not restore apiserver.crt")
	}
}

// TestRescueAdviceRestoresTheBackupByHand: when the rollback itself failed,
// the error ends with the restore command for the node and backup directory
// in use (the library only names the archive's path on this machine).
func TestRescueAdviceRestoresTheBackupByHand(t *testing.T) {
	root := "/mnt/node"
	env := &Env{Root: root}
	b := &backupFlags{dir: "/srv/b"}
	inDir := filepath.Join(root, "srv/b", "certrescue-backup-20300115T120000Z.tar.gz")
	err := fmt.Errorf("gate kube-apiserver: timeout; %w", &rescue.RollbackError{Backup: inDir, Err: errors.New("disk full")})
	got := rescueAdvice(env, b, err).Error()
	if want := "restore by hand with: certrescue --root /mnt/node restore certrescue-backup-20300115T120000Z --backup-dir /srv/b"; !strings.Contains(got, want) {
		t.Errorf("advice %q lacks %q", got, want)
	}
	elsewhere := "/media/usb/certrescue-backup-20300115T120000Z.tar.gz"
	got = rescueAdvice(env, b, &rescue.RollbackError{Backup: elsewhere, Err: errors.New("x")}).Error()
	if !strings.Contains(got, "certrescue --root /mnt/node restore "+elsewhere) {
		t.Errorf("advice %q does not restore the archive by its path", got)
	}
	if got := rescueAdvice(env, b, fmt.Errorf("check: %w: bad PEM", rescue.ErrUnreadable)).Error(); !strings.Contains(got, "certrescue --root /mnt/node backup list --backup-dir /srv/b") {
		t.Errorf("advice %q does not list the backups", got)
	}
	if plain := errors.New("something else"); rescueAdvice(env, b, plain) != plain { //nolint:errorlint // the same error, not one wrapping it
		t.Error("other errors are changed")
	}
}

// TestRestoreOfAnUnknownBackupSaysHowToListThem: exit 3, and the listing
// command, pasted, lists the directory the user meant.
func TestRestoreOfAnUnknownBackupSaysHowToListThem(t *testing.T) {
	root := t.TempDir()
	r := runAt(t, testpki.Epoch, "", "--root", root, "restore", "certrescue-backup-nope", "--backup-dir", "/srv/b")
	if r.code != ExitUsage {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	list := hintLine(t, r.stderr, "list them with: ")
	if want := "certrescue --root " + root + " backup list --backup-dir /srv/b"; list != want {
		t.Errorf("hint %q, want %q", list, want)
	}
	if l := paste(t, list); l.code != 0 || !strings.Contains(l.stdout, filepath.Join(root, "srv/b")) {
		t.Errorf("pasted %q: exit %d\n%s%s", list, l.code, l.stdout, l.stderr)
	}
}

// TestCheckNextCanBePasted: the renew line check prints under NEXT renews, on
// the mounted node.
func TestCheckNextCanBePasted(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.Add(-time.Hour), testpki.AgeOnly("apiserver", "admin.conf"))
	r := checkAt(t, tr.Root, nil)
	if r.code != ExitCritical {
		t.Fatalf("check: exit %d", r.code)
	}
	renew := hintLine(t, r.stdout, "  certrescue --root")
	renew = "certrescue --root " + renew
	if !strings.HasSuffix(renew, " renew admin.conf apiserver") {
		t.Fatalf("NEXT renew line %q", renew)
	}
	if p := paste(t, renew); p.code != 0 {
		t.Fatalf("pasted %q: exit %d\n%s%s", renew, p.code, p.stdout, p.stderr)
	}
	if c := checkAt(t, tr.Root, nil); c.code != ExitOK {
		t.Errorf("check after the pasted renew: exit %d\n%s", c.code, c.stdout)
	}
}

// TestRevokeHintPublishesTheCRL: the "publish a new CRL" line names a real
// output file and works pasted.
func TestRevokeHintPublishesTheCRL(t *testing.T) {
	dir := t.TempDir()
	conf := writeKitConf(t, dir)
	mustRun(t, "ca", "init", "--out-dir", dir, filepath.Join(conf, "ca-csr.json"))
	ca, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	r := runAt(t, testpki.Epoch.AddDate(0, 0, 1), "", "revoke", "--ca", ca, "--ca-key", key, "--serial", "1f", "--reason", "superseded")
	if r.code != 0 {
		t.Fatalf("revoke: exit %d: %s", r.code, r.stderr)
	}
	hint := hintLine(t, r.stdout, "publish a new CRL: ")
	if want := "certrescue crl --ca " + ca + " --ca-key " + key + " --out " + filepath.Join(dir, "ca.crl"); hint != want {
		t.Errorf("hint %q, want %q", hint, want)
	}
	if p := paste(t, hint); p.code != 0 {
		t.Fatalf("pasted %q: exit %d: %s", hint, p.code, p.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.crl")); err != nil {
		t.Error(err)
	}
}

func readBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnUnreadableAuditEventSaysHowToVerify: reading a store with an event
// that no longer parses ends with the verify command for the same store.
func TestAnUnreadableAuditEventSaysHowToVerify(t *testing.T) {
	n := newAuditNode(t, "")
	n.issue(t)
	audittest.Tamper(t, n.path(DefaultAuditDB), "UPDATE cert_audit SET record = '[1]' WHERE id = 1")
	r := n.run(t, "audit", "list")
	if r.code == 0 {
		t.Fatalf("audit list of a damaged store: exit 0\n%s", r.stdout)
	}
	verify := hintLine(t, r.stderr, "verify the whole store with: ")
	if want := "certrescue --root " + n.root + " audit verify"; verify != want {
		t.Errorf("hint %q, want %q", verify, want)
	}
	if v := paste(t, verify); v.code != ExitCritical || !strings.Contains(v.stdout, "first bad event: 1") {
		t.Errorf("pasted %q: exit %d\n%s%s", verify, v.code, v.stdout, v.stderr)
	}
}

// TestCheckNextFixesTheFieldGuidesSed: on the field guide's node, NEXT names
// admin.conf for renew (its client certificate is the API server's); pasted,
// it gives admin.conf a client certificate of its own.
func TestCheckNextFixesTheFieldGuidesSed(t *testing.T) {
	root := t.TempDir()
	fieldGuideNode(t, root, testpki.Epoch.AddDate(1, 0, 0))
	r := checkAt(t, root, nil)
	if !strings.Contains(r.stdout, "[foreign_client_certificate]") {
		t.Fatalf("the sed is not reported:\n%s", r.stdout)
	}
	renew := "certrescue --root " + hintLine(t, r.stdout, "  certrescue --root ")
	if !strings.HasSuffix(renew, " renew admin.conf") {
		t.Fatalf("NEXT renew line %q", renew)
	}
	if p := paste(t, renew); p.code == ExitUsage || p.code == ExitFailure {
		t.Fatalf("pasted %q: exit %d\n%s%s", renew, p.code, p.stdout, p.stderr)
	}
	if c := checkAt(t, root, nil); strings.Contains(c.stdout, "[foreign_client_certificate]") {
		t.Errorf("admin.conf still foreign after the pasted renew:\n%s", c.stdout)
	}
}
