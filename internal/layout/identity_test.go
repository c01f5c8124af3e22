package layout_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/layout"
)

var node = layout.Node{Name: "cp1", AdvertiseAddress: "192.0.2.10", ServiceIP: "10.96.0.1", ControlPlaneEndpoint: "k8s.example.com"}

func role(t *testing.T, name string) layout.Role {
	t.Helper()
	r, ok := layout.KubeadmRole(name)
	if !ok {
		t.Fatalf("no kubeadm role %s", name)
	}
	return r
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func TestIdentityIsWhatKubeadmIssues(t *testing.T) {
	tests := []struct {
		name, role string
		node       layout.Node
		cn         string
		orgs       []string
		dns, ips   []string
		ca         bool
	}{
		{name: "the API server carries the node name, the Service's names, the service IP, the advertise address and the endpoint",
			role: "apiserver", node: node, cn: "kube-apiserver",
			dns: []string{"cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "k8s.example.com"},
			ips: []string{"10.96.0.1", "192.0.2.10"}},
		{name: "an endpoint that is an address goes among the IP addresses",
			role: "apiserver", node: layout.Node{Name: "cp1", AdvertiseAddress: "192.0.2.10", ServiceIP: "10.96.0.1", ControlPlaneEndpoint: "192.0.2.100"},
			cn:  "kube-apiserver",
			dns: []string{"cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []string{"10.96.0.1", "192.0.2.10", "192.0.2.100"}},
		{name: "an endpoint that is the advertise address is not added twice",
			role: "apiserver", node: layout.Node{Name: "cp1", AdvertiseAddress: "192.0.2.10", ServiceIP: "10.96.0.1", ControlPlaneEndpoint: "192.0.2.10"},
			cn:  "kube-apiserver",
			dns: []string{"cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []string{"10.96.0.1", "192.0.2.10"}},
		{name: "etcd's server is the node, on its name, localhost and the loopbacks",
			role: "etcd-server", node: node, cn: "cp1", dns: []string{"cp1", "localhost"}, ips: []string{"192.0.2.10", "127.0.0.1", "::1"}},
		{name: "etcd's peer is the node too", role: "etcd-peer", node: node, cn: "cp1", dns: []string{"cp1", "localhost"}, ips: []string{"192.0.2.10", "127.0.0.1", "::1"}},
		{name: "the kubelet is system:node:NAME in system:nodes", role: "kubelet.conf", node: node, cn: "system:node:cp1", orgs: []string{"system:nodes"}},
		{name: "the kubelet's rotated certificate is the same identity", role: "kubelet-client", node: node, cn: "system:node:cp1", orgs: []string{"system:nodes"}},
		{name: "admin.conf is kubernetes-admin in kubeadm:cluster-admins", role: "admin.conf", node: node, cn: "kubernetes-admin", orgs: []string{"kubeadm:cluster-admins"}},
		{name: "super-admin.conf is in system:masters", role: "super-admin.conf", node: node, cn: "kubernetes-super-admin", orgs: []string{"system:masters"}},
		{name: "the API server's kubelet client is in kubeadm:cluster-admins", role: "apiserver-kubelet-client", node: node, cn: "kube-apiserver-kubelet-client", orgs: []string{"kubeadm:cluster-admins"}},
		{name: "the cluster CA is kubernetes", role: "ca", node: node, cn: "kubernetes", ca: true},
		{name: "the etcd CA is etcd-ca", role: "etcd-ca", node: node, cn: "etcd-ca", ca: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := role(t, tt.role)
			id := r.Identity(tt.node)
			if id.CommonName != tt.cn || !slices.Equal(id.Organization, tt.orgs) {
				t.Errorf("subject CN=%q O=%q, want CN=%q O=%q", id.CommonName, id.Organization, tt.cn, tt.orgs)
			}
			if !slices.Equal(id.DNSNames, tt.dns) || !slices.Equal(ipStrings(id.IPAddresses), tt.ips) {
				t.Errorf("SANs %q %q, want %q %q", id.DNSNames, ipStrings(id.IPAddresses), tt.dns, tt.ips)
			}
			wantUsage := layout.LeafKeyUsage
			if tt.ca {
				wantUsage = layout.CAKeyUsage
			}
			if id.IsCA != tt.ca || id.KeyUsage != wantUsage || !slices.Equal(id.ExtKeyUsage, r.ExtKeyUsage) {
				t.Errorf("IsCA %v, key usage %v, ext %v", id.IsCA, id.KeyUsage, id.ExtKeyUsage)
			}
		})
	}
}

func TestEveryCertificateRoleHasACommonName(t *testing.T) {
	for _, r := range layout.Kubeadm {
		if r.Kind == layout.KindKeyPair {
			continue
		}
		if cn := r.Identity(node).CommonName; cn == "" || strings.HasSuffix(cn, ":") {
			t.Errorf("%s: common name %q", r.Name, cn)
		}
	}
}

// evaluation's identity rules are made from this table: what kubeadm issues
// fits its role, and the identity a foreign kubeconfig is given is kubeadm's.
func TestEvaluationAgreesWithTheTable(t *testing.T) {
	for _, r := range layout.Kubeadm {
		if r.Kind != layout.KindKubeconfig {
			continue
		}
		id := r.Identity(node)
		c := &x509.Certificate{Subject: pkix.Name{CommonName: id.CommonName, Organization: id.Organization}, ExtKeyUsage: id.ExtKeyUsage}
		u := evaluation.KubeconfigUse{Name: r.Name, Kubeadm: true}
		if !evaluation.FitsRole(u, c) {
			t.Errorf("%s: kubeadm's %s does not fit its role", r.Name, id.CommonName)
		}
		std, ok := evaluation.StandardIdentity(u, c, true)
		if !ok || std.CN != id.CommonName || !slices.Equal(std.Orgs, id.Organization) {
			t.Errorf("%s: standard identity %v (%v), want CN=%s O=%v", r.Name, std, ok, id.CommonName, id.Organization)
		}
	}
}
