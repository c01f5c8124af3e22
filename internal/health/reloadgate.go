package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/reload"
)

// ReloadGate is the gate that proves a component took up a renewed
// credential without a restart (reload.Take), derived from its flags like
// ForNode's:
//
//   - reload.ProofServed: a fresh TLS connection to the port that serves it
//     (the API server's secure port, etcd's client or peer URL, the
//     controller-manager's or scheduler's secure port) gets the certificate
//     now on disk; another one fails with ErrNotTakenUp;
//   - reload.ProofPeer: the peer the component presents it to accepts a
//     fresh connection presenting the file now on disk: etcd (/health with
//     the API server's --etcd-certfile), the API server's front-proxy
//     authenticator (a self subject review with X-Remote-User, answered with
//     that user), the API server (/readyz with a kubeconfig's referenced
//     files), the node's kubelet (:10250 with --kubelet-client-certificate;
//     when no kubelet listens here, that step says so and passes);
//   - reload.ProofGates: none beyond the component's own gates (ok false).
//
// The gate's timeout is the table's Within plus slack (o.Timeout bounds it).
func ReloadGate(comps []inventory.Component, t reload.Take, o Options) (Gate, bool, error) {
	d := newDeriver(comps, o)
	c, ok := d.byName[t.Component]
	if !ok {
		return Gate{}, false, fmt.Errorf("%s: not in the node's inventory", t.Component)
	}
	timeout := min(t.Entry.Within+8*time.Second, d.o.Timeout)
	certPath := flagPath(c, t.Entry.Flags[0])
	keyPath := ""
	if len(t.Entry.Flags) > 1 {
		keyPath = flagPath(c, t.Entry.Flags[1])
	}
	g := Gate{Component: c.Name, Timeout: timeout}
	switch t.Entry.Proof {
	case reload.ProofServed:
		addr, err := servedAddr(c, t.Entry.Flags[0])
		if err != nil {
			return Gate{}, false, err
		}
		g.Name = fmt.Sprintf("%s serves %s on %s", c.Name, certPath, addr)
		g.Probe = servedProbe{f: d.f, addr: addr, cert: certPath}
		g.Ready = func() error { return d.f.ready(nil, nil, certPath) }
		return g, true, nil
	case reload.ProofPeer:
		return d.peerGate(g, c, t, certPath, keyPath)
	}
	return Gate{}, false, nil
}

func newDeriver(comps []inventory.Component, o Options) *deriver {
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	if o.Node == nil {
		o.Node = nodefs.New(o.Root)
	}
	d := &deriver{o: o, f: files{node: o.Node}, gates: map[string][]Gate{}, byName: map[string]inventory.Component{}}
	for _, c := range comps {
		if _, dup := d.byName[c.Name]; !dup {
			d.byName[c.Name] = c
		}
	}
	return d
}

// servedAddr is the host:port that serves the certificate a flag names.
func servedAddr(c inventory.Component, flag string) (string, error) {
	switch {
	case c.Name == layout.KubeAPIServer:
		host, port, _ := apiserverAddr(c)
		return net.JoinHostPort(host, port), nil
	case c.Name == layout.Etcd && flag == "peer-cert-file":
		list := c.Flags["listen-peer-urls"]
		if list == "" {
			list = "http://localhost:2380"
		}
		return firstURLHost(list)
	case c.Name == layout.Etcd:
		u, why, ok := etcdURL(c)
		if !ok {
			return "", errors.New(why)
		}
		pu, err := url.Parse(u)
		if err != nil {
			return "", err
		}
		return pu.Host, nil
	case c.Name == layout.KubeControllerManager || c.Name == layout.KubeScheduler:
		port := map[string]string{layout.KubeControllerManager: "10257", layout.KubeScheduler: "10259"}[c.Name]
		if v := strings.TrimSpace(c.Flags["secure-port"]); v != "" {
			port = v
		}
		host := "127.0.0.1"
		if b := strings.TrimSpace(c.Flags["bind-address"]); b != "" && !unspecified(b) {
			host = b
		}
		return net.JoinHostPort(host, port), nil
	}
	return "", fmt.Errorf("%s --%s: no port known to serve it", c.Name, flag)
}

// firstURLHost is the host:port of the first URL of a list, an unspecified
// host probed on 127.0.0.1.
func firstURLHost(list string) (string, error) {
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Port() == "" {
			continue
		}
		host := u.Hostname()
		if host == "" || unspecified(host) {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, u.Port()), nil
	}
	return "", fmt.Errorf("no URL with a port in %q", list)
}

// servedProbe passes when a fresh connection to addr is served the
// certificate at cert.
type servedProbe struct {
	f    files
	addr string
	cert string
}

func (p servedProbe) Check(ctx context.Context) error {
	want, err := p.f.cert(p.cert)
	if err != nil {
		return err
	}
	got, err := servedCert(ctx, p.addr, nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(got.Raw, want.Raw) {
		return fmt.Errorf("%w: %s serves serial %s valid until %s, not %s's serial %s", ErrNotTakenUp, p.addr,
			got.SerialNumber.Text(16), got.NotAfter.UTC().Format(time.RFC3339), p.cert, want.SerialNumber.Text(16))
	}
	return nil
}

func (d *deriver) peerGate(g Gate, c inventory.Component, t reload.Take, certPath, keyPath string) (Gate, bool, error) {
	client := &cred{What: certPath, Cert: certPath, Key: keyPath}
	switch {
	case c.Name == layout.KubeAPIServer && t.Entry.Flags[0] == "etcd-certfile":
		etcd := d.byName[layout.Etcd]
		u, _, ok := etcdURL(etcd)
		if servers := c.Flags["etcd-servers"]; servers != "" {
			if host, err := firstURLHost(servers); err == nil {
				u, ok = "https://"+host+"/health", true
			}
		}
		if !ok {
			return Gate{}, false, errors.New("kube-apiserver --etcd-servers: no etcd URL")
		}
		pu, _ := url.Parse(u)
		cas := existing(d, flagPath(c, "etcd-cafile"))
		g.Name = fmt.Sprintf("etcd %s accepts a fresh connection presenting %s", u, certPath)
		g.Probe = HTTPProbe{URL: u, Body: etcdHealthy, TLS: d.f.tlsFunc(cas, client, d.f.serverName(flagPath(etcd, "cert-file"), pu.Hostname(), "127.0.0.1", "localhost"), d.o.now())}
		g.Ready = func() error { return d.f.ready(cas, client, "") }
	case c.Name == layout.KubeAPIServer && t.Entry.Flags[0] == "proxy-client-cert-file":
		base, tlsf, cas := d.apiserverClient(c, client)
		g.Name = fmt.Sprintf("kube-apiserver %s authenticates %s as a front proxy (X-Remote-User)", base, certPath)
		g.Probe = requestHeaderProbe{url: base + "/apis/authentication.k8s.io/v1/selfsubjectreviews", tls: tlsf, user: "certrescue:reload-gate", served: d.apiserverServed(c),
			header: firstNonEmpty(strings.Split(c.Flags["requestheader-username-headers"], ",")[0], "X-Remote-User")}
		g.Ready = func() error { return d.f.ready(cas, client, "") }
	case c.Name == layout.KubeAPIServer && t.Entry.Flags[0] == "kubelet-client-certificate":
		u := "https://127.0.0.1:10250/healthz"
		g.Name = fmt.Sprintf("the node's kubelet %s accepts a fresh connection presenting %s (passes when no kubelet listens here)", u, certPath)
		g.Probe = kubeletClientProbe{f: d.f, url: u, client: *client}
		g.Ready = func() error { return d.f.ready(nil, client, "") }
	case t.Entry.Kubeconfig == reload.Files:
		kc := &cred{What: t.Path, Kubeconfig: t.Path}
		base, tlsf, cas := d.apiserverClient(d.byName[layout.KubeAPIServer], kc)
		g.Name = fmt.Sprintf("kube-apiserver %s/readyz accepts a fresh connection presenting %s's client certificate", base, t.Path)
		g.Probe = HTTPProbe{URL: base + "/readyz", TLS: tlsf, Served: d.apiserverServed(d.byName[layout.KubeAPIServer])}
		g.Ready = func() error { return d.f.ready(cas, kc, "") }
	default:
		return Gate{}, false, fmt.Errorf("%s --%s: no peer known to present it to", c.Name, t.Entry.Flags[0])
	}
	return g, true, nil
}

// apiserverServed is the API server's --tls-cert-file, read at each call
// (nil without one).
func (d *deriver) apiserverServed(api inventory.Component) func() (*x509.Certificate, error) {
	served := flagPath(api, "tls-cert-file")
	if served == "" {
		return nil
	}
	return func() (*x509.Certificate, error) { return d.f.cert(served) }
}

// apiserverClient is the API server's local base URL and a TLS
// configuration presenting client.
func (d *deriver) apiserverClient(api inventory.Component, client *cred) (string, func() (*tls.Config, error), []string) {
	host, port, _ := apiserverAddr(api)
	cas := existing(d, flagPath(api, "client-ca-file"))
	if len(cas) == 0 {
		cas = existing(d, layout.PKIDir+"/ca.crt")
	}
	served := flagPath(api, "tls-cert-file")
	return "https://" + net.JoinHostPort(host, port), d.f.tlsFunc(cas, client, d.f.serverName(served, host, "127.0.0.1", "kubernetes", "localhost"), d.o.now()), cas
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// requestHeaderProbe posts a self subject review as a front proxy: the API
// server must answer with the user the header names.
type requestHeaderProbe struct {
	url, header, user string
	tls               func() (*tls.Config, error)
	served            func() (*x509.Certificate, error) // the API server's --tls-cert-file
}

func (p requestHeaderProbe) Check(ctx context.Context) error {
	cfg, err := p.tls()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(p.header, p.user)
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return permanentIfServed(ctx, err, p.url, p.served)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var review struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", p.url, resp.StatusCode, firstLines(data, 3))
	}
	if err := json.Unmarshal(data, &review); err != nil {
		return fmt.Errorf("%s: not a SelfSubjectReview: %w", p.url, err)
	}
	if got := review.Status.UserInfo.Username; got != p.user {
		return fmt.Errorf("%s took the request as %q, not the front proxy's %q: the front-proxy certificate was not accepted", p.url, got, p.user)
	}
	return nil
}

// kubeletClientProbe presents the API server's kubelet client certificate to
// the node's kubelet; a 401 is a rejection, a refused connection means no
// kubelet listens here (passes: nothing on this node to prove it with).
type kubeletClientProbe struct {
	f      files
	url    string
	client cred
}

func (p kubeletClientProbe) Check(ctx context.Context) error {
	l, err := p.f.load(p.client)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil, TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the API server does not verify kubelets without --kubelet-certificate-authority either; this checks the client side
		MinVersion:         tls.VersionTLS12, Certificates: []tls.Certificate{l.pair}}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("the kubelet at %s rejects %s (401)", p.url, p.client.Cert)
	}
	return nil
}
