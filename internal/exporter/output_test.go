package exporter

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestTheTextfileIsWrittenAtomicallyAndParsesAsPrometheusText(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	ca := testpki.MustCA(t)
	testpki.WriteCert(t, filepath.Join(root, "certs/a.pem"), testpki.MustLeaf(t, ca, testpki.WithCN("a")).Cert)
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/certs"}})
	refresh(t, n)
	old := filepath.Join(out, TextfileName)
	if err := os.WriteFile(old, []byte("stale 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteTextfile(out, TextfileName, c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (node_exporter runs as another user)", fi.Mode().Perm())
	}
	f, _ := os.Open(old)
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("not Prometheus text: %v", err)
	}
	if len(fams["x509_cert_expires_in_seconds"].GetMetric()) != 1 || fams["stale"] != nil {
		t.Errorf("unexpected content: %v", fams)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("temporary files left in the textfile directory: %v", entries)
	}
}

func TestTheServerServesMetricsAndHealthOnLoopback(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	testpki.WriteCert(t, filepath.Join(root, "certs/a.pem"), testpki.MustLeaf(t, ca, testpki.WithCN("served-by-http")).Cert)
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/certs"}})
	refresh(t, n)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(c)) }()
	t.Cleanup(func() { cancel(); <-done })
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `subject_CN="served-by-http"`,
	} {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if path == "/metrics" && !strings.Contains(string(body), "process_resident_memory_bytes") {
			t.Errorf("no process metrics")
		}
	}
}

func TestAnEndpointServingAnotherCertificateThanItsFileIsAFinding(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("ep-ca"))
	old := testpki.MustLeaf(t, ca, testpki.WithCN("old-serving"), testpki.WithIPs("127.0.0.1"))
	renewed := testpki.MustLeaf(t, ca, testpki.WithCN("renewed-serving"), testpki.WithIPs("127.0.0.1"))
	testpki.WriteCert(t, filepath.Join(root, "pki/ca.crt"), ca.Cert)
	testpki.WriteCert(t, filepath.Join(root, "pki/server.crt"), renewed.Cert)
	addr := testpki.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{old.Cert.Raw, ca.Cert.Raw}, PrivateKey: old.Key}}})
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/pki"}})
	n.Endpoints = []endpoint.Target{{Addr: addr, DiskPaths: []string{"/pki/server.crt"}, Explicit: true},
		{Addr: "127.0.0.1:1", Explicit: true}}
	if err := n.Refresh(context.Background()); err == nil {
		t.Errorf("an unreachable endpoint is not reported")
	}
	got := scrape(t, c)
	one(t, got, "x509_cert_not_after", map[string]string{"endpoint": addr, "subject_CN": "old-serving"})
	one(t, got, "x509_cert_not_after", map[string]string{"endpoint": addr, "subject_CN": "ep-ca"})
	one(t, got, "certrescue_finding", map[string]string{"endpoint": addr, "reason": "served_differs_from_disk"})
	one(t, got, "x509_cert_error", map[string]string{"endpoint": "127.0.0.1:1"})
	one(t, got, "x509_source_errors_total", map[string]string{"reason": "endpoint"})
}

func TestAFileAnEndpointComesToNameIsReadAgainAndKeptForIt(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("ep-ca"))
	old := testpki.MustLeaf(t, ca, testpki.WithCN("old-serving"), testpki.WithIPs("127.0.0.1"))
	renewed := testpki.MustLeaf(t, ca, testpki.WithCN("renewed-serving"), testpki.WithIPs("127.0.0.1"))
	testpki.WriteCert(t, filepath.Join(root, "pki/ca.crt"), ca.Cert)
	testpki.WriteCert(t, filepath.Join(root, "pki/server.crt"), renewed.Cert)
	addr := testpki.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{old.Cert.Raw}, PrivateKey: old.Key}}})
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/pki"}})
	refresh(t, n) // no endpoint yet: server.crt's parsed certificate is dropped
	if n.Parsed() != 2 {
		t.Fatalf("parsed %d items, want 2", n.Parsed())
	}
	n.Endpoints = []endpoint.Target{{Addr: addr, DiskPaths: []string{"/pki/server.crt"}, Explicit: true}}
	for i, wantParsed := range []int64{3, 3} {
		refresh(t, n)
		if n.Parsed() != wantParsed {
			t.Errorf("refresh %d with the endpoint: parsed %d items in all, want %d", i+1, n.Parsed(), wantParsed)
		}
		one(t, scrape(t, c), "certrescue_finding", map[string]string{"endpoint": addr, "reason": "served_differs_from_disk"})
	}
}
