//go:build tools

// Package tools pins the Kubernetes binaries the end-to-end tests build:
// kubeadm, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl.
// It lives in its own module so k8s.io/kubernetes never enters certrescue's go.mod.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
