package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/testpki"
)

func runExporterCLI(t *testing.T, root string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Clock: clock.Fixed(testpki.Epoch), Root: root,
		Getenv: func(string) string { return "" }}
	code := run(context.Background(), env, append([]string{"--root", root}, args...))
	return code, out.String(), errb.String()
}

func TestExporterTextfileCoversAKubeadmNodeAndExits(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	out := filepath.Join(root, "var/lib/node_exporter")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runExporterCLI(t, root, "exporter", "--no-endpoints", "--textfile", "/var/lib/node_exporter")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "certrescue.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`x509_cert_not_after{filename="apiserver.crt",filepath="/etc/kubernetes/pki/apiserver.crt"`,
		`x509_cert_expires_in_seconds{filename="admin.conf",filepath="/etc/kubernetes/admin.conf",embedded_kind="user",embedded_key="kubernetes-admin"`,
		`x509_source_up{source_kind="node",source_name="node"} 1`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("textfile lacks %s", want)
		}
	}
}

func TestExporterAndAlertsRefuseBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"a textfile name node_exporter would ignore", []string{"exporter", "--textfile", "/tmp", "--textfile-name", "x.txt"}},
		{"nothing to export", []string{"exporter", "--scan-node=false", "--no-endpoints"}},
		{"a relative path", []string{"exporter", "--path", "certs/*.pem"}},
		{"critical longer than warning", []string{"alerts", "--warning-days", "7", "--critical-days", "30"}},
		{"an unknown output", []string{"alerts", "-o", "helm"}},
	}
	for _, c := range cases {
		if code, _, _ := runExporterCLI(t, t.TempDir(), c.args...); code != ExitUsage {
			t.Errorf("%s: exit %d, want %d", c.name, code, ExitUsage)
		}
	}
}

func TestAlertsWritesARulesFileAndAPrometheusRule(t *testing.T) {
	code, out, stderr := runExporterCLI(t, t.TempDir(), "alerts", "--warning-days", "45", "--label", "team=platform")
	if code != 0 || !strings.Contains(out, "CertificateExpiringSoon") || !strings.Contains(out, "3888000") || !strings.Contains(out, "team: platform") {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	code, out, _ = runExporterCLI(t, t.TempDir(), "alerts", "-o", "prometheusrule", "--namespace", "monitoring")
	if code != 0 || !strings.Contains(out, "kind: PrometheusRule") || !strings.Contains(out, "namespace: monitoring") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
