//go:build tools

// Package tools pins the container runtime the static pod testbed runs the
// kubelet on: containerd v2 (containerd, ctr and the runc shim), built from
// the Go module proxy with CGO_ENABLED=0 and the tags
// no_btrfs,no_devmapper,no_zfs (scripts/testbed.sh's containerd set). runc
// itself comes from Debian (scripts/test-deps.d/50-runc.sh). It lives in its
// own module so containerd never enters certrescue's go.mod.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
