package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/alerts"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// startPrometheus runs Debian's /usr/bin/prometheus on a free loopback port
// with a throwaway config and TSDB, scraping target every second, and kills
// it by PID when the test ends.
func startPrometheus(t *testing.T, target string, rules []byte) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if testbed.Require() {
			t.Fatalf("prometheus missing: scripts/test-deps.d/30-prometheus.sh installs it")
		}
		t.Skip("prometheus not installed (scripts/test-deps.d/30-prometheus.sh installs it)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
- job_name: certrescue
  static_configs: [{targets: [%q]}]
`, filepath.Join(dir, "rules.yaml"), target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the PID this test started
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	return "http://" + addr
}

// poll asks Prometheus's HTTP API until ok accepts the answer (bounded: 60 s).
func poll(t *testing.T, what, u string, ok func(data json.RawMessage) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			var body struct {
				Status string          `json:"status"`
				Data   json.RawMessage `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && body.Status == "success" && ok(body.Data) {
				return
			}
			last = string(body.Data)
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond) // waiting on a real process, not letting time pass
	}
	t.Fatalf("%s: not seen within 60s; last answer: %s", what, last)
}

func TestARealPrometheusScrapesTheExporterAndTheExpiringAlertGoesPending(t *testing.T) {
	// Prometheus evaluates time() on the wall clock, so this certificate is
	// dated from it; the exporter's own clock is fixed, which makes the
	// expected x509_cert_expires_in_seconds exact.
	wall := time.Now().Truncate(time.Second)
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("e2e-ca"), testpki.WithValidity(wall.Add(-time.Hour), wall.Add(3650*24*time.Hour)))
	notAfter := wall.Add(20 * 24 * time.Hour)
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("e2e-apiserver"), testpki.WithValidity(wall.Add(-time.Hour), notAfter))
	testpki.WriteCert(t, filepath.Join(root, "etc/kubernetes/pki/apiserver.crt"), leaf.Cert)
	store := NewStore()
	n := &Node{Root: root, Sources: []inventory.Source{Paths{Patterns: []string{"/etc/kubernetes/pki"}}}, ID: SourceID{Kind: "node", Name: "node"}, Store: store, Clock: clock.Fixed(wall)}
	refresh(t, n)
	c := &Collector{Store: store, Clock: clock.Fixed(wall)}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(c)) }()
	t.Cleanup(func() { cancel(); <-done })

	rules, err := alerts.RulesYAML(alerts.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, ln.Addr().String(), rules)

	want := strconv.FormatInt(int64(notAfter.Sub(wall)/time.Second), 10)
	q := url.Values{"query": {`x509_cert_expires_in_seconds{subject_CN="e2e-apiserver",filepath="/etc/kubernetes/pki/apiserver.crt"}`}}
	poll(t, "x509_cert_expires_in_seconds through PromQL", prom+"/api/v1/query?"+q.Encode(), func(d json.RawMessage) bool {
		var r struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		}
		_ = json.Unmarshal(d, &r)
		return len(r.Result) == 1 && r.Result[0].Value[1] == want
	})
	poll(t, "CertificateExpiringSoon pending", prom+"/api/v1/alerts", func(d json.RawMessage) bool {
		var r struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		_ = json.Unmarshal(d, &r)
		for _, a := range r.Alerts {
			if a.Labels["alertname"] == "CertificateExpiringSoon" && a.Labels["subject_CN"] == "e2e-apiserver" && a.State == "pending" {
				return true
			}
		}
		return false
	})
}
