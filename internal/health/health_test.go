package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

type flaky struct {
	failures int
	calls    int
}

func (f *flaky) Check(context.Context) error {
	f.calls++
	if f.calls <= f.failures {
		return errors.New("connection refused")
	}
	return nil
}

func TestWaitRetriesWithBackoffUntilItPassesOrTimesOut(t *testing.T) {
	tests := []struct {
		name         string
		failures     int
		timeout      time.Duration
		wantErr      bool
		wantAttempts int
		wantTook     time.Duration
	}{
		{"passes at once", 0, time.Minute, false, 1, 0},
		{"passes on the fourth try after 200+400+800ms", 3, time.Minute, false, 4, 1400 * time.Millisecond},
		{"backoff settles at the maximum", 6, time.Minute, false, 7, (200 + 400 + 800 + 1000 + 1000 + 1000) * time.Millisecond},
		{"never passes within the timeout", 1000, 5 * time.Second, true, 7, 4400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := clock.NewFake(time.Unix(1e9, 0)) // advances only when Wait sleeps: no test waits for real time
			p := &flaky{failures: tt.failures}
			res := Wait(context.Background(), Gate{Name: "g", Timeout: tt.timeout, Probe: p}, fc, Backoff{200 * time.Millisecond, time.Second})
			if (res.Err != nil) != tt.wantErr {
				t.Fatalf("err = %v", res.Err)
			}
			if tt.wantErr && (!errors.Is(res.Err, ErrTimeout) || !strings.Contains(res.Err.Error(), "connection refused")) {
				t.Errorf("err = %v, want a timeout with the last error", res.Err)
			}
			if res.Attempts != tt.wantAttempts || res.Took != tt.wantTook {
				t.Errorf("attempts %d took %s, want %d and %s", res.Attempts, res.Took, tt.wantAttempts, tt.wantTook)
			}
		})
	}
}

// tlsServer serves handler on loopback with the given certificate, asking for
// client certificates signed by clientCA when it is set.
func tlsServer(t *testing.T, cert *x509.Certificate, key any, clientCA *x509.Certificate, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	return tlsServerOn(t, nil, cert, key, clientCA, handler)
}

// tlsServerOn is tlsServer on a listener the test opened (nil: a new one).
func tlsServerOn(t *testing.T, ln net.Listener, cert *x509.Certificate, key any, clientCA *x509.Certificate, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(handler)
	if ln != nil {
		s.Listener.Close()
		s.Listener = ln
	}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		Time: func() time.Time { return testpki.Epoch }}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA)
		s.TLS.ClientAuth, s.TLS.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestKubeadmGatesAgainstLoopbackServers(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{AdvertiseAddress: "127.0.0.1", Manifests: true})
	etcd := tr.Leaves["etcd-server"]
	etcdSrv := tlsServer(t, etcd.Cert, etcd.Key, tr.CAs["etcd-ca"].Cert, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"health":"true","reason":""}`))
	})
	api := tr.Leaves["apiserver"]
	var sawAdmin string
	apiSrv := tlsServer(t, api.Cert, api.Key, tr.CAs["ca"].Cert, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/leases/") { // the lease gates
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"holderIdentity":"node_1234"}}`))
			return
		}
		sawAdmin = r.TLS.PeerCertificates[0].Subject.CommonName
		w.Write([]byte("ok"))
	})
	plain := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(plain.Close)

	gates := Kubeadm(Options{Root: tr.Root, Timeout: time.Second, Clock: clock.Fixed(testpki.Epoch), Endpoints: map[string]string{
		layout.Etcd:                  etcdSrv.URL + "/health",
		layout.KubeAPIServer:         apiSrv.URL,
		layout.KubeControllerManager: plain.URL + "/healthz",
		layout.KubeScheduler:         plain.URL + "/healthz",
		layout.Kubelet:               Off,
	}})
	if len(gates[layout.KubeAPIServer]) != 2 || len(gates[layout.Kubelet]) != 0 {
		t.Fatalf("gates = %v", gates)
	}
	for c, gs := range gates {
		for _, g := range gs {
			if err := g.Probe.Check(context.Background()); err != nil {
				t.Errorf("%s: %s: %v", c, g.Name, err)
			}
		}
	}
	if sawAdmin != "kubernetes-admin" {
		t.Errorf("the API server saw client %q, want admin.conf's kubernetes-admin", sawAdmin)
	}

	// A renewed certificate on disk that the server does not present yet.
	renewed := testpki.MustLeaf(t, tr.CAs["etcd-ca"], testpki.WithTemplate(testpki.TemplateFrom(etcd.Cert)), testpki.WithKey(etcd.Key))
	testpki.WriteCert(t, tr.Path(layout.PKIDir+"/etcd/server.crt"), renewed.Cert)
	err := gates[layout.Etcd][0].Probe.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not the renewed one on disk") {
		t.Errorf("etcd serving the old certificate: err = %v", err)
	}
}

func TestAPIServerGateFailsOnBrokenSANs(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{AdvertiseAddress: "127.0.0.1"})
	api := tr.Leaves["apiserver"]
	// The gates are derived before the renewal, from the certificate clients
	// know: its 127.0.0.1 is the name checked.
	var srvURL string
	ln := listen(t)
	srvURL = "https://" + ln.Addr().String()
	g := Kubeadm(Options{Root: tr.Root, Timeout: 3 * time.Second, Clock: clock.Fixed(testpki.Epoch), Endpoints: map[string]string{layout.KubeAPIServer: srvURL}})[layout.KubeAPIServer][0]

	tmpl := testpki.TemplateFrom(api.Cert)
	tmpl.IPAddresses = nil // broken on purpose: 127.0.0.1 is gone
	broken := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithTemplate(tmpl), testpki.WithKey(api.Key))
	testpki.WriteCert(t, tr.Path(layout.PKIDir+"/apiserver.crt"), broken.Cert)
	tlsServerOn(t, ln, broken.Cert, api.Key, nil, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })

	fc := clock.NewFake(time.Unix(1e9, 0)) // advances only when Wait sleeps: no test waits for real time
	res := Wait(context.Background(), g, fc, DefaultBackoff)
	// The server presents exactly the file on disk: waiting cannot help.
	if !IsPermanent(res.Err) || res.Attempts != 1 || !strings.Contains(res.Err.Error(), "doesn't contain any IP SANs") {
		t.Fatalf("err = %v after %d attempts, want a permanent failure at once naming the missing SAN", res.Err, res.Attempts)
	}
	_ = pki.DefaultKeySpec
}

func TestProbeAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		check   func([]byte) error
		wantErr string
	}{
		{"ok", 200, "ok", nil, ""},
		{"a 500 with the failing checks", 500, "[-]etcd failed\nreadyz check failed", nil, "answered 500: [-]etcd failed"},
		{"a body other than ok", 200, "maybe", nil, `want "ok"`},
		{"etcd healthy", 200, `{"health":"true"}`, etcdHealthy, ""},
		{"etcd unhealthy", 200, `{"health":"false","reason":"NOSPACE"}`, etcdHealthy, "NOSPACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			err := HTTPProbe{URL: srv.URL, Body: tt.check}.Check(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
