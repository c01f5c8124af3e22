package reload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
)

// TestHelperKubelet is not a test: the plane's start-kubelet.sh runs the
// test binary with it as the kubelet's stand-in (no container runtime
// here): http://127.0.0.1:10248/healthz answers "ok" until it is killed.
func TestHelperKubelet(t *testing.T) {
	if os.Getenv("RELOAD_KUBELET_STANDIN") == "" {
		t.Skip("run by the kubeadm plane's restart.sh kubelet")
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	t.Fatal(http.ListenAndServe("127.0.0.1:10248", nil))
}

// plane is a bootstrapped kubeadm plane with the kubelet stand-in.
func plane(t *testing.T, o testbed.PlaneOptions) *testbed.KubeadmPlane {
	t.Helper()
	o.Kubelet = []string{"env", "RELOAD_KUBELET_STANDIN=1", os.Args[0], "-test.run=^TestHelperKubelet$"}
	p := testbed.NewKubeadmPlane(t, o)
	p.Bootstrap()
	return p
}

// nsClient is an HTTP client whose connections are made inside the plane's
// namespace, one per request.
func nsClient(p *testbed.KubeadmPlane, cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: cfg, Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return p.NS.DialContext(ctx, network, addr)
		}}}
}

// adminTLS is admin.conf's client, read now.
func adminTLS(p *testbed.KubeadmPlane) (*tls.Config, error) {
	kc, err := kubeconfig.Load(p.Path(layout.KubernetesDir + "/admin.conf"))
	if err != nil {
		return nil, err
	}
	cas, err := kc.CACertificates()
	if err != nil {
		return nil, err
	}
	certs, err := kc.ClientCertificates()
	if err != nil {
		return nil, err
	}
	key, err := kc.ClientPrivateKey()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{certs[0].Raw}, PrivateKey: key}}}, nil
}

// availability is what a poller saw.
type availability struct {
	Probes, Failed int
	LongestGap     time.Duration
	FirstError     string
}

// poller probes the API server's /readyz with admin.conf (read afresh for
// each probe, so a renewed one is used) every 50ms until stop.
type poller struct {
	mu   sync.Mutex
	a    availability
	stop chan struct{}
	done chan struct{}
}

func startPoller(t *testing.T, p *testbed.KubeadmPlane) *poller {
	t.Helper()
	pl := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(pl.done)
		var downSince time.Time
		for {
			t0 := time.Now()
			err := probeReadyz(p)
			pl.mu.Lock()
			pl.a.Probes++
			if err != nil {
				pl.a.Failed++
				if pl.a.FirstError == "" {
					pl.a.FirstError = err.Error()
				}
				if downSince.IsZero() {
					downSince = t0
				}
			} else if !downSince.IsZero() {
				pl.a.LongestGap = max(pl.a.LongestGap, t0.Sub(downSince))
				downSince = time.Time{}
			}
			pl.mu.Unlock()
			select {
			case <-pl.stop:
				pl.mu.Lock()
				if !downSince.IsZero() {
					pl.a.LongestGap = max(pl.a.LongestGap, time.Since(downSince))
				}
				pl.mu.Unlock()
				return
			case <-time.After(50 * time.Millisecond): // the probe's period
			}
		}
	}()
	t.Cleanup(func() { pl.end() })
	return pl
}

func (pl *poller) end() availability {
	select {
	case <-pl.stop:
	default:
		close(pl.stop)
	}
	<-pl.done
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.a
}

func probeReadyz(p *testbed.KubeadmPlane) error {
	cfg, err := adminTLS(p)
	if err != nil {
		return err
	}
	resp, err := nsClient(p, cfg).Get("https://" + net.JoinHostPort(testbed.Advertise, "6443") + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d", resp.StatusCode)
	}
	return nil
}

// served is the certificate a fresh connection to addr (in the namespace)
// is served.
func served(p *testbed.KubeadmPlane, addr string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	raw, err := p.NS.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var got *x509.Certificate
	// It only reads the served certificate, to compare it with the disk.
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				got = cs.PeerCertificates[0]
			}
			return nil
		}})
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_ = conn.HandshakeContext(ctx) // a port asking for a client certificate may fail after sending its own
	_ = conn.Close()
	if got == nil {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return got, nil
}

// servesDisk fails unless addr serves the certificate at nodePath.
func servesDisk(p *testbed.KubeadmPlane, addr, nodePath string) error {
	want, err := diskCert(p, nodePath)
	if err != nil {
		return err
	}
	got, err := served(p, addr)
	if err != nil {
		return err
	}
	if !got.Equal(want) {
		return fmt.Errorf("%s serves serial %s, %s is serial %s", addr, got.SerialNumber.Text(16), nodePath, want.SerialNumber.Text(16))
	}
	return nil
}

func diskCert(p *testbed.KubeadmPlane, nodePath string) (*x509.Certificate, error) {
	data, err := os.ReadFile(p.Path(nodePath))
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%s: %v", nodePath, err)
	}
	return certs[0], nil
}

// helperReport is what a helper process run in the namespace prints.
type helperReport struct {
	Result, Failure, Backup string
	Seconds                 float64
	Restarted, Reloaded     []string
}

func runHelper(t *testing.T, p *testbed.KubeadmPlane, name string, env ...string) (helperReport, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := p.NS.Command(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "REPORT "); ok {
			var r helperReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r, string(out)
		}
	}
	t.Fatalf("%s printed no report:\n%s", name, out)
	return helperReport{}, ""
}
