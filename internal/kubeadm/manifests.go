package kubeadm

import (
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/layout"
)

// ManifestOptions shape the static pod manifests Manifests renders.
type ManifestOptions struct {
	NodeName         string // etcd's --name; default node1
	AdvertiseAddress string // default 10.0.0.1
	SecurePort       int    // API server port, default 6443
	ServiceCIDR      string // default 10.96.0.0/12
	PKIDir           string // default /etc/kubernetes/pki
	EtcdClientURLs   string // default https://127.0.0.1:2379,https://ADVERTISE:2379
	EtcdPeerURLs     string // default https://ADVERTISE:2380
}

func (o *ManifestOptions) defaults() {
	if o.NodeName == "" {
		o.NodeName = "node1"
	}
	if o.AdvertiseAddress == "" {
		o.AdvertiseAddress = "10.0.0.1"
	}
	if o.SecurePort == 0 {
		o.SecurePort = 6443
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.96.0.0/12"
	}
	if o.PKIDir == "" {
		o.PKIDir = layout.PKIDir
	}
	if o.EtcdClientURLs == "" {
		o.EtcdClientURLs = "https://127.0.0.1:2379,https://" + o.AdvertiseAddress + ":2379"
	}
	if o.EtcdPeerURLs == "" {
		o.EtcdPeerURLs = "https://" + o.AdvertiseAddress + ":2380"
	}
}

// File is a rendered file and the node path it goes to.
type File struct {
	Path string
	Data []byte
}

// Manifests renders kubeadm's four static pod manifests (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler) for
// layout.ManifestsDir, with the flags kubeadm v1.37 sets, trimmed to the ones
// that matter to certificates, addresses and health probes. Write them 0600,
// as kubeadm does.
func Manifests(o ManifestOptions) []File {
	o.defaults()
	p := o.PKIDir
	pods := map[string][]string{
		layout.Etcd: {
			"etcd",
			"--advertise-client-urls=https://" + o.AdvertiseAddress + ":2379",
			"--cert-file=" + p + "/etcd/server.crt",
			"--client-cert-auth=true",
			"--data-dir=/var/lib/etcd",
			"--initial-advertise-peer-urls=" + o.EtcdPeerURLs,
			"--key-file=" + p + "/etcd/server.key",
			"--listen-client-urls=" + o.EtcdClientURLs,
			"--listen-metrics-urls=http://127.0.0.1:2381",
			"--listen-peer-urls=" + o.EtcdPeerURLs,
			"--name=" + o.NodeName,
			"--peer-cert-file=" + p + "/etcd/peer.crt",
			"--peer-client-cert-auth=true",
			"--peer-key-file=" + p + "/etcd/peer.key",
			"--peer-trusted-ca-file=" + p + "/etcd/ca.crt",
			"--trusted-ca-file=" + p + "/etcd/ca.crt",
		},
		layout.KubeAPIServer: {
			"kube-apiserver",
			"--advertise-address=" + o.AdvertiseAddress,
			"--allow-privileged=true",
			"--authorization-mode=Node,RBAC",
			"--client-ca-file=" + p + "/ca.crt",
			"--enable-admission-plugins=NodeRestriction",
			"--enable-bootstrap-token-auth=true",
			"--etcd-cafile=" + p + "/etcd/ca.crt",
			"--etcd-certfile=" + p + "/apiserver-etcd-client.crt",
			"--etcd-keyfile=" + p + "/apiserver-etcd-client.key",
			"--etcd-servers=https://127.0.0.1:2379",
			"--kubelet-client-certificate=" + p + "/apiserver-kubelet-client.crt",
			"--kubelet-client-key=" + p + "/apiserver-kubelet-client.key",
			"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
			"--proxy-client-cert-file=" + p + "/front-proxy-client.crt",
			"--proxy-client-key-file=" + p + "/front-proxy-client.key",
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-client-ca-file=" + p + "/front-proxy-ca.crt",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-username-headers=X-Remote-User",
			fmt.Sprintf("--secure-port=%d", o.SecurePort),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p + "/sa.pub",
			"--service-account-signing-key-file=" + p + "/sa.key",
			"--service-cluster-ip-range=" + o.ServiceCIDR,
			"--tls-cert-file=" + p + "/apiserver.crt",
			"--tls-private-key-file=" + p + "/apiserver.key",
		},
		layout.KubeControllerManager: {
			"kube-controller-manager",
			"--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--bind-address=127.0.0.1",
			"--client-ca-file=" + p + "/ca.crt",
			"--cluster-name=kubernetes",
			"--cluster-signing-cert-file=" + p + "/ca.crt",
			"--cluster-signing-key-file=" + p + "/ca.key",
			"--controllers=*,bootstrapsigner,tokencleaner",
			"--kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--leader-elect=true",
			"--requestheader-client-ca-file=" + p + "/front-proxy-ca.crt",
			"--root-ca-file=" + p + "/ca.crt",
			"--service-account-private-key-file=" + p + "/sa.key",
			"--use-service-account-credentials=true",
		},
		layout.KubeScheduler: {
			"kube-scheduler",
			"--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
			"--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
			"--bind-address=127.0.0.1",
			"--kubeconfig=/etc/kubernetes/scheduler.conf",
			"--leader-elect=true",
		},
	}
	var out []File
	for _, name := range []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler} {
		out = append(out, File{Path: layout.ManifestsDir + "/" + name + ".yaml", Data: pod(name, pods[name])})
	}
	return out
}

func pod(name string, command []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: %s
    tier: control-plane
  name: %s
  namespace: kube-system
spec:
  containers:
  - command:
`, name, name)
	for _, c := range command {
		fmt.Fprintf(&b, "    - %s\n", c)
	}
	fmt.Fprintf(&b, `    image: registry.k8s.io/%s:v1.37.2
    name: %s
    volumeMounts:
    - mountPath: /etc/kubernetes
      name: k8s
      readOnly: true
  hostNetwork: true
  priorityClassName: system-node-critical
  volumes:
  - hostPath:
      path: /etc/kubernetes
      type: DirectoryOrCreate
    name: k8s
status: {}
`, name, name)
	return []byte(b.String())
}
