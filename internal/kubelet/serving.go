package kubelet

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

// ServingSigner is the signer of kubelet serving certificates
// (serverTLSBootstrap: true).
const ServingSigner = "kubernetes.io/kubelet-serving"

// maxRequest caps a CSR's spec.request.
const maxRequest = 64 << 10

// Decision is what csr approve does with one request.
type Decision struct {
	Approve bool
	Node    string   // the node the request is for ("" when it names none)
	Names   []string // the SANs it asks for
	Why     string   // why it is denied, or what was checked
}

// Pending reports whether a CSR has neither an Approved nor a Denied
// condition (nor Failed).
func Pending(c *certv1.CertificateSigningRequest) bool {
	for _, cond := range c.Status.Conditions {
		switch cond.Type {
		case certv1.CertificateApproved, certv1.CertificateDenied, certv1.CertificateFailed:
			return false
		}
	}
	return true
}

// RequestedNode is the node a kubelet-serving CSR's requestor is
// (system:node:NAME), "" when it is not a node.
func RequestedNode(c *certv1.CertificateSigningRequest) string {
	name, ok := strings.CutPrefix(c.Spec.Username, NodeUserPrefix)
	if !ok || !slices.Contains(c.Spec.Groups, NodesGroup) {
		return ""
	}
	return name
}

// DecideServing approves a kubelet-serving CSR only when its requestor is
// the node system:node:NAME (in system:nodes), the request's subject is that
// same identity, it asks for server authentication and nothing a serving
// certificate does not need, and every name it asks for is one of that
// Node's addresses in the API (node is nil when there is no such Node).
func DecideServing(c *certv1.CertificateSigningRequest, node *corev1.Node) Decision {
	d := Decision{Node: RequestedNode(c)}
	deny := func(format string, a ...any) Decision { d.Why = fmt.Sprintf(format, a...); return d }
	if c.Spec.SignerName != ServingSigner {
		return deny("signer %s is not %s", c.Spec.SignerName, ServingSigner)
	}
	if d.Node == "" {
		return deny("requested by %q (groups %v), not a node (system:node:NAME in %s)", c.Spec.Username, c.Spec.Groups, NodesGroup)
	}
	req, err := ParseRequest(c.Spec.Request)
	if err != nil {
		return deny("spec.request: %v", err)
	}
	d.Names = sans(req)
	if want := NodeUserPrefix + d.Node; req.Subject.CommonName != want || !slices.Equal(req.Subject.Organization, []string{NodesGroup}) {
		return deny("the request is for CN=%q O=%v, but %s asked: it may only ask for CN=%s O=[%s]", req.Subject.CommonName, req.Subject.Organization, c.Spec.Username, want, NodesGroup)
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return deny("the request asks for e-mail or URI names (%v %v), which a kubelet serving certificate never has", req.EmailAddresses, req.URIs)
	}
	if len(d.Names) == 0 {
		return deny("the request asks for no DNS name or IP address")
	}
	if !slices.Contains(c.Spec.Usages, certv1.UsageServerAuth) {
		return deny("usages %v lack server auth", c.Spec.Usages)
	}
	for _, u := range c.Spec.Usages {
		if u != certv1.UsageServerAuth && u != certv1.UsageDigitalSignature && u != certv1.UsageKeyEncipherment {
			return deny("usage %q is not one a kubelet serving certificate needs (server auth, digital signature, key encipherment)", u)
		}
	}
	if node == nil {
		return deny("there is no Node %s in the API to check its addresses against", d.Node)
	}
	dns, ips := addresses(node)
	var foreign []string
	for _, n := range req.DNSNames {
		if !slices.Contains(dns, strings.ToLower(n)) {
			foreign = append(foreign, n)
		}
	}
	for _, ip := range req.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			foreign = append(foreign, ip.String())
		}
	}
	if len(foreign) > 0 {
		var have []string
		for _, ip := range ips {
			have = append(have, ip.String())
		}
		return deny("%s are not addresses of Node %s (its addresses: %s)", strings.Join(foreign, ", "), d.Node, strings.Join(append(dns, have...), ", "))
	}
	d.Approve = true
	d.Why = fmt.Sprintf("requested by %s for its own addresses %s", c.Spec.Username, strings.Join(d.Names, ", "))
	return d
}

// ParseRequest reads a CSR's spec.request: one PEM CERTIFICATE REQUEST,
// signed by the key it holds.
func ParseRequest(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > maxRequest {
		return nil, fmt.Errorf("%d bytes, more than the %d-byte limit", len(data), maxRequest)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("not a PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return req, nil
}

func sans(r *x509.CertificateRequest) []string {
	out := slices.Clone(r.DNSNames)
	for _, ip := range r.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// addresses are a Node's names (Hostname, InternalDNS, ExternalDNS,
// lowercased) and IPs (InternalIP, ExternalIP) from its status.
func addresses(n *corev1.Node) (dns []string, ips []net.IP) {
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			dns = append(dns, strings.ToLower(a.Address))
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(a.Address); ip != nil {
				ips = append(ips, ip)
			}
		}
	}
	sort.Strings(dns)
	return dns, ips
}
