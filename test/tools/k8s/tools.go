//go:build tools

// Package tools pins the Kubernetes binaries the end-to-end tests build:
// kubeadm, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl;
// and the kubelet set's kubemark (the hollow kubelet) and kubelet.
// It lives in its own module so k8s.io/kubernetes never enters certrescue's go.mod.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubemark"
)
