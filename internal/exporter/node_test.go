package exporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testpki"
)

func newNode(t testing.TB, root string, sources ...inventory.Source) (*Node, *Collector, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(testpki.Epoch) // a test moves it by hand
	store := NewStore()
	n := &Node{Root: root, Sources: sources, ID: SourceID{Kind: "node", Name: "test"}, Store: store, Clock: clk}
	return n, &Collector{Store: store, Clock: clk}, clk
}

func refresh(t testing.TB, n *Node) {
	t.Helper()
	if err := n.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func TestExpiryIsComputedAtScrapeTimeFromTheCachedParse(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("bank-ca"))
	nb, na := testpki.Epoch.Add(-time.Hour), testpki.Epoch.Add(40*24*time.Hour)
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("api.bank"), testpki.WithValidity(nb, na))
	testpki.WriteCert(t, filepath.Join(root, "certs/api.pem"), leaf.Cert)
	n, c, clk := newNode(t, root, Paths{Patterns: []string{"/certs/*.pem"}})
	refresh(t, n)

	where := map[string]string{"filepath": "/certs/api.pem", "filename": "api.pem", "subject_CN": "api.bank",
		"issuer_CN": "bank-ca", "serial_number": leaf.Cert.SerialNumber.String()}
	got := scrape(t, c)
	if v := one(t, got, "x509_cert_expires_in_seconds", where).value; v != (40*24*time.Hour + 0).Seconds() {
		t.Errorf("expires_in = %v, want %v", v, (40 * 24 * time.Hour).Seconds())
	}
	if v := one(t, got, "x509_cert_not_after", where).value; v != float64(na.Unix()) {
		t.Errorf("not_after = %v, want %v", v, na.Unix())
	}
	if len(find(got, "certrescue_finding", map[string]string{"reason": "expiring"})) != 0 {
		t.Errorf("a certificate 40 days from expiry is reported expiring")
	}

	clk.Advance(15 * 24 * time.Hour) // time passes; nothing is read again
	refresh(t, n)
	got = scrape(t, c)
	if v := one(t, got, "x509_cert_expires_in_seconds", where).value; v != (25 * 24 * time.Hour).Seconds() {
		t.Errorf("after 15 days expires_in = %v, want 25 days", v)
	}
	one(t, got, "certrescue_finding", map[string]string{"reason": "expiring", "severity": "warning", "filepath": "/certs/api.pem"})
	clk.Set(na.Add(time.Second))
	got = scrape(t, c)
	one(t, got, "x509_cert_expired", where)
	if v := one(t, got, "x509_cert_expired", where).value; v != 1 {
		t.Errorf("x509_cert_expired = %v after NotAfter", v)
	}
	one(t, got, "certrescue_finding", map[string]string{"reason": "expired", "severity": "critical"})
	if n.Parsed() != 1 {
		t.Errorf("parsed %d times, want once", n.Parsed())
	}
}

func TestAFileIsParsedAgainOnlyWhenItsIdentityChanges(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	p := filepath.Join(root, "certs/a.pem")
	first := testpki.MustLeaf(t, ca, testpki.WithCN("first"))
	testpki.WriteCert(t, p, first.Cert)
	testpki.WriteCert(t, filepath.Join(root, "certs/b.pem"), testpki.MustLeaf(t, ca, testpki.WithCN("other")).Cert)
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/certs"}})

	steps := []struct {
		name       string
		change     func()
		wantParsed int64
		wantCN     string
	}{
		{"the first refresh reads both files", func() {}, 2, "first"},
		{"an unchanged tree is not read again", func() {}, 2, "first"},
		{"a file replaced by rename is read again, alone", func() {
			second := testpki.MustLeaf(t, ca, testpki.WithCN("second"))
			testpki.WriteCert(t, p+".new", second.Cert)
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, 3, "second"},
		{"a file rewritten in place with another size is read again", func() {
			third := testpki.MustLeaf(t, ca, testpki.WithCN("third-with-a-longer-name"))
			if err := os.WriteFile(p, testpki.CertPEM(third.Cert), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 4, "third-with-a-longer-name"},
	}
	for _, s := range steps {
		s.change()
		refresh(t, n)
		if n.Parsed() != s.wantParsed {
			t.Errorf("%s: parsed %d items in all, want %d", s.name, n.Parsed(), s.wantParsed)
		}
		got := scrape(t, c)
		one(t, got, "x509_cert_not_after", map[string]string{"filepath": "/certs/a.pem", "subject_CN": s.wantCN})
		if len(find(got, "x509_cert_not_after", map[string]string{"filepath": "/certs/a.pem"})) != 1 {
			t.Errorf("%s: stale series left for /certs/a.pem:\n%s", s.name, dump(got, "x509_cert_not_after"))
		}
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	refresh(t, n)
	if s := find(scrape(t, c), "x509_cert_not_after", map[string]string{"filepath": "/certs/a.pem"}); len(s) != 0 {
		t.Errorf("a deleted file still has %d series", len(s))
	}
}

func TestACorruptCertificateIsAnErrorSeriesAndAFindingNeverAFailedScrape(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	good := testpki.MustLeaf(t, ca, testpki.WithCN("good"))
	testpki.WriteCert(t, filepath.Join(root, "certs/good.crt"), good.Cert)
	pemData := testpki.CertPEM(good.Cert)
	cases := map[string][]byte{
		"truncated.crt": pemData[:len(pemData)/2],
		"garbage.crt":   []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"),
		"empty.crt":     nil,
		"binary.crt":    {0x30, 0x82, 0x01, 0x00, 0xff},
	}
	for name, data := range cases {
		testpki.WriteFile(t, filepath.Join(root, "certs", name), data, 0o644)
	}
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/certs/*.crt"}})
	refresh(t, n)
	got := scrape(t, c)
	for name := range cases {
		p := "/certs/" + name
		if v := one(t, got, "x509_cert_error", map[string]string{"filepath": p}).value; v != 1 {
			t.Errorf("%s: x509_cert_error = %v, want 1", name, v)
		}
		one(t, got, "certrescue_finding", map[string]string{"filepath": p, "reason": string(facts.ReasonMalformed)})
	}
	if v := one(t, got, "x509_cert_error", map[string]string{"filepath": "/certs/good.crt"}).value; v != 0 {
		t.Errorf("good certificate: x509_cert_error = %v", v)
	}
	if v := one(t, got, "x509_read_errors", nil).value; v != float64(len(cases)) {
		t.Errorf("x509_read_errors = %v, want %d", v, len(cases))
	}
	if v := one(t, got, "x509_source_up", map[string]string{"source_kind": "node"}).value; v != 1 {
		t.Errorf("a bad file took the source down")
	}
}

func TestADuplicateCertificateNeverProducesDuplicateSeries(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("dup-ca"))
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("dup"))
	testpki.WriteCert(t, filepath.Join(root, "certs/twice.pem"), leaf.Cert, leaf.Cert, ca.Cert, ca.Cert)
	// The same file named by a glob, a directory and an exact path.
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/certs/*.pem", "/certs", "/certs/twice.pem"}})
	refresh(t, n)
	got := scrape(t, c)
	for _, cn := range []string{"dup", "dup-ca"} {
		for _, m := range []string{"x509_cert_not_after", "x509_cert_expires_in_seconds", "x509_cert_error"} {
			one(t, got, m, map[string]string{"filepath": "/certs/twice.pem", "subject_CN": cn})
		}
	}
}

func TestEveryCertificateCheckFindsOnAKubeadmNodeIsExposed(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	n, c, _ := newNode(t, root, inventory.Sources()...)
	refresh(t, n)
	got := scrape(t, c)
	count := 0
	for _, it := range items {
		for _, e := range entriesOf(&it, nil) {
			if e.Cert == nil {
				continue
			}
			count++
			want := map[string]string{"filepath": e.Loc.Path, "serial_number": e.Cert.Serial, "embedded_kind": e.Loc.EmbeddedKind}
			if len(find(got, "x509_cert_not_after", want)) != 1 {
				t.Errorf("%s (%s): no series %v", it.Name, it.Kind, want)
			}
		}
	}
	if count < 20 {
		t.Fatalf("only %d certificates found on a kubeadm node", count)
	}
	one(t, got, "x509_cert_not_after", map[string]string{"filepath": "/etc/kubernetes/admin.conf", "embedded_kind": "user", "embedded_key": "kubernetes-admin"})
	one(t, got, "x509_cert_not_after", map[string]string{"filepath": "/etc/kubernetes/admin.conf", "embedded_kind": "cluster", "subject_CN": "kubernetes"})
	if f := got["certrescue_finding"]; len(f) != 0 {
		t.Errorf("a healthy kubeadm node has findings:\n%s", dump(got, "certrescue_finding"))
	}
}
