package layout

import (
	"crypto/x509"
	"net"
	"slices"
)

// SANRule says which of the node's names and addresses a role's certificate
// carries, as kubeadm's phases/certs writes them.
type SANRule int

// SAN rules.
const (
	SANsNone SANRule = iota
	// SANsAPIServer: the node name, the kubernetes Service's names, the
	// service IP, the advertise address and the control-plane endpoint.
	SANsAPIServer
	// SANsEtcd: the node name, localhost, the advertise address and the
	// loopback addresses (etcd-server and etcd-peer alike).
	SANsEtcd
)

// Key usages kubeadm sets (pkiutil.NewSignedCert, NewSelfSignedCACert).
const (
	LeafKeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	CAKeyUsage   = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
)

// LegacyAdminOrganization is the group kubeadm gave admin.conf before v1.29
// (kubeadm:cluster-admins since).
const LegacyAdminOrganization = "system:masters"

// APIServerServiceNames are the kubernetes Service's DNS names, in the
// apiserver certificate of every kubeadm node.
var APIServerServiceNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// Node is what a kubeadm node's identities depend on.
type Node struct {
	Name             string // the node's name (etcd's CN, system:node:NAME)
	AdvertiseAddress string // the API server's and etcd's advertised IP
	ServiceIP        string // first address of the service range (10.96.0.1)
	// ControlPlaneEndpoint is the host the kubeconfigs name; added to the
	// apiserver certificate when it is set and not the advertise address.
	ControlPlaneEndpoint string
}

// Identity is what kubeadm puts in a role's certificate: subject, usages and
// SANs. Validity and keys are the caller's.
type Identity struct {
	CommonName   string
	Organization []string
	KeyUsage     x509.KeyUsage
	ExtKeyUsage  []x509.ExtKeyUsage
	IsCA         bool
	DNSNames     []string
	IPAddresses  []net.IP
}

// Identity is the role's certificate on node n, as `kubeadm init` issues it
// (cmd/kubeadm/app/phases/certs and phases/kubeconfig). Key pairs have none.
func (r Role) Identity(n Node) Identity {
	id := Identity{CommonName: r.CN, KeyUsage: LeafKeyUsage, ExtKeyUsage: slices.Clone(r.ExtKeyUsage)}
	if r.CNNode {
		id.CommonName += n.Name
	}
	if r.Organization != "" {
		id.Organization = []string{r.Organization}
	}
	if r.Kind == KindCA {
		id.KeyUsage, id.IsCA = CAKeyUsage, true
	}
	switch r.SANs {
	case SANsAPIServer:
		id.DNSNames = append([]string{n.Name}, APIServerServiceNames...)
		id.IPAddresses = parseIPs(n.ServiceIP, n.AdvertiseAddress)
		if e := n.ControlPlaneEndpoint; e != "" && e != n.AdvertiseAddress {
			if ip := net.ParseIP(e); ip != nil {
				id.IPAddresses = append(id.IPAddresses, ip)
			} else {
				id.DNSNames = append(id.DNSNames, e)
			}
		}
	case SANsEtcd:
		id.DNSNames = []string{n.Name, "localhost"}
		id.IPAddresses = parseIPs(n.AdvertiseAddress, "127.0.0.1", "::1")
	}
	return id
}

func parseIPs(s ...string) []net.IP {
	out := make([]net.IP, 0, len(s))
	for _, v := range s {
		if ip := net.ParseIP(v); ip != nil {
			out = append(out, ip)
		}
	}
	return out
}
