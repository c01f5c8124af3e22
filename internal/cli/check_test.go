package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testpki"
	"sigs.k8s.io/yaml"
)

// checkAt runs check on root at testpki.Epoch with extra environment.
func checkAt(t *testing.T, root string, getenv map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Clock: clock.Fixed(testpki.Epoch), Root: "/",
		Getenv: func(k string) string { return getenv[k] }}
	code := run(context.Background(), env, append([]string{"--root", root, "check"}, args...))
	return result{out.String(), errb.String(), code}
}

func TestCheckExitCodesFollowTheWorstFinding(t *testing.T) {
	tests := []struct {
		name      string
		age       func(t *testing.T, root string)
		args      []string
		wantCode  int
		wantTable []string
	}{
		{name: "a healthy node exits 0", age: func(*testing.T, string) {}, wantCode: ExitOK,
			wantTable: []string{"CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CA", "STATUS", "PATH", "Jan 15, 2031 12:00 UTC", "365d", "18 checked: 0 critical, 0 warning, 18 ok"}},
		{name: "a certificate expiring in twenty days is a warning", wantCode: ExitFailure,
			age: func(t *testing.T, root string) {
				testpki.AgeKubeadmTree(t, root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, 20), testpki.AgeOnly("scheduler.conf"))
			},
			wantTable: []string{"WARNING expiring", "scheduler.conf"}},
		{name: "--warn moves the threshold", wantCode: ExitOK, args: []string{"--warn", "10d", "--critical", "5d"},
			age: func(t *testing.T, root string) {
				testpki.AgeKubeadmTree(t, root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, 20), testpki.AgeOnly("scheduler.conf"))
			}},
		{name: "an expired certificate is critical", wantCode: ExitCritical,
			age: func(t *testing.T, root string) {
				testpki.AgeKubeadmTree(t, root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, -3), testpki.AgeOnly("apiserver"))
			},
			wantTable: []string{"CRITICAL expired", "-3d", "expired 2030-01-12 12:00 UTC (3d ago); renew it (renew apiserver)", "NEXT\n  certrescue --root ROOT renew apiserver\n  certrescue --root ROOT rescue --dry-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
			tt.age(t, tr.Root)
			r := checkAt(t, tr.Root, nil, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			for _, w := range tt.wantTable {
				if w = strings.ReplaceAll(w, "ROOT", tr.Root); !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "\x1b[") {
				t.Error("colour codes in output that is not a terminal")
			}
		})
	}
}

func TestCheckJSONAndYAML(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, -1), testpki.AgeOnly("admin.conf"))
	secrets := keySecrets(t, tr.Root)
	r := checkAt(t, tr.Root, nil, "-o", "json")
	if r.code != ExitCritical {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		Status  string
		Counts  map[facts.Reason]int
		Results []struct {
			Name        string
			Findings    []struct{ Reason facts.Reason }
			Certificate *facts.Certificate
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, r.stdout)
	}
	first := rep.Results[0]
	if first.Name != "admin.conf" || first.Findings[0].Reason != facts.ReasonExpired || first.Certificate == nil || first.Certificate.CommonName != "kubernetes-admin" {
		t.Fatalf("first result %+v", first)
	}
	if rep.Counts[facts.ReasonExpired] != 1 || rep.Status != "critical" {
		t.Fatalf("counts %v status %v", rep.Counts, rep.Status)
	}
	for _, want := range []string{`"status": "critical"`, `"reason": "expired"`, `"residualSeconds": -86400`, `"certEmbedded": true`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	y := checkAt(t, tr.Root, nil, "-o", "yaml")
	var back map[string]any
	if err := yaml.Unmarshal([]byte(y.stdout), &back); err != nil || back["status"] != "critical" {
		t.Fatalf("YAML: %v %v", err, back["status"])
	}
	assertNoKeys(t, secrets, r.stdout, y.stdout, r.stderr)
}

func TestCheckQuietPrintsNothing(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, -1), testpki.AgeOnly("ca"))
	r := checkAt(t, tr.Root, nil, "--quiet")
	if r.code != ExitCritical || r.stdout != "" || r.stderr != "" {
		t.Fatalf("quiet: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	testpki.WriteFile(t, filepath.Join(root, "inv.yaml"), []byte("items:\n- path: relative.crt\n"), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-o", "xml"}, `-o "xml"`},
		{[]string{"--warn", "soon"}, "--warn"},
		{[]string{"--warn", "3d", "--critical", "7d"}, "shorter"},
		{[]string{"--expect-san", "a b"}, "--expect-san"},
		{[]string{"--endpoint", "nope"}, "HOST:PORT"},
		{[]string{"--endpoint", "127.0.0.1:1", "--no-endpoints"}, "contradict"},
		{[]string{"--inventory", "/inv.yaml"}, "inventory file /inv.yaml: items[0].path"},
		{[]string{"--inventory", "/absent.yaml"}, "inventory file /absent.yaml: no such file"},
		{[]string{"--dir", "relative"}, "absolute node path"},
		{[]string{"extra"}, "no arguments"},
	}
	for _, tt := range tests {
		r := checkAt(t, root, nil, tt.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("check %v: exit %d, stderr %q; want exit 3 mentioning %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	empty := checkAt(t, t.TempDir(), nil)
	if empty.code != ExitUsage || !strings.Contains(empty.stderr, "nothing to check") {
		t.Errorf("empty root: exit %d %q", empty.code, empty.stderr)
	}
}

func TestCheckColoursOnlyATerminalWithoutNO_COLOR(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{})
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no terminal to test colours on: %v", err)
	}
	defer tty.Close()
	env := &Env{Stdin: strings.NewReader(""), Stdout: tty, Stderr: &bytes.Buffer{}, Clock: clock.Fixed(testpki.Epoch), Root: "/"}
	if !useColour(&Env{Stdout: tty, Getenv: func(string) string { return "" }}) {
		t.Error("a terminal without NO_COLOR gets no colour")
	}
	if useColour(&Env{Stdout: tty, Getenv: func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }}) {
		t.Error("NO_COLOR is ignored")
	}
	_ = env
	_ = tr
}

func TestCheckTableColoursStatusWithoutBreakingAlignment(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, -1), testpki.AgeOnly("apiserver"))
	items := checkReport(t, tr.Root)
	var plain, coloured bytes.Buffer
	if err := printCheckTable(&plain, &items, false); err != nil {
		t.Fatal(err)
	}
	if err := printCheckTable(&coloured, &items, true); err != nil {
		t.Fatal(err)
	}
	strip := strings.NewReplacer(ansiRed, "", ansiYellow, "", ansiGreen, "", ansiBold, "", ansiReset, "")
	if strip.Replace(coloured.String()) != plain.String() {
		t.Fatal("coloured table differs from the plain one once colours are removed")
	}
	if !strings.Contains(coloured.String(), ansiRed+"CRITICAL expired") {
		t.Fatal("critical status is not red")
	}
}

func checkReport(t *testing.T, root string) evaluation.Report {
	t.Helper()
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	return evaluation.Evaluate(items, testpki.Epoch, evaluation.DefaultPolicy())
}

func TestCheckGoesOnPastBadFiles(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{Manifests: true})
	testpki.WriteFile(t, tr.Path("/etc/kubernetes/pki/apiserver.crt"), []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o644)
	testpki.WriteFile(t, tr.Path("/etc/kubernetes/manifests/kube-scheduler.yaml"), []byte("kind: Pod\nspec: [\n"), 0o600)
	if err := os.Remove(tr.Path("/etc/kubernetes/pki/front-proxy-client.key")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("front-proxy-client.key", tr.Path("/etc/kubernetes/pki/front-proxy-client.key")); err != nil {
		t.Fatal(err)
	}
	r := checkAt(t, tr.Root, nil)
	if r.code != ExitCritical {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"CRITICAL apiserver [malformed]: certificate /etc/kubernetes/pki/apiserver.crt is not usable: PEM block 1 is cut short",
		"[malformed]: manifest /etc/kubernetes/manifests/kube-scheduler.yaml",
		"CRITICAL front-proxy-client [unreadable]: cannot read key /etc/kubernetes/pki/front-proxy-client.key: /etc/kubernetes/pki/front-proxy-client.key: too many levels of symbolic links",
		"etcd-server ", // the scan went on
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCheckComparesAnEndpointWithTheDisk(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{})
	old := tr.Leaves["apiserver"]
	cert := tls.Certificate{Certificate: [][]byte{old.Cert.Raw}, PrivateKey: old.Key}
	addr := testpki.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	testpki.AgeKubeadmTree(t, tr.Root, testpki.Epoch.Add(-time.Hour), testpki.Epoch.AddDate(1, 0, 0), testpki.AgeOnly("apiserver"))
	r := checkAt(t, tr.Root, nil, "--endpoint", addr+"=/etc/kubernetes/pki/apiserver.crt")
	if r.code != ExitFailure || !strings.Contains(r.stdout, "WARNING served_differs_from_disk") || !strings.Contains(r.stdout, "was not restarted") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCheckReadsTheCertificateAnEndpointNames(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	old := testpki.MustLeaf(t, ca, testpki.WithCN("registry.example.com"))
	renewed := testpki.MustLeaf(t, ca, testpki.WithCN("registry.example.com"), testpki.WithKey(old.Key))
	testpki.WriteCert(t, filepath.Join(root, "srv/registry/tls.crt"), renewed.Cert)
	cert := tls.Certificate{Certificate: [][]byte{old.Cert.Raw}, PrivateKey: old.Key}
	addr := testpki.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	r := checkAt(t, root, nil, "--scan-node=false", "--endpoint", addr+"=/srv/registry/tls.crt")
	if r.code != ExitFailure || !strings.Contains(r.stdout, "not the one on disk at /srv/registry/tls.crt") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
