package cfssl

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

func TestSplitHostsSortsSANsAsCFSSLDoes(t *testing.T) {
	h := SplitHosts([]string{"10.0.0.1", "kubernetes.default.svc", "localhost", "::1", "ops@example.org", "spiffe://cluster.local/ns/a", " ", "*.apps.example"})
	if got := len(h.IPs); got != 2 {
		t.Errorf("IPs = %v", h.IPs)
	}
	if strings.Join(h.DNS, ",") != "kubernetes.default.svc,localhost,*.apps.example" {
		t.Errorf("DNS = %v", h.DNS)
	}
	if strings.Join(h.Emails, ",") != "ops@example.org" {
		t.Errorf("Emails = %v", h.Emails)
	}
	if len(h.URIs) != 1 || h.URIs[0].String() != "spiffe://cluster.local/ns/a" {
		t.Errorf("URIs = %v", h.URIs)
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{
		"8760h": 8760 * time.Hour, "87600h": 87600 * time.Hour, "30m": 30 * time.Minute,
		"365d": 365 * 24 * time.Hour, "10y": 3650 * 24 * time.Hour,
	}
	for in, want := range cases {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "forever", "-1h", "1x", "d", "-3d", "99999y"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestPolicyResolution(t *testing.T) {
	cfg, warnings, err := ParseConfig("ca-config.json", []byte(`{"signing":{
		"default":{"expiry":"720h"},
		"profiles":{
		  "kubernetes":{"usages":["signing","key encipherment","server auth","client auth"],"expiry":"8760h"},
		  "client":{"usages":["digital signature","client auth"]},
		  "intermediate":{"usages":["cert sign","crl sign"],"expiry":"43800h","ca_constraint":{"is_ca":true,"max_path_len":0,"max_path_len_zero":true}},
		  "fixed":{"usages":["server auth"],"not_before":"2026-01-01T00:00:00Z","not_after":"2026-02-01T00:00:00Z","backdate":"1h"},
		  "typo":{"usage":["server auth"],"usages":["server auth"],"expiry":"1h"}
		}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "signing.profiles.typo.usage") {
		t.Errorf("warnings = %v, want one naming signing.profiles.typo.usage", warnings)
	}
	k, _ := cfg.Policy("kubernetes")
	if k.Expiry != 8760*time.Hour || k.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment || len(k.ExtKeyUsage) != 2 {
		t.Errorf("kubernetes = %+v", k)
	}
	c, _ := cfg.Policy("client")
	if c.Expiry != 720*time.Hour {
		t.Errorf("client inherits the default's expiry: got %v", c.Expiry)
	}
	d, _ := cfg.Policy("")
	if d.Expiry != 720*time.Hour || len(d.ExtKeyUsage) != 2 {
		t.Errorf("default (expiry only) gets cfssl's default usages: %+v", d)
	}
	i, _ := cfg.Policy("intermediate")
	if !i.IsCA || !i.MaxPathLenZero {
		t.Errorf("intermediate = %+v", i)
	}
	f, _ := cfg.Policy("fixed")
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	nb, na := f.Window(now)
	if !nb.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !na.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("fixed window = %v..%v", nb, na)
	}
	nb, na = k.Window(now)
	if !nb.Equal(now.Add(-5*time.Minute)) || na.Sub(nb) != 8760*time.Hour {
		t.Errorf("kubernetes window = %v..%v, want backdated 5m and 8760h long", nb, na)
	}
	if _, err := cfg.Policy("nope"); err == nil || !strings.Contains(err.Error(), "client, fixed, intermediate, kubernetes, typo") {
		t.Errorf("unknown profile error = %v", err)
	}
	var none *Config
	if p, err := none.Policy(""); err != nil || p.Expiry != DefaultLeafExpiry {
		t.Errorf("no config = %+v, %v", p, err)
	}
}

func TestIssueAndWarnings(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	caReq, err := ParseRequest("ca-csr.json", []byte(`{"CN":"short-ca","key":{"algo":"ecdsa","size":256},"ca":{"expiry":"720h","pathlen":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	caIs, err := InitCA(caReq, now)
	if err != nil {
		t.Fatal(err)
	}
	if caIs.Cert.MaxPathLen != 1 || !caIs.Cert.IsCA || caIs.Cert.NotAfter.Sub(caIs.Cert.NotBefore) != 720*time.Hour {
		t.Errorf("CA = pathlen %d, isCA %v, lifetime %v", caIs.Cert.MaxPathLen, caIs.Cert.IsCA, caIs.Cert.NotAfter.Sub(caIs.Cert.NotBefore))
	}
	key, _ := pki.ParsePrivateKeyPEM(caIs.KeyPEM)
	ca, err := pki.NewCA(caIs.Cert, key)
	if err != nil {
		t.Fatal(err)
	}
	var cfg *Config
	pol, _ := cfg.Policy("")
	leafReq, _ := ParseRequest("leaf.json", []byte(`{"CN":"leaf","hosts":["a.example","10.1.2.3"],"key":{"algo":"ed25519"}}`))
	is, err := Issue(ca, pol, IssueRequest{Request: leafReq, Hosts: []string{"b.example"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(is.Cert.DNSNames, ",") != "b.example" || len(is.Cert.IPAddresses) != 0 {
		t.Errorf("-hostname must replace the request's hosts: %v %v", is.Cert.DNSNames, is.Cert.IPAddresses)
	}
	if len(is.Warnings) != 1 || !strings.Contains(is.Warnings[0], "short-ca") {
		t.Errorf("a one-year leaf from a 30-day CA must warn: %v", is.Warnings)
	}
	full, _, _ := ParseConfig("c.json", []byte(`{"signing":{"profiles":{"long":{"usages":["server auth"],"expiry":"8760h"},"short":{"usages":["server auth"],"expiry":"24h"}}}}`))
	if w := full.ProfilesOutliving(caIs.Cert.NotAfter, now); len(w) != 1 || !strings.Contains(w[0], `"long"`) {
		t.Errorf("ProfilesOutliving = %v, want only \"long\"", w)
	}
	if _, err := x509.ParseCertificateRequest(mustDER(t, is.CSRPEM)); err != nil {
		t.Errorf("CSR: %v", err)
	}
}

func mustDER(t *testing.T, p []byte) []byte {
	t.Helper()
	csr, err := pki.ParseCSRPEM(p)
	if err != nil {
		t.Fatal(err)
	}
	return csr.Raw
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"CN":"kubernetes","hosts":["10.0.0.1"],"key":{"algo":"rsa","size":2048},"names":[{"C":"CN","O":"k8s"}],"ca":{"expiry":"87600h"}}`))
	f.Add([]byte(`{"CN":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest("fuzz.json", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = r.Subject()
		_ = SplitHosts(r.Hosts)
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"signing":{"default":{"expiry":"8760h"},"profiles":{"kubernetes":{"usages":["signing","server auth"],"expiry":"8760h"}}}}`))
	f.Add([]byte(`{"signing":{"profiles":{"x":{"usages":["cert sign"],"ca_constraint":{"is_ca":true,"max_path_len":-1}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := ParseConfig("fuzz-config.json", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz-config.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, n := range append(cfg.ProfileNames(), "") {
			if p, err := cfg.Policy(n); err == nil {
				p.Window(time.Unix(0, 0))
			}
		}
	})
}

func TestEmptyHostsAreAcceptedAsCFSSLDoes(t *testing.T) {
	r, err := ParseRequest("admin-csr.json", []byte(`{"CN":"admin","hosts":[""],"key":{"algo":"rsa","size":2048},"names":[{"O":"system:masters"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if h := SplitHosts(r.Hosts); len(h.DNS)+len(h.IPs)+len(h.Emails)+len(h.URIs) != 0 {
		t.Errorf("empty host became a SAN: %+v", h)
	}
}
