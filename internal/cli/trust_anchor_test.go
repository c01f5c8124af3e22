package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestCheckAndTheExporterReportUnexpectedTrustAnchors: a ca.crt carrying a
// root nobody expects is a critical finding of check (exit 2, its reason code
// in the JSON) and a certrescue_finding series of the exporter, which judges
// with the same evaluation.
func TestCheckAndTheExporterReportUnexpectedTrustAnchors(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	stranger := testpki.MustCA(t, testpki.WithCN("stranger"))
	impostor := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	testpki.WriteCert(t, tr.Path("/etc/kubernetes/pki/ca.crt"), tr.CAs["ca"].Cert, stranger.Cert, impostor.Cert)

	code, stdout, stderr := runExporterCLI(t, root, "check", "--no-endpoints", "-o", "json")
	if code != ExitCritical {
		t.Fatalf("check: exit %d, want %d\n%s", code, ExitCritical, stderr)
	}
	var rep struct {
		Counts  map[string]int `json:"counts"`
		Results []struct {
			Name     string `json:"name"`
			Findings []struct {
				Reason   string   `json:"reason"`
				Severity string   `json:"severity"`
				Path     string   `json:"path"`
				Values   []string `json:"values"`
			} `json:"findings"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Counts[string(facts.ReasonUnexpectedTrustAnchor)] != 1 {
		t.Errorf("counts %v", rep.Counts)
	}
	found := false
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			if f.Reason != string(facts.ReasonUnexpectedTrustAnchor) {
				continue
			}
			found = true
			if r.Name != "ca" || f.Severity != "critical" || f.Path != "/etc/kubernetes/pki/ca.crt" || len(f.Values) != 2 ||
				f.Values[0] != facts.Fingerprint(impostor.Cert) || f.Values[1] != facts.Fingerprint(stranger.Cert) {
				t.Errorf("finding on %s: %+v", r.Name, f)
			}
		}
	}
	if !found {
		t.Fatalf("no unexpected_trust_anchor finding:\n%s", stdout)
	}

	out := filepath.Join(root, "var/lib/node_exporter")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runExporterCLI(t, root, "exporter", "--no-endpoints", "--textfile", "/var/lib/node_exporter"); code != 0 {
		t.Fatalf("exporter: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "certrescue.prom"))
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "certrescue_finding{") && strings.Contains(line, `reason="unexpected_trust_anchor"`) {
			series = append(series, line)
		}
	}
	if len(series) != 1 || !strings.Contains(series[0], `severity="critical"`) || !strings.Contains(series[0], `filepath="/etc/kubernetes/pki/ca.crt"`) {
		t.Errorf("exporter series %v\n%s", series, b)
	}
}
