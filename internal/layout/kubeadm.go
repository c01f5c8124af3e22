package layout

import "crypto/x509"

// Standard directories of a kubeadm node.
const (
	KubernetesDir = "/etc/kubernetes"
	PKIDir        = "/etc/kubernetes/pki"
	ManifestsDir  = "/etc/kubernetes/manifests"
	KubeletPKIDir = "/var/lib/kubelet/pki"
)

// Components, in the order a rescue restarts them.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kubelet               = "kubelet"
)

// RestartOrder is the dependency order of the control plane: etcd first (the API
// server needs it), the API server next (everything else talks to it), the
// kubelet last.
var RestartOrder = []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kubelet}

// Kind says what a Role's files are.
type Kind int

// Kinds of roles.
const (
	KindCA         Kind = iota // a CA certificate and key
	KindLeaf                   // a leaf certificate and key in separate files
	KindKubeconfig             // a kubeconfig with a client certificate (embedded or referenced)
	KindKeyPair                // a bare key pair without a certificate (sa.key/sa.pub)
	KindBundle                 // certificate and key in one PEM file (kubelet-client-current.pem)
)

// Role is one credential of a kubeadm node.
type Role struct {
	Name     string // kubeadm's name: "apiserver", "etcd-server", "admin.conf"
	Kind     Kind
	CertPath string // certificate (KindBundle: the combined file; KindKubeconfig: the kubeconfig)
	KeyPath  string // private key (KindKeyPair: the private half)
	PubPath  string // KindKeyPair only: the public half
	CA       string // Name of the CA role that signs it; "" for CAs and key pairs
	// ExtKeyUsage the role needs: check reports wrong_usage when one is missing.
	ExtKeyUsage []x509.ExtKeyUsage
	// Organization is the group a client certificate must carry, if any.
	Organization string
	// Components must restart to load a renewed credential.
	Components []string
	// KubeadmLists is true when `kubeadm certs check-expiration` lists this role.
	KubeadmLists bool
	// CN is the common name kubeadm gives the role's certificate; with
	// CNNode the node's name is appended (etcd-server: the name itself,
	// kubelet.conf: system:node:NAME). See Role.Identity.
	CN     string
	CNNode bool
	// SANs says which names and addresses of the node its certificate carries.
	SANs SANRule
}

var (
	server = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both   = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)

// Kubeadm is every credential of a kubeadm control-plane node.
var Kubeadm = []Role{
	{Name: "ca", Kind: KindCA, CN: "kubernetes", CertPath: PKIDir + "/ca.crt", KeyPath: PKIDir + "/ca.key",
		Components: []string{KubeAPIServer, KubeControllerManager, KubeScheduler, Kubelet}, KubeadmLists: true},
	{Name: "front-proxy-ca", Kind: KindCA, CN: "front-proxy-ca", CertPath: PKIDir + "/front-proxy-ca.crt", KeyPath: PKIDir + "/front-proxy-ca.key",
		Components: []string{KubeAPIServer}, KubeadmLists: true},
	{Name: "etcd-ca", Kind: KindCA, CN: "etcd-ca", CertPath: PKIDir + "/etcd/ca.crt", KeyPath: PKIDir + "/etcd/ca.key",
		Components: []string{Etcd, KubeAPIServer}, KubeadmLists: true},

	{Name: "apiserver", Kind: KindLeaf, CN: "kube-apiserver", SANs: SANsAPIServer, CertPath: PKIDir + "/apiserver.crt", KeyPath: PKIDir + "/apiserver.key",
		CA: "ca", ExtKeyUsage: server, Components: []string{KubeAPIServer}, KubeadmLists: true},
	{Name: "apiserver-kubelet-client", Kind: KindLeaf, CN: "kube-apiserver-kubelet-client", CertPath: PKIDir + "/apiserver-kubelet-client.crt", KeyPath: PKIDir + "/apiserver-kubelet-client.key",
		CA: "ca", ExtKeyUsage: client, Organization: "kubeadm:cluster-admins", Components: []string{KubeAPIServer}, KubeadmLists: true},
	{Name: "apiserver-etcd-client", Kind: KindLeaf, CN: "kube-apiserver-etcd-client", CertPath: PKIDir + "/apiserver-etcd-client.crt", KeyPath: PKIDir + "/apiserver-etcd-client.key",
		CA: "etcd-ca", ExtKeyUsage: client, Components: []string{KubeAPIServer}, KubeadmLists: true},
	{Name: "front-proxy-client", Kind: KindLeaf, CN: "front-proxy-client", CertPath: PKIDir + "/front-proxy-client.crt", KeyPath: PKIDir + "/front-proxy-client.key",
		CA: "front-proxy-ca", ExtKeyUsage: client, Components: []string{KubeAPIServer}, KubeadmLists: true},
	{Name: "etcd-server", Kind: KindLeaf, CNNode: true, SANs: SANsEtcd, CertPath: PKIDir + "/etcd/server.crt", KeyPath: PKIDir + "/etcd/server.key",
		CA: "etcd-ca", ExtKeyUsage: both, Components: []string{Etcd}, KubeadmLists: true},
	{Name: "etcd-peer", Kind: KindLeaf, CNNode: true, SANs: SANsEtcd, CertPath: PKIDir + "/etcd/peer.crt", KeyPath: PKIDir + "/etcd/peer.key",
		CA: "etcd-ca", ExtKeyUsage: both, Components: []string{Etcd}, KubeadmLists: true},
	{Name: "etcd-healthcheck-client", Kind: KindLeaf, CN: "kube-etcd-healthcheck-client", CertPath: PKIDir + "/etcd/healthcheck-client.crt", KeyPath: PKIDir + "/etcd/healthcheck-client.key",
		CA: "etcd-ca", ExtKeyUsage: client, KubeadmLists: true},

	{Name: "admin.conf", Kind: KindKubeconfig, CN: "kubernetes-admin", CertPath: KubernetesDir + "/admin.conf",
		CA: "ca", ExtKeyUsage: client, Organization: "kubeadm:cluster-admins", KubeadmLists: true},
	{Name: "super-admin.conf", Kind: KindKubeconfig, CN: "kubernetes-super-admin", CertPath: KubernetesDir + "/super-admin.conf",
		CA: "ca", ExtKeyUsage: client, Organization: "system:masters", KubeadmLists: true},
	{Name: "controller-manager.conf", Kind: KindKubeconfig, CN: "system:kube-controller-manager", CertPath: KubernetesDir + "/controller-manager.conf",
		CA: "ca", ExtKeyUsage: client, Components: []string{KubeControllerManager}, KubeadmLists: true},
	{Name: "scheduler.conf", Kind: KindKubeconfig, CN: "system:kube-scheduler", CertPath: KubernetesDir + "/scheduler.conf",
		CA: "ca", ExtKeyUsage: client, Components: []string{KubeScheduler}, KubeadmLists: true},
	{Name: "kubelet.conf", Kind: KindKubeconfig, CN: "system:node:", CNNode: true, CertPath: KubernetesDir + "/kubelet.conf",
		CA: "ca", ExtKeyUsage: client, Organization: "system:nodes", Components: []string{Kubelet}},
	{Name: "kubelet-client", Kind: KindBundle, CN: "system:node:", CNNode: true, CertPath: KubeletPKIDir + "/kubelet-client-current.pem",
		CA: "ca", ExtKeyUsage: client, Organization: "system:nodes", Components: []string{Kubelet}},

	{Name: "sa", Kind: KindKeyPair, KeyPath: PKIDir + "/sa.key", PubPath: PKIDir + "/sa.pub",
		Components: []string{KubeAPIServer, KubeControllerManager}},
}

// KubeadmRole finds a role by name.
func KubeadmRole(name string) (Role, bool) {
	for _, r := range Kubeadm {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}
