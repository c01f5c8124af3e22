package kubelet

import (
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/certrescue/certrescue/internal/pki"
)

func servingCSR(t testing.TB, requestor, cn string, dns []string, ips ...string) *certv1.CertificateSigningRequest {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoECDSA, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := pki.Template{Subject: pkix.Name{CommonName: cn, Organization: []string{NodesGroup}}, DNSNames: dns}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := pki.CreateCSR(key, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return &certv1.CertificateSigningRequest{Spec: certv1.CertificateSigningRequestSpec{
		Request: pki.EncodeCSRPEM(der), SignerName: ServingSigner, Username: requestor, Groups: []string{NodesGroup, "system:authenticated"},
		Usages: []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}}}
}

func testNode(name string) *corev1.Node {
	n := &corev1.Node{}
	n.Name = name
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}
	return n
}

func TestDecideServingApprovesOnlyTheNodesOwnAddresses(t *testing.T) {
	node := testNode("node-a")
	for _, c := range []struct {
		name string
		csr  *certv1.CertificateSigningRequest
		node *corev1.Node
		want string // "" approves
	}{
		{"the node's own name and address", servingCSR(t, "system:node:node-a", "system:node:node-a", []string{"node-a"}, "192.0.2.10"), node, ""},
		{"a SAN that is not the node's", servingCSR(t, "system:node:node-a", "system:node:node-a", []string{"node-a", "api.bank.example"}, "192.0.2.10"), node, "api.bank.example are not addresses of Node node-a"},
		{"an IP that is not the node's", servingCSR(t, "system:node:node-a", "system:node:node-a", []string{"node-a"}, "192.0.2.99"), node, "192.0.2.99 are not addresses"},
		{"another node's identity", servingCSR(t, "system:node:node-a", "system:node:node-b", []string{"node-a"}), node, "it may only ask for CN=system:node:node-a"},
		{"a requestor that is not a node", servingCSR(t, "mallory", "system:node:node-a", []string{"node-a"}), node, "not a node"},
		{"no Node in the API", servingCSR(t, "system:node:node-a", "system:node:node-a", []string{"node-a"}), nil, "there is no Node node-a"},
		{"no names at all", servingCSR(t, "system:node:node-a", "system:node:node-a", nil), node, "no DNS name or IP"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := DecideServing(c.csr, c.node)
			if c.want == "" {
				if !d.Approve {
					t.Fatalf("denied: %s", d.Why)
				}
				return
			}
			if d.Approve || !strings.Contains(d.Why, c.want) {
				t.Fatalf("approve=%v why=%q, want a denial saying %q", d.Approve, d.Why, c.want)
			}
		})
	}
	client := servingCSR(t, "system:node:node-a", "system:node:node-a", []string{"node-a"})
	client.Spec.Usages = append(client.Spec.Usages, certv1.UsageClientAuth)
	if d := DecideServing(client, node); d.Approve {
		t.Error("a serving CSR asking for client auth too was approved")
	}
	other := servingCSR(t, "system:node:node-a", "system:node:node-a", []string{"node-a"})
	other.Spec.SignerName = "kubernetes.io/kube-apiserver-client-kubelet"
	if d := DecideServing(other, node); d.Approve {
		t.Error("a CSR for another signer was approved")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(servingCSR(f, "system:node:a", "system:node:a", []string{"a"}).Spec.Request)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := ParseRequest(data); err == nil && r.CheckSignature() != nil {
			t.Fatal("a request with a bad signature parsed")
		}
	})
}
