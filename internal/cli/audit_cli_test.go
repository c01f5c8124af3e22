package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/audit"
	"github.com/certrescue/certrescue/internal/audit/audittest"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/spf13/cobra"
)

// auditNode is a node root with a CA and a leaf made by certrescue itself.
type auditNode struct {
	root string
	env  map[string]string
	now  time.Time
}

var auditEpoch = time.Date(2031, 5, 4, 10, 0, 0, 0, time.UTC)

func newAuditNode(t *testing.T, dsn string) *auditNode {
	t.Helper()
	return newAuditNodeAt(t, t.TempDir(), dsn)
}

// newAuditNodeAt is newAuditNode with its root at root.
func newAuditNodeAt(t *testing.T, root, dsn string) *auditNode {
	t.Helper()
	n := &auditNode{root: root, env: map[string]string{}, now: auditEpoch}
	if dsn != "" {
		n.env["CERTRESCUE_AUDIT_DSN"] = dsn
	}
	n.write(t, "/csr/ca-csr.json", `{"CN":"audit-ca","key":{"algo":"ecdsa","size":256}}`)
	n.write(t, "/csr/leaf-csr.json", `{"CN":"leaf","hosts":["leaf.example"],"key":{"algo":"ecdsa","size":256}}`)
	if err := os.MkdirAll(n.path("/pki"), 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *auditNode) write(t *testing.T, nodePath, data string) {
	t.Helper()
	p := filepath.Join(n.root, nodePath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (n *auditNode) path(nodePath string) string { return filepath.Join(n.root, nodePath) }

// run runs certrescue --root ROOT args with the node's environment and clock.
func (n *auditNode) run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Clock: clock.Fixed(n.now), Root: "/",
		Getenv: func(k string) string { return n.env[k] }}
	code := run(context.Background(), env, append([]string{"--root", n.root}, args...))
	return result{out.String(), errb.String(), code}
}

func (n *auditNode) mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := n.run(t, args...)
	if r.code != 0 {
		t.Fatalf("certrescue %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// events lists the node's audit log through 'audit export -o jsonl'.
func (n *auditNode) events(t *testing.T) []map[string]any {
	t.Helper()
	r := n.mustRun(t, "audit", "export", "-o", "jsonl")
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// issue makes the CA and a leaf under /pki.
func (n *auditNode) issue(t *testing.T) {
	t.Helper()
	n.mustRun(t, "ca", "init", "--out-dir", "/pki", "/csr/ca-csr.json")
	n.mustRun(t, "gencert", "-ca", "/pki/ca.pem", "-ca-key", "/pki/ca-key.pem", "--out-dir", "/pki", "/csr/leaf-csr.json")
}

// TestEveryChangeIsAuditedOnEveryBackend runs issue, harden, revoke and crl
// against each store and checks what the log says.
func TestEveryChangeIsAuditedOnEveryBackend(t *testing.T) {
	for _, backend := range audittest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := audittest.FreshDSN(t, backend)
			n := newAuditNode(t, dsn)
			if backend == "sqlite" {
				delete(n.env, "CERTRESCUE_AUDIT_DSN") // the default: /var/lib/certrescue/audit.db under --root
			}
			n.env["CERTRESCUE_OPERATOR"] = "alice"
			n.issue(t)
			if err := os.Chmod(n.path("/pki/ca-key.pem"), 0o644); err != nil {
				t.Fatal(err)
			}
			n.mustRun(t, "harden", "/pki")
			n.mustRun(t, "--operator", "bob", "revoke", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem",
				"--cert", "/pki/leaf.pem", "--reason", "keyCompromise")
			n.mustRun(t, "crl", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--out", "/pki/ca.crl")

			evs := n.events(t)
			type want struct{ action, name, operator, detail string }
			wants := []want{
				{"CREATE", "ca", "alice", ""},
				{"CREATE", "leaf", "alice", ""},
				{"HARDEN", "pki", "alice", "directory mode 0755 -> 0700"},
				{"HARDEN", "ca-key.pem", "alice", "CA private key mode 0644 -> 0400"},
				{"REVOKE", "leaf", "bob", "reason keyCompromise"},
				{"CREATE", "crl", "alice", "CRL number 1, 1 revoked serials"},
			}
			if len(evs) != len(wants) {
				t.Fatalf("%d events, want %d: %v", len(evs), len(wants), evs)
			}
			for i, w := range wants {
				e := evs[i]
				if e["action_type"] != w.action || e["cert_name"] != w.name || e["operator"] != w.operator ||
					!strings.Contains(e["detail"].(string), w.detail) || e["result"] != "success" {
					t.Errorf("event %d = %v, want %+v", i+1, e, w)
				}
				if e["created_at"] != "2031-05-04T10:00:00.000000Z" || e["host"] == "" || e["os_user"] == "" {
					t.Errorf("event %d: time/host/user %v %v %v", i+1, e["created_at"], e["host"], e["os_user"])
				}
			}
			leaf := auditReadCert(t, n.path("/pki/leaf.pem"))
			if evs[1]["serial"] != facts.SerialHex(leaf) || evs[1]["fingerprint_sha256"] != facts.Fingerprint(leaf) ||
				evs[1]["issuer"] != "CN=audit-ca" || evs[1]["expire_date"] != audit.FormatTime(leaf.NotAfter) ||
				evs[1]["cert_path"] != n.path("/pki/leaf.pem") {
				t.Errorf("leaf event lacks the certificate's facts: %v", evs[1])
			}
			if evs[4]["serial"] != facts.SerialHex(leaf) || evs[4]["fingerprint_sha256"] != facts.Fingerprint(leaf) {
				t.Errorf("revoke event: %v", evs[4])
			}
			if cmd := evs[4]["command"].(string); !strings.Contains(cmd, "revoke ") || !strings.Contains(cmd, "--ca=/pki/ca.pem") ||
				!strings.Contains(cmd, "--reason=keyCompromise") || strings.Contains(cmd, "pw@") {
				t.Errorf("command: %v", evs[4]["command"])
			}
			r := n.mustRun(t, "audit", "verify")
			if !strings.Contains(r.stdout, "ok: audit log") || !strings.Contains(r.stdout, "6 events verified") {
				t.Errorf("verify: %s", r.stdout)
			}
			noKeyBytes(t, n, dsn, backend)
		})
	}
}

// noKeyBytes greps the store file and every export for the node's key bytes.
func noKeyBytes(t *testing.T, n *auditNode, dsn, backend string) {
	t.Helper()
	var needles [][]byte
	for _, k := range []string{"/pki/ca-key.pem", "/pki/leaf-key.pem"} {
		data, err := os.ReadFile(n.path(k))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(data)
		b64 := base64.StdEncoding.EncodeToString(b.Bytes)
		needles = append(needles, b.Bytes[7:39], []byte(b64[:40]), []byte(b64[len(b64)-40:]))
	}
	needles = append(needles, []byte("PRIVATE KEY"))
	var hay [][]byte
	for _, f := range []string{"json", "jsonl", "csv", "records"} {
		hay = append(hay, []byte(n.mustRun(t, "audit", "export", "-o", f).stdout))
	}
	hay = append(hay, []byte(n.mustRun(t, "audit", "list", "-o", "json").stdout))
	if backend == "sqlite" {
		for _, s := range []string{"", "-wal", "-shm"} {
			if b, err := os.ReadFile(n.path(DefaultAuditDB) + s); err == nil {
				hay = append(hay, b)
			}
		}
	}
	for i, h := range hay {
		for _, nd := range needles {
			if bytes.Contains(h, nd) {
				t.Errorf("output %d contains key bytes %q", i, nd)
			}
		}
	}
}

func TestAuditedCommandRefusesWithoutAStore(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dsn string
	}{
		{"a SQLite path that cannot be created", filepath.Join(blocker, "audit.db")},
		{"a MySQL server that does not answer", "mysql://u:pw@127.0.0.1:1/audit?timeout=2s"},
		{"a PostgreSQL server that does not answer", "postgres://u:pw@127.0.0.1:1/audit?connect_timeout=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newAuditNode(t, tc.dsn)
			r := n.run(t, "ca", "init", "--out-dir", "/pki", "/csr/ca-csr.json")
			if r.code != ExitFailure || !strings.Contains(r.stderr, "nothing was changed") || !strings.Contains(r.stderr, "--audit-optional") {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if strings.Contains(r.stderr, ":pw@") {
				t.Errorf("the password is printed: %s", r.stderr)
			}
			if _, err := os.Stat(n.path("/pki/ca-key.pem")); !os.IsNotExist(err) {
				t.Errorf("the refused command wrote files: %v", err)
			}
			r = n.run(t, "--audit-optional", "ca", "init", "--out-dir", "/pki", "/csr/ca-csr.json")
			if r.code != 0 || strings.Count(r.stderr, "WITHOUT an audit trail") != 1 {
				t.Fatalf("--audit-optional: exit %d, stderr %q", r.code, r.stderr)
			}
			if _, err := os.Stat(n.path("/pki/ca.pem")); err != nil {
				t.Errorf("--audit-optional did not go ahead: %v", err)
			}
		})
	}
}

func TestBadAuditDSNIsAUsageError(t *testing.T) {
	n := newAuditNode(t, "")
	r := n.run(t, "--audit-dsn", "oracle://x/y", "--audit-optional", "ca", "init", "--out-dir", "/pki", "/csr/ca-csr.json")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--audit-dsn") {
		t.Errorf("exit %d %s", r.code, r.stderr)
	}
}

func TestDryRunNeedsNoStore(t *testing.T) {
	n := newAuditNode(t, "")
	n.write(t, "/etc/kubernetes/pki/placeholder", "x")
	r := n.mustRun(t, "harden", "--dry-run")
	if !strings.Contains(r.stdout, "would change") {
		t.Errorf("dry run: %s", r.stdout)
	}
	if _, err := os.Stat(n.path("/var/lib/certrescue")); !os.IsNotExist(err) {
		t.Errorf("a dry run created the audit store: %v", err)
	}
}

func TestAuditVerifyNamesTheFirstBadEvent(t *testing.T) {
	for _, backend := range audittest.Backends {
		t.Run(backend, func(t *testing.T) {
			dsn := audittest.FreshDSN(t, backend)
			n := newAuditNode(t, dsn)
			n.issue(t)
			n.mustRun(t, "gencert", "-ca", "/pki/ca.pem", "-ca-key", "/pki/ca-key.pem", "--out-dir", "/pki", "--bare", "leaf2", "/csr/leaf-csr.json")
			cp := strings.Fields(n.mustRun(t, "audit", "checkpoint").stdout)[0]
			if !strings.HasPrefix(cp, "3:") {
				t.Fatalf("checkpoint %q", cp)
			}
			cpFile := filepath.Join(t.TempDir(), "checkpoints.txt")
			if err := os.WriteFile(cpFile, []byte("# kept on a USB stick\n"+n.mustRun(t, "audit", "checkpoint").stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			n.mustRun(t, "audit", "verify", "--checkpoint", cp)
			n.mustRun(t, "audit", "verify", "--checkpoint-file", cpFile)

			audittest.Tamper(t, dsn, "DELETE FROM cert_audit WHERE id = 3")
			r := n.run(t, "audit", "verify")
			if r.code != ExitCritical || !strings.Contains(r.stdout, "append-only trigger") {
				t.Errorf("dropped triggers: exit %d\n%s", r.code, r.stdout)
			}
			restoreTriggers(t, dsn, backend)
			r = n.run(t, "audit", "verify")
			if r.code != 0 || !strings.Contains(r.stdout, "the newest event edited with its hash recomputed, would go unnoticed") {
				t.Fatalf("deleting the newest event is only visible with a checkpoint; verify said %d %s", r.code, r.stdout)
			}
			r = n.run(t, "audit", "verify", "--checkpoint", cp)
			if r.code != ExitCritical || !strings.Contains(r.stdout, "first bad event: 3 (truncated)") ||
				!strings.Contains(r.stdout, "the chain ends at event 2, but the checkpoint has 3 events") {
				t.Errorf("truncation: exit %d\n%s", r.code, r.stdout)
			}
			audittest.Tamper(t, dsn, `UPDATE cert_audit SET record = REPLACE(record, '"cert_name":"leaf"', '"cert_name":"evil"') WHERE id = 2`)
			r = n.run(t, "audit", "verify", "-o", "json")
			var rep struct {
				OK      bool
				Problem struct {
					Event int64
					Kind  string
				}
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("%v: %s", err, r.stdout)
			}
			if r.code != ExitCritical || rep.OK || rep.Problem.Event != 2 || rep.Problem.Kind != audit.ProblemEdited {
				t.Errorf("edit: exit %d %s", r.code, r.stdout)
			}
			// The attacker edits event 1, recomputes its hash and puts the
			// triggers back: the chain breaks between events 1 and 2.
			restoreTriggers(t, dsn, backend)
			rehashEvent(t, n, dsn, backend, 1)
			r = n.run(t, "audit", "verify")
			if r.code != ExitCritical || !strings.Contains(r.stdout, "the chain breaks between events 1 and 2") ||
				!strings.Contains(r.stdout, "event 1 was edited and its hash recomputed") || strings.Contains(r.stdout, "append-only trigger") {
				t.Errorf("edit and rehash: exit %d\n%s", r.code, r.stdout)
			}
			r = n.run(t, "audit", "checkpoint")
			if r.code != ExitCritical || !strings.Contains(r.stdout, "TAMPERED") {
				t.Errorf("a tampered log got a checkpoint: %d %s", r.code, r.stdout)
			}
		})
	}
}

func TestAuditListFiltersAndFormats(t *testing.T) {
	n := newAuditNode(t, "")
	n.issue(t)
	n.now = auditEpoch.Add(48 * time.Hour)
	n.env["CERTRESCUE_OPERATOR"] = "carol"
	n.mustRun(t, "revoke", "--ca", "/pki/ca.pem", "--ca-key", "/pki/ca-key.pem", "--serial", "ab:cd", "--reason", "superseded")
	tests := []struct {
		name string
		args []string
		ids  []string
	}{
		{"everything", nil, []string{"1", "2", "3"}},
		{"by certificate", []string{"--cert", "leaf"}, []string{"2"}},
		{"by action, any case", []string{"--action", "revoke"}, []string{"3"}},
		{"by operator", []string{"--operator", "carol"}, []string{"3"}},
		{"since an age", []string{"--since", "24h"}, []string{"3"}},
		{"until a date", []string{"--until", "2031-05-05"}, []string{"1", "2"}},
		{"the newest one", []string{"--limit", "1"}, []string{"3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := n.mustRun(t, append([]string{"audit", "list", "-o", "csv"}, tc.args...)...)
			var ids []string
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
				ids = append(ids, strings.SplitN(line, ",", 2)[0])
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.ids) {
				t.Errorf("ids %v, want %v\n%s", ids, tc.ids, r.stdout)
			}
		})
	}
	r := n.mustRun(t, "audit", "list")
	if !strings.Contains(r.stdout, "ID  TIME") || !strings.Contains(r.stdout, "REVOKE") || !strings.Contains(r.stdout, "carol") {
		t.Errorf("table:\n%s", r.stdout)
	}
	r = n.mustRun(t, "audit", "show", "3")
	if !strings.Contains(r.stdout, "detail:") || !strings.Contains(r.stdout, "reason superseded") {
		t.Errorf("show:\n%s", r.stdout)
	}
	for _, bad := range [][]string{{"list", "--action", "DELETE"}, {"list", "--since", "yesterday"}, {"show", "x"}, {"show", "99"}, {"export", "-o", "xml"}, {"verify", "--checkpoint", "12"}} {
		if r := n.run(t, append([]string{"audit"}, bad...)...); r.code != ExitUsage {
			t.Errorf("audit %v: exit %d, want %d (%s)", bad, r.code, ExitUsage, r.stderr)
		}
	}
	out := filepath.Join(t.TempDir(), "audit.json")
	n.mustRun(t, "audit", "export", "--out", out)
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", fi, err)
	}
	var all []map[string]any
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &all); err != nil || len(all) != 3 {
		t.Errorf("export: %v %d", err, len(all))
	}
}

func TestAuditVerifyExportFile(t *testing.T) {
	n := newAuditNode(t, "")
	n.issue(t)
	n.mustRun(t, "harden", "/pki")
	cp := strings.Fields(n.mustRun(t, "audit", "checkpoint").stdout)[0]
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	n.mustRun(t, "audit", "export", "-o", "jsonl", "--out", file)
	r := n.mustRun(t, "audit", "verify", "--export", file, "--checkpoint", cp)
	if !strings.Contains(r.stdout, "ok: audit log export "+file) {
		t.Errorf("verify --export: %s", r.stdout)
	}
	data, _ := os.ReadFile(file)
	lines := strings.SplitAfter(string(data), "\n")
	tampered := strings.Replace(string(data), `"cert_name":"leaf"`, `"cert_name":"lief"`, 1)
	for _, tc := range []struct{ name, data, want string }{
		{"edited", tampered, "first bad event: 2 (edited)"},
		{"truncated", strings.Join(lines[:2], ""), "first bad event: 3 (truncated)"},
	} {
		if err := os.WriteFile(file, []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		r := n.run(t, "audit", "verify", "--export", file, "--checkpoint", cp)
		if r.code != ExitCritical || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("%s: exit %d\n%s", tc.name, r.code, r.stdout)
		}
	}
}

// TestExportIsCheckableWithSha256sum removes the hash from an exported event
// and has the real sha256sum recompute it, as an auditor without certrescue
// would.
func TestExportIsCheckableWithSha256sum(t *testing.T) {
	sum, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("sha256sum not installed")
	}
	n := newAuditNode(t, "")
	n.issue(t)
	for _, line := range strings.Split(strings.TrimSpace(n.mustRun(t, "audit", "export", "-o", "jsonl").stdout), "\n") {
		i := strings.LastIndex(line, `,"hash":"`)
		rec, hash := line[:i]+"}", line[i+len(`,"hash":"`):len(line)-2]
		cmd := exec.Command(sum)
		cmd.Stdin = strings.NewReader(rec)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out))[0]; got != hash {
			t.Errorf("sha256sum of the record = %s, export says %s", got, hash)
		}
	}
}

func auditReadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStateChangingCommandsAreAudited keeps the issue's list honest: each of
// these commands, once it exists, must be annotated with audited() so it
// refuses to run without a writable audit store.
func TestStateChangingCommandsAreAudited(t *testing.T) {
	root := NewRootCommand(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Clock: clock.Fixed(auditEpoch), Root: "/"})
	mustAudit := map[string]bool{
		"certrescue ca init": true, "certrescue gencert": true, "certrescue sign": true, "certrescue renew": true,
		"certrescue backup": true, "certrescue restore": true, "certrescue deploy": true, "certrescue restart": true,
		"certrescue rollback": true, "certrescue revoke": true, "certrescue harden": true, "certrescue crl": true,
		"certrescue rescue": true, "certrescue cfssljson": true,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if mustAudit[c.CommandPath()] && c.Annotations[annAudited] != "true" {
			t.Errorf("%s changes the node but is not audited(): wrap it in audited(...)", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestOperatorAndOSUser(t *testing.T) {
	tests := []struct {
		name     string
		flag     string
		env      map[string]string
		operator string
		sudo     bool
	}{
		{"--operator wins", "dave", map[string]string{"CERTRESCUE_OPERATOR": "erin", "SUDO_USER": "frank"}, "dave", true},
		{"then CERTRESCUE_OPERATOR", "", map[string]string{"CERTRESCUE_OPERATOR": "erin", "SUDO_USER": "frank"}, "erin", true},
		{"then the user who ran sudo", "", map[string]string{"SUDO_USER": "frank"}, "frank", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Getenv: func(k string) string { return tc.env[k] }}
			st := &auditRecorder{operator: tc.flag}
			op, osUser := st.who(env)
			if op != tc.operator {
				t.Errorf("operator %q, want %q", op, tc.operator)
			}
			if tc.sudo && !strings.Contains(osUser, "(sudo from frank)") {
				t.Errorf("os user %q does not say who ran sudo", osUser)
			}
		})
	}
	op, osUser := (&auditRecorder{}).who(&Env{})
	if op == "" || op != strings.Fields(osUser)[0] {
		t.Errorf("default operator %q, os user %q", op, osUser)
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"24h", "30d", "2026-01-31", "2026-01-31T08:00:00Z", "-5d", "9999999d", "1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := parseWhen(s, auditEpoch)
		if err != nil && !w.IsZero() {
			t.Fatalf("%q: an error and a time %s", s, w)
		}
	})
}

func TestAuditSchema(t *testing.T) {
	n := newAuditNode(t, "postgres://u@db.example/certs")
	r := n.mustRun(t, "audit", "schema")
	if !strings.Contains(r.stdout, "(postgres)") || !strings.Contains(r.stdout, "GENERATED ALWAYS AS") || !strings.Contains(r.stdout, "GRANT SELECT, INSERT") {
		t.Errorf("schema:\n%s", r.stdout)
	}
	if r := n.run(t, "audit", "schema", "--backend", "oracle"); r.code != ExitUsage {
		t.Errorf("oracle: exit %d", r.code)
	}
}
