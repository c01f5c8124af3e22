package demo

import (
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/layout"
)

// writeManifests writes kubeadm-shaped static pod manifests naming every
// certificate flag, so the sandbox looks like a node to every source of check.
func writeManifests(w *writer, o Options) {
	p := layout.PKIDir
	pods := map[string][]string{
		layout.Etcd: {"etcd", "--name=" + o.NodeName, "--data-dir=/var/lib/etcd",
			"--advertise-client-urls=https://" + o.AdvertiseAddress + ":2379",
			"--listen-client-urls=https://127.0.0.1:2379,https://" + o.AdvertiseAddress + ":2379",
			"--cert-file=" + p + "/etcd/server.crt", "--key-file=" + p + "/etcd/server.key",
			"--client-cert-auth=true", "--trusted-ca-file=" + p + "/etcd/ca.crt",
			"--peer-cert-file=" + p + "/etcd/peer.crt", "--peer-key-file=" + p + "/etcd/peer.key",
			"--peer-client-cert-auth=true", "--peer-trusted-ca-file=" + p + "/etcd/ca.crt"},
		layout.KubeAPIServer: {"kube-apiserver", "--advertise-address=" + o.AdvertiseAddress, "--secure-port=6443",
			"--authorization-mode=Node,RBAC", "--client-ca-file=" + p + "/ca.crt",
			"--etcd-servers=https://127.0.0.1:2379", "--etcd-cafile=" + p + "/etcd/ca.crt",
			"--etcd-certfile=" + p + "/apiserver-etcd-client.crt", "--etcd-keyfile=" + p + "/apiserver-etcd-client.key",
			"--kubelet-client-certificate=" + p + "/apiserver-kubelet-client.crt", "--kubelet-client-key=" + p + "/apiserver-kubelet-client.key",
			"--proxy-client-cert-file=" + p + "/front-proxy-client.crt", "--proxy-client-key-file=" + p + "/front-proxy-client.key",
			"--requestheader-client-ca-file=" + p + "/front-proxy-ca.crt",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p + "/sa.pub", "--service-account-signing-key-file=" + p + "/sa.key",
			"--service-cluster-ip-range=10.96.0.0/12",
			"--tls-cert-file=" + p + "/apiserver.crt", "--tls-private-key-file=" + p + "/apiserver.key"},
		layout.KubeControllerManager: {"kube-controller-manager", "--bind-address=127.0.0.1", "--leader-elect=true",
			"--kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--client-ca-file=" + p + "/ca.crt", "--requestheader-client-ca-file=" + p + "/front-proxy-ca.crt",
			"--cluster-signing-cert-file=" + p + "/ca.crt", "--cluster-signing-key-file=" + p + "/ca.key",
			"--root-ca-file=" + p + "/ca.crt", "--service-account-private-key-file=" + p + "/sa.key",
			"--use-service-account-credentials=true"},
		layout.KubeScheduler: {"kube-scheduler", "--bind-address=127.0.0.1", "--leader-elect=true",
			"--kubeconfig=/etc/kubernetes/scheduler.conf",
			"--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
			"--authorization-kubeconfig=/etc/kubernetes/scheduler.conf"},
	}
	for _, name := range []string{layout.Etcd, layout.KubeAPIServer, layout.KubeControllerManager, layout.KubeScheduler} {
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
		for _, a := range pods[name] {
			fmt.Fprintf(&b, "    - %s\n", a)
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
`, name, name)
		w.file(layout.ManifestsDir+"/"+name+".yaml", []byte(b.String()), 0o600)
	}
}
