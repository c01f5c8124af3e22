//go:build tools

// Package tools pins crictl (cri-tools), which certrescue's static-pod
// restarter runs and the static pod testbed lists containers with. It lives
// in its own module so cri-tools never enters certrescue's go.mod.
package tools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
