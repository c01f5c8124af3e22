package endpoint

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// Default ports of the control plane.
const (
	APIServerPort         = "6443"
	ControllerManagerPort = "10257"
	SchedulerPort         = "10259"
	KubeletPort           = "10250"
)

// Defaults derives the endpoints a node serves from its components: the API
// server (--bind-address or loopback, --secure-port), etcd's client and peer
// URLs, the controller-manager (10257), the scheduler (10259) and the kubelet
// (10250), each with the certificate file that it should be serving.
func Defaults(comps []inventory.Component) []Target {
	var out []Target
	seen := map[string]bool{}
	add := func(t Target) {
		if t.Addr != "" && !seen[t.Addr] {
			seen[t.Addr] = true
			out = append(out, t)
		}
	}
	kubelet := false
	for _, c := range comps {
		flag := func(n string) string { return c.Flags[n] }
		switch c.Name {
		case layout.KubeAPIServer:
			add(Target{Addr: join(localHost(flag("bind-address")), or(flag("secure-port"), APIServerPort)), Component: c.Name, DiskPaths: paths(flag("tls-cert-file"))})
		case layout.Etcd:
			if u := firstHTTPS(flag("listen-client-urls")); u != "" {
				add(Target{Addr: u, Component: c.Name, DiskPaths: paths(flag("cert-file"))})
			}
			if u := firstHTTPS(flag("listen-peer-urls")); u != "" {
				add(Target{Addr: u, Component: c.Name + " (peer)", DiskPaths: paths(flag("peer-cert-file"))})
			}
		case layout.KubeControllerManager:
			add(Target{Addr: join(localHost(flag("bind-address")), or(flag("secure-port"), ControllerManagerPort)), Component: c.Name, DiskPaths: paths(flag("tls-cert-file"))})
		case layout.KubeScheduler:
			add(Target{Addr: join(localHost(flag("bind-address")), or(flag("secure-port"), SchedulerPort)), Component: c.Name, DiskPaths: paths(flag("tls-cert-file"))})
		case layout.Kubelet:
			kubelet = true
			add(kubeletTarget(flag("address"), flag("port"), flag("tls-cert-file"), flag("cert-dir")))
		}
	}
	if !kubelet {
		add(kubeletTarget("", "", "", ""))
	}
	return out
}

func kubeletTarget(addr, port, certFile, certDir string) Target {
	dir := or(certDir, layout.KubeletPKIDir)
	return Target{Addr: join(localHost(addr), or(port, KubeletPort)), Component: layout.Kubelet,
		DiskPaths: paths(certFile, path.Join(dir, "kubelet-server-current.pem"), path.Join(dir, "kubelet.crt"))}
}

// ParseTarget reads HOST:PORT[=CERT] (the value of --endpoint): an endpoint and, optionally,
// the node path of the certificate it should serve. Without CERT, a default
// target on the same port lends its certificate and component.
func ParseTarget(s string, defaults []Target) (Target, error) {
	addr, cert, hasCert := strings.Cut(s, "=")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return Target{}, fmt.Errorf("endpoint %q: want HOST:PORT or HOST:PORT=/path/of/the/certificate/it/should/serve", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Target{}, fmt.Errorf("endpoint %q: port %q is not a number from 1 to 65535", s, port)
	}
	t := Target{Addr: addr, Explicit: true}
	if hasCert {
		if !path.IsAbs(cert) {
			return Target{}, fmt.Errorf("endpoint %q: %q is not an absolute node path", s, cert)
		}
		t.DiskPaths = []string{path.Clean(cert)}
		return t, nil
	}
	for _, d := range defaults {
		if _, p, _ := net.SplitHostPort(d.Addr); p == port {
			t.Component, t.DiskPaths = d.Component, d.DiskPaths
			break
		}
	}
	return t, nil
}

func paths(ps ...string) []string {
	var out []string
	for _, p := range ps {
		if p != "" && path.IsAbs(p) {
			out = append(out, path.Clean(p))
		}
	}
	return out
}

func or(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// localHost is where to reach a server bound to bind: loopback when it
// listens everywhere, so probing never leaves the machine.
func localHost(bind string) string {
	ip := net.ParseIP(bind)
	if bind == "" || (ip != nil && ip.IsUnspecified()) {
		return "127.0.0.1"
	}
	return bind
}

func join(host, port string) string { return net.JoinHostPort(host, port) }

func firstHTTPS(list string) string {
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme != "https" || u.Port() == "" {
			continue
		}
		return join(localHost(u.Hostname()), u.Port())
	}
	return ""
}
