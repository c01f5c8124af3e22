package evaluation

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testpki"
)

func TestForeignClientIsOneRuleForCheckAndRenew(t *testing.T) {
	ca := testpki.MustCA(t)
	leaf := func(cn string, orgs []string, eku ...x509.ExtKeyUsage) *x509.Certificate {
		return testpki.MustLeaf(t, ca, testpki.WithCN(cn), testpki.WithOrg(orgs...), testpki.WithUsage(eku...)).Cert
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	api := leaf("kubernetes", []string{"k8s"}, both...)
	adminPEM := leaf("admin", []string{"system:masters"}, both...)
	serving := Credential{Name: "apiserver", Paths: []string{"/etc/kubernetes/ssl/apiserver.pem"}, Cert: api, Serving: true}
	kubeletClient := Credential{Name: "apiserver-kubelet-client", Paths: []string{"/etc/kubernetes/ssl/admin.pem"}, Cert: adminPEM, Component: true}
	admin := KubeconfigUse{Name: "admin.conf", Kubeadm: true}
	tests := []struct {
		name   string
		use    KubeconfigUse
		cert   *x509.Certificate
		want   string // "" for its own; else a word of the reason
		others []Credential
	}{
		{"the field guide's sed: admin.conf names apiserver.pem", KubeconfigUse{Name: "admin.conf", Kubeadm: true, CertPath: "/etc/kubernetes/ssl/apiserver.pem"}, api, "serving certificate", []Credential{serving}},
		{"an embedded copy of the API server's certificate", admin, api, "serving certificate", []Credential{serving}},
		{"a serving-only certificate", admin, leaf("x", nil, x509.ExtKeyUsageServerAuth), "no client auth", nil},
		{"a binary install's admin in system:masters", KubeconfigUse{Name: "admin.conf", Kubeadm: true, CertPath: "/etc/kubernetes/ssl/admin.pem"}, adminPEM, "", []Credential{serving, kubeletClient}},
		{"kubeadm's admin", admin, leaf("kubernetes-admin", []string{"kubeadm:cluster-admins"}, x509.ExtKeyUsageClientAuth), "", nil},
		{"kubeadm's admin before v1.29", admin, leaf("kubernetes-admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth), "", nil},
		{"admin.conf with the kubelet client certificate of kubeadm", admin, leaf("kube-apiserver-kubelet-client", []string{"kubeadm:cluster-admins"}, x509.ExtKeyUsageClientAuth), "identity", nil},
		{"the scheduler's kubeconfig with the controller-manager's certificate", KubeconfigUse{Name: "/var/lib/kubernetes/kube-scheduler.kubeconfig", Components: []string{"kube-scheduler"}}, leaf("system:kube-controller-manager", nil, both...), "identity", nil},
		{"a kubelet of the node", KubeconfigUse{Name: "kubelet.conf", Kubeadm: true}, leaf("system:node:node1", []string{"system:nodes"}, x509.ExtKeyUsageClientAuth), "", nil},
		{"a kubelet without its group", KubeconfigUse{Name: "kubelet.conf", Kubeadm: true}, leaf("system:node:node1", nil, x509.ExtKeyUsageClientAuth), "identity", nil},
		{"a kubeconfig of no known role sharing a component's client certificate file (the hard way's admin.pem)", KubeconfigUse{Name: "/root/.kube/config", CertPath: "/etc/kubernetes/ssl/admin.pem"}, adminPEM, "", []Credential{kubeletClient}},
		{"a kubeconfig of no known role with a client certificate of its own", KubeconfigUse{Name: "/root/.kube/config"}, leaf("someone", nil, x509.ExtKeyUsageClientAuth), "", []Credential{serving}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ForeignClient(tt.use, tt.cert, tt.others)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("ForeignClient = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStandardIdentityGivesKubeadmsAdminOnlyOnAKubeadmCluster(t *testing.T) {
	admin := KubeconfigUse{Name: "admin.conf", Kubeadm: true}
	if _, ok := StandardIdentity(admin, nil, false); ok {
		t.Error("kubernetes-admin in kubeadm:cluster-admins offered on a cluster kubeadm did not bind it")
	}
	if id, ok := StandardIdentity(admin, nil, true); !ok || id.String() != "CN=kubernetes-admin, O=kubeadm:cluster-admins" {
		t.Errorf("kubeadm: %v %v", id, ok)
	}
	cm := KubeconfigUse{Name: "/var/lib/kubernetes/kube-controller-manager.kubeconfig", Components: []string{"kube-controller-manager"}}
	if id, ok := StandardIdentity(cm, nil, false); !ok || id.CN != "system:kube-controller-manager" {
		t.Errorf("controller-manager: %v %v", id, ok)
	}
}
