package cli

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// The node layouts users bring (layouts.md), built with testpki during the
// test: each returns its root and the flags that name what the node's own
// layout does not (--inventory, --dir).
type nodeLayout struct {
	name  string
	build func(t *testing.T, root string) []string
}

var nodeLayouts = []nodeLayout{
	{"kubeadm", func(t *testing.T, root string) []string {
		testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
		return nil
	}},
	{"kubespray", buildKubespray},
	{"field guide and kubeasz", func(t *testing.T, root string) []string { buildFieldGuide(t, root); return nil }},
	{"kubernetes the hard way", buildHardWay},
	{"k3s", func(t *testing.T, root string) []string { return buildRancher(t, root, "k3s") }},
	{"rke2", func(t *testing.T, root string) []string { return buildRancher(t, root, "rke2") }},
	{"inventory file and directory", buildInventoryAndDir},
}

var (
	serverAndClient = testpki.WithUsage(x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	clientOnly      = testpki.WithUsage(x509.ExtKeyUsageClientAuth)
	serverOnly      = testpki.WithUsage(x509.ExtKeyUsageServerAuth)
)

// pemPair writes cfssl's NAME.pem and NAME-key.pem.
func pemPair(t *testing.T, root, dir, name string, ca *pki.CA, opts ...testpki.Option) *testpki.Leaf {
	t.Helper()
	l := testpki.MustLeaf(t, ca, opts...)
	testpki.WriteCert(t, filepath.Join(root, dir, name+".pem"), l.Cert)
	testpki.WriteKey(t, filepath.Join(root, dir, name+"-key.pem"), l.Key)
	return l
}

// crtPair writes NAME.crt and NAME.key.
func crtPair(t *testing.T, root, dir, name string, ca *pki.CA, opts ...testpki.Option) *testpki.Leaf {
	t.Helper()
	l := testpki.MustLeaf(t, ca, opts...)
	testpki.WriteCert(t, filepath.Join(root, dir, name+".crt"), l.Cert)
	testpki.WriteKey(t, filepath.Join(root, dir, name+".key"), l.Key)
	return l
}

func writeCA(t *testing.T, root, certPath, keyPath, cn string) *pki.CA {
	t.Helper()
	ca := testpki.MustCA(t, testpki.WithCN(cn))
	testpki.WriteCert(t, filepath.Join(root, certPath), ca.Cert)
	testpki.WriteKey(t, filepath.Join(root, keyPath), ca.Signer)
	return ca
}

// refKubeconfig is a kubeconfig that references its files, as
// `kubectl config set-credentials --client-certificate=...` writes it.
func refKubeconfig(t *testing.T, root, p, server, ca, cert, key string) {
	t.Helper()
	testpki.WriteFile(t, filepath.Join(root, p), fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: %s
    server: %s
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: user
  name: default
current-context: default
users:
- name: user
  user:
    client-certificate: %s
    client-key: %s
`, ca, server, cert, key), 0o600)
}

func unit(t *testing.T, root, name, execStart string) {
	t.Helper()
	testpki.WriteFile(t, filepath.Join(root, "etc/systemd/system", name+".service"),
		[]byte("[Unit]\nDescription="+name+"\n\n[Service]\n"+execStart+"\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"), 0o644)
}

// buildKubespray: kubeadm's files in /etc/kubernetes/ssl, /etc/kubernetes/pki
// a symlink to it (an absolute target: the node's path), etcd on the host
// under systemd with its certificates in /etc/ssl/etcd/ssl, named by an
// environment file.
func buildKubespray(t *testing.T, root string) []string {
	testpki.KubeadmTree(t, root, testpki.TreeOptions{})
	at := func(p string) string { return filepath.Join(root, p) }
	if err := os.Rename(at("etc/kubernetes/pki"), at("etc/kubernetes/ssl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/kubernetes/ssl", at("etc/kubernetes/pki")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/kubernetes/ssl/etcd", "etc/kubernetes/ssl/apiserver-etcd-client.crt", "etc/kubernetes/ssl/apiserver-etcd-client.key"} {
		if err := os.RemoveAll(at(p)); err != nil {
			t.Fatal(err)
		}
	}
	testpki.WriteManifests(t, root, testpki.ManifestOptions{PKIDir: "/etc/kubernetes/ssl"})
	if err := os.Remove(at("etc/kubernetes/manifests/etcd.yaml")); err != nil {
		t.Fatal(err)
	}
	api := at("etc/kubernetes/manifests/kube-apiserver.yaml")
	b, err := os.ReadFile(api)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.NewReplacer(
		"/etc/kubernetes/ssl/etcd/ca.crt", "/etc/ssl/etcd/ssl/ca.pem",
		"/etc/kubernetes/ssl/apiserver-etcd-client.crt", "/etc/ssl/etcd/ssl/node-node1.pem",
		"/etc/kubernetes/ssl/apiserver-etcd-client.key", "/etc/ssl/etcd/ssl/node-node1-key.pem").Replace(string(b)))
	testpki.WriteFile(t, api, b, 0o600)
	etcdCA := writeCA(t, root, "etc/ssl/etcd/ssl/ca.pem", "etc/ssl/etcd/ssl/ca-key.pem", "etcd-ca")
	dir := "etc/ssl/etcd/ssl"
	pemPair(t, root, dir, "admin-node1", etcdCA, testpki.WithCN("etcd-admin-node1"), serverAndClient, testpki.WithDNS("node1"))
	pemPair(t, root, dir, "member-node1", etcdCA, testpki.WithCN("etcd-member-node1"), serverAndClient, testpki.WithDNS("node1", "localhost"), testpki.WithIPs("10.0.0.1", "127.0.0.1"))
	pemPair(t, root, dir, "node-node1", etcdCA, testpki.WithCN("etcd-node-node1"), serverAndClient, testpki.WithDNS("node1"))
	testpki.WriteFile(t, at("etc/etcd.env"), []byte(`ETCD_DATA_DIR=/var/lib/etcd
ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.1:2379
ETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem
ETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem
ETCD_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem
ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem
ETCD_PEER_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem
ETCD_PEER_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem
`), 0o640)
	unit(t, root, "etcd", "Type=notify\nEnvironmentFile=/etc/etcd.env\nExecStart=/usr/local/bin/etcd")
	return nil
}

// fieldGuide is the field guide's node (kubeasz's too): cfssl certificates
// in /etc/kubernetes/ssl, one CA signing everything (etcd included, every
// certificate with the "kubernetes" profile's server and client auth),
// systemd units whose flags name them, kubeconfigs referencing .pem files.
type fieldGuide struct {
	ca                     *pki.CA
	apiserver, admin, etcd *testpki.Leaf
}

func buildFieldGuide(t *testing.T, root string) fieldGuide {
	t.Helper()
	const ssl = "etc/kubernetes/ssl"
	var g fieldGuide
	g.ca = writeCA(t, root, ssl+"/ca.pem", ssl+"/ca-key.pem", "kubernetes")
	g.apiserver = pemPair(t, root, ssl, "apiserver", g.ca, testpki.WithCN("kubernetes"), testpki.WithOrg("k8s"), serverAndClient,
		testpki.WithDNS("kubernetes.default.svc", "kubernetes.default", "localhost"), testpki.WithIPs("10.0.0.1", "127.0.0.1", "10.68.0.1"))
	g.admin = pemPair(t, root, ssl, "admin", g.ca, testpki.WithCN("admin"), testpki.WithOrg("system:masters"), serverAndClient)
	g.etcd = pemPair(t, root, ssl, "etcd", g.ca, testpki.WithCN("etcd"), serverAndClient, testpki.WithIPs("10.0.0.1", "127.0.0.1"))
	pemPair(t, root, ssl, "kube-controller-manager", g.ca, testpki.WithCN("system:kube-controller-manager"), testpki.WithOrg("system:kube-controller-manager"), serverAndClient)
	pemPair(t, root, ssl, "kube-scheduler", g.ca, testpki.WithCN("system:kube-scheduler"), testpki.WithOrg("system:kube-scheduler"), serverAndClient)
	pemPair(t, root, ssl, "kube-proxy", g.ca, testpki.WithCN("system:kube-proxy"), testpki.WithOrg("k8s"), serverAndClient)
	// cfssl's working files sit beside them.
	testpki.WriteFile(t, filepath.Join(root, ssl, "ca-config.json"), []byte(`{"signing":{"profiles":{"kubernetes":{"usages":["signing","key encipherment","server auth","client auth"],"expiry":"8760h"}}}}`), 0o644)
	testpki.WriteFile(t, filepath.Join(root, ssl, "apiserver.csr"), []byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"), 0o644)
	p := "/" + ssl
	server := "https://10.0.0.1:6443"
	refKubeconfig(t, root, "etc/kubernetes/admin.conf", server, p+"/ca.pem", p+"/admin.pem", p+"/admin-key.pem")
	refKubeconfig(t, root, "etc/kubernetes/kube-controller-manager.kubeconfig", server, p+"/ca.pem", p+"/kube-controller-manager.pem", p+"/kube-controller-manager-key.pem")
	refKubeconfig(t, root, "etc/kubernetes/kube-scheduler.kubeconfig", server, p+"/ca.pem", p+"/kube-scheduler.pem", p+"/kube-scheduler-key.pem")
	refKubeconfig(t, root, "etc/kubernetes/kube-proxy.kubeconfig", server, p+"/ca.pem", p+"/kube-proxy.pem", p+"/kube-proxy-key.pem")
	unit(t, root, "etcd", `ExecStart=/usr/local/bin/etcd --name=etcd1 \
  --cert-file=`+p+`/etcd.pem --key-file=`+p+`/etcd-key.pem \
  --peer-cert-file=`+p+`/etcd.pem --peer-key-file=`+p+`/etcd-key.pem \
  --trusted-ca-file=`+p+`/ca.pem --peer-trusted-ca-file=`+p+`/ca.pem \
  --advertise-client-urls=https://10.0.0.1:2379 --listen-client-urls=https://10.0.0.1:2379,https://127.0.0.1:2379`)
	unit(t, root, "kube-apiserver", `ExecStart=/usr/local/bin/kube-apiserver \
  --advertise-address=10.0.0.1 --secure-port=6443 \
  --client-ca-file=`+p+`/ca.pem \
  --tls-cert-file=`+p+`/apiserver.pem --tls-private-key-file=`+p+`/apiserver-key.pem \
  --kubelet-client-certificate=`+p+`/admin.pem --kubelet-client-key=`+p+`/admin-key.pem \
  --etcd-cafile=`+p+`/ca.pem --etcd-certfile=`+p+`/apiserver.pem --etcd-keyfile=`+p+`/apiserver-key.pem \
  --service-account-key-file=`+p+`/ca.pem --service-account-signing-key-file=`+p+`/ca-key.pem \
  --service-cluster-ip-range=10.68.0.0/16`)
	unit(t, root, "kube-controller-manager", `ExecStart=/usr/local/bin/kube-controller-manager \
  --kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig \
  --cluster-signing-cert-file=`+p+`/ca.pem --cluster-signing-key-file=`+p+`/ca-key.pem \
  --root-ca-file=`+p+`/ca.pem --service-account-private-key-file=`+p+`/ca-key.pem`)
	unit(t, root, "kube-scheduler", `ExecStart=/usr/local/bin/kube-scheduler --kubeconfig=/etc/kubernetes/kube-scheduler.kubeconfig --bind-address=127.0.0.1`)
	return g
}

// buildHardWay: kubernetes-the-hard-way's files in /var/lib/kubernetes,
// /etc/etcd and /var/lib/kubelet, kubeconfigs with embedded data, the
// scheduler's kubeconfig named only in its --config file.
func buildHardWay(t *testing.T, root string) []string {
	ca := writeCA(t, root, "var/lib/kubernetes/ca.pem", "var/lib/kubernetes/ca-key.pem", "Kubernetes")
	api := pemPair(t, root, "var/lib/kubernetes", "kubernetes", ca, testpki.WithCN("kubernetes"), testpki.WithOrg("Kubernetes"), serverAndClient,
		testpki.WithDNS("kubernetes", "kubernetes.default"), testpki.WithIPs("10.32.0.1", "10.240.0.10", "127.0.0.1"))
	pemPair(t, root, "var/lib/kubernetes", "service-account", ca, testpki.WithCN("service-accounts"), serverAndClient)
	testpki.WriteCert(t, filepath.Join(root, "etc/etcd/ca.pem"), ca.Cert)
	testpki.WriteCert(t, filepath.Join(root, "etc/etcd/kubernetes.pem"), api.Cert)
	testpki.WriteKey(t, filepath.Join(root, "etc/etcd/kubernetes-key.pem"), api.Key)
	server := "https://127.0.0.1:6443"
	embedded := func(p, cn, org string) {
		l := testpki.MustLeaf(t, ca, testpki.WithCN(cn), testpki.WithOrg(org), serverAndClient)
		testpki.WriteFile(t, filepath.Join(root, p), testpki.Kubeconfig(t, server, ca.Cert, l, cn), 0o600)
	}
	embedded("var/lib/kubernetes/kube-controller-manager.kubeconfig", "system:kube-controller-manager", "system:kube-controller-manager")
	embedded("var/lib/kubernetes/kube-scheduler.kubeconfig", "system:kube-scheduler", "system:kube-scheduler")
	embedded("var/lib/kubelet/kubeconfig", "system:node:node-0", "system:nodes")
	embedded("var/lib/kube-proxy/kubeconfig", "system:kube-proxy", "system:node-proxier")
	pemPair(t, root, "var/lib/kubelet", "node-0", ca, testpki.WithCN("system:node:node-0"), testpki.WithOrg("system:nodes"), serverAndClient,
		testpki.WithDNS("node-0"), testpki.WithIPs("10.240.0.20"))
	testpki.WriteFile(t, filepath.Join(root, "var/lib/kubelet/kubelet-config.yaml"), []byte(`kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  x509:
    clientCAFile: "/var/lib/kubernetes/ca.pem"
tlsCertFile: "/var/lib/kubelet/node-0.pem"
tlsPrivateKeyFile: "/var/lib/kubelet/node-0-key.pem"
`), 0o644)
	testpki.WriteFile(t, filepath.Join(root, "etc/kubernetes/config/kube-scheduler.yaml"), []byte(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: "/var/lib/kubernetes/kube-scheduler.kubeconfig"
`), 0o644)
	unit(t, root, "etcd", `ExecStart=/usr/local/bin/etcd --name controller-0 \
  --cert-file=/etc/etcd/kubernetes.pem --key-file=/etc/etcd/kubernetes-key.pem \
  --peer-cert-file=/etc/etcd/kubernetes.pem --peer-key-file=/etc/etcd/kubernetes-key.pem \
  --trusted-ca-file=/etc/etcd/ca.pem --peer-trusted-ca-file=/etc/etcd/ca.pem \
  --peer-client-cert-auth --client-cert-auth \
  --advertise-client-urls https://10.240.0.10:2379`)
	unit(t, root, "kube-apiserver", `ExecStart=/usr/local/bin/kube-apiserver \
  --advertise-address=10.240.0.10 \
  --client-ca-file=/var/lib/kubernetes/ca.pem \
  --etcd-cafile=/var/lib/kubernetes/ca.pem --etcd-certfile=/var/lib/kubernetes/kubernetes.pem --etcd-keyfile=/var/lib/kubernetes/kubernetes-key.pem \
  --kubelet-certificate-authority=/var/lib/kubernetes/ca.pem \
  --kubelet-client-certificate=/var/lib/kubernetes/kubernetes.pem --kubelet-client-key=/var/lib/kubernetes/kubernetes-key.pem \
  --service-account-key-file=/var/lib/kubernetes/service-account.pem \
  --service-account-signing-key-file=/var/lib/kubernetes/service-account-key.pem \
  --service-cluster-ip-range=10.32.0.0/24 \
  --tls-cert-file=/var/lib/kubernetes/kubernetes.pem --tls-private-key-file=/var/lib/kubernetes/kubernetes-key.pem`)
	unit(t, root, "kube-controller-manager", `ExecStart=/usr/local/bin/kube-controller-manager \
  --cluster-signing-cert-file=/var/lib/kubernetes/ca.pem --cluster-signing-key-file=/var/lib/kubernetes/ca-key.pem \
  --kubeconfig=/var/lib/kubernetes/kube-controller-manager.kubeconfig \
  --root-ca-file=/var/lib/kubernetes/ca.pem \
  --service-account-private-key-file=/var/lib/kubernetes/service-account-key.pem`)
	unit(t, root, "kube-scheduler", `ExecStart=/usr/local/bin/kube-scheduler --config=/etc/kubernetes/config/kube-scheduler.yaml`)
	unit(t, root, "kubelet", `ExecStart=/usr/local/bin/kubelet --config=/var/lib/kubelet/kubelet-config.yaml --kubeconfig=/var/lib/kubelet/kubeconfig`)
	return nil
}

// buildRancher: a k3s or RKE2 server: its CAs and leaves in server/tls, the
// kubeconfigs of server/cred referencing them, the admin kubeconfig with
// embedded data, the agent's kubelet certificates.
func buildRancher(t *testing.T, root, dist string) []string {
	base := "var/lib/rancher/" + dist
	tls := base + "/server/tls"
	ca := func(name, cn string) *pki.CA {
		return writeCA(t, root, tls+"/"+name+".crt", tls+"/"+name+".key", cn)
	}
	client := ca("client-ca", dist+"-client-ca@1")
	server := ca("server-ca", dist+"-server-ca@1")
	reqHeader := ca("request-header-ca", dist+"-request-header-ca@1")
	etcdServer := ca("etcd/server-ca", "etcd-server-ca@1")
	etcdPeer := ca("etcd/peer-ca", "etcd-peer-ca@1")
	admin := crtPair(t, root, tls, "client-admin", client, testpki.WithCN("system:admin"), testpki.WithOrg("system:masters"), clientOnly)
	crtPair(t, root, tls, "client-controller", client, testpki.WithCN("system:kube-controller-manager"), clientOnly)
	crtPair(t, root, tls, "client-scheduler", client, testpki.WithCN("system:kube-scheduler"), clientOnly)
	crtPair(t, root, tls, "client-kube-apiserver", client, testpki.WithCN("system:apiserver"), testpki.WithOrg("system:masters"), clientOnly)
	crtPair(t, root, tls, "client-auth-proxy", reqHeader, testpki.WithCN("system:auth-proxy"), clientOnly)
	crtPair(t, root, tls, "serving-kube-apiserver", server, testpki.WithCN("kube-apiserver"), serverOnly,
		testpki.WithDNS("kubernetes", "kubernetes.default", "localhost"), testpki.WithIPs("10.43.0.1", "127.0.0.1", "10.0.0.1"))
	crtPair(t, root, tls, "etcd/server-client", etcdServer, testpki.WithCN("etcd-server"), serverAndClient, testpki.WithDNS("localhost"), testpki.WithIPs("127.0.0.1"))
	crtPair(t, root, tls, "etcd/client", etcdServer, testpki.WithCN("etcd-client"), clientOnly)
	crtPair(t, root, tls, "etcd/peer-server-client", etcdPeer, testpki.WithCN("etcd-peer"), serverAndClient, testpki.WithDNS("localhost"), testpki.WithIPs("127.0.0.1"))
	for _, c := range []string{"admin", "controller", "scheduler"} {
		p := "/" + tls
		refKubeconfig(t, root, base+"/server/cred/"+c+".kubeconfig", "https://127.0.0.1:6444", p+"/server-ca.crt", p+"/client-"+c+".crt", p+"/client-"+c+".key")
	}
	testpki.WriteFile(t, filepath.Join(root, "etc/rancher", dist, dist+".yaml"), testpki.Kubeconfig(t, "https://127.0.0.1:6443", server.Cert, admin, "default"), 0o600)
	agent := base + "/agent"
	testpki.WriteCert(t, filepath.Join(root, agent, "client-ca.crt"), client.Cert)
	testpki.WriteCert(t, filepath.Join(root, agent, "server-ca.crt"), server.Cert)
	crtPair(t, root, agent, "client-kubelet", client, testpki.WithCN("system:node:node1"), testpki.WithOrg("system:nodes"), clientOnly)
	crtPair(t, root, agent, "serving-kubelet", server, testpki.WithCN("node1"), serverOnly, testpki.WithDNS("node1"), testpki.WithIPs("10.0.0.1"))
	refKubeconfig(t, root, agent+"/kubelet.kubeconfig", "https://127.0.0.1:6443", "/"+agent+"/server-ca.crt", "/"+agent+"/client-kubelet.crt", "/"+agent+"/client-kubelet.key")
	return nil
}

// buildInventoryAndDir: nothing of a known layout; an inventory file on the
// node names a registry's pair and its CA, --dir an internal PKI directory.
func buildInventoryAndDir(t *testing.T, root string) []string {
	reg := writeCA(t, root, "opt/registry/ca.crt", "opt/registry/ca.key", "registry-ca")
	crtPair(t, root, "opt/registry", "tls", reg, testpki.WithCN("registry.internal"), testpki.WithDNS("registry.internal"), serverOnly)
	testpki.WriteFile(t, filepath.Join(root, "etc/certrescue/inventory.yaml"), []byte(`items:
- path: /opt/registry/tls.crt
  key: /opt/registry/tls.key
  ca: /opt/registry/ca.crt
  usages: [server auth]
  sans: [registry.internal]
`), 0o644)
	internal := writeCA(t, root, "etc/ssl/internal/internal-ca.pem", "etc/ssl/internal/internal-ca-key.pem", "internal-ca")
	pemPair(t, root, "etc/ssl/internal", "app", internal, testpki.WithCN("app.internal"), testpki.WithDNS("app.internal"), serverOnly)
	pemPair(t, root, "etc/ssl/internal", "backup-client", internal, testpki.WithCN("backup"), clientOnly)
	return []string{"--inventory", "/etc/certrescue/inventory.yaml", "--dir", "/etc/ssl/internal"}
}
