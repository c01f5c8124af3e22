package endpoint_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testpki"
)

// serve starts a TLS server on a loopback port serving leaf (and its CA),
// closed when the test ends.
func serve(t *testing.T, leaf *testpki.Leaf, ca *x509.Certificate, clientAuth tls.ClientAuthType) string {
	t.Helper()
	cert := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw, ca.Raw}, PrivateKey: leaf.Key}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testpki.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: clientAuth, ClientCAs: pool})
}

func TestFetchReturnsTheServedChainWithoutTrustingIt(t *testing.T) {
	ca := testpki.MustCA(t)
	expired := testpki.MustLeaf(t, ca, testpki.WithValidity(testpki.Epoch.AddDate(-2, 0, 0), testpki.Epoch.AddDate(-1, 0, 0)))
	for _, auth := range []tls.ClientAuthType{tls.NoClientCert, tls.RequireAndVerifyClientCert} {
		addr := serve(t, expired, ca.Cert, auth)
		chain, err := endpoint.Fetch(context.Background(), addr, 5*time.Second)
		if err != nil {
			t.Fatalf("client auth %v: %v", auth, err)
		}
		if len(chain) != 2 || !chain[0].Equal(expired.Cert) || !chain[1].Equal(ca.Cert) {
			t.Fatalf("client auth %v: chain of %d", auth, len(chain))
		}
	}
}

func TestFetchOfAClosedPortFailsQuickly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := endpoint.Fetch(context.Background(), addr, time.Second); err == nil {
		t.Fatal("no error from a closed port")
	}
	if _, err := endpoint.Fetch(context.Background(), "no-port", time.Second); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("bad address error: %v", err)
	}
}

func TestFetchOfAPlainTCPServerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	if _, err := endpoint.Fetch(context.Background(), ln.Addr().String(), 2*time.Second); err == nil {
		t.Fatal("no error from a plain TCP server")
	}
}

// The served-versus-disk case: the disk holds a renewed certificate,
// the endpoint still serves the old one.
func TestServedOldCertificateDiffersFromDisk(t *testing.T) {
	root := t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	old := tr.Leaves["apiserver"]
	addr := serve(t, old, tr.CAs["ca"].Cert, tls.NoClientCert)
	renewed := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithTemplate(testpki.TemplateFrom(old.Cert)), testpki.WithKey(old.Key),
		testpki.WithValidity(testpki.Epoch, testpki.Epoch.AddDate(1, 0, 0)))
	testpki.WriteCert(t, tr.Path("/etc/kubernetes/pki/apiserver.crt"), renewed.Cert)

	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), inventory.Sources()...)
	if err != nil {
		t.Fatal(err)
	}
	target, err := endpoint.ParseTarget(addr+"=/etc/kubernetes/pki/apiserver.crt", nil)
	if err != nil {
		t.Fatal(err)
	}
	served := endpoint.Probe(context.Background(), []endpoint.Target{target}, 5*time.Second, nil)
	rep := evaluation.Evaluate(append(items, served...), testpki.Epoch, evaluation.DefaultPolicy())
	for _, r := range rep.Results {
		if r.Kind != inventory.KindServed {
			continue
		}
		if !r.Has(facts.ReasonServedDiffersFromDisk) {
			t.Fatalf("served result without served_differs_from_disk: %+v", r.Findings)
		}
		return
	}
	t.Fatal("no served result")
}

func TestParseTarget(t *testing.T) {
	defaults := endpoint.Defaults([]inventory.Component{{Name: "kube-apiserver", Flags: map[string]string{"secure-port": "6443", "tls-cert-file": "/pki/apiserver.crt"}}})
	tests := []struct {
		in        string
		wantAddr  string
		wantPaths []string
		wantErr   string
	}{
		{in: "10.0.0.1:6443", wantAddr: "10.0.0.1:6443", wantPaths: []string{"/pki/apiserver.crt"}},
		{in: "127.0.0.1:9443=/srv/tls.crt", wantAddr: "127.0.0.1:9443", wantPaths: []string{"/srv/tls.crt"}},
		{in: "[::1]:2379", wantAddr: "[::1]:2379"},
		{in: "localhost", wantErr: "HOST:PORT"},
		{in: "h:99999", wantErr: "port"},
		{in: "h:1=relative.crt", wantErr: "absolute"},
	}
	for _, tt := range tests {
		got, err := endpoint.ParseTarget(tt.in, defaults)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Addr != tt.wantAddr || !slices.Equal(got.DiskPaths, tt.wantPaths) || !got.Explicit {
			t.Errorf("%s: %+v %v", tt.in, got, err)
		}
	}
}

func TestDefaultsFromKubeadmManifests(t *testing.T) {
	root := t.TempDir()
	testpki.WriteManifests(t, root, testpki.ManifestOptions{})
	comps, _ := inventory.NewReader(root).Components()
	var got []string
	for _, d := range endpoint.Defaults(comps) {
		got = append(got, d.Component+"="+d.Addr)
	}
	slices.Sort(got)
	want := []string{"etcd (peer)=10.0.0.1:2380", "etcd=127.0.0.1:2379", "kube-apiserver=127.0.0.1:6443",
		"kube-controller-manager=127.0.0.1:10257", "kube-scheduler=127.0.0.1:10259", "kubelet=127.0.0.1:10250"}
	if !slices.Equal(got, want) {
		t.Fatalf("defaults\n got %v\nwant %v", got, want)
	}
}
