package health

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// Off disables a component's gate (--gate COMPONENT=off).
const Off = "off"

// Options shape the kubeadm gates.
type Options struct {
	Root string
	// Endpoints override a component's URL: for the API server the base URL
	// (https://10.0.0.1:6443, default admin.conf's server), for the others the
	// whole health URL. Off disables the gate.
	Endpoints map[string]string
	Timeout   time.Duration // per gate; default 90s
	// Now is the time TLS verification uses (the command layer's clock).
	Now func() time.Time
}

// DefaultURLs are the kubeadm health endpoints.
var DefaultURLs = map[string]string{
	layout.Etcd:                  "https://127.0.0.1:2379/health",
	layout.KubeControllerManager: "https://127.0.0.1:10257/healthz",
	layout.KubeScheduler:         "https://127.0.0.1:10259/healthz",
	layout.Kubelet:               "http://127.0.0.1:10248/healthz",
}

// Kubeadm returns the gates of each component of a kubeadm node. A component
// with no gate (turned off, or without the kubeadm credentials its probe
// needs) is absent from the map.
func Kubeadm(o Options) map[string][]Gate {
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	at := func(p string) string { return filepath.Join(o.Root, p) }
	withTime := func(f func() (*tls.Config, error)) func() (*tls.Config, error) {
		return func() (*tls.Config, error) {
			cfg, err := f()
			if cfg != nil {
				cfg.Time = o.Now
			}
			return cfg, err
		}
	}
	endpoint := func(c string) string {
		if u, ok := o.Endpoints[c]; ok {
			return u
		}
		return DefaultURLs[c]
	}
	gates := map[string][]Gate{}
	add := func(c, name string, p Probe) {
		gates[c] = append(gates[c], Gate{Component: c, Name: name, Timeout: o.Timeout, Probe: p})
	}
	exists := func(p string) bool { _, err := os.Stat(at(p)); return err == nil }
	// The etcd and API server gates need kubeadm's credentials to probe with;
	// a node laid out otherwise has no such gate (the rescue says so).
	if u := endpoint(layout.Etcd); u != Off && exists(layout.PKIDir+"/etcd/healthcheck-client.crt") {
		add(layout.Etcd, "etcd "+u, HTTPProbe{
			URL: u,
			TLS: withTime(func() (*tls.Config, error) {
				return clientTLS(at(layout.PKIDir+"/etcd/ca.crt"), at(layout.PKIDir+"/etcd/healthcheck-client.crt"), at(layout.PKIDir+"/etcd/healthcheck-client.key"))
			}),
			Served: func() (*x509.Certificate, error) { return readCert(at(layout.PKIDir + "/etcd/server.crt")) },
			Body:   etcdHealthy,
		})
	}
	if u := o.Endpoints[layout.KubeAPIServer]; u != Off && exists(layout.KubernetesDir+"/admin.conf") {
		for _, check := range []string{"/livez", "/readyz"} {
			p := apiserverProbe(o.Root, u, check)
			p.TLS = withTime(p.TLS)
			add(layout.KubeAPIServer, "kube-apiserver "+check+" with admin.conf", p)
		}
	}
	for _, c := range []string{layout.KubeControllerManager, layout.KubeScheduler} {
		if u := endpoint(c); u != Off {
			// Their serving certificates are self-signed in memory at start:
			// there is nothing on disk to verify them against.
			add(c, c+" "+u, HTTPProbe{URL: u, TLS: func() (*tls.Config, error) {
				return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil //nolint:gosec // see above: health only, no credentials sent
			}})
		}
	}
	if u := endpoint(layout.Kubelet); u != Off {
		add(layout.Kubelet, "kubelet "+u, HTTPProbe{URL: u})
	}
	return gates
}

// apiserverProbe checks /livez or /readyz with admin.conf's credentials, read
// at each attempt, against base (admin.conf's server when empty).
func apiserverProbe(root, base, check string) HTTPProbe {
	return HTTPProbe{
		URLFunc: func() (string, error) {
			b := base
			if b == "" {
				kc, err := loadKubeconfig(root, layout.KubernetesDir+"/admin.conf")
				if err != nil {
					return "", err
				}
				b = kc.Server
			}
			u, err := url.Parse(strings.TrimRight(b, "/"))
			if err != nil || u.Host == "" {
				return "", fmt.Errorf("API server URL %q: not an https://HOST:PORT URL", b)
			}
			return u.String() + check, nil
		},
		TLS: func() (*tls.Config, error) {
			kc, err := loadKubeconfig(root, layout.KubernetesDir+"/admin.conf")
			if err != nil {
				return nil, err
			}
			return kubeconfigTLS(kc)
		},
		Served: func() (*x509.Certificate, error) {
			return readCert(filepath.Join(root, layout.PKIDir+"/apiserver.crt"))
		},
	}
}

func loadKubeconfig(root, nodePath string) (*kubeconfig.Kubeconfig, error) {
	data, err := pki.ReadFile(filepath.Join(root, nodePath))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", nodePath, err)
	}
	kc, err := kubeconfig.Parse(data, path.Dir(nodePath), func(p string) ([]byte, error) { return pki.ReadFile(filepath.Join(root, p)) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nodePath, err)
	}
	return kc, nil
}

func kubeconfigTLS(kc *kubeconfig.Kubeconfig) (*tls.Config, error) {
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
	chain := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		chain.Certificate = append(chain.Certificate, c.Raw)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{chain}, MinVersion: tls.VersionTLS12}, nil
}

func clientTLS(caPath, certPath, keyPath string) (*tls.Config, error) {
	ca, err := readCert(caPath)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s: %w", certPath, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

func readCert(p string) (*x509.Certificate, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return certs[0], nil
}

// etcdHealthy accepts etcd's {"health":"true",...}.
func etcdHealthy(b []byte) error {
	var v struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("not etcd's health JSON: %q", firstLines(b, 2))
	}
	if v.Health != "true" {
		return fmt.Errorf("etcd reports health=%q: %s", v.Health, v.Reason)
	}
	return nil
}
