package health

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// rancher: the API server of a k3s or RKE2 server, on its local port, with
// the admin kubeconfig it writes.
func (d *deriver) rancher(s inventory.RancherServer, override string) {
	c := layout.KubeAPIServer
	port := "6443"
	if v := s.Config["https-listen-port"]; v != "" && s.Dist == "k3s" {
		port = v
	}
	host := "127.0.0.1"
	if b := s.Config["bind-address"]; b != "" && !unspecified(b) {
		host = b
	}
	base := "https://" + net.JoinHostPort(host, port)
	if override != "" {
		base = strings.TrimRight(override, "/")
	}
	if !d.exists(s.Kubeconfig) {
		d.none(c, fmt.Sprintf("%s's admin kubeconfig %s is not on the node (its API server refuses anonymous requests)", s.Dist, s.Kubeconfig))
		return
	}
	client := &cred{What: s.Kubeconfig, Kubeconfig: s.Kubeconfig}
	var caPaths []string
	if p := s.DataDir + "/server/tls/server-ca.crt"; d.exists(p) {
		caPaths = []string{p}
	}
	// RKE2's API server is a static pod serving serving-kube-apiserver.crt on
	// 6443; k3s's port is its supervisor's, whose certificate is made by its
	// dynamic listener and kept in a Secret, not in a file to compare with.
	var served string
	if s.Dist == "rke2" {
		served = s.DataDir + "/server/tls/serving-kube-apiserver.crt"
	}
	serverName := d.f.serverName(served, host, "127.0.0.1", "localhost", "kubernetes")
	tlsf := d.f.tlsFunc(caPaths, client, serverName, d.o.now())
	for _, check := range []string{"/livez", "/readyz"} {
		p := HTTPProbe{URL: base + check, TLS: tlsf}
		if served != "" {
			p.Served = func() (*x509.Certificate, error) { return d.f.cert(served) }
		}
		d.add(c, s.Dist+" API server "+base+check+" as "+s.Kubeconfig, p, func() error { return d.f.ready(caPaths, client, served) })
	}
	d.note(c, "the %s server%s, its API server on this node", s.Dist, originText(s.Origin))
}

func originText(origin string) string {
	if origin == "" {
		return ""
	}
	return " of " + origin
}

// kubeadmFiles reports whether the node holds kubeadm's files of a component
// (a kubeadm layout whose manifests are elsewhere, or a plane started by
// hand from them).
func (d *deriver) kubeadmFiles(c string) bool {
	switch c {
	case layout.Etcd:
		return d.exists(layout.PKIDir + "/etcd/server.crt")
	case layout.KubeAPIServer:
		return d.exists(layout.PKIDir + "/apiserver.crt")
	case layout.KubeControllerManager:
		return d.exists(layout.KubernetesDir + "/controller-manager.conf")
	case layout.KubeScheduler:
		return d.exists(layout.KubernetesDir + "/scheduler.conf")
	}
	return false
}

// kubeadmDefaults is the component as kubeadm's static pod manifest starts
// it (cmd/kubeadm/app/phases/controlplane and etcd). The API server's
// advertise address is the host of admin.conf's server when that is an IP
// address (kubeadm writes the advertise address there unless a
// controlPlaneEndpoint is set); a name there is a load balancer's, never
// probed: the API server is then probed on 127.0.0.1.
func (d *deriver) kubeadmDefaults(name string) inventory.Component {
	pkiDir := layout.PKIDir
	c := inventory.Component{Name: name, Origin: "kubeadm's defaults", Flags: map[string]string{}}
	switch name {
	case layout.Etcd:
		c.Flags = map[string]string{"listen-client-urls": "https://127.0.0.1:2379", "cert-file": pkiDir + "/etcd/server.crt",
			"key-file": pkiDir + "/etcd/server.key", "trusted-ca-file": pkiDir + "/etcd/ca.crt", "client-cert-auth": "true"}
	case layout.KubeAPIServer:
		c.Flags = map[string]string{"secure-port": "6443", "client-ca-file": pkiDir + "/ca.crt", "tls-cert-file": pkiDir + "/apiserver.crt",
			"kubelet-client-certificate": pkiDir + "/apiserver-kubelet-client.crt", "kubelet-client-key": pkiDir + "/apiserver-kubelet-client.key",
			"etcd-cafile": pkiDir + "/etcd/ca.crt", "etcd-certfile": pkiDir + "/apiserver-etcd-client.crt", "etcd-keyfile": pkiDir + "/apiserver-etcd-client.key"}
		if kc, err := d.f.kubeconfig(layout.KubernetesDir + "/admin.conf"); err == nil {
			if u, err := url.Parse(kc.Server); err == nil && net.ParseIP(u.Hostname()) != nil {
				c.Flags["advertise-address"] = u.Hostname()
				if p := u.Port(); p != "" {
					c.Flags["secure-port"] = p
				}
				c.FlagFrom = map[string]string{"advertise-address": "the address of admin.conf's server", "secure-port": "the port of admin.conf's server"}
			}
		}
	case layout.KubeControllerManager:
		c.Flags = map[string]string{"bind-address": "127.0.0.1", "kubeconfig": layout.KubernetesDir + "/controller-manager.conf"}
	case layout.KubeScheduler:
		c.Flags = map[string]string{"bind-address": "127.0.0.1", "kubeconfig": layout.KubernetesDir + "/scheduler.conf"}
	}
	return c
}
